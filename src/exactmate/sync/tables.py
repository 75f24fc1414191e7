"""The tables a sync writes, laid out from the catalogue, and the cursors that say where it got to.

One table per endpoint, named ``<service>_<endpoint>`` in lower case (``crm_accounts``,
``project_timetransactions``), with a column per field under Exact's own name, typed from its Edm
type: whole numbers as BIGINT, other numbers as DOUBLE, GUIDs and text as text, dates as timestamps
in UTC. Three columns of exactmate's own: ``_division`` (with the record's key, the primary key),
``_timestamp`` (Exact's row version: the cursor's unit) and ``_synced_at`` (when the row was written),
and ``_deleted`` for ``--keep-deleted``. A field the catalogue has and the table lacks (Exact added
it, or a newer exactmate knows it) is added as a column on the next run; nothing is dropped.

The cursor table ``exactmate_sync_cursors`` holds, per (credential, division, feed), the largest
Timestamp written; it moves in the same transaction as the rows it covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.types import TypeEngine

from exactmate.catalogue import Endpoint
from exactmate.odata.edm import INTEGER_TYPES, NUMBER_TYPES

ColumnType = TypeEngine[Any]

DIVISION = "_division"
TIMESTAMP = "_timestamp"
SYNCED_AT = "_synced_at"
DELETED = "_deleted"
CURSORS = "exactmate_sync_cursors"


def table_name(endpoint: Endpoint) -> str:
    """``crm_accounts`` for crm/Accounts."""
    return f"{endpoint.service}_{endpoint.name}".lower()


def column_type(edm_type: str) -> ColumnType:
    """The column type a field of ``edm_type`` is stored in."""
    if edm_type in INTEGER_TYPES:
        return BigInteger()
    if edm_type in NUMBER_TYPES:
        return Float().with_variant(Double(), "duckdb")  # DuckDB's FLOAT has 32 bits, Exact's numbers 64
    if edm_type == "Edm.Boolean":
        return Boolean()
    if edm_type in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return DateTime(timezone=True)
    if edm_type == "Edm.Guid":
        return String(36)
    return Text()


def synced_fields(endpoint: Endpoint, fields: Sequence[str]) -> list[str]:
    """The fields stored: those read, minus collections, the key first."""
    key = endpoint.key or "ID"
    plain = [name for name in fields if name in endpoint.fields and not endpoint.fields[name].is_collection]
    return [key, *[name for name in plain if name != key]]


def record_table(metadata: MetaData, endpoint: Endpoint, fields: Sequence[str]) -> Table:
    """The table of ``endpoint``'s records with these fields (``synced_fields``)."""
    key = endpoint.key or "ID"
    columns: list[Column[Any]] = [Column(DIVISION, Integer, primary_key=True, autoincrement=False)]
    for name in synced_fields(endpoint, fields):
        edm = endpoint.fields[name].type if name in endpoint.fields else "Edm.String"
        columns.append(Column(name, column_type(edm), primary_key=name == key))
    columns += [
        Column(TIMESTAMP, BigInteger),
        Column(SYNCED_AT, DateTime(timezone=True), nullable=False),
        Column(DELETED, Boolean, nullable=False, default=False),
    ]
    return Table(table_name(endpoint), metadata, *columns)


def cursor_table(metadata: MetaData) -> Table:
    return Table(
        CURSORS,
        metadata,
        Column("credential", String(64), primary_key=True),
        Column("division", Integer, primary_key=True, autoincrement=False),
        Column("feed", String(200), primary_key=True),
        Column("cursor", BigInteger, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
    )


def ensure(engine: Engine, table: Table) -> list[str]:
    """Create ``table`` if missing, else add the columns it lacks; the columns added."""
    existing = inspect(engine)
    if not existing.has_table(table.name):
        table.create(engine)
        return []
    quote = engine.dialect.identifier_preparer.quote
    added: list[str] = []
    with engine.begin() as conn:
        # The columns as the database returns them: portable where reflection is not (DuckDB's
        # dialect cannot answer SQLAlchemy's PostgreSQL catalogue queries).
        present = set(conn.execute(text(f"SELECT * FROM {quote(table.name)} WHERE 1 = 0")).keys())
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=engine.dialect)
            conn.execute(text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}"))
            added.append(column.name)
    return added
