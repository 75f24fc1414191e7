"""The store's schema revision: what the code needs (``HEAD``) and what a database has, read with plain
SQLAlchemy.

Every command opens the store, so this check must cost no Alembic import: it reads Alembic's
``alembic_version`` table with one query and compares it with ``HEAD``. Only a database that is not
at ``HEAD`` brings in Alembic (``store/upgrade.py``), to tell an older revision from one this code does
not know, and to migrate. ``tests/core/test_migrations.py`` holds ``HEAD`` to Alembic's own head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, inspect, text

from exactmate.errors import StoreError
from exactmate.store.schema import metadata

HEAD = "0003_exact_events"
"""The Alembic revision this code's ``schema.metadata`` is; equal to the migrations' head."""

VERSION_TABLE = "alembic_version"
LEGACY_TABLE = "schema_version"
"""Where an exactmate before the migrations kept its schema version (1, 2 or 3)."""
LEGACY_VERSIONS = (1, 2, 3)
UPGRADE_HINT = "exactmate db upgrade"


class SchemaState(StrEnum):
    """How a database's schema stands against this code's."""

    current = "current"
    empty = "empty"  # none of the store's tables: created at HEAD on first use
    older = "older"  # a revision before HEAD, or an exactmate before the migrations made it
    newer = "newer"  # a revision this code does not know: a newer exactmate migrated it
    unversioned = "unversioned"  # the store's tables, but no record of their schema


@dataclass(frozen=True)
class Found:
    """What a database says of its schema: Alembic's revision (None: no ``alembic_version`` row), the
    schema version an exactmate before the migrations wrote (None: none), and whether any of the
    store's tables exist."""

    revision: str | None
    legacy_version: int | None = None
    store_tables: bool = True

    def describe(self) -> str:
        """The schema in words, for messages: the revision, or what stands in for one."""
        if self.revision is not None:
            return self.revision
        if self.legacy_version is not None:
            return f"schema version {self.legacy_version} (an exactmate before Alembic migrations)"
        return "no tables yet" if not self.store_tables else "no schema record"


def read(conn: Connection) -> Found:
    """The schema ``conn``'s database has. One query when it is versioned by Alembic."""
    if conn.dialect.has_table(conn, VERSION_TABLE):
        revisions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        if revisions:
            return Found(",".join(sorted(revisions)))  # two rows (branches) match no revision here
    names = set(inspect(conn).get_table_names())
    legacy = None
    if LEGACY_TABLE in names:
        legacy = conn.execute(text(f"SELECT version FROM {LEGACY_TABLE}")).scalar()
    return Found(None, legacy, store_tables=bool(names & set(metadata.tables)))


def state_of(found: Found, known: Callable[[str], bool]) -> SchemaState:
    """How ``found`` stands against ``HEAD``; ``known`` (a revision of the migrations?) is asked only
    for a revision other than ``HEAD``, so the usual case needs no Alembic."""
    if found.revision == HEAD:
        return SchemaState.current
    if found.revision is not None:
        return SchemaState.older if known(found.revision) else SchemaState.newer
    if found.legacy_version is not None:
        return SchemaState.older if found.legacy_version in LEGACY_VERSIONS else SchemaState.newer
    return SchemaState.unversioned if found.store_tables else SchemaState.empty


@dataclass(frozen=True)
class SchemaStatus:
    """A database's schema against this code's: what ``exactmate db status`` shows."""

    database: str  # the URL without its password
    found: Found
    state: SchemaState

    @property
    def summary(self) -> str:
        return {
            SchemaState.current: "up to date",
            SchemaState.empty: "empty: exactmate creates its tables on first use",
            SchemaState.older: f"needs upgrade: {UPGRADE_HINT}",
            SchemaState.newer: "newer than this exactmate: upgrade exactmate",
            SchemaState.unversioned: "not exactmate's: its tables are there, but no record of their schema",
        }[self.state]

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "revision": self.found.revision,
            "legacy_schema_version": self.found.legacy_version,
            "head": HEAD,
            "state": self.state.value,
            "summary": self.summary,
        }


def refusal(status: SchemaStatus) -> StoreError:
    """Why a database whose schema is not ``HEAD`` (and is not upgraded now) cannot be used."""
    where, has = status.database, status.found.describe()
    if status.state is SchemaState.newer:
        return StoreError(
            f"the database at {where} has schema {has}, which this exactmate does not know "
            f"(it knows revisions up to {HEAD}): a newer exactmate upgraded it",
            hint="upgrade exactmate to the version that upgraded this database",
        )
    if status.state is SchemaState.unversioned:
        return StoreError(
            f"the database at {where} holds tables named like exactmate's but no record of their "
            "schema, so exactmate leaves them alone",
            hint="point EXACTMATE_DB at exactmate's own database, or at an empty one",
        )
    return StoreError(
        f"the database at {where} has schema {has}; this exactmate needs revision {HEAD} "
        "(a PostgreSQL database is upgraded only when an operator says so)",
        hint=UPGRADE_HINT,
    )
