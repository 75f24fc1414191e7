"""The app's webhook secret in the vault: sealed like the client secret, bound to the connection
values, never shown, re-encrypted by a key rotation; given on the command line from standard input
only; and revision 3 of the store's migrations adds its column to a store that has credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from exactmate.config import Settings
from exactmate.errors import StoreError, ValidationError
from exactmate.secretbox import split_blob
from exactmate.store import Store, credentials
from exactmate.vault import Vault
from tests.cli.conftest import run
from tests.old_stores import build_revision
from tests.vault.test_vault_store import EMULATOR, SECRET, add, edit

HOOK = "Webhook-S3cret-from-the-App-Center"


def _sealed(vault: Vault, name: str) -> bytes | None:
    with vault.store.reading() as conn:
        found = conn.execute(select(credentials.c.webhook_secret).where(credentials.c.name == name)).scalar()
    return None if found is None else bytes(found)


def test_kept_sealed_and_bound_and_never_in_the_credential(vault: Vault, settings: Settings) -> None:
    add(vault, webhook_secret=HOOK)
    credential = vault.get("Acme NL")
    assert credential.has_webhook_secret and HOOK not in repr(credential)
    assert HOOK not in json.dumps(credential.to_dict())
    assert vault.webhook_secret(credential) == HOOK
    sealed = _sealed(vault, "Acme NL")
    assert sealed is not None and HOOK.encode() not in sealed
    vault.store.close()
    assert HOOK.encode() not in Path(settings.db_url.removeprefix("sqlite:///")).read_bytes()


def test_none_until_given_and_an_edit_of_it_alone_keeps_the_tokens(vault: Vault) -> None:
    add(vault)
    assert vault.webhook_secret(vault.get("Acme NL")) is None
    change = vault.plan_edit("Acme NL", webhook_secret=HOOK)
    assert not change.reconnects  # not a connection value: no new sign-in
    edit(vault, "Acme NL", webhook_secret=HOOK)
    assert vault.webhook_secret(vault.get("Acme NL")) == HOOK
    edit(vault, "Acme NL", webhook_secret="a-new-one")
    assert vault.webhook_secret(vault.get("Acme NL")) == "a-new-one"


def test_bound_again_when_a_connection_value_changes(vault: Vault) -> None:
    add(vault, webhook_secret=HOOK)
    edit(vault, "Acme NL", server_url="http://127.0.0.1:9999", client_id="other-app")
    assert vault.webhook_secret(vault.get("Acme NL")) == HOOK
    assert vault.client_secret(vault.get("Acme NL")) == SECRET


@pytest.mark.parametrize(
    ("given", "says"),
    [("", "Webhook Secret is empty"), ("a\nb", "control characters"), ("x" * 5000, "characters long")],
)
def test_a_bad_value_is_refused_without_repeating_it(vault: Vault, given: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says) as caught:
        add(vault, webhook_secret=given)
    assert given.strip() == "" or given not in str(caught.value)


def test_rotate_key_re_encrypts_it(vault: Vault) -> None:
    add(vault, webhook_secret=HOOK)
    report = vault.rotate_key()
    sealed = _sealed(vault, "Acme NL")
    assert sealed is not None and split_blob(sealed)[0] == report.key_id
    assert report.secrets == 2  # the client secret and the webhook secret
    assert vault.webhook_secret(vault.get("Acme NL")) == HOOK


def test_the_command_line_reads_it_from_standard_input_and_never_shows_it(settings: Settings) -> None:
    added = run(
        "vault", "add", "Acme NL", "--server-url", EMULATOR, "--client-id", "demo-app",
        "--client-secret-stdin", "--webhook-secret-stdin", "--skip-test",
        input=f"{SECRET}\n{HOOK}\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    shown = run("vault", "show", "Acme NL")
    assert "Webhook Secret       (stored encrypted; never shown)" in shown.stdout
    as_json = run("vault", "show", "Acme NL", "--format", "json")
    assert json.loads(as_json.stdout)["has_webhook_secret"] is True
    for output in (added.stdout + added.stderr, shown.stdout, as_json.stdout):
        assert HOOK not in output and SECRET not in output
    changed = run("vault", "edit", "Acme NL", "--webhook-secret-stdin", input="another-one\n")
    assert changed.exit_code == 0, changed.stderr
    assert "another-one" not in changed.stdout + changed.stderr
    with Vault.open(settings) as vault:
        assert vault.webhook_secret(vault.get("Acme NL")) == "another-one"
    empty = run("vault", "edit", "Acme NL", "--webhook-secret-stdin", input="\n")
    assert empty.exit_code != 0 and "no webhook secret on standard input" in empty.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_of_revision_2_gains_the_column_and_the_cursors(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Revision 3 on a store with a credential: SQLite upgrades on opening, PostgreSQL on `db upgrade`."""
    url = (
        f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("pg_database")
    )
    build_revision(url, "0002_no_schema_version")
    if backend == "postgresql":
        with pytest.raises(StoreError, match="exactmate db upgrade"):
            Store(url)
        _upgrade(url)  # what `exactmate db upgrade` runs
    store = Store(url)
    try:
        with store.reading() as conn:
            assert conn.execute(select(credentials.c.webhook_secret)).all() == [(None,)]
            assert conn.dialect.has_table(conn, "event_cursors")
    finally:
        store.close()


def _upgrade(url: str) -> None:
    from exactmate.store import upgrade

    engine = create_engine(url)
    try:
        upgrade.to_head(engine, "test")
    finally:
        engine.dispose()
