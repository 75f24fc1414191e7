"""The one local database: credentials, tokens, rate ledger, error budget, create journal, audit log.

SQLAlchemy Core, no ORM. The default is a SQLite file under ``EXACTMATE_HOME``; any SQLAlchemy URL
can be given through ``EXACTMATE_DB``, and queries keep to constructs PostgreSQL runs too. The store
never sees a plaintext secret: encrypted columns hold secret-box ciphertexts.

- ``schema``: tables, row dataclasses, the associated data of each encrypted column
- ``database``: :class:`Store` (engine, transactions, lock, row helpers)
- ``lease``: the cross-process lease lock behind :meth:`Store.lock`
- ``sqlite``: SQLite's file mode, WAL and ``BEGIN IMMEDIATE``
- ``revision``: the schema revision the code needs (``HEAD``) and the one a database has, read without
  Alembic; the refusals of a schema that is older (PostgreSQL) or unknown
- ``upgrade``: the one module that imports Alembic: upgrading to ``HEAD``, concurrent upgrades queued
- ``migrations``: Alembic's environment and the revisions, one set for SQLite and PostgreSQL
"""

from __future__ import annotations

from exactmate.store.database import Store
from exactmate.store.revision import HEAD, SchemaState, SchemaStatus
from exactmate.store.schema import (
    CREDENTIAL_STATUSES,
    ENCRYPTED_COLUMNS,
    CredentialRow,
    LedgerRow,
    SecretBinding,
    TokenRow,
    audit_log,
    create_journal,
    credentials,
    error_blocks,
    error_budget,
    event_cursors,
    known_divisions,
    locks,
    metadata,
    name_key,
    new_id,
    rate_ledger,
    tokens,
)

__all__ = [
    "CREDENTIAL_STATUSES",
    "ENCRYPTED_COLUMNS",
    "HEAD",
    "CredentialRow",
    "LedgerRow",
    "SchemaState",
    "SchemaStatus",
    "SecretBinding",
    "Store",
    "TokenRow",
    "audit_log",
    "create_journal",
    "credentials",
    "error_blocks",
    "error_budget",
    "event_cursors",
    "known_divisions",
    "locks",
    "metadata",
    "name_key",
    "new_id",
    "rate_ledger",
    "tokens",
]
