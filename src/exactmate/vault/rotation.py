"""Re-encrypting every stored secret under the key ring's primary key, one credential at a time.

Each credential (its client secret, its webhook secret and both tokens) is re-encrypted in its own
transaction, so an interruption leaves every credential either wholly under the new key or wholly
under an old one, and old keys stay in the ring: every credential stays readable, and running the
rotation again finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update

from exactmate.secretbox import SecretBox, is_unbound, split_blob
from exactmate.store import SecretBinding, Store, credentials, tokens
from exactmate.vault.tokens import CredentialTokens

Progress = Callable[[str, int, int], None]
"""Called after each credential as ``progress(name, done, total)``."""


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did: the new primary key id, credentials looked at, ciphertexts re-encrypted."""

    key_id: str
    credentials: int
    secrets: int
    pruned: tuple[str, ...] = ()  # retired key ids removed from the key file afterwards


def stored_key_ids(store: Store) -> set[str]:
    """The ids of the keys that sealed anything stored; read from the ciphertexts, nothing decrypted."""
    with store.reading() as conn:
        blobs = list(conn.execute(select(credentials.c.client_secret)).scalars())
        hooks = conn.execute(
            select(credentials.c.webhook_secret).where(credentials.c.webhook_secret.is_not(None))
        )
        blobs.extend(hooks.scalars())
        for row in conn.execute(select(tokens.c.access_token, tokens.c.refresh_token)):
            blobs.extend(row)
    return {split_blob(bytes(blob))[0] for blob in blobs}


def bind_unbound(store: Store, box: SecretBox) -> int:
    """Seal again, bound to their connection values, the secrets an exactmate from before that
    binding stored (the one-time upgrade; nothing to do afterwards). How many credentials it took."""
    with store.reading() as conn:
        secrets = conn.execute(select(credentials.c.id, credentials.c.client_secret))
        ids = {str(cid) for cid, blob in secrets if is_unbound(bytes(blob))}
        held = conn.execute(select(tokens.c.credential_id, tokens.c.access_token, tokens.c.refresh_token))
        ids.update(str(cid) for cid, access, refresh in held if is_unbound(access) or is_unbound(refresh))
    for credential_id in sorted(ids):
        reencrypt_credential(store, box, credential_id)
    return len(ids)


def reencrypt_all(store: Store, box: SecretBox, progress: Progress | None = None) -> RotationReport:
    """Re-encrypt under ``box``'s primary key whatever an older key sealed; returns what was done."""
    rows = store.list_credentials()
    sealed = 0
    for done, row in enumerate(rows, start=1):
        sealed += reencrypt_credential(store, box, row.id)
        if progress is not None:
            progress(row.name, done, len(rows))
    return RotationReport(key_id=box.primary_kid, credentials=len(rows), secrets=sealed)


def reencrypt_credential(store: Store, box: SecretBox, credential_id: str) -> int:
    """One credential's secret and tokens, in one transaction; the number of ciphertexts rewritten.

    The tokens are resealed by ``CredentialTokens.reseal`` (in place: not a refresh).
    """
    with store.transaction() as conn:
        row = store.credential(credential_id, conn=conn)
        if row is None:  # removed meanwhile
            return 0
        count = 0
        binding = SecretBinding.of(row)
        if box.needs_reencrypt(row.client_secret):
            secret = _reseal(box, row.client_secret, binding, "client_secret")
            conn.execute(
                update(credentials).where(credentials.c.id == credential_id).values(client_secret=secret)
            )
            count += 1
        if row.webhook_secret is not None and box.needs_reencrypt(row.webhook_secret):
            hook = box.reencrypt(row.webhook_secret, binding.aad("webhook_secret"))
            conn.execute(
                update(credentials).where(credentials.c.id == credential_id).values(webhook_secret=hook)
            )
            count += 1
        return count + CredentialTokens(store, box, credential_id).reseal(binding, conn)


def _reseal(box: SecretBox, blob: bytes, binding: SecretBinding, column: str) -> bytes:
    return box.reencrypt(blob, binding.aad(column), legacy_aad=binding.legacy_aad(column))
