"""``exactmate vault …`` end to end through ``main()``, against the emulator on a real port and its
consent page: a user who reads the screen, signs in over HTTP and pastes the redirect back."""

from __future__ import annotations

import base64
import json
import os
import re
import webbrowser
from collections.abc import Callable
from pathlib import Path

import pytest

from exactmate.config import Settings
from exactmate.store import SecretBinding
from exactmate.vault import Vault
from tests.live_emulator import Browser, free_port
from tests.vault.conftest import CLIENT_ID, CliRun, Live, UserAtTerminal, sign_in_from_screen

Serve = Callable[..., Live]
Cli = Callable[..., CliRun]
SECRET = "cli-S3cret-7b1e9f"


def add_args(live_or_url: Live | str, name: str = "Acme NL", *extra: str) -> list[str]:
    url = live_or_url.base_url if isinstance(live_or_url, Live) else live_or_url
    return [
        "vault",
        "add",
        name,
        "--server-url",
        url,
        "--client-id",
        CLIENT_ID,
        "--client-secret-stdin",
        *extra,
    ]


def listed(cli: Cli, search: str | None = None) -> list[dict[str, object]]:
    result = cli("vault", "list", *([search] if search else []), "--format", "json")
    assert result.code == 0, result.output
    return list(json.loads(result.stdout))


class Journey:
    """The commands of one journey, each expected to end with ``code``; their output is kept so the
    journey can check at its end that no stored secret was ever printed."""

    def __init__(self, cli: Cli, settings: Settings) -> None:
        self.cli, self.settings, self.runs = cli, settings, list[CliRun]()

    def __call__(self, *args: str, stdin: UserAtTerminal | str | None = None, code: int = 0) -> CliRun:
        result = self.cli(*args, stdin=stdin)
        self.runs.append(result)
        assert result.code == code, result.output
        return result

    def add_signed_in(self, live: Live, name: str = "Acme NL") -> CliRun:
        """``vault add`` with the sign-in address read from the screen and the redirect pasted back."""
        user = UserAtTerminal(SECRET, sign_in_from_screen())
        return self(*add_args(live, name, "--no-browser"), stdin=user)

    def printed_no_secret(self, plain: list[str] | None = None) -> None:
        everything = "".join(r.output for r in self.runs)
        for value in plain if plain is not None else _secrets_in_store(self.settings):
            assert value not in everything


def test_add_signs_in_tests_and_saves_then_list_show_and_test(
    serve: Serve, cli: Cli, settings: Settings
) -> None:
    live = serve(client_secret=SECRET)
    run = Journey(cli, settings)
    added = run.add_signed_in(live)
    urls = [line for line in added.stdout.splitlines() if "/api/oauth2/auth?" in line]
    assert len(urls) == 1 and urls[0].startswith(live.base_url) and " " not in urls[0]  # a line by itself
    assert (
        "Test Connect OK: Connected as Dana Demo (demo@exactmate.test), current division 100001"
        in added.stdout
    )
    assert "Remaining daily calls: 4,999 of 5,000 (division 100001)" in added.stdout
    assert "Saved after a successful Test Connect." in added.stdout

    table = run("vault", "list").stdout
    assert "Application Credentials" in table and "Acme" in table and "connected" in table
    assert [c["name"] for c in listed(cli, "acme")] == ["Acme NL"]
    assert listed(cli, "exactonline") == []
    assert "No credentials match." in run("vault", "list", "nothing").stdout

    shown = run("vault", "show", "acme nl").stdout
    assert re.search(r"Status\s+connected", shown) and "(stored encrypted; never shown)" in shown

    tested = run("vault", "test", "ACME NL")  # tokens exist: no sign-in needed
    assert "Test Connect OK" in tested.stdout and "/api/oauth2/auth?" not in tested.stdout
    run.printed_no_secret()


def test_an_edited_redirect_uri_is_saved_after_a_new_sign_in(
    serve: Serve, cli: Cli, settings: Settings
) -> None:
    run = Journey(cli, settings)
    run.add_signed_in(serve(client_secret=SECRET))
    new_redirect = f"http://127.0.0.1:{free_port()}/oauth/callback"
    edited = run(
        "vault",
        "edit",
        "Acme NL",
        "--redirect-uri",
        new_redirect,
        "--no-browser",
        stdin=UserAtTerminal(sign_in_from_screen()),
    )
    assert "Test Connect OK" in edited.stdout and "Saved after a successful Test Connect." in edited.stdout
    assert (
        json.loads(run("vault", "show", "Acme NL", "--format", "json").stdout)["redirect_uri"] == new_redirect
    )
    run.printed_no_secret()


def test_a_rename_after_a_successful_test_connect_needs_no_new_sign_in(
    serve: Serve, cli: Cli, settings: Settings
) -> None:
    live = serve(client_secret=SECRET)
    run = Journey(cli, settings)
    run.add_signed_in(live)
    assert "Test Connect OK" in run("vault", "test", "Acme NL").stdout
    before = json.loads(run("vault", "show", "Acme NL", "--format", "json").stdout)
    stored = _secrets_in_store(settings)  # a rename changes none of them
    exchanged = live.stats()["code_exchanged"]
    renamed = run("vault", "edit", "Acme NL", "--name", "Acme Books", "--no-browser", stdin=UserAtTerminal())
    assert "Saved (no connection value changed)." in renamed.stdout
    assert "/api/oauth2/auth?" not in renamed.output  # nobody was asked to sign in
    after = json.loads(run("vault", "show", "acme books", "--format", "json").stdout)
    assert (after["id"], after["status"], after["tokens_issued_at"]) == (
        before["id"],
        "connected",
        before["tokens_issued_at"],
    )
    tested = run("vault", "test", "Acme Books")  # the stored tokens still open under the new name
    assert "Test Connect OK" in tested.stdout and "/api/oauth2/auth?" not in tested.stdout
    assert live.stats()["code_exchanged"] == exchanged
    run.printed_no_secret(stored)


def test_after_disconnect_test_and_connect_sign_in_again(serve: Serve, cli: Cli, settings: Settings) -> None:
    run = Journey(cli, settings)
    run.add_signed_in(serve(client_secret=SECRET))
    assert "is disconnected" in run("vault", "disconnect", "Acme NL").stdout
    assert listed(cli)[0]["status"] == "disconnected"
    retested = run("vault", "test", "Acme NL", "--no-browser", stdin=UserAtTerminal(sign_in_from_screen()))
    assert "/api/oauth2/auth?" in retested.stdout and listed(cli)[0]["status"] == "connected"

    run("vault", "disconnect", "Acme NL")
    reconnected = run(
        "vault", "connect", "Acme NL", "--no-browser", stdin=UserAtTerminal(sign_in_from_screen())
    )
    assert "Test Connect OK" in reconnected.stdout and listed(cli)[0]["status"] == "connected"
    run.printed_no_secret()


def test_a_second_credential_becomes_the_default_and_the_first_is_removed(
    serve: Serve, cli: Cli, settings: Settings
) -> None:
    live = serve(client_secret=SECRET)
    run = Journey(cli, settings)
    run.add_signed_in(live)
    run(*add_args(live, "Globex", "--skip-test"), stdin=UserAtTerminal(SECRET))
    assert "Globex is now the default credential." in run("vault", "default", "globex").stdout
    assert [c["name"] for c in listed(cli) if c["default"]] == ["Globex"]

    plain = _secrets_in_store(settings)  # the client secret and the live tokens
    assert "Removed Acme NL." in run("vault", "remove", "acme nl", "--yes").stdout
    assert [c["name"] for c in listed(cli)] == ["Globex"]
    run.printed_no_secret(plain)


def _secrets_in_store(settings: Settings) -> list[str]:
    """Decrypt what the vault holds and check none of it is in plain text in any file of the home."""
    with Vault.open(settings) as vault:
        credential = vault.get("Acme NL")
        row = vault.store.tokens(credential.id)
        assert row is not None
        bound = SecretBinding.of(vault.store.credential(credential.id))  # type: ignore[arg-type]
        values = [
            vault.client_secret(credential),
            vault.box.decrypt(row.access_token, bound.aad("access_token")),
            vault.box.decrypt(row.refresh_token, bound.aad("refresh_token")),
        ]
    assert values[0] == SECRET
    for path in (p for p in settings.home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for value in values:
            assert value.encode() not in data and base64.b64encode(value.encode()) not in data, path.name
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
    return values


def test_connect_through_the_browser_and_the_local_listener(
    serve: Serve, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = serve()
    browser = Browser()
    monkeypatch.setattr(webbrowser, "open", browser)
    redirect = f"http://127.0.0.1:{free_port()}/oauth/callback"
    added = cli(
        *add_args(live, "Acme NL", "--redirect-uri", redirect), stdin=UserAtTerminal("emulator-demo-secret")
    )
    assert added.code == 0, added.output
    assert browser.opened and browser.opened[0] in added.stdout.splitlines()
    assert "You can close this tab" in browser.landed[0].text
    assert "Test Connect OK" in added.stdout


DIAGNOSES = [
    ("wrong_client_secret", {"client_secret": "another-secret"}, [], 5),
    ("wrong_host", {"client_id": "00000000-1111-2222-3333-444444444444"}, [], 5),
    ("redirect_uri_not_registered", {"redirect_uris": ("http://127.0.0.1:8400/registered",)}, [], 5),
    ("scope_missing", {"scopes": ("Projects billing",)}, [], 6),
    ("no_division_access", {}, ["--division", "100002"], 6),
]


@pytest.mark.parametrize(("cause", "emulator", "extra", "code"), DIAGNOSES, ids=[d[0] for d in DIAGNOSES])
def test_each_diagnosis_from_the_command_line(
    serve: Serve, cli: Cli, cause: str, emulator: dict[str, object], extra: list[str], code: int
) -> None:
    live = serve(**emulator)
    stdin = UserAtTerminal("emulator-demo-secret", sign_in_from_screen(divisions=[100001]))
    result = cli(*add_args(live, "Acme NL", "--no-browser", *extra), stdin=stdin)
    assert result.code == code, result.output
    assert "Test Connect FAILED" in result.stdout and f"cause: {cause}" in result.stdout
    assert "fix: " in result.stdout and "Traceback" not in result.output
    assert "Nothing was saved: Test Connect failed." in result.stdout
    assert listed(cli) == []


def test_exact_unreachable_from_the_command_line(cli: Cli) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = cli(*add_args(closed, "Acme NL", "--no-browser"), stdin=UserAtTerminal("s"))
    assert result.code == 9, result.output
    assert (
        f"Exact Online could not be reached at {closed}" in result.stdout
        and "cause: unreachable" in result.stdout
    )
    saved = cli(*add_args(closed, "Acme NL", "--skip-test"), stdin=UserAtTerminal("s"))
    assert saved.code == 0 and "Saved without Test Connect (--skip-test)" in saved.stdout
    tested = cli("vault", "test", "Acme NL", "--no-browser")
    assert tested.code == 9 and "cause: unreachable" in tested.stdout
    last = listed(cli)[0]["last_test"]
    assert isinstance(last, dict) and last["ok"] is False and last["at"]
    assert last["message"] == tested.stdout.split("FAILED: ")[1].splitlines()[0]


def test_vault_test_of_a_division_outside_the_consent(serve: Serve, cli: Cli) -> None:
    live = serve()
    added = cli(
        *add_args(live, "Acme NL", "--no-browser"),
        stdin=UserAtTerminal("emulator-demo-secret", sign_in_from_screen(divisions=[100001])),
    )
    assert added.code == 0, added.output
    result = cli("vault", "test", "Acme NL", "--division", "100002", "--format", "json")
    assert result.code == 6
    report = json.loads(result.stdout)
    assert report["cause"] == "no_division_access" and report["ok"] is False
    assert cli("vault", "test", "Acme NL", "--division", "100001").code == 0


def test_a_division_test_connect_found_inaccessible_costs_no_call(serve: Serve, cli: Cli) -> None:
    live = serve()
    added = cli(
        *add_args(live, "Acme NL", "--no-browser"),
        stdin=UserAtTerminal("emulator-demo-secret", sign_in_from_screen(divisions=[100001])),
    )
    assert added.code == 0, added.output
    before = live.stats()["by_endpoint"]
    for division in (str(live.config.forbidden_division), "999"):
        refused = cli("get", "crm/Accounts", "--division", division)
        assert refused.code == 3, refused.output
        assert f"Division {division} is not one credential 'Acme NL' can access" in refused.stderr
        assert "it can access 100001 (" in refused.stderr
        assert "exactmate vault test 'Acme NL'" in refused.stderr
    assert live.stats()["by_endpoint"] == before  # refused before any call
    assert cli("get", "crm/Accounts", "--division", "100001", "--top", "1").code == 0


def test_refresh_token_authentication_from_standard_input(serve: Serve, cli: Cli) -> None:
    live = serve(refresh_guard_seconds=0.0)
    from tests.connect.test_connector import _refresh_token

    token = _refresh_token(live)
    args = add_args(live, "Headless", "--auth-type", "refresh-token")
    result = cli(*args, stdin=UserAtTerminal("emulator-demo-secret", token))
    assert result.code == 0, result.output
    assert "Test Connect OK" in result.stdout and token not in result.output
    assert listed(cli)[0]["auth_type"] == "refresh-token"


# -- bad input -----------------------------------------------------------------------------------------


def test_bad_input_gets_clear_errors(cli: Cli) -> None:
    url = "http://127.0.0.1:9"
    ok = cli(*add_args(url, "Acme NL", "--skip-test"), stdin=UserAtTerminal("s"))
    assert ok.code == 0, ok.output
    duplicate = cli(*add_args(url, " acme nl ", "--skip-test"), stdin=UserAtTerminal("s"))
    assert duplicate.code == 4 and "a credential named 'acme nl' already exists" in duplicate.stderr

    bad_url = cli(
        "vault",
        "add",
        "X",
        "--server-url",
        "ftp://host",
        "--client-id",
        "",
        "--client-secret-stdin",
        "--skip-test",
        stdin=UserAtTerminal("s"),
    )
    assert bad_url.code == 3
    assert "the credential's values are not valid" in bad_url.stderr
    assert "Server URL 'ftp://host' must be an absolute http(s) URL" in bad_url.stderr
    assert "Client ID is required" in bad_url.stderr

    bad_id = cli(
        "vault",
        "add",
        "X",
        "--server-url",
        "nl",
        "--client-id",
        "abc",
        "--client-secret-stdin",
        "--skip-test",
        stdin=UserAtTerminal("s"),
    )
    assert bad_id.code == 3 and "Client ID 'abc' is not a GUID" in bad_id.stderr

    no_secret = cli(*add_args(url, "Y", "--skip-test"), stdin="")
    assert no_secret.code == 3 and "no client secret on standard input" in no_secret.stderr

    unknown = cli("vault", "show", "Initech")
    assert unknown.code == 4 and "No credential named 'Initech' (known: Acme NL)" in unknown.stderr
    assert cli("vault", "test", "Initech").code == 4

    nothing = cli("vault", "edit", "Acme NL")
    assert nothing.code == 3 and "nothing to change" in nothing.stderr

    kept = cli("vault", "remove", "Acme NL", stdin="n\n")
    assert kept.code == 1 and [c["name"] for c in listed(cli)] == ["Acme NL"]
    assert "Traceback" not in "".join(r.output for r in (duplicate, bad_url, bad_id, no_secret, unknown))


def test_the_secret_prompt_is_hidden(cli: Cli, settings: Settings) -> None:
    args = [
        "vault",
        "add",
        "Acme NL",
        "--server-url",
        "http://127.0.0.1:9",
        "--client-id",
        "demo",
        "--skip-test",
    ]
    result = cli(*args, stdin="prompted-S3cret\n")
    assert result.code == 0, result.output
    assert "Client secret" in result.output and "prompted-S3cret" not in result.output
    with Vault.open(settings) as vault:
        assert vault.client_secret(vault.get("Acme NL")) == "prompted-S3cret"


def test_a_wrong_master_key_says_so_and_overwrites_nothing(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    key_a, key_b = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    monkeypatch.setenv("EXACTMATE_MASTER_KEY", key_a)
    assert cli(*add_args("http://127.0.0.1:9", "Acme NL", "--skip-test"), stdin=UserAtTerminal("s")).code == 0
    monkeypatch.setenv("EXACTMATE_MASTER_KEY", key_b)
    tested = cli("vault", "test", "Acme NL")
    assert tested.code == 12 and "the master key does not match" in tested.stderr
    added = cli(*add_args("http://127.0.0.1:9", "Globex", "--skip-test"), stdin=UserAtTerminal("s"))
    assert added.code == 12 and "nothing was changed" in added.stderr
    rotated = cli("vault", "rotate-key")
    assert rotated.code == 4 and "EXACTMATE_MASTER_KEY" in rotated.stderr
    assert [c["name"] for c in listed(cli)] == ["Acme NL"]
    monkeypatch.setenv("EXACTMATE_MASTER_KEY", key_a)
    assert cli("vault", "show", "Acme NL").code == 0


def test_rotate_key_from_the_command_line(cli: Cli, settings: Settings) -> None:
    for name in ("Acme NL", "Globex"):
        assert (
            cli(*add_args("http://127.0.0.1:9", name, "--skip-test"), stdin=UserAtTerminal(f"s-{name}")).code
            == 0
        )
    before = json.loads(Path(settings.key_file).read_text())["primary"]
    rotated = cli("vault", "rotate-key")
    assert rotated.code == 0, rotated.output
    after = json.loads(Path(settings.key_file).read_text())["primary"]
    assert (
        after != before
        and f"Re-encrypted 2 secret(s) of 2 credential(s) under key {after}." in rotated.stdout
    )
    assert "[1/2] Acme NL" in rotated.stderr and "[2/2] Globex" in rotated.stderr
    assert f"Removed the retired key(s) no secret uses any more: {before}." in rotated.stdout
    resumed = cli("vault", "rotate-key", "--resume")
    assert "Re-encrypted 0 secret(s) of 2 credential(s)" in resumed.stdout
    with Vault.open(settings) as vault:
        assert [vault.client_secret(c) for c in vault.list()] == ["s-Acme NL", "s-Globex"]


def test_a_name_with_braces_is_printed_as_it_is(cli: Cli) -> None:
    args = add_args("http://127.0.0.1:9", "{7*7} {name}", "--skip-test")
    added = cli(*args, stdin=UserAtTerminal("s3cret"))
    assert added.code == 0, added.output
    assert "exactmate vault connect '{7*7} {name}'" in added.stdout  # quoted: works when pasted
