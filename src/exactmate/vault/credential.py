"""``Credential``: what the vault tells about one stored credential, without any secret in it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exactmate.clock import utc
from exactmate.errors import VaultError
from exactmate.store import CredentialRow

STATUS_LABELS = {
    "connected": "connected",
    "needs_reauthorization": "needs re-authorisation",
    "disconnected": "disconnected",
}


@dataclass(frozen=True)
class LastTest:
    """The outcome of a Test Connect, kept with the credential."""

    ok: bool
    message: str
    at: float


@dataclass(frozen=True)
class Credential:
    """A stored credential. The client secret is not in it: ask ``Vault.client_secret(credential)``.

    ``tokens_issued_at`` is when the current refresh token was issued (None: no tokens stored), read
    without decrypting anything.
    """

    id: str
    name: str
    auth_type: str
    server_url: str
    client_id: str
    redirect_uri: str
    status: str
    status_reason: str | None
    is_default: bool
    last_test_at: float | None
    last_test_ok: bool | None
    last_test_message: str | None
    created_at: float
    updated_at: float
    tokens_issued_at: float | None = None
    has_webhook_secret: bool = False

    @classmethod
    def from_row(cls, row: CredentialRow, tokens_issued_at: float | None) -> Credential:
        return cls(
            id=row.id,
            name=row.name,
            auth_type=row.auth_type,
            server_url=row.server_url,
            client_id=row.client_id,
            redirect_uri=row.redirect_uri,
            status=row.status,
            status_reason=row.status_reason,
            is_default=bool(row.is_default),
            last_test_at=row.last_test_at,
            last_test_ok=row.last_test_ok,
            last_test_message=row.last_test_message,
            created_at=row.created_at,
            updated_at=row.updated_at,
            tokens_issued_at=tokens_issued_at,
            has_webhook_secret=row.webhook_secret is not None,
        )

    @property
    def status_label(self) -> str:
        """The status as people read it: connected, needs re-authorisation, disconnected."""
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def has_tokens(self) -> bool:
        return self.tokens_issued_at is not None

    @property
    def last_test_label(self) -> str:
        """``ok``, ``failed`` or ``never``, for lists."""
        if self.last_test_ok is None:
            return "never"
        return "ok" if self.last_test_ok else "failed"

    def matches(self, search: str | None) -> bool:
        """True when ``search`` (case-insensitive) occurs in the name, server URL, client ID,
        authentication type or status. Nothing secret takes part."""
        if not search or not search.strip():
            return True
        needle = search.strip().lower()
        haystack = (self.name, self.server_url, self.client_id, self.auth_type, self.status_label)
        return any(needle in value.lower() for value in haystack)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values; times as ISO 8601 UTC strings."""
        return {
            "id": self.id,
            "name": self.name,
            "auth_type": self.auth_type,
            "server_url": self.server_url,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "status": self.status,
            "status_reason": self.status_reason,
            "default": self.is_default,
            "last_test": {
                "at": _iso(self.last_test_at),
                "ok": self.last_test_ok,
                "message": self.last_test_message,
            },
            "tokens_issued_at": _iso(self.tokens_issued_at),
            "has_webhook_secret": self.has_webhook_secret,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


def _iso(ts: float | None) -> str | None:
    return utc(ts).isoformat(timespec="seconds") if ts is not None else None


def unknown_credential(name: str, known: Iterable[str]) -> VaultError:
    """The error for a credential name the vault does not have, naming the ones it has."""
    names = ", ".join(known) or "none yet"
    return VaultError(
        f"No credential named {name.strip()!r} (known: {names})", hint="list them with: exactmate vault list"
    )
