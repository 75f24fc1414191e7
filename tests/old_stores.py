"""Store databases as earlier exactmates left them, built with literal SQL (never with today's code,
which would build today's schema): schema versions 1, 2 and 3 of the exactmate before the Alembic
migrations, and revision 1 of the migrations, each with rows in every table."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import MetaData, create_engine, text

from exactmate.store import upgrade

CREDENTIAL = "0b4c5d6e-0000-4000-8000-000000000001"
NOW = 1_800_000_000.0


def _tables(dialect: str, version: int) -> list[str]:
    """The CREATE statements SQLAlchemy issued for schema ``version`` (1: the first; 2 added
    error_blocks; 3 known_divisions), on SQLite or PostgreSQL."""
    blob = "BYTEA" if dialect == "postgresql" else "BLOB"
    serial = "SERIAL" if dialect == "postgresql" else "INTEGER"
    ddl = [
        "CREATE TABLE credentials (id VARCHAR(36) NOT NULL, name VARCHAR(200) NOT NULL, "
        "name_key VARCHAR(200) NOT NULL, auth_type VARCHAR(40) NOT NULL, "
        "server_url VARCHAR(400) NOT NULL, client_id VARCHAR(100) NOT NULL, "
        f"client_secret {blob} NOT NULL, redirect_uri VARCHAR(400) NOT NULL, "
        "status VARCHAR(40) NOT NULL, status_reason TEXT, is_default BOOLEAN NOT NULL, last_test_at FLOAT, "
        "last_test_ok BOOLEAN, last_test_message TEXT, created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL, "
        "PRIMARY KEY (id), UNIQUE (name_key))",
        f"CREATE TABLE tokens (credential_id VARCHAR(36) NOT NULL, access_token {blob} NOT NULL, "
        f"refresh_token {blob} NOT NULL, access_expires_at FLOAT NOT NULL, access_issued_at FLOAT NOT NULL, "
        "refresh_issued_at FLOAT NOT NULL, generation INTEGER NOT NULL, updated_at FLOAT NOT NULL, "
        "PRIMARY KEY (credential_id), "
        "FOREIGN KEY(credential_id) REFERENCES credentials (id) ON DELETE CASCADE)",
        "CREATE TABLE rate_ledger (client_id VARCHAR(100) NOT NULL, division INTEGER NOT NULL, "
        "minutely_limit INTEGER, minutely_remaining INTEGER, minutely_reset FLOAT, daily_limit INTEGER, "
        "daily_remaining INTEGER, daily_reset FLOAT, updated_at FLOAT NOT NULL, "
        "PRIMARY KEY (client_id, division))",
        f"CREATE TABLE error_budget (id {serial} NOT NULL, credential VARCHAR(200) NOT NULL, "
        "division INTEGER NOT NULL, endpoint VARCHAR(200) NOT NULL, status INTEGER NOT NULL, "
        "at FLOAT NOT NULL, PRIMARY KEY (id))",
        "CREATE INDEX ix_error_budget_scope ON error_budget (credential, division, endpoint, at)",
        "CREATE TABLE create_journal (source VARCHAR(200) NOT NULL, row_key VARCHAR(200) NOT NULL, "
        "credential VARCHAR(200) NOT NULL, division INTEGER, endpoint VARCHAR(200) NOT NULL, "
        "state VARCHAR(20) NOT NULL, record_key VARCHAR(200), request_hash VARCHAR(64) NOT NULL, "
        "created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL, PRIMARY KEY (source, row_key))",
        f"CREATE TABLE audit_log (id {serial} NOT NULL, at FLOAT NOT NULL, credential VARCHAR(200) NOT NULL, "
        "division INTEGER, endpoint VARCHAR(200) NOT NULL, action VARCHAR(40) NOT NULL, "
        "record_key VARCHAR(200), before TEXT, after TEXT, outcome TEXT NOT NULL, PRIMARY KEY (id))",
        "CREATE TABLE locks (name VARCHAR(200) NOT NULL, owner VARCHAR(200) NOT NULL, "
        "expires_at FLOAT NOT NULL, PRIMARY KEY (name))",
        "CREATE TABLE schema_version (id INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (id))",
    ]
    if version >= 2:
        ddl.append(
            "CREATE TABLE error_blocks (client_id VARCHAR(200) NOT NULL, division INTEGER NOT NULL, "
            "endpoint VARCHAR(200) NOT NULL, until FLOAT NOT NULL, "
            "PRIMARY KEY (client_id, division, endpoint))"
        )
    if version >= 3:
        ddl.append(
            "CREATE TABLE known_divisions (credential_id VARCHAR(36) NOT NULL, code INTEGER NOT NULL, "
            "description TEXT NOT NULL, learned_at FLOAT NOT NULL, PRIMARY KEY (credential_id, code), "
            "FOREIGN KEY(credential_id) REFERENCES credentials (id) ON DELETE CASCADE)"
        )
    return ddl


ROWS: list[tuple[int, str, dict[str, Any]]] = [  # (first schema version with the table, INSERT, values)
    (
        1,
        "INSERT INTO credentials (id, name, name_key, auth_type, server_url, client_id, client_secret, "
        "redirect_uri, status, is_default, created_at, updated_at) VALUES (:id, 'Acme', 'acme', "
        "'oauth2-code', 'https://start.exactonline.nl', 'app-1', :secret, 'http://127.0.0.1:8765/callback', "
        "'connected', TRUE, :now, :now)",
        {"id": CREDENTIAL, "secret": b"sealed-secret", "now": NOW},
    ),
    (
        1,
        "INSERT INTO tokens VALUES (:id, :access, :refresh, :now, :now, :now, 4, :now)",
        {"id": CREDENTIAL, "access": b"sealed-access", "refresh": b"sealed-refresh", "now": NOW},
    ),
    (
        1,
        "INSERT INTO rate_ledger (client_id, division, daily_limit, daily_remaining, updated_at) "
        "VALUES ('app-1', 7, 5000, 4000, :now)",
        {"now": NOW},
    ),
    (
        1,
        "INSERT INTO error_budget (credential, division, endpoint, status, at) "
        "VALUES ('app-1', 7, 'crm/Accounts', 400, :now)",
        {"now": NOW},
    ),
    (
        1,
        "INSERT INTO create_journal VALUES ('entries@me', '1:abc', 'Acme', 7, 'project/TimeTransactions', "
        "'created', 'guid-1', 'hash-1', :now, :now)",
        {"now": NOW},
    ),
    (
        1,
        "INSERT INTO audit_log (at, credential, division, endpoint, action, record_key, before, outcome) "
        "VALUES (:now, 'Acme', 7, 'crm/Accounts', 'delete', 'guid-2', '{\"Name\": \"Old\"}', 'deleted')",
        {"now": NOW},
    ),
    (1, "INSERT INTO locks VALUES ('refresh:x', 'host:1:a', :now)", {"now": NOW}),
    (2, "INSERT INTO error_blocks VALUES ('app-1', 7, 'crm/Accounts', :until)", {"until": NOW + 3600}),
    (3, "INSERT INTO known_divisions VALUES (:id, 7, 'Acme BV', :now)", {"id": CREDENTIAL, "now": NOW}),
]


def build_legacy(url: str, version: int) -> None:
    """The database at ``url`` as exactmate with schema ``version`` (1, 2 or 3) left it, rows in
    every table it had; ``version`` 4 stands for a version no exactmate before the migrations had."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in _tables(conn.dialect.name, min(version, 3)):
                conn.execute(text(statement))
            for since, statement, values in ROWS:
                if since <= version:
                    conn.execute(text(statement), values)
            conn.execute(text("INSERT INTO schema_version VALUES (1, :v)"), {"v": version})
    finally:
        engine.dispose()


def build_revision(url: str, rev: str) -> None:
    """The database at ``url`` migrated from nothing to revision ``rev``, with one credential."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(upgrade.config(conn), rev)
            conn.execute(text(ROWS[0][1]), ROWS[0][2])
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    """Run literal SQL on ``url`` in one transaction."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(statement))]
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    from sqlalchemy import inspect

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def schema_diff(url: str, expected: MetaData | None = None) -> list[Any]:
    """Alembic autogenerate's differences between the database at ``url`` and ``expected`` (default:
    ``store.metadata``, what the code declares)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from exactmate.store import metadata

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, expected if expected is not None else metadata))
    finally:
        engine.dispose()


def wait_for_a_lock_wait(url: str, alive: Any) -> None:
    """Return once a session of the PostgreSQL database at ``url`` waits for a lock (the race a test
    sets up has begun); ``alive()`` false, or ten seconds, fail the test."""
    import threading
    import time

    deadline = time.monotonic() + 10
    waiting = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while query(url, waiting)[0][0] == 0:
        assert alive() and time.monotonic() < deadline, "the second writer never waited for the first"
        threading.Event().wait(0.005)
