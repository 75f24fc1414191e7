"""``Vault``: the stored credentials, their secrets sealed by the secret box.

Listing and searching read only plain columns; a secret is decrypted only when asked for by
:meth:`Vault.client_secret` (the webhook secret by :meth:`Vault.webhook_secret`). Every write checks
first that the key ring can open what is already stored, so a wrong master key is reported before
anything is written, never after.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import replace
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, select

from exactmate.clock import Clock
from exactmate.config import Settings
from exactmate.errors import SecretBoxError, VaultError
from exactmate.secretbox import KeyFile, SecretBox, split_blob
from exactmate.store import (
    CredentialRow,
    SecretBinding,
    Store,
    credentials,
    name_key,
    new_id,
    tokens,
)
from exactmate.vault import rotation
from exactmate.vault.credential import Credential, LastTest, unknown_credential
from exactmate.vault.divisions import KnownDivisions
from exactmate.vault.fields import CredentialFields, check_fields, check_secret, check_webhook_secret
from exactmate.vault.tokens import CredentialTokens, TokenValues
from exactmate.vault.values import CredentialEdit, NewCredential

WEBHOOK_SECRET = "webhook_secret"
"""The credentials column (and associated-data name) of the app's webhook secret."""


class Vault:
    """Credentials by name (trimmed, case-insensitive): new_values + create, get, list, plan_edit +
    apply_edit, default, remove, rotate."""

    def __init__(self, store: Store, box: SecretBox, *, key_file: KeyFile | None = None) -> None:
        """``key_file``: where the key ring lives, for :meth:`rotate_key` (None: the key came from
        ``EXACTMATE_MASTER_KEY``, which exactmate cannot change)."""
        self.store = store
        self.box = box
        self._key_file = key_file
        self._owned: Store | None = None

    @classmethod
    def open(cls, settings: Settings | None = None, *, clock: Clock | None = None) -> Vault:
        """The vault of ``settings`` (default: from the environment); :meth:`close` closes its store."""
        settings = settings or Settings.from_env()
        store = Store.from_settings(settings, clock=clock)
        try:
            box = SecretBox.from_settings(settings, sealed=lambda: rotation.stored_key_ids(store))
            rotation.bind_unbound(store, box)
        except BaseException:
            store.close()
            raise
        vault = cls(store, box, key_file=box.key_file)
        vault._owned = vault.store
        return vault

    def close(self) -> None:
        """Close the store if :meth:`open` opened it."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> Vault:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault({self.store!r})"

    # -- reading ---------------------------------------------------------------------------------

    def find(self, name: str) -> Credential | None:
        """The credential called ``name`` (trimmed, case-insensitive), or None."""
        row = self.store.credential_by_name(name)
        return self._credential(row) if row else None

    def get(self, name: str) -> Credential:
        """The credential called ``name``; VaultError naming the known ones if there is none."""
        found = self.find(name)
        if found is None:
            raise unknown_credential(name, (c.name for c in self.list()))
        return found

    def list(self, search: str | None = None) -> list[Credential]:
        """Every credential by name, or those whose name, server URL, client ID, authentication type
        or status contain ``search`` (case-insensitive). Nothing is decrypted."""
        issued = self._tokens_issued()
        found = [Credential.from_row(row, issued.get(row.id)) for row in self.store.list_credentials()]
        return [c for c in found if c.matches(search)]

    def default(self) -> Credential | None:
        """The default credential, if one is marked."""
        return next((c for c in self.list() if c.is_default), None)

    def client_secret(self, credential: Credential) -> str:
        """The credential's client secret, decrypted. The one place a secret leaves the vault."""
        row = self.store.credential(credential.id)
        if row is None:
            raise VaultError(f"credential {credential.name!r} no longer exists")
        self._check_kids([split_blob(row.client_secret)[0]])
        return self.box.decrypt(row.client_secret, SecretBinding.of(row).aad("client_secret"))

    def webhook_secret(self, credential: Credential) -> str | None:
        """The app's webhook secret, decrypted (None: none stored). Only the receiver of Exact's
        webhook notifications asks for it, to check their signatures."""
        row = self.store.credential(credential.id)
        if row is None:
            raise VaultError(f"credential {credential.name!r} no longer exists")
        if row.webhook_secret is None:
            return None
        self._check_kids([split_blob(row.webhook_secret)[0]])
        return self.box.decrypt(row.webhook_secret, SecretBinding.of(row).aad(WEBHOOK_SECRET))

    # -- writing ---------------------------------------------------------------------------------

    def new_values(
        self,
        name: str,
        *,
        server_url: str,
        client_id: str,
        client_secret: str,
        auth_type: str | None = None,
        redirect_uri: str | None = None,
        allow_custom_host: bool = False,
        webhook_secret: str | None = None,
    ) -> NewCredential:
        """The values of a new credential, checked once (for :meth:`create`); stores nothing.

        ValidationError listing every bad field; VaultError when the name is taken.
        ``allow_custom_host``: accept a server URL that is neither Exact's nor this machine's.
        """
        fields = check_fields(
            name=name,
            server_url=server_url,
            client_id=client_id,
            auth_type=auth_type,
            redirect_uri=redirect_uri,
            allow_custom_host=allow_custom_host,
        )
        secret = check_secret(client_secret)
        hook = check_webhook_secret(webhook_secret) if webhook_secret is not None else None
        self._check_name_free(fields.name, None)
        return NewCredential(fields, secret, hook)

    def create(
        self,
        values: NewCredential,
        *,
        make_default: bool | None = None,
        tokens: TokenValues | None = None,
        last_test: LastTest | None = None,
        credential_id: str | None = None,
    ) -> Credential:
        """Store a new credential, with the tokens its Test Connect obtained, in one transaction.

        ``values`` were checked by :meth:`new_values` (or the web form). ``make_default`` None
        makes it the default when no other credential is. ``credential_id`` lets a caller that
        already used an id (for the rate ledger of the test) keep it.
        """
        fields = values.fields
        self.check_key()
        cid = credential_id or new_id()
        bound = _binding(cid, fields)
        hook = values.webhook_secret
        with self.store.transaction() as conn:
            defaults = self._default_ids(conn)
            is_default = make_default if make_default is not None else not defaults
            if is_default:
                for other in defaults:
                    self.store.update_credential(other, is_default=False, conn=conn)
            self.store.insert_credential(
                id=cid,
                name=fields.name,
                server_url=fields.server_url,
                client_id=fields.client_id,
                client_secret=self.box.encrypt(values.secret, bound.aad("client_secret")),
                redirect_uri=fields.redirect_uri,
                auth_type=fields.auth_type,
                is_default=is_default,
                webhook_secret=self.box.encrypt(hook, bound.aad(WEBHOOK_SECRET)) if hook else None,
                conn=conn,
            )
            self._write_state(cid, conn, tokens=tokens, last_test=last_test)
        return self._by_id(cid)

    def plan_edit(
        self,
        name: str,
        *,
        new_name: str | None = None,
        auth_type: str | None = None,
        server_url: str | None = None,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        client_secret: str | None = None,
        allow_custom_host: bool = False,
        webhook_secret: str | None = None,
    ) -> CredentialEdit:
        """The change :meth:`apply_edit` would make, checked once; stores nothing.

        None leaves a value as it is. VaultError when the new name belongs to another credential.
        A stored custom host stays allowed while the server URL is left as it is.
        """
        current = self.get(name)
        fields = check_fields(
            name=current.name if new_name is None else new_name,
            auth_type=auth_type or current.auth_type,
            server_url=current.server_url if server_url is None else server_url,
            client_id=current.client_id if client_id is None else client_id,
            redirect_uri=redirect_uri or current.redirect_uri,
            allow_custom_host=allow_custom_host or server_url is None or server_url == current.server_url,
        )
        secret = check_secret(client_secret) if client_secret is not None else None
        hook = check_webhook_secret(webhook_secret) if webhook_secret is not None else None
        self._check_name_free(fields.name, current)
        return CredentialEdit(current, fields, secret, hook)

    def apply_edit(
        self, edit: CredentialEdit, *, tokens: TokenValues | None = None, last_test: LastTest | None = None
    ) -> Credential:
        """Make a checked change (from :meth:`plan_edit` or the web form) in one transaction.

        Tokens belong to one app on one host: when the change reconnects (a connection value or the
        secret changes) and no new ``tokens`` come with it, the old tokens are forgotten and the
        credential is disconnected. A rename keeps them.
        """
        current = edit.current
        changes: dict[str, Any] = edit.changes
        self.check_key()
        bound = _binding(current.id, edit.fields)
        with self.store.transaction() as conn:
            row = self.store.credential(current.id, conn=conn)
            if row is None:
                raise VaultError(f"credential {current.name!r} was removed meanwhile")
            secret = edit.secret
            if secret is None and edit.reconnects:  # the stored secret, bound to the new values
                secret = self.box.decrypt(row.client_secret, SecretBinding.of(row).aad("client_secret"))
            if secret is not None:
                changes["client_secret"] = self.box.encrypt(secret, bound.aad("client_secret"))
            hook = edit.webhook_secret
            if hook is None and row.webhook_secret is not None and edit.reconnects:  # bound anew too
                hook = self.box.decrypt(row.webhook_secret, SecretBinding.of(row).aad(WEBHOOK_SECRET))
            if hook is not None:
                changes[WEBHOOK_SECRET] = self.box.encrypt(hook, bound.aad(WEBHOOK_SECRET))
            if changes:
                self.store.update_credential(current.id, conn=conn, **changes)
            if tokens is None and edit.reconnects:
                reason = "its connection values changed: connect again"
                self.tokens_of(current.id).forget(reason, conn=conn)
            self._write_state(current.id, conn, tokens=tokens, last_test=last_test)
        return self._by_id(current.id)

    def set_default(self, name: str) -> Credential:
        """Make ``name`` the one default credential."""
        credential = self.get(name)
        self.store.set_default_credential(credential.id)
        return self._by_id(credential.id)

    def remove(self, name: str) -> Credential:
        """Delete a credential and its tokens; returns what was removed."""
        credential = self.get(name)
        if not self.store.delete_credential(credential.id):
            raise VaultError(f"credential {credential.name!r} was removed meanwhile")
        return credential

    def record_test(self, name: str, last_test: LastTest) -> Credential:
        """Keep the outcome of a Test Connect with the credential."""
        credential = self.get(name)
        with self.store.transaction() as conn:
            self._write_state(credential.id, conn, last_test=last_test)
        return self._by_id(credential.id)

    def remember_divisions(self, credential: Credential, divisions: Iterable[tuple[int, str]]) -> None:
        """Keep the divisions (code, name) a Test Connect found accessible, so that a division
        outside them is refused before any call (see ``vault.divisions``)."""
        KnownDivisions(self.store, credential.id, credential.name).remember(divisions)

    def save_tokens(self, name: str, tokens: TokenValues) -> Credential:
        """Store a new token pair (sealed) and mark the credential connected.

        Callers that may race a token refresh hold the credential's refresh lock around this.
        """
        credential = self.get(name)
        self.check_key()
        with self.store.transaction() as conn:
            self._write_state(credential.id, conn, tokens=tokens)
        return self._by_id(credential.id)

    def forget_tokens(self, name: str, reason: str = "disconnected by the user") -> Credential:
        """Delete the stored tokens and mark the credential disconnected; the credential stays."""
        credential = self.get(name)
        self.tokens_of(credential.id).forget(reason)
        return self._by_id(credential.id)

    def tokens_of(self, credential_id: str) -> CredentialTokens:
        """The token pair of the credential ``credential_id`` (what ``exactmate.auth`` refreshes)."""
        return CredentialTokens(self.store, self.box, credential_id)

    # -- keys ------------------------------------------------------------------------------------

    def check_key(self) -> None:
        """SecretBoxError, before anything is written, when something stored was sealed by a key
        the ring does not hold: the master key does not match."""
        self._check_kids(rotation.stored_key_ids(self.store))

    def rotate_key(self, progress: rotation.Progress | None = None) -> rotation.RotationReport:
        """Add a fresh primary key to the key file and re-encrypt every secret and token under it.

        Each credential is re-encrypted in its own transaction and old keys stay in the file, so an
        interruption leaves every credential readable; :meth:`reencrypt` finishes the job.
        """
        if self._key_file is None:
            raise VaultError(
                "the master key comes from EXACTMATE_MASTER_KEY, which exactmate cannot rotate",
                hint="unset EXACTMATE_MASTER_KEY to keep keys in the key file, or re-add the "
                "credentials under a new EXACTMATE_MASTER_KEY",
            )
        self.check_key()
        self.box = SecretBox(self._key_file.add_key(), key_file=self._key_file)
        report = rotation.reencrypt_all(self.store, self.box, progress)
        return self._prune(report)

    def reencrypt(self, progress: rotation.Progress | None = None) -> rotation.RotationReport:
        """Re-encrypt under the current primary key whatever an older key sealed (after an
        interrupted rotation); adds no key."""
        self.check_key()
        return self._prune(rotation.reencrypt_all(self.store, self.box, progress))

    def _prune(self, report: rotation.RotationReport) -> rotation.RotationReport:
        """Drop the retired keys no stored secret uses any more: a key kept for nothing is only a
        liability. A key still in use (an interrupted rotation) stays until ``reencrypt`` is done."""
        if self._key_file is None:
            return report
        pruned = self._key_file.prune(rotation.stored_key_ids(self.store))
        self.box = SecretBox(self._key_file.load(), key_file=self._key_file)
        return replace(report, pruned=pruned)

    # -- internals -------------------------------------------------------------------------------

    def _check_name_free(self, name: str, current: Credential | None) -> None:
        """VaultError when another credential is called ``name`` (a case change of one's own is fine)."""
        if current is not None and name_key(name) == name_key(current.name):
            return
        other = self.find(name)
        if other is not None:
            taken = other.name if current is not None else name
            raise VaultError(f"a credential named {taken!r} already exists", hint="pick another name")

    def _check_kids(self, kids: Iterable[str]) -> None:
        missing = sorted(set(kids) - set(self.box.keyring.kids))
        if missing:
            raise SecretBoxError(
                f"the master key does not match: stored secrets were encrypted with key id(s) "
                f"{', '.join(missing)}, which {self.box.keyring.source} does not hold; nothing was changed",
                hint="use the EXACTMATE_MASTER_KEY or key file the credentials were stored with",
            )

    def _credential(self, row: CredentialRow) -> Credential:
        held = self.store.tokens(row.id)
        return Credential.from_row(row, held.refresh_issued_at if held else None)

    def _by_id(self, credential_id: str) -> Credential:
        row = self.store.credential(credential_id)
        if row is None:
            raise VaultError(f"credential {credential_id!r} no longer exists")
        return self._credential(row)

    def _tokens_issued(self) -> dict[str, float]:
        with self.store.reading() as conn:
            rows = conn.execute(select(tokens.c.credential_id, tokens.c.refresh_issued_at)).all()
        return {str(cid): float(at) for cid, at in rows}

    @staticmethod
    def _default_ids(conn: Connection) -> builtins.list[str]:
        query = select(credentials.c.id).where(credentials.c.is_default)
        return [str(i) for i in conn.execute(query).scalars()]

    def _write_state(
        self,
        credential_id: str,
        conn: Connection,
        *,
        tokens: TokenValues | None = None,
        last_test: LastTest | None = None,
    ) -> None:
        """Tokens (sealed, status connected) and the last test, inside the caller's transaction."""
        if tokens is not None:
            self.tokens_of(credential_id).save(tokens, conn=conn)
        if last_test is not None:
            self.store.update_credential(
                credential_id,
                last_test_at=last_test.at,
                last_test_ok=last_test.ok,
                last_test_message=last_test.message,
                conn=conn,
            )


def _binding(credential_id: str, fields: CredentialFields) -> SecretBinding:
    """What the credential's secrets are bound to once ``fields`` are stored."""
    return SecretBinding(credential_id, fields.server_url, fields.client_id, fields.redirect_uri)
