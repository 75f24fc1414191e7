"""The web UI's small parts on their own: Test Connects in flight, results and their files, the action
form's reading, serving (a port in use, the ``exactmate ui`` command)."""

from __future__ import annotations

import socket
import webbrowser

import httpx
import pytest
from starlette.datastructures import FormData

from exactmate.cli import app as cli_app
from exactmate.clock import FakeClock
from exactmate.config import Settings
from exactmate.errors import ConfigError, ValidationError
from exactmate.web import UiServer, create_app
from exactmate.web.actionform import parse_action_form
from exactmate.web.context import UiContext
from exactmate.web.pending_tests import CandidateValues, PendingTests
from exactmate.web.results import Result
from exactmate.web.security import Signer

VALUES = CandidateValues(
    "Acme",
    "oauth2-code",
    "https://start.exactonline.nl",
    "id",
    "http://127.0.0.1:8400/oauth/callback",
    "s3cret",
)


def test_a_test_in_flight_belongs_to_its_browser_and_expires() -> None:
    clock = FakeClock()
    tests = PendingTests(clock, lifetime=900)
    test = tests.start(browser="b1", purpose="test", values=VALUES, signer=Signer(), state="st-1")
    assert tests.get(test.id, "b1") is test and tests.get(test.id, "b2") is None
    assert tests.by_state("st-1") is test and tests.by_state("st-2") is None
    assert tests.claim(test) and not tests.claim(test)  # a callback is used once
    assert tests.by_state("st-1") is None
    clock.advance(901)
    assert tests.get(test.id, "b1") is None


def test_a_test_without_a_sign_in_never_matches_a_callback() -> None:
    tests = PendingTests(FakeClock())
    tests.start(browser="b", purpose="test", values=VALUES, signer=Signer())
    assert tests.by_state("") is None


def test_only_so_many_tests_are_kept() -> None:
    clock = FakeClock()
    tests = PendingTests(clock, limit=3)
    made = []
    for _ in range(5):
        made.append(tests.start(browser="b", purpose="test", values=VALUES, signer=Signer()))
        clock.advance(1)
    assert [tests.get(t.id, "b") is not None for t in made] == [False, False, True, True, True]


def test_fingerprints_change_with_every_connection_value_and_hide_the_secret() -> None:
    signer = Signer()
    base = VALUES.fingerprint(signer)
    from dataclasses import replace

    for change in (
        {"auth_type": "refresh-token"},
        {"server_url": "https://start.exactonline.be"},
        {"allow_custom_host": True},
        {"secret": "other"},
        {"client_id": "x"},
        {"refresh_token": "r"},
        {"redirect_uri": "http://127.0.0.1:1/oauth/callback"},
        {"credential_id": "c"},
    ):
        assert replace(VALUES, **change).fingerprint(signer) != base, change
    assert replace(VALUES).fingerprint(signer) == base
    assert replace(VALUES, name="Renamed").fingerprint(signer) == base  # a name is no connection value
    assert "s3cret" not in repr(VALUES) and "s3cret" not in base
    assert VALUES.fingerprint(Signer()) != base  # keyed per process


def test_results_as_table_json_and_csv() -> None:
    result = Result("t", [{"A": 1, "B": None}, {"B": True, "C": {"x": 1}}], slug="list")
    assert result.columns == ["A", "B", "C"]
    assert result.table() == [["1", "", ""], ["", "true", '{"x": 1}']]
    assert result.as_csv().splitlines() == ["A,B,C", "1,,", ',true,"{""x"": 1}"']
    assert '"A": 1' in result.as_json()
    assert Result("t", [{"Name": "=1+1", "Qty": -2}]).as_csv().splitlines()[1] == "'=1+1,-2"  # no formulas
    assert Result("t", []).id != Result("t", []).id
    assert not result.vertical
    wide = Result("t", [{f"F{i}": i for i in range(7)}])
    assert wide.vertical and not Result("t", [{"A": 1}, {"A": 2}]).vertical


def form(**values: str | list[str]) -> FormData:
    items: list[tuple[str, str]] = []
    for key, value in values.items():
        for one in value if isinstance(value, list) else [value]:
            items.append((key.replace("__", ":"), one))
    return FormData(items)


def test_the_action_form_is_read_into_arguments() -> None:
    parsed = parse_action_form(
        form(
            action="create",
            field__Notes=" hi ",
            field__Quantity="",
            select=["ID", " Code "],
            division="",
            mode="dry_run",
            top="5",
        )
    )
    assert parsed.values == {"Notes": "hi"} and parsed.select == ("ID", "Code")
    assert parsed.division == "current" and parsed.dry_run and parsed.top == 5
    with pytest.raises(ValidationError, match="four actions"):
        parse_action_form(form(action="nope"))
    with pytest.raises(ValidationError) as bad:
        parse_action_form(form(action="create", top="-1"))
    assert any("Limit" in p for p in bad.value.problems)


def test_the_server_serves_on_a_free_port_and_refuses_a_busy_one(settings: Settings) -> None:
    app = create_app(settings)
    with UiServer(app, port=0) as server:
        refused = httpx.get(server.url + "vault", timeout=10)
        assert refused.status_code == 401  # on loopback too: only the owner, who has the token
        bearer = {"Authorization": f"Bearer {app.state.ui.policy.token}"}
        answer = httpx.get(server.url + "vault", timeout=10, headers=bearer)
        assert answer.status_code == 200 and "Application Credentials" in answer.text
        with pytest.raises(ConfigError, match="already in use"):
            UiServer(create_app(settings), port=server.port)


def test_exactmate_ui_refuses_a_public_address_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli_app, ["ui", "--host", "0.0.0.0", "--no-browser"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and "EXACTMATE_UI_TOKEN" in str(result.exception)
    help_text = CliRunner().invoke(cli_app, ["ui", "--help"]).output
    assert "--port" in help_text and "--no-browser" in help_text


def test_exactmate_ui_serves_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command binds, announces the address and (without --no-browser) opens it."""
    from typer.testing import CliRunner

    import exactmate.web.server as server_module

    opened: list[str] = []
    seen: list[int] = []

    def run_once(self: UiServer, on_started=None) -> None:  # instead of serving forever
        seen.append(self.port)
        if on_started is not None:
            on_started(self.url)
        self._socket.close()

    monkeypatch.setattr(server_module.UiServer, "run", run_once)
    monkeypatch.setattr(webbrowser, "open", opened.append)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(cli_app, ["ui", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert f"http://127.0.0.1:{port}/" in result.output and "oauth/callback" in result.output
    [link] = opened  # the one-time sign-in link, printed and opened
    assert link.startswith(f"http://127.0.0.1:{port}/login?code=") and seen == [port]
    assert f"Sign in (this link works once): {link}" in result.output


def test_the_app_keeps_its_state_in_one_context(settings: Settings) -> None:
    state = vars(create_app(settings).state)["_state"]
    assert list(state) == ["ui"] and isinstance(state["ui"], UiContext)
