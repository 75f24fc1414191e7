"""``exactmate emulator serve``: its options, the config they build and what it prints."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from exactmate.cli import app
from exactmate.emulator import server
from exactmate.emulator.config import DEMO_PASSWORD, DEMO_USERNAME, EmulatorConfig

runner = CliRunner()

OPTIONS = (
    "--host",
    "--port",
    "--records",
    "--latency-ms",
    "--minutely-limit",
    "--daily-limit",
    "--window-seconds",
    "--token-seconds",
    "--refresh-guard-seconds",
    "--client-id",
    "--client-secret",
    "--redirect-uri",
    "--scopes",
    "--divisions",
    "--webhook-secret",
)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[EmulatorConfig]:
    """Replace the server with a recorder, so ``serve`` returns instead of serving forever."""
    configs: list[EmulatorConfig] = []
    monkeypatch.setattr(server, "run", lambda config, **_: configs.append(config))
    return configs


def test_serve_help_lists_every_option() -> None:
    result = runner.invoke(app, ["emulator", "serve", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for option in OPTIONS:
        assert option in result.output, option


def test_defaults_are_exacts_figures(started: list[EmulatorConfig]) -> None:
    result = runner.invoke(app, ["emulator", "serve"])
    assert result.exit_code == 0, result.output
    assert started == [EmulatorConfig()]


def test_every_option_reaches_the_config(started: list[EmulatorConfig]) -> None:
    args = [
        "emulator", "serve",
        "--host", "0.0.0.0", "--port", "9000", "--records", "200000", "--latency-ms", "5",
        "--minutely-limit", "100", "--daily-limit", "9000", "--window-seconds", "2",
        "--token-seconds", "30", "--refresh-guard-seconds", "25",
        "--client-id", "my-app", "--client-secret", "my-secret",
        "--redirect-uri", "http://127.0.0.1:7000/cb", "--redirect-uri", "https://app.example/cb",
        "--scopes", "projects billing,Crm accounts", "--scopes", "Hrm payroll",
        "--divisions", "3", "--webhook-secret", "hook-key",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (config,) = started
    assert config == EmulatorConfig(
        host="0.0.0.0",
        port=9000,
        records=200_000,
        latency_ms=5.0,
        minutely_limit=100,
        daily_limit=9_000,
        window_seconds=2.0,
        token_seconds=30,
        refresh_guard_seconds=25.0,
        client_id="my-app",
        client_secret="my-secret",
        redirect_uris=("http://127.0.0.1:7000/cb", "https://app.example/cb"),
        scopes=("Projects billing", "Crm accounts", "Hrm payroll"),
        divisions=3,
        webhook_secret="hook-key",
    )


def test_serve_prints_where_to_go_and_how_to_sign_in(started: list[EmulatorConfig]) -> None:
    result = runner.invoke(app, ["emulator", "serve", "--port", "8600", "--divisions", "2"])
    out = result.output
    assert "http://127.0.0.1:8600" in out
    assert EmulatorConfig().client_id in out and EmulatorConfig().client_secret in out
    assert DEMO_USERNAME in out and DEMO_PASSWORD in out
    assert "100001, 100002" in out and "(no access: 100003)" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--scopes", "Everything"], "unknown scope 'Everything'"),
        (["--redirect-uri", "not-a-url"], "not an absolute http(s) URL"),
        (["--port", "70000"], "Invalid value for '--port'"),
        (["--divisions", "0"], "Invalid value for '--divisions'"),
        (["--client-id", " "], "must not be empty"),
    ],
)
def test_bad_options_are_explained(started: list[EmulatorConfig], args: list[str], words: str) -> None:
    result = runner.invoke(app, ["emulator", "serve", *args], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 2
    assert words in result.output
    assert started == []


def test_the_cli_does_not_load_the_server_stack_for_other_commands() -> None:
    code = "import sys, exactmate.cli; sys.exit(any(m in sys.modules for m in ('uvicorn', 'starlette')))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
