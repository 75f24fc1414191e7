"""``CredentialTokens``: a stored credential's token pair, the only writer of the tokens table.

Every change to a credential's tokens goes through here: a sign-in or a refresh saving a new pair
(sealed, generation + 1, credential marked connected), a disconnect or a changed connection value
forgetting them, a dead refresh token flagging the credential for re-authorisation, and a key
rotation resealing them. ``exactmate.auth.TokenManager`` uses it through its ``TokenStore``
protocol, so the token logic never touches the database or the secret box itself.

The access token is decrypted whenever the tokens are loaded (every call needs it); the refresh
token only on demand, and only by the thread holding the credential's refresh lock: it is needed
for nothing but a refresh, which happens under that lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, update

from exactmate.errors import AuthError, ReauthorizationRequired, VaultError
from exactmate.secretbox import SecretBox
from exactmate.store import CredentialRow, SecretBinding, Store, TokenRow, tokens


class TokenValues(Protocol):
    """A freshly obtained token pair (``exactmate.auth.TokenSet`` has this shape)."""

    @property
    def access_token(self) -> str: ...

    @property
    def refresh_token(self) -> str: ...

    @property
    def expires_at(self) -> float: ...

    @property
    def issued_at(self) -> float: ...


def refresh_lock_name(credential_id: str) -> str:
    """The store lock a credential's tokens change under: a refresh, and a new consent saving
    fresh tokens, so neither overwrites the other's rotated pair."""
    return f"token-refresh:{credential_id}"


@dataclass(frozen=True)
class HeldTokens:
    """The stored pair as loaded: the access token in clear, the refresh token still sealed."""

    credential_name: str
    access_token: str = field(repr=False)
    expires_at: float
    issued_at: float
    generation: int
    _sealed_refresh: bytes = field(repr=False)
    _binding: SecretBinding = field(repr=False)
    _owner: CredentialTokens = field(repr=False)

    def refresh_token(self) -> str:
        """The refresh token, decrypted now; only the holder of the refresh lock may ask."""
        return self._owner.open_refresh_token(self._sealed_refresh, self._binding)


class CredentialTokens:
    """The tokens of one stored credential (``exactmate.auth.TokenStore``)."""

    def __init__(
        self, store: Store, box: SecretBox, credential_id: str, *, lock_timeout: float = 60.0
    ) -> None:
        self._store = store
        self._box = box
        self.credential_id = credential_id
        self._lock_timeout = lock_timeout
        self._holder = threading.local()

    def __repr__(self) -> str:
        return f"CredentialTokens(credential_id={self.credential_id!r})"

    # -- the TokenStore protocol -------------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the credential's refresh lock (threads and processes)."""
        with self._store.lock(refresh_lock_name(self.credential_id), timeout=self._lock_timeout):
            self._holder.depth = getattr(self._holder, "depth", 0) + 1
            try:
                yield
            finally:
                self._holder.depth -= 1

    def load(self) -> HeldTokens:
        """The stored tokens; ReauthorizationRequired when there are none to use."""
        with self._store.reading() as conn:
            credential = self._store.credential(self.credential_id, conn=conn)
            row = self._store.tokens(self.credential_id, conn=conn)
        if credential is None:
            raise AuthError(
                f"credential {self.credential_id!r} no longer exists", hint="see exactmate vault list"
            )
        if credential.status == "needs_reauthorization":
            why = credential.status_reason or "flagged earlier"
            raise ReauthorizationRequired(
                f"credential {credential.name!r} needs re-authorisation: {why}", credential=credential.name
            )
        if row is None:
            raise ReauthorizationRequired(
                f"credential {credential.name!r} is not connected to Exact Online", credential=credential.name
            )
        binding = SecretBinding.of(credential)
        return HeldTokens(
            credential_name=credential.name,
            access_token=self._box.decrypt(row.access_token, binding.aad("access_token")),
            expires_at=row.access_expires_at,
            issued_at=row.access_issued_at,
            generation=row.generation,
            _sealed_refresh=row.refresh_token,
            _binding=binding,
            _owner=self,
        )

    def save(self, pair: TokenValues, *, conn: Connection | None = None) -> int:
        """Store ``pair`` sealed (generation + 1) and mark the credential connected; the new generation.

        Inside the caller's transaction when ``conn`` is given. Callers that may race a refresh
        hold :meth:`lock` around this.
        """
        with self._write(conn) as c:
            row = self._credential(c)
            binding = SecretBinding.of(row)
            generation = self._store.put_tokens(
                self.credential_id,
                access_token=self._box.encrypt(pair.access_token, binding.aad("access_token")),
                refresh_token=self._box.encrypt(pair.refresh_token, binding.aad("refresh_token")),
                access_expires_at=pair.expires_at,
                access_issued_at=pair.issued_at,
                refresh_issued_at=pair.issued_at,
                conn=c,
            )
            self._store.set_credential_status(self.credential_id, "connected", None, conn=c)
        return generation

    def mark_needs_reauthorization(self, reason: str) -> None:
        """Forget the tokens for good and flag the credential: only a new sign-in helps."""
        self.forget(reason, status="needs_reauthorization")

    # -- the vault's own uses ----------------------------------------------------------------------

    def forget(self, reason: str, *, status: str = "disconnected", conn: Connection | None = None) -> None:
        """Delete the stored tokens and set the credential's ``status`` with ``reason``."""
        with self._write(conn) as c:
            self._store.delete_tokens(self.credential_id, conn=c)
            self._store.set_credential_status(self.credential_id, status, reason, conn=c)

    def reseal(self, binding: SecretBinding, conn: Connection) -> int:
        """Re-encrypt under the primary key what an older key sealed; the number of tokens resealed.

        The row is updated in place rather than through ``Store.put_tokens``: a re-encryption must
        not look like a refresh (which bumps the generation the token manager compares).
        """
        held: TokenRow | None = self._store.tokens(self.credential_id, conn=conn)
        if held is None:
            return 0
        changes: dict[str, bytes] = {}
        for column in ("access_token", "refresh_token"):
            blob: bytes = getattr(held, column)
            if self._box.needs_reencrypt(blob):
                changes[column] = self._box.reencrypt(
                    blob, binding.aad(column), legacy_aad=binding.legacy_aad(column)
                )
        if changes:
            where = tokens.c.credential_id == self.credential_id
            conn.execute(update(tokens).where(where).values(**changes))
        return len(changes)

    def open_refresh_token(self, sealed: bytes, binding: SecretBinding) -> str:
        """Decrypt a refresh token loaded by :meth:`load`; AuthError unless this thread holds the lock."""
        if getattr(self._holder, "depth", 0) < 1:
            raise AuthError("the refresh token is opened only under the credential's refresh lock")
        return self._box.decrypt(sealed, binding.aad("refresh_token"))

    @contextmanager
    def _write(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's transaction if it passed one, else a new one."""
        if conn is not None:
            yield conn
        else:
            with self._store.transaction() as fresh:
                yield fresh

    def _credential(self, conn: Connection) -> CredentialRow:
        row = self._store.credential(self.credential_id, conn=conn)
        if row is None:
            raise VaultError(f"credential {self.credential_id!r} no longer exists")
        return row
