"""Settings: explicit values win, EXACTMATE_* variables are defaults, bad values say how to fix them."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import platformdirs
import pytest

from exactmate import __version__
from exactmate.config import DEFAULT_MAX_RETRIES, Settings, decode_master_key, describe_db_url
from exactmate.errors import ConfigError
from exactmate.http import RetryPolicy

KEY = bytes(range(32))
KEY_B64 = base64.b64encode(KEY).decode()


def test_defaults_derive_from_home(tmp_path: Path) -> None:
    settings = Settings.from_env({}, home=tmp_path / "h")
    assert settings.home == tmp_path / "h"
    assert settings.db_url == f"sqlite:///{tmp_path / 'h' / 'exactmate.db'}"
    assert settings.key_file == tmp_path / "h" / "master.key"
    assert settings.master_key is None
    assert settings.timeout == 30.0
    assert settings.max_retries == 2
    assert settings.user_agent == f"exactmate/{__version__}"
    assert settings.db_file == tmp_path / "h" / "exactmate.db"


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://u@127.0.0.1/exactmate", "sqlite:////x.db?timeout=5", "sqlite://"]
)
def test_only_a_plain_sqlite_url_names_a_database_file(url: str) -> None:
    assert Settings.from_env({}, db_url=url).db_file is None


def test_home_defaults_to_the_user_data_directory() -> None:
    assert Settings.from_env({}).home == Path(platformdirs.user_data_dir("exactmate"))


def test_reads_os_environ_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXACTMATE_HOME", str(tmp_path / "envhome"))
    monkeypatch.setenv("EXACTMATE_TIMEOUT", "12.5")
    settings = Settings.from_env()
    assert settings.home == tmp_path / "envhome"
    assert settings.timeout == 12.5


def test_environment_values_are_used() -> None:
    env = {
        "EXACTMATE_HOME": "/srv/em",
        "EXACTMATE_DB": "postgresql+psycopg://u:pw@db/exactmate",
        "EXACTMATE_MASTER_KEY": KEY_B64,
        "EXACTMATE_TIMEOUT": "5",
        "EXACTMATE_MAX_RETRIES": "0",
    }
    settings = Settings.from_env(env)
    assert settings.home == Path("/srv/em")
    assert settings.db_url == "postgresql+psycopg://u:pw@db/exactmate"
    assert settings.master_key == KEY
    assert settings.timeout == 5.0
    assert settings.max_retries == 0
    assert settings.key_file == Path("/srv/em/master.key")


def test_explicit_values_win_over_the_environment(tmp_path: Path) -> None:
    other = bytes(32)
    env = {
        "EXACTMATE_HOME": "/srv/em",
        "EXACTMATE_DB": "sqlite:////x.db",
        "EXACTMATE_MASTER_KEY": KEY_B64,
        "EXACTMATE_TIMEOUT": "5",
        "EXACTMATE_MAX_RETRIES": "7",
    }
    settings = Settings.from_env(
        env,
        home=tmp_path,
        db_url="sqlite:////y.db",
        master_key=base64.b64encode(other).decode(),
        key_file=tmp_path / "k.json",
        timeout=9,
        user_agent="robot/1",
        max_retries=1,
    )
    assert (settings.home, settings.db_url, settings.master_key) == (tmp_path, "sqlite:////y.db", other)
    assert (settings.key_file, settings.timeout, settings.user_agent, settings.max_retries) == (
        tmp_path / "k.json",
        9,
        "robot/1",
        1,
    )


def test_blank_variables_count_as_unset(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"EXACTMATE_DB": " ", "EXACTMATE_MASTER_KEY": "", "EXACTMATE_TIMEOUT": ""}, home=tmp_path
    )
    assert settings.db_url.endswith("exactmate.db")
    assert settings.master_key is None
    assert settings.timeout == 30.0


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("EXACTMATE_MASTER_KEY", "not base64!!", "EXACTMATE_MASTER_KEY is not valid base64"),
        ("EXACTMATE_MASTER_KEY", base64.b64encode(b"short").decode(), "exactly 32 bytes, not 5"),
        ("EXACTMATE_TIMEOUT", "soon", "EXACTMATE_TIMEOUT must be a number"),
        ("EXACTMATE_TIMEOUT", "0", "EXACTMATE_TIMEOUT must be more than 0"),
        ("EXACTMATE_MAX_RETRIES", "two", "EXACTMATE_MAX_RETRIES must be a whole number"),
        ("EXACTMATE_MAX_RETRIES", "-1", "EXACTMATE_MAX_RETRIES cannot be negative"),
        ("EXACTMATE_DB", "::not a url::", "EXACTMATE_DB is not a database URL"),
    ],
)
def test_malformed_variables_name_the_variable_and_the_fix(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value}, home="/tmp/x")
    assert expected in str(info.value)
    assert info.value.hint  # says how to fix it


def test_master_key_errors_never_echo_the_value() -> None:
    secret = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbm90LTMyLWJ5dGVz"
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"EXACTMATE_MASTER_KEY": secret}, home="/tmp/x")
    assert secret not in str(info.value)
    assert "python -c" in str(info.value)  # how to generate a proper one


def test_master_key_is_hidden_from_repr(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"EXACTMATE_MASTER_KEY": KEY_B64, "EXACTMATE_DB": "postgresql://u:hunter2@db/em"}, home=tmp_path
    )
    shown = repr(settings)
    assert "master_key=<set>" in shown
    assert KEY_B64 not in shown and repr(KEY) not in shown and KEY.hex() not in shown
    assert "hunter2" not in shown and "db/em" in shown


def test_settings_are_frozen_and_validated(tmp_path: Path) -> None:
    settings = Settings.from_env({}, home=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.timeout = 1  # type: ignore[misc]
    with pytest.raises(ConfigError, match="timeout must be more than 0"):
        dataclasses.replace(settings, timeout=0)
    with pytest.raises(ConfigError, match="max_retries cannot be negative"):
        dataclasses.replace(settings, max_retries=-1)
    with pytest.raises(ConfigError, match="master_key must be exactly 32 bytes"):
        dataclasses.replace(settings, master_key=b"x")
    with pytest.raises(ConfigError, match="user_agent cannot be empty"):
        dataclasses.replace(settings, user_agent=" ")


def test_decode_master_key_accepts_raw_bytes_and_base64() -> None:
    assert decode_master_key(KEY) == KEY
    assert decode_master_key(KEY_B64) == KEY
    assert decode_master_key(KEY_B64.encode()) == KEY


def test_describe_db_url_hides_passwords() -> None:
    shown = describe_db_url("postgresql+psycopg://user:hunter2@db:5432/em")
    assert "hunter2" not in shown and "user" in shown and "db:5432/em" in shown
    assert describe_db_url("::nonsense::") == "<unparseable database URL>"


def test_config_retry_policy_and_the_client_share_one_retry_default(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, home=tmp_path, master_key=base64.b64encode(bytes(32)).decode())
    assert settings.max_retries == DEFAULT_MAX_RETRIES
    assert RetryPolicy().max_retries == DEFAULT_MAX_RETRIES
