"""One ``CliContext`` per run: the settings are read once, and ``--help`` reads neither settings nor
catalogue."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import exactmate.catalogue as catalogue_module
from exactmate.catalogue import Catalogue
from exactmate.cli import app
from exactmate.config import Settings


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"settings": 0, "catalogue": 0}
    read_settings, load_catalogue = Settings.from_env, Catalogue.load

    def from_env(**kwargs: object) -> Settings:
        calls["settings"] += 1
        return read_settings(**kwargs)  # type: ignore[arg-type]

    def load() -> Catalogue:
        calls["catalogue"] += 1
        return load_catalogue()

    monkeypatch.setattr(Settings, "from_env", staticmethod(from_env))
    monkeypatch.setattr(catalogue_module.Catalogue, "load", staticmethod(load))
    return calls


def test_help_reads_no_settings_and_no_catalogue(counted: dict[str, int]) -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "vault" in result.stdout
    assert counted == {"settings": 0, "catalogue": 0}


def test_a_vault_command_that_also_builds_a_connector_reads_the_settings_once(
    counted: dict[str, int],
) -> None:
    result = CliRunner().invoke(app, ["vault", "disconnect", "nobody"])
    assert result.exit_code != 0  # no such credential; the settings were read on the way
    assert counted["settings"] == 1


def test_the_record_commands_take_the_catalogue_from_the_context(counted: dict[str, int]) -> None:
    result = CliRunner().invoke(app, ["fields", "crm/Accounts", "Nam"])
    assert result.exit_code == 0 and "Name" in result.stdout
    assert counted["catalogue"] == 1
