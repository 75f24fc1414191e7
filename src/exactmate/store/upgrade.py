"""Upgrading the store's schema to ``HEAD`` with Alembic: the one module that imports Alembic.

The migrations live in ``store/migrations/`` (one set for SQLite and PostgreSQL). Everything happens
in one transaction of the store's own engine, so a failed step leaves the database as it was, and
concurrent upgrades queue: on SQLite the transaction is ``BEGIN IMMEDIATE`` (the file's write lock),
on PostgreSQL it first takes the advisory lock ``SCHEMA_LOCK_KEY``. Inside, the revision is read
again, so whoever comes second finds the work done and changes nothing.

A database with no ``alembic_version`` is upgraded from nothing: an empty one gets every table, and
one made by an exactmate before the migrations (``schema_version`` 1, 2 or 3) gets the tables its
version lacked, its rows kept, and loses ``schema_version`` (revisions 1 and 2).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from exactmate.errors import StoreError
from exactmate.store import revision
from exactmate.store.revision import Found, SchemaState, SchemaStatus

MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_LOCK_KEY = 7378473701
"""PostgreSQL advisory lock held while the schema changes; the key an exactmate before the migrations
held around its own table creation, so such a process starting meanwhile waits too."""

_ALEMBIC = threading.Lock()
"""Alembic's ``op`` and ``context`` are process-wide proxies: one migration runs at a time per process
(the database's lock already serialises those on one database)."""


@dataclass(frozen=True)
class Upgraded:
    """What an upgrade did: the schema before and after."""

    database: str  # the URL without its password
    before: Found
    after: Found

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def as_dict(self) -> dict[str, object]:
        return {
            "database": self.database,
            "from": self.before.describe(),
            "to": self.after.describe(),
            "changed": self.changed,
        }


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration of the store's migrations; with ``connection``, env.py runs on it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script() -> ScriptDirectory:
    """The store's migrations as Alembic reads them."""
    return ScriptDirectory.from_config(config())


def known(rev: str) -> bool:
    """Whether ``rev`` is one of the store's revisions (exactly: Alembic would also take a prefix)."""
    return rev in {found.revision for found in script().walk_revisions()}


def to_head(engine: Engine, database: str) -> Upgraded:
    """Bring the database to ``HEAD`` in one transaction; StoreError (nothing changed) when its schema
    is newer than this code or not exactmate's. A database at ``HEAD`` is left alone."""
    with engine.connect() as conn:
        on_sqlite = conn.dialect.name == "sqlite"
        if on_sqlite:
            _sqlite_foreign_keys(conn, enforced=False)
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
                before = revision.read(conn)
                state = revision.state_of(before, known)
                if state in (SchemaState.newer, SchemaState.unversioned):
                    raise revision.refusal(SchemaStatus(database, before, state))
                if state is not SchemaState.current:
                    with _ALEMBIC:
                        command.upgrade(config(conn), "head")
                    if on_sqlite:
                        _check_foreign_keys(conn, database)
                after = revision.read(conn)
        finally:
            if on_sqlite:
                _sqlite_foreign_keys(conn, enforced=True)
    return Upgraded(database, before, after)


def _sqlite_foreign_keys(conn: Connection, *, enforced: bool) -> None:
    """SQLite's foreign keys off while the schema changes, as SQLite prescribes for altering tables:
    a batch migration copies a table and drops the original, which with enforcement on would delete
    (cascade) the rows that refer to it. The pragma is set outside any transaction, on the driver's
    connection (SQLAlchemy would begin one first)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")
    finally:
        cursor.close()


def _check_foreign_keys(conn: Connection, database: str) -> None:
    """Before the migration commits: every reference still points at a row."""
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise StoreError(
            f"the upgrade of the database at {database} would leave rows of {', '.join(tables)} "
            "referring to rows that do not exist; nothing was changed",
            hint="report this as an exactmate bug, with the output of: exactmate db status",
        )
