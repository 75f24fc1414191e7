"""The database schema: tables, row types, and the associated data of each encrypted column.

``metadata`` is what the code expects at Alembic's head revision; the migrations in
``store/migrations/versions/`` build it (a test compares the two on SQLite and PostgreSQL), so a
change here needs a new revision there.

Every time is epoch seconds (``Float``); ids are UUID4 strings. Encrypted columns
(``credentials.client_secret``, ``credentials.webhook_secret``, ``tokens.access_token``,
``tokens.refresh_token``) hold secret-box
ciphertexts bound, through :class:`SecretBinding`, to the credential's id, the column and the
connection values they are sent with, so re-encryption after a key rotation knows which associated
data each one needs, and a connection value changed behind exactmate's back opens no secret.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

CREDENTIAL_STATUSES = ("connected", "needs_reauthorization", "disconnected")

metadata = MetaData()

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("name_key", String(200), nullable=False, unique=True),
    Column("auth_type", String(40), nullable=False),
    Column("server_url", String(400), nullable=False),
    Column("client_id", String(100), nullable=False),
    Column("client_secret", LargeBinary, nullable=False),
    Column("redirect_uri", String(400), nullable=False),
    Column("status", String(40), nullable=False),
    Column("status_reason", Text),
    Column("is_default", Boolean, nullable=False),
    Column("last_test_at", Float),
    Column("last_test_ok", Boolean),
    Column("last_test_message", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # The app's webhook secret (Exact's App Center), sealed like the client secret; NULL: none given.
    Column("webhook_secret", LargeBinary, nullable=True),
)
tokens = Table(
    "tokens",
    metadata,
    Column("credential_id", String(36), ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True),
    Column("access_token", LargeBinary, nullable=False),
    Column("refresh_token", LargeBinary, nullable=False),
    Column("access_expires_at", Float, nullable=False),
    Column("access_issued_at", Float, nullable=False),
    Column("refresh_issued_at", Float, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)
rate_ledger = Table(
    "rate_ledger",
    metadata,
    Column("client_id", String(100), primary_key=True),
    Column("division", Integer, primary_key=True, autoincrement=False),
    Column("minutely_limit", Integer),
    Column("minutely_remaining", Integer),
    Column("minutely_reset", Float),
    Column("daily_limit", Integer),
    Column("daily_remaining", Integer),
    Column("daily_reset", Float),
    Column("updated_at", Float, nullable=False),
)
# Exact counts failed calls per app (client id), division and endpoint, whichever credential made
# them: the ``credential`` column holds the app's client id (the name predates that rule).
error_budget = Table(
    "error_budget",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("credential", String(200), nullable=False),
    Column("division", Integer, nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("status", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Index("ix_error_budget_scope", "credential", "division", "endpoint", "at"),
)
# A block Exact announced (a 429 for the error budget): no call goes there until ``until``.
error_blocks = Table(
    "error_blocks",
    metadata,
    Column("client_id", String(200), primary_key=True),
    Column("division", Integer, primary_key=True),
    Column("endpoint", String(200), primary_key=True),
    Column("until", Float, nullable=False),
)
create_journal = Table(
    "create_journal",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("row_key", String(200), primary_key=True),
    Column("credential", String(200), nullable=False),
    Column("division", Integer),
    Column("endpoint", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("record_key", String(200)),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("credential", String(200), nullable=False),
    Column("division", Integer),
    Column("endpoint", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("record_key", String(200)),
    Column("before", Text),
    Column("after", Text),
    Column("outcome", Text, nullable=False),
)
# The divisions a credential's user can access, as Exact last listed them (Test Connect, or a run over
# ``--division all``): a division outside them is refused before any call.
known_divisions = Table(
    "known_divisions",
    metadata,
    Column("credential_id", String(36), ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True),
    Column("code", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("learned_at", Float, nullable=False),
)
# The exact trigger's cursors per (credential, division, topic): the last Timestamp read of the
# topic's sync/ feed and of sync/Deleted (see flows/events.py).
event_cursors = Table(
    "event_cursors",
    metadata,
    Column("credential_id", String(36), ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True),
    Column("division", Integer, primary_key=True, autoincrement=False),
    Column("topic", String(100), primary_key=True),
    Column("feed_cursor", BigInteger, nullable=False),
    Column("deleted_cursor", BigInteger, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
locks = Table(
    "locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("expires_at", Float, nullable=False),
)


def new_id() -> str:
    """A fresh record id (a UUID4 string)."""
    return str(uuid.uuid4())


def name_key(name: str) -> str:
    """The form a credential name is unique in: trimmed and lower-cased."""
    return name.strip().lower()


@dataclass(frozen=True)
class SecretBinding:
    """What every ciphertext of one credential is bound to (its associated data): the credential's
    id and the column, and the connection values the secret is sent with. The connection values
    are plain columns anybody with the database file could change; were they not bound, pointing
    ``server_url`` at another server would make the next command send it the client secret and the
    refresh token. Bound, such a change makes decryption fail with the secret box's integrity error.
    """

    credential_id: str
    server_url: str
    client_id: str
    redirect_uri: str

    @classmethod
    def of(cls, row: CredentialRow) -> SecretBinding:
        return cls(row.id, row.server_url, row.client_id, row.redirect_uri)

    def aad(self, column: str) -> str:
        """The associated data of ``column`` (``client_secret``, ``webhook_secret``, ``access_token``,
        ``refresh_token``)."""
        values = (self.credential_id, column, self.server_url, self.client_id, self.redirect_uri)
        return json.dumps(["exactmate/2", *values], separators=(",", ":"))

    def legacy_aad(self, column: str) -> str:
        """What exactmate bound ``column`` to before the connection values were bound (only the
        one-time upgrade of such ciphertexts reads it)."""
        if column == "client_secret":
            return f"credential:{self.credential_id}:client_secret"
        return f"token:{self.credential_id}:{column}"


@dataclass(frozen=True)
class CredentialRow:
    """A credentials row as stored: ``client_secret`` is ciphertext and hidden from repr anyway."""

    id: str
    name: str
    name_key: str
    auth_type: str
    server_url: str
    client_id: str
    client_secret: bytes = field(repr=False)
    redirect_uri: str
    status: str
    status_reason: str | None
    is_default: bool
    last_test_at: float | None
    last_test_ok: bool | None
    last_test_message: str | None
    created_at: float
    updated_at: float
    webhook_secret: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TokenRow:
    """A tokens row as stored: both tokens are ciphertexts."""

    credential_id: str
    access_token: bytes = field(repr=False)
    refresh_token: bytes = field(repr=False)
    access_expires_at: float
    access_issued_at: float
    refresh_issued_at: float
    generation: int
    updated_at: float


@dataclass(frozen=True)
class LedgerRow:
    """What the last responses said about one (client id, division)'s limits; None = unknown."""

    client_id: str
    division: int
    minutely_limit: int | None = None
    minutely_remaining: int | None = None
    minutely_reset: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None
    daily_reset: float | None = None
    updated_at: float = 0.0


_R = TypeVar("_R", CredentialRow, TokenRow, LedgerRow)


def row_to(cls: type[_R], row: Any) -> _R:
    """A SQLAlchemy row as one of the row dataclasses."""
    values = row._mapping
    return cls(**{f.name: values[f.name] for f in fields(cls)})


ENCRYPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "credentials": ("client_secret", "webhook_secret"),
    "tokens": ("access_token", "refresh_token"),
}
