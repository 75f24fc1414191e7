"""Connect, Test Connect, Connect & Create and edit from Python, against the emulator on a real port,
through its consent page."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import update

from exactmate.auth import parse_redirect
from exactmate.clock import FakeClock
from exactmate.connect import (
    SKIPPED_NOTE,
    CallbackListener,
    Cause,
    Connector,
    GivenConsent,
    TerminalConsent,
    connect_and_create,
    describe_age,
)
from exactmate.connect import run_test_connect as run_test_connection
from exactmate.errors import AuthError, VaultError
from exactmate.store import SecretBinding, tokens
from exactmate.vault import Vault
from tests.emulator_helpers import refresh
from tests.live_emulator import Browser, consent, free_port
from tests.vault.conftest import CLIENT_ID, SECRET, Live, paste_consent

Serve = Callable[..., Live]


def create(connector: Connector, live: Live, name: str = "acme", **overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {"server_url": live.base_url, "client_id": CLIENT_ID, "client_secret": SECRET}
    values.update(overrides)
    options = {key: values.pop(key) for key in ("make_default", "skip_test", "division") if key in values}
    return connector.create(connector.vault.new_values(name, **values), **options)  # type: ignore[arg-type]


def edit(connector: Connector, name: str, **changes: object):  # type: ignore[no-untyped-def]
    options = {key: changes.pop(key) for key in ("skip_test", "division") if key in changes}
    return connector.edit(connector.vault.plan_edit(name, **changes), **options)  # type: ignore[arg-type]


def test_connect_and_create_signs_in_tests_and_saves_with_the_tokens(
    serve: Serve, vault: Vault, clock: FakeClock
) -> None:
    live = serve(clock=clock)
    terminal, shown = paste_consent()
    saved = create(Connector(vault, consent=terminal, clock=clock), live)
    assert saved.saved and saved.note == "Saved after a successful Test Connect."
    test = saved.test
    assert test is not None and test.ok and test.cause is None
    assert test.summary.startswith("Connected as Dana Demo (demo@exactmate.test), current division 100001 (")
    assert test.current_division == 100001 and test.division_name
    assert [code for code, _name in test.divisions] == [100001, 100002]
    assert (test.daily_limit, test.daily_remaining) == (5000, 4999)
    assert test.refresh_token_age == 0.0
    assert "Remaining daily calls: 4,999 of 5,000 (division 100001)" in test.details
    credential = vault.get("acme")
    assert (credential.status, credential.has_tokens, credential.last_test_ok) == ("connected", True, True)
    assert credential.last_test_message == test.summary
    url = next(line for line in shown if line.startswith("http"))
    assert url.startswith(f"{live.base_url}/api/oauth2/auth?client_id={CLIENT_ID}&redirect_uri=")
    assert live.stats()["code_exchanged"] == 1


def test_the_callback_listener_takes_the_browser_redirect(
    serve: Serve, vault: Vault, redirect_uri: str
) -> None:
    live = serve()
    browser = Browser()
    said: list[str] = []
    terminal = TerminalConsent(open_browser=browser, say=said.append, show_url=said.append, timeout=20)
    saved = create(Connector(vault, consent=terminal), live, redirect_uri=redirect_uri)
    assert saved.saved and saved.test is not None and saved.test.ok
    assert browser.opened and browser.opened[0] in said
    landed = browser.landed[0]
    assert landed.status_code == 200 and "You can close this tab" in landed.text
    assert str(landed.url).startswith(redirect_uri + "?code=")
    with pytest.raises(httpx.ConnectError):  # the listener is gone again
        httpx.get(redirect_uri, timeout=2)


def test_the_listener_checks_the_state_and_ignores_other_paths() -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}/oauth/callback"
    with CallbackListener(uri, "expected-state") as listener:
        assert httpx.get(f"http://127.0.0.1:{port}/favicon.ico").status_code == 404
        assert not listener.finished
        page = httpx.get(uri, params={"code": "C0DE!1", "state": "forged"})
        assert page.status_code == 400 and "does not match" in page.text and "C0DE" not in page.text
        with pytest.raises(AuthError, match="does not match the one this sign-in started with"):
            listener.wait(5)
    with CallbackListener(uri, "s") as listener:
        assert httpx.get(uri, params={"error": "access_denied", "state": "s"}).status_code == 400
        with pytest.raises(AuthError, match="not approved"):
            listener.wait(5)


def test_a_busy_port_is_a_clear_error() -> None:
    port = free_port()
    with (
        CallbackListener(f"http://127.0.0.1:{port}/cb", "s"),
        pytest.raises(AuthError, match="cannot listen on"),
    ):
        CallbackListener(f"http://127.0.0.1:{port}/cb", "s").start()


def test_a_redirect_uri_elsewhere_falls_back_to_pasting(serve: Serve, vault: Vault) -> None:
    live = serve(redirect_uris=("https://app.example.com/exact/callback",))
    opened: list[str] = []
    said: list[str] = []

    def paste() -> str:
        return consent(opened[-1])

    def open_browser(url: str) -> bool:
        opened.append(url)
        return True

    terminal = TerminalConsent(
        open_browser=open_browser,
        read_line=paste,
        say=said.append,
        show_url=said.append,
    )
    saved = create(
        Connector(vault, consent=terminal), live, redirect_uri="https://app.example.com/exact/callback"
    )
    assert saved.saved
    assert any("is not on this machine" in line for line in said)


# -- diagnoses -----------------------------------------------------------------------------------------


def test_wrong_client_secret(serve: Serve, vault: Vault) -> None:
    live = serve(client_secret="the-real-secret")
    terminal, _ = paste_consent()
    saved = create(Connector(vault, consent=terminal), live, client_secret="not-the-secret")
    assert not saved.saved and saved.credential is None and vault.list() == []
    assert saved.test is not None and saved.test.cause is Cause.WRONG_CLIENT_SECRET
    assert "the client secret is wrong" in saved.test.summary
    assert saved.note == "Nothing was saved: Test Connect failed."


def test_wrong_country_host_is_found_before_anyone_signs_in(serve: Serve, vault: Vault) -> None:
    live = serve(client_id="00000000-1111-2222-3333-444444444444")
    terminal, shown = paste_consent()
    saved = create(Connector(vault, consent=terminal), live)
    assert saved.test is not None and saved.test.cause is Cause.WRONG_HOST
    assert f"The app {CLIENT_ID} is unknown on {live.base_url}" in saved.test.summary
    assert "Unknown client_id" in saved.test.summary and "App Center" in (saved.test.hint or "")
    assert shown == [] and vault.list() == []


def test_redirect_uri_not_registered(serve: Serve, vault: Vault) -> None:
    live = serve(redirect_uris=("http://127.0.0.1:8400/registered",))
    terminal, shown = paste_consent()
    saved = create(Connector(vault, consent=terminal), live, redirect_uri="http://127.0.0.1:8400/other")
    test = saved.test
    assert test is not None and test.cause is Cause.REDIRECT_URI_NOT_REGISTERED and not saved.saved
    assert "The redirect URI http://127.0.0.1:8400/other is not registered" in test.summary
    assert "register http://127.0.0.1:8400/other" in (test.hint or "") and shown == []


def test_application_scope_missing(serve: Serve, vault: Vault) -> None:
    live = serve(scopes=("Projects billing",))
    terminal, _ = paste_consent()
    saved = create(Connector(vault, consent=terminal), live)
    test = saved.test
    assert test is not None and test.cause is Cause.SCOPE_MISSING and not saved.saved
    assert "Application Scope Violated" in test.summary and "'Organization administration'" in test.summary


def test_no_access_to_a_division_outside_the_consent(serve: Serve, vault: Vault) -> None:
    live = serve()
    terminal, _ = paste_consent(divisions=[100001])
    saved = create(Connector(vault, consent=terminal), live, division=100002)
    test = saved.test
    assert test is not None and test.cause is Cause.NO_DIVISION_ACCESS and not saved.saved
    assert test.summary.startswith("No access to division 100002")
    assert "tick division 100002" in (test.hint or "")


def test_exact_unreachable(vault: Vault) -> None:
    terminal, shown = paste_consent()
    saved = connect_and_create(
        "acme",
        server_url=f"http://127.0.0.1:{free_port()}",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        vault=vault,
        consent=terminal,
    )
    assert saved.test is not None and saved.test.cause is Cause.UNREACHABLE and shown == []
    assert "Exact Online could not be reached at http://127.0.0.1:" in saved.test.summary


def test_consent_denied(serve: Serve, vault: Vault) -> None:
    live = serve()
    terminal, _ = paste_consent(action="deny")
    saved = create(Connector(vault, consent=terminal), live)
    assert saved.test is not None and saved.test.cause is Cause.SIGN_IN_FAILED
    assert "not approved" in saved.test.summary


# -- stored credentials --------------------------------------------------------------------------------


def test_skip_test_saves_untested_without_calling_exact(serve: Serve, vault: Vault) -> None:
    live = serve()
    terminal, shown = paste_consent()
    saved = create(Connector(vault, consent=terminal), live, skip_test=True)
    assert saved.saved and saved.test is None
    assert saved.note == SKIPPED_NOTE.format(command="exactmate vault connect acme")
    assert "nobody signed in" in saved.note
    assert vault.get("acme").status == "disconnected" and shown == []
    assert live.stats()["total_requests"] == 0


def test_test_disconnect_reconnect_from_python(
    serve: Serve, vault: Vault, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    live = serve(clock=clock)
    terminal, shown = paste_consent()
    connector = Connector(vault, consent=terminal, clock=clock)
    create(connector, live, skip_test=True)
    first = run_test_connection("acme", vault=vault, consent=terminal, clock=clock)  # signs in: no tokens
    assert first.ok and len([s for s in shown if s.startswith("http")]) == 1
    clock.advance(3 * 3600)
    again = connector.test("ACME")  # tokens exist: no sign-in, a refresh
    assert again.ok and len([s for s in shown if s.startswith("http")]) == 1
    assert again.refresh_token_age is not None and again.refresh_token_age < 60
    assert live.stats()["refresh_granted"] == 1
    disconnected = connector.disconnect("acme")
    assert (disconnected.status, disconnected.has_tokens) == ("disconnected", False)
    reconnected = connector.connect("acme")
    assert reconnected.ok and vault.get("acme").status == "connected"
    assert len([s for s in shown if s.startswith("http")]) == 2
    assert vault.get("acme").last_test_message == reconnected.summary
    row = vault.store.tokens(vault.get("acme").id)
    assert row is not None and caplog.text
    bound = SecretBinding.of(vault.store.credential(row.credential_id))  # type: ignore[arg-type]
    for column in ("access_token", "refresh_token"):
        plain = vault.box.decrypt(getattr(row, column), bound.aad(column))
        assert plain not in caplog.text
    assert SECRET not in caplog.text


def test_a_redirect_uri_problem_is_a_warning_while_tokens_still_work(serve: Serve, vault: Vault) -> None:
    live = serve(redirect_uris=("http://127.0.0.1:8400/oauth/callback",))
    terminal, _ = paste_consent()
    connector = Connector(vault, consent=terminal)
    create(connector, live)
    oauth = live.emulator.oauth  # the app's registration in Exact's App Center changes afterwards
    oauth._config = replace(oauth._config, redirect_uris=("http://127.0.0.1:8400/moved",))
    result = connector.test("acme")
    assert result.ok and result.warnings and "is not registered" in result.warnings[0]


def test_lost_tokens_are_diagnosed_not_raised(serve: Serve, vault: Vault, clock: FakeClock) -> None:
    live = serve(clock=clock)
    terminal, _ = paste_consent()
    connector = Connector(vault, consent=terminal, clock=clock)
    create(connector, live)
    live.emulator.oauth.reset()  # Exact forgot every token
    result = connector.test("acme")
    assert not result.ok and result.cause is Cause.TOKEN_REFUSED
    assert "exactmate vault connect acme" in (result.hint or "")
    assert vault.get("acme").last_test_ok is False


def test_edit_tests_new_values_with_the_stored_secret(serve: Serve, vault: Vault, redirect_uri: str) -> None:
    live = serve()
    terminal, shown = paste_consent()
    connector = Connector(vault, consent=terminal)
    create(connector, live)
    before = vault.get("acme")
    edited = edit(connector, "acme", redirect_uri=redirect_uri)
    assert edited.saved and edited.test is not None and edited.test.ok
    after = vault.get("acme")
    assert after.redirect_uri == redirect_uri and after.status == "connected"
    assert after.tokens_issued_at is not None and before.tokens_issued_at is not None
    assert vault.client_secret(after) == SECRET
    assert f"redirect_uri={redirect_uri.replace(':', '%3A').replace('/', '%2F')}" in shown[-2]
    renamed = edit(connector, "acme", new_name="Acme NL")
    assert renamed.saved and renamed.test is None and renamed.note == "Saved (no connection value changed)."


def test_an_edit_looks_the_credential_up_once_and_checks_its_values_once(
    serve: Serve, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI checks the values (``plan_edit``); ``Connector.edit`` and ``Vault.apply_edit`` trust them."""
    import exactmate.vault.storage as storage

    live = serve()
    terminal, shown = paste_consent()
    connector = Connector(vault, consent=terminal)
    create(connector, live)
    by_name: list[str] = []
    checks: list[str] = []
    find_by_name, check_fields = vault.store.credential_by_name, storage.check_fields

    def counted_lookup(name: str, **kw: object) -> object:
        by_name.append(name)
        return find_by_name(name, **kw)  # type: ignore[arg-type]

    def counted_check(**kw: object) -> object:
        checks.append(str(kw["name"]))
        return check_fields(**kw)  # type: ignore[arg-type]

    monkeypatch.setattr(vault.store, "credential_by_name", counted_lookup)
    monkeypatch.setattr(storage, "check_fields", counted_check)
    consents = len(shown)
    tested = edit(connector, "acme", redirect_uri="http://127.0.0.1:8765/callback/")
    assert tested.saved and tested.test is not None and tested.test.ok and len(shown) > consents
    assert (by_name, checks) == (["acme"], ["acme"])  # no rename: no second lookup for the name
    by_name.clear()
    checks.clear()
    renamed = edit(connector, "acme", new_name="Acme NL")
    assert renamed.saved and renamed.test is None
    assert (by_name, checks) == (["acme", "Acme NL"], ["Acme NL"])  # the record, then: is the name free?


def test_a_rename_after_a_successful_test_keeps_the_sign_in(serve: Serve, vault: Vault) -> None:
    live = serve()
    terminal, shown = paste_consent()
    connector = Connector(vault, consent=terminal)
    create(connector, live)
    assert connector.test("acme").ok
    before, consents, exchanged = vault.get("acme"), len(shown), live.stats()["code_exchanged"]
    renamed = edit(connector, "acme", new_name="Acme NL")
    assert renamed.saved and renamed.test is None
    after = vault.get("acme nl")
    assert (after.id, after.status, after.tokens_issued_at) == (
        before.id,
        "connected",
        before.tokens_issued_at,
    )
    assert connector.test("Acme NL").ok  # the tokens are not bound to the name
    assert len(shown) == consents and live.stats()["code_exchanged"] == exchanged


def test_edit_with_a_wrong_secret_changes_nothing(serve: Serve, vault: Vault) -> None:
    live = serve()
    terminal, _ = paste_consent()
    connector = Connector(vault, consent=terminal)
    create(connector, live)
    before = vault.get("acme")
    edited = edit(connector, "acme", client_secret="a-wrong-secret")
    assert not edited.saved and edited.test is not None and edited.test.cause is Cause.WRONG_CLIENT_SECRET
    after = vault.get("acme")
    assert vault.client_secret(after) == SECRET and after.tokens_issued_at == before.tokens_issued_at
    assert edited.note == "Nothing was changed: Test Connect failed."


def test_refresh_token_authentication(serve: Serve, vault: Vault, clock: FakeClock) -> None:
    live = serve(clock=clock)
    grant = _refresh_token(live)
    too_soon = Connector(vault, consent=GivenConsent(token=grant), clock=clock)
    early = create(too_soon, live, auth_type="refresh-token", name="headless")
    assert early.test is not None and early.test.cause is Cause.RATE_LIMITED
    assert "within 570 seconds" in (early.test.hint or "")
    clock.advance(600)
    connector = Connector(vault, consent=GivenConsent(token=grant), clock=clock)
    saved = create(connector, live, auth_type="refresh-token", name="headless")
    assert saved.saved and saved.test is not None and saved.test.ok
    assert vault.get("headless").auth_type == "refresh-token"
    spent = create(connector, live, auth_type="refresh-token", name="x")
    assert spent.test is not None and spent.test.cause is Cause.TOKEN_REFUSED
    assert "Old refresh token used" in spent.test.summary


def _refresh_token(live: Live) -> str:
    """A refresh token obtained elsewhere (on a machine with a browser), as a headless user has one."""
    state = "elsewhere"
    location = consent(
        f"{live.base_url}/api/oauth2/auth?client_id={CLIENT_ID}&response_type=code&state={state}"
        "&redirect_uri=http://127.0.0.1:8765/callback"
    )
    code = parse_redirect(location, state)
    with httpx.Client(base_url=live.base_url) as client:
        answer = client.post(
            "/api/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://127.0.0.1:8765/callback",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
            },
        )
    return str(answer.json()["refresh_token"])


def test_duplicate_name_is_refused_before_signing_in(serve: Serve, vault: Vault) -> None:
    live = serve()
    terminal, shown = paste_consent()
    connector = Connector(vault, consent=terminal)
    create(connector, live, skip_test=True)
    with pytest.raises(VaultError, match="already exists"):
        create(connector, live, name=" ACME ")
    assert shown == []


def test_describe_age() -> None:
    assert [describe_age(s) for s in (5, 61, 7200, 86400 * 3)] == [
        "just issued",
        "1 minute",
        "2 hours",
        "3 days",
    ]


# -- two processes ---------------------------------------------------------------------------------------

_USE = """
import sys
from exactmate.client import ExactClient
for _ in range(3):
    with ExactClient.from_credential("acme") as client:
        assert client.me()["UserID"]
print("used")
"""


def test_two_processes_testing_and_using_one_credential(serve: Serve, vault: Vault) -> None:
    live = serve(refresh_guard_seconds=0.0)  # the emulator allows an immediate refresh
    terminal, _ = paste_consent()
    create(Connector(vault, consent=terminal), live)
    credential = vault.get("acme")
    with vault.store.transaction() as conn:  # both processes find the access token due for refresh
        due = time.time() - 1
        conn.execute(
            update(tokens).where(tokens.c.credential_id == credential.id).values(access_expires_at=due)
        )
    cli = [sys.executable, "-c", "from exactmate.cli import main; main()", "vault", "test", "acme"]
    procs = [
        subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen(
            [sys.executable, "-c", _USE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ),
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert "Test Connect OK" in outputs[0][0] and "used" in outputs[1][0]
    stats = live.stats()
    assert (stats["refresh_granted"], stats["refresh_refused"]) == (1, 0)
    after = vault.get("acme")
    assert after.status == "connected"
    row = vault.store.tokens(after.id)
    assert row is not None and row.generation == 2
    bound = SecretBinding.of(vault.store.credential(after.id))  # type: ignore[arg-type]
    stored = vault.box.decrypt(row.refresh_token, bound.aad("refresh_token"))
    with httpx.Client(base_url=live.base_url) as client:
        assert refresh(client, live.config, stored).status_code == 200  # the one stored token is valid
