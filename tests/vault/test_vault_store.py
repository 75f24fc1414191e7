"""Credential storage: validation, the library API, secrets at rest, file modes, key rotation."""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from exactmate.auth import TokenSet
from exactmate.client import ExactClient
from exactmate.clock import FakeClock
from exactmate.config import Settings
from exactmate.errors import SecretBoxError, ValidationError, VaultError
from exactmate.secretbox import KeyFile, split_blob
from exactmate.store import credentials, tokens
from exactmate.vault import (
    DEFAULT_REDIRECT_URI,
    EXACT_HOSTS,
    Credential,
    LastTest,
    Vault,
    check_client_id,
    check_fields,
    check_redirect_uri,
    check_server_url,
)

GUID = "7f0c5a8e-2d4b-4c61-9a3e-5b1d2c3e4f50"
SECRET = "Sup3r-S3cret-Value-42"
EMULATOR = "http://127.0.0.1:8555"


def pair(clock: FakeClock, n: int = 1) -> TokenSet:
    now = clock.now()
    return TokenSet(f"ACCESS-{n}-plaintext-token", f"REFRESH-{n}-plaintext-token", now + 600, now)


STORING = ("make_default", "tokens", "last_test", "credential_id")


def add(vault: Vault, name: str = "Acme NL", **overrides: object) -> Credential:
    """Check the values (``new_values``), then store them (``create``), as the CLI does."""
    values: dict[str, object] = {"server_url": EMULATOR, "client_id": "demo-app", "client_secret": SECRET}
    values.update(overrides)
    storing = {key: values.pop(key) for key in STORING if key in values}
    return vault.create(vault.new_values(name, **values), **storing)  # type: ignore[arg-type]


def edit(vault: Vault, name: str, **changes: object) -> Credential:
    """Check the change (``plan_edit``), then make it (``apply_edit``), as the CLI does."""
    storing = {key: changes.pop(key) for key in ("tokens", "last_test") if key in changes}
    return vault.apply_edit(vault.plan_edit(name, **changes), **storing)  # type: ignore[arg-type]


# -- field validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("nl", "https://start.exactonline.nl"),
        ("UK", "https://start.exactonline.co.uk"),
        ("com", "https://start.exactonline.com"),
        ("https://start.exactonline.be/", "https://start.exactonline.be"),
        ("HTTPS://Start.ExactOnline.DE", "https://start.exactonline.de"),
        ("http://127.0.0.1:8555/", "http://127.0.0.1:8555"),
        ("http://localhost:9000", "http://localhost:9000"),
    ],
)
def test_server_url_normalised(given: str, expected: str) -> None:
    assert check_server_url(given) == expected


@pytest.mark.parametrize(
    "host", ["https://169.254.169.254", "https://10.0.0.7", "https://exact.example.com/proxy/", "https://exactonl1ne.nl"]
)
def test_a_custom_host_must_be_allowed_explicitly(host: str, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValidationError, match="neither one of Exact Online's hosts") as refused:
        check_server_url(host)
    assert "--allow-custom-host" in str(refused.value)
    with caplog.at_level("WARNING", logger="exactmate"):
        assert check_server_url(host, allow_custom_host=True) == host.rstrip("/")
    assert "is a custom host: its client secret will be sent there" in caplog.text


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("", "Server URL is required"),
        ("start.exactonline.nl", "absolute http(s) URL"),
        ("ftp://start.exactonline.nl", "absolute http(s) URL"),
        ("http://start.exactonline.nl", "must use https: https://start.exactonline.nl"),
        ("https://start.exactonline.xx", "not one of Exact Online's hosts"),
        ("https://start.exactonline.nl/api", "not one of Exact Online's hosts"),
        ("http://exact.example.com", "plain http, which is allowed only on this machine"),
        ("https://exact.example.com?x=1", "cannot have a query"),
        ("https://user:pw@exact.example.com", "cannot carry a user name or password"),
        ("http://127.0.0.1:notaport", "not a valid URL"),
    ],
)
def test_bad_server_urls_say_what_is_wrong(given: str, says: str) -> None:
    with pytest.raises(ValidationError, match="Server URL") as caught:
        check_server_url(given)
    assert says in str(caught.value)


def test_client_id_is_a_guid_on_exact_hosts_only() -> None:
    assert check_client_id("{7F0C5A8E-2D4B-4C61-9A3E-5B1D2C3E4F50}", EXACT_HOSTS["nl"]) == GUID
    with pytest.raises(ValidationError, match="is not a GUID"):
        check_client_id("demo-app", EXACT_HOSTS["nl"])
    assert check_client_id(" demo-app ", EMULATOR) == "demo-app"
    with pytest.raises(ValidationError, match="Client ID is required"):
        check_client_id("  ", EMULATOR)
    with pytest.raises(ValidationError, match="spaces"):
        check_client_id("two words", EMULATOR)


def test_redirect_uri_default_and_rules() -> None:
    assert check_redirect_uri(None) == DEFAULT_REDIRECT_URI == "http://127.0.0.1:8400/oauth/callback"
    assert check_redirect_uri("https://app.example.com/cb") == "https://app.example.com/cb"
    with pytest.raises(ValidationError, match="plain http"):
        check_redirect_uri("http://app.example.com/cb")
    with pytest.raises(ValidationError, match="fragment"):
        check_redirect_uri("http://127.0.0.1:8400/cb#x")


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        check_fields(name="  ", server_url="ftp://x", client_id="", auth_type="password")
    problems = caught.value.problems
    assert len(problems) == 4
    assert any("Connector Name is required" in p for p in problems)
    assert any(
        "Authentication Type 'password' is not one of oauth2-code, refresh-token" in p for p in problems
    )
    assert any("Server URL" in p for p in problems)
    assert any("Client ID is required" in p for p in problems)


def test_auth_type_is_normalised() -> None:
    fields = check_fields(name="x", server_url="nl", client_id=GUID, auth_type="Refresh_Token")
    assert fields.auth_type == "refresh-token"


# -- the library API -----------------------------------------------------------------------------------


def test_add_get_list_search(vault: Vault) -> None:
    created = add(vault, "  Acme NL  ")
    add(vault, "Globex BE", server_url="be", client_id=GUID.upper())
    assert vault.get("acme nl") == created
    assert vault.get("ACME NL").name == "Acme NL"
    globex = vault.get("globex be")
    assert (globex.server_url, globex.client_id) == ("https://start.exactonline.be", GUID)
    assert [c.name for c in vault.list()] == ["Acme NL", "Globex BE"]
    assert [c.name for c in vault.list("exactonline.be")] == ["Globex BE"]
    assert [c.name for c in vault.list("ACME")] == ["Acme NL"]
    assert [c.name for c in vault.list("disconnected")] == ["Acme NL", "Globex BE"]
    assert vault.list("nothing-like-this") == []
    assert vault.find("nobody") is None


def test_listing_and_searching_never_decrypt(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    add(vault, "Acme NL")
    vault.save_tokens("Acme NL", pair(FakeClock()))

    def refuse(*_args: object) -> str:
        raise AssertionError("decrypted while listing")

    monkeypatch.setattr(vault.box, "decrypt", refuse)
    assert [c.name for c in vault.list("acme")] == ["Acme NL"]
    assert vault.get("acme nl").has_tokens
    assert vault.default() is not None


def test_a_credential_carries_no_secret(vault: Vault) -> None:
    created = add(vault)
    credential = vault.get("Acme NL")
    assert SECRET not in repr(created) + repr(credential) + str(asdict(credential)) + str(
        credential.to_dict()
    )
    assert vault.client_secret(credential) == SECRET


def test_duplicate_names_are_refused_without_regard_to_case(vault: Vault) -> None:
    add(vault, "Acme NL")
    with pytest.raises(VaultError, match="a credential named 'acme nl' already exists"):
        add(vault, "  acme nl ")
    assert len(vault.list()) == 1


def test_a_missing_secret_is_refused(vault: Vault) -> None:
    with pytest.raises(ValidationError, match="Client Secret is required"):
        add(vault, client_secret="   ")
    with pytest.raises(ValidationError, match="control characters") as caught:
        add(vault, client_secret="zq-secret-part\nzq-more")
    assert "zq-" not in str(caught.value)
    assert vault.list() == []


def test_unknown_credential_names_the_known_ones(vault: Vault) -> None:
    add(vault, "Acme NL")
    with pytest.raises(VaultError, match=r"No credential named 'Initech' \(known: Acme NL\)") as caught:
        vault.get(" Initech ")
    assert caught.value.hint == "list them with: exactmate vault list"
    for operation in (vault.remove, vault.set_default, vault.forget_tokens):
        with pytest.raises(VaultError, match="No credential named"):
            operation("Initech")


def test_the_first_credential_becomes_the_default(vault: Vault) -> None:
    assert vault.default() is None
    add(vault, "Acme NL")
    add(vault, "Globex")
    assert vault.default() is not None and vault.default().name == "Acme NL"  # type: ignore[union-attr]
    vault.set_default("globex")
    assert [c.name for c in vault.list() if c.is_default] == ["Globex"]
    add(vault, "Initech", make_default=True)
    assert [c.name for c in vault.list() if c.is_default] == ["Initech"]


def test_tokens_status_and_tests(vault: Vault, clock: FakeClock) -> None:
    add(vault)
    assert vault.get("Acme NL").status == "disconnected"
    connected = vault.save_tokens("Acme NL", pair(clock))
    assert (connected.status, connected.tokens_issued_at) == ("connected", clock.now())
    vault.tokens_of(connected.id).mark_needs_reauthorization("Old refresh token used.")
    flagged = vault.get("Acme NL")
    assert (flagged.status_label, flagged.status_reason, flagged.has_tokens) == (
        "needs re-authorisation",
        "Old refresh token used.",
        False,
    )
    tested = vault.record_test("Acme NL", LastTest(ok=False, message="wrong secret", at=clock.now()))
    assert (tested.last_test_ok, tested.last_test_message, tested.last_test_label) == (
        False,
        "wrong secret",
        "failed",
    )
    forgotten = vault.forget_tokens("Acme NL")
    assert (forgotten.status, forgotten.has_tokens) == ("disconnected", False)


def test_edit_renames_and_keeps_tokens_when_nothing_about_the_connection_changes(
    vault: Vault, clock: FakeClock
) -> None:
    add(vault, "Acme NL")
    add(vault, "Globex")
    vault.save_tokens("Acme NL", pair(clock))
    renamed = edit(vault, "acme nl", new_name="Acme Netherlands")
    assert (renamed.name, renamed.status, renamed.has_tokens) == ("Acme Netherlands", "connected", True)
    assert edit(vault, "acme netherlands", new_name="ACME NETHERLANDS").name == "ACME NETHERLANDS"
    with pytest.raises(VaultError, match="a credential named 'Globex' already exists"):
        edit(vault, "ACME NETHERLANDS", new_name=" globex ")


def test_edit_of_connection_values_forgets_old_tokens_unless_new_ones_come(
    vault: Vault, clock: FakeClock
) -> None:
    add(vault)
    vault.save_tokens("Acme NL", pair(clock))
    moved = edit(vault, "Acme NL", redirect_uri="http://127.0.0.1:9999/cb")
    assert (moved.status, moved.has_tokens, moved.redirect_uri) == (
        "disconnected",
        False,
        "http://127.0.0.1:9999/cb",
    )
    assert moved.status_reason == "its connection values changed: connect again"
    clock.advance(60)
    tested = LastTest(ok=True, message="Connected as Dana", at=clock.now())
    rekeyed = edit(vault, "Acme NL", client_secret="n3w-secret", tokens=pair(clock, 2), last_test=tested)
    assert (rekeyed.status, rekeyed.tokens_issued_at, rekeyed.last_test_ok) == (
        "connected",
        clock.now(),
        True,
    )
    assert vault.client_secret(rekeyed) == "n3w-secret"
    with pytest.raises(ValidationError, match="is not a GUID"):
        edit(vault, "Acme NL", server_url="nl")  # the emulator's client id is no GUID


def test_remove_deletes_the_credential_and_its_tokens(vault: Vault, clock: FakeClock) -> None:
    created = add(vault)
    vault.save_tokens("Acme NL", pair(clock))
    assert vault.remove("ACME NL").name == "Acme NL"
    assert vault.list() == []
    assert vault.store.tokens(created.id) is None  # type: ignore[attr-defined]


# -- secrets at rest -----------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_are_nowhere_in_plain_text_and_files_are_private(vault: Vault, settings: Settings) -> None:
    add(vault)
    token_pair = pair(FakeClock())
    vault.save_tokens("Acme NL", token_pair)
    vault.store.close()
    db_file = Path(settings.db_url.removeprefix("sqlite:///"))
    home_files = [p for p in settings.home.rglob("*") if p.is_file()]
    assert db_file in home_files and settings.key_file in home_files
    for path in home_files:
        data = path.read_bytes()
        for plain in (SECRET, token_pair.access_token, token_pair.refresh_token):
            assert plain.encode() not in data, f"{plain!r} found in {path.name}"
            assert base64.b64encode(plain.encode()) not in data
        assert _mode(path) == 0o600, f"{path.name} has mode {_mode(path):o}"
    assert _mode(settings.key_file) == 0o600 and _mode(db_file) == 0o600


def test_stored_ciphertexts_are_bound_to_their_record(vault: Vault) -> None:
    first = add(vault, "one")
    second = add(vault, "two")
    with vault.store.transaction() as conn:
        blob = conn.execute(select(credentials.c.client_secret).where(credentials.c.id == first.id)).scalar()  # type: ignore[attr-defined]
        conn.execute(credentials.update().where(credentials.c.id == second.id).values(client_secret=blob))  # type: ignore[attr-defined]
    with pytest.raises(SecretBoxError, match="failed its integrity check"):
        vault.client_secret(vault.get("two"))


# -- keys ----------------------------------------------------------------------------------------------


def _kids(vault: Vault) -> set[str]:
    with vault.store.reading() as conn:
        blobs = list(conn.execute(select(credentials.c.client_secret)).scalars())
        for row in conn.execute(select(tokens.c.access_token, tokens.c.refresh_token)):
            blobs.extend(row)
    return {split_blob(b)[0] for b in blobs}


def test_rotate_key_re_encrypts_everything_under_a_new_key(
    vault: Vault, settings: Settings, clock: FakeClock
) -> None:
    for name in ("a", "b", "c"):
        add(vault, name, client_secret=f"secret-{name}")
        vault.save_tokens(name, pair(clock))
    old = vault.box.primary_kid
    report = vault.rotate_key()
    assert report.key_id != old and (report.credentials, report.secrets) == (3, 9)
    assert _kids(vault) == {report.key_id}
    assert report.pruned == (old,)  # no secret uses the retired key any more: it is dropped
    assert set(KeyFile(settings.key_file).load().kids) == {report.key_id}
    with Vault.open(settings) as reopened:
        assert [reopened.client_secret(c) for c in reopened.list()] == ["secret-a", "secret-b", "secret-c"]
    assert _mode(settings.key_file) == 0o600


def test_an_interrupted_rotation_leaves_every_credential_readable(
    vault: Vault, settings: Settings, clock: FakeClock
) -> None:
    for name in ("a", "b", "c"):
        add(vault, name, client_secret=f"secret-{name}")
        vault.save_tokens(name, pair(clock))
    old = vault.box.primary_kid

    def crash_after_first(name: str, done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        vault.rotate_key(crash_after_first)
    with Vault.open(settings) as survivor:  # as a new process would
        new = survivor.box.primary_kid
        assert new != old and _kids(survivor) == {old, new}
        assert set(KeyFile(settings.key_file).load().kids) == {old, new}  # the old key is still needed
        assert [survivor.client_secret(c) for c in survivor.list()] == ["secret-a", "secret-b", "secret-c"]
        report = survivor.reencrypt()
        assert (report.key_id, report.secrets, report.pruned) == (new, 6, (old,))
        assert _kids(survivor) == {new}
        assert [survivor.client_secret(c) for c in survivor.list()] == ["secret-a", "secret-b", "secret-c"]


def test_a_wrong_master_key_is_reported_and_nothing_is_overwritten(tmp_path: Path) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    with Vault.open(Settings.from_env(master_key=key_a)) as first:
        add(first, "Acme NL")
        before = _kids(first)
    with Vault.open(Settings.from_env(master_key=key_b)) as wrong:
        assert [c.name for c in wrong.list()] == ["Acme NL"]  # listing needs no key
        with pytest.raises(SecretBoxError, match="the master key does not match") as caught:
            wrong.client_secret(wrong.get("Acme NL"))
        assert "nothing was changed" in str(caught.value)
        with pytest.raises(SecretBoxError, match="the master key does not match"):
            add(wrong, "Globex")
        with pytest.raises(SecretBoxError, match="the master key does not match"):
            edit(wrong, "Acme NL", client_secret="other")
        with pytest.raises(VaultError, match="EXACTMATE_MASTER_KEY, which exactmate cannot rotate"):
            wrong.rotate_key()
        assert [c.name for c in wrong.list()] == ["Acme NL"] and _kids(wrong) == before
    with Vault.open(Settings.from_env(master_key=key_a)) as right:
        assert right.client_secret(right.get("Acme NL")) == SECRET


def test_a_deleted_key_file_is_not_silently_replaced(vault: Vault, settings: Settings) -> None:
    add(vault)
    sealed = _kids(vault)
    saved = settings.key_file.read_bytes()
    settings.key_file.unlink()
    with pytest.raises(SecretBoxError, match="is missing, but the database holds secrets") as caught:
        Vault.open(settings)
    assert sealed.pop() in str(caught.value) and "restore" in (caught.value.hint or "")
    assert not settings.key_file.exists()  # no new key was made
    settings.key_file.write_bytes(saved)
    settings.key_file.chmod(0o600)
    with Vault.open(settings) as restored:
        assert restored.client_secret(restored.get("Acme NL")) == SECRET


def test_a_replaced_key_file_is_refused_before_rotation(vault: Vault, settings: Settings) -> None:
    add(vault)
    settings.key_file.unlink()
    KeyFile(settings.key_file).load_or_create()  # another key, as a restore of the wrong backup would
    with Vault.open(settings) as fresh_key:
        with pytest.raises(SecretBoxError, match="the master key does not match"):
            fresh_key.rotate_key()
        assert len(KeyFile(settings.key_file).load().kids) == 1  # no key was added


# -- connection values bound to the secrets -------------------------------------------------------------


def test_a_server_url_changed_in_the_database_opens_no_secret(
    vault: Vault, settings: Settings, clock: FakeClock
) -> None:
    add(vault)
    vault.save_tokens("Acme NL", pair(clock))
    row_id = vault.get("Acme NL").id
    with vault.store.transaction() as conn:  # no key needed to do this
        conn.execute(credentials.update().where(credentials.c.id == row_id).values(server_url="https://capture.example"))
    sent: list[str] = []

    def capture(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(capture)
    with pytest.raises(SecretBoxError, match="server URL, client ID or redirect URI was changed outside"):
        ExactClient.from_credential("Acme NL", settings=settings, store=vault.store, transport=transport)
    with pytest.raises(SecretBoxError, match="integrity check"):
        vault.client_secret(vault.get("Acme NL"))
    assert sent == []  # neither the client secret nor the refresh token went anywhere


def test_editing_a_connection_value_keeps_the_secret_readable(vault: Vault) -> None:
    add(vault)
    edit(vault, "Acme NL", server_url="http://127.0.0.1:9999", client_id="other-app")
    assert vault.client_secret(vault.get("Acme NL")) == SECRET


def test_secrets_of_an_older_exactmate_are_bound_on_first_open(settings: Settings, clock: FakeClock) -> None:
    with Vault.open(settings, clock=clock) as first:
        add(first)
        first.save_tokens("Acme NL", pair(clock))
        row_id = first.get("Acme NL").id
        key = first.box.keyring.key(first.box.primary_kid)
        kid = first.box.primary_kid
    binding_legacy = {"client_secret": f"credential:{row_id}:client_secret",
                      "access_token": f"token:{row_id}:access_token",
                      "refresh_token": f"token:{row_id}:refresh_token"}  # fmt: skip

    def legacy(plaintext: str, column: str) -> bytes:  # the format and AAD before the binding
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), binding_legacy[column].encode())
        return kid.encode() + b":" + nonce + sealed

    with Vault.open(settings, clock=clock) as vault, vault.store.transaction() as conn:
        conn.execute(credentials.update().values(client_secret=legacy(SECRET, "client_secret")))
        conn.execute(tokens.update().values(
            access_token=legacy("ACCESS-1-plaintext-token", "access_token"),
            refresh_token=legacy("REFRESH-1-plaintext-token", "refresh_token"),
        ))  # fmt: skip
    with Vault.open(settings, clock=clock) as upgraded:
        assert upgraded.client_secret(upgraded.get("Acme NL")) == SECRET
        with upgraded.store.reading() as conn:
            blobs = [*conn.execute(select(credentials.c.client_secret)).scalars()]
            held = conn.execute(select(tokens.c.access_token, tokens.c.refresh_token))
            blobs += [blob for row in held for blob in row]
        assert all(bytes(b).startswith(kid.encode() + b";") for b in blobs)  # all bound now
