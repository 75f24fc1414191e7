"""The per-call path of the rate ledger and the error budget: what every call to Exact costs the store.

Before a call, one write transaction reads the scope's announced block, its recent errors and its
ledger row, lets the governor decide, and writes the reservation: one lock and one commit instead
of a read for the budget and a write for the ledger. The statements are built once, with bound
parameters, so a call does not pay for building and caching SQL expressions again.

``DriverLedger`` runs that same transaction on the database driver's own connection, with the
statements compiled once for the store's dialect: the same SQL, the same locks, but without
SQLAlchemy's per-statement execution and result layers, which cost ten times what SQLite itself
does for these five statements. A reservation that would insert the ledger row (none of the
governor's do: it learns a scope's limits from the first answer) is handed to :func:`reserve`,
the one place a row is inserted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, bindparam, insert, select, update

from exactmate.store.guarded import insert_guarded
from exactmate.store.schema import LedgerRow, error_blocks, error_budget, rate_ledger, row_to

T = TypeVar("T")

Decide = Callable[[float | None, Sequence[float], LedgerRow | None], tuple[LedgerRow | None, T]]
"""(block ends, recent error times oldest first, ledger row) -> (row to write or None, result)."""

_LEDGER_ROW = (
    select(rate_ledger)
    .where(rate_ledger.c.client_id == bindparam("client_id"), rate_ledger.c.division == bindparam("division"))
    .with_for_update()  # PostgreSQL locks the row; SQLite's BEGIN IMMEDIATE already holds the file
)
_BLOCK = select(error_blocks.c.until).where(
    error_blocks.c.client_id == bindparam("client_id"),
    error_blocks.c.division == bindparam("division"),
    error_blocks.c.endpoint == bindparam("endpoint"),
)
_ERRORS = (
    select(error_budget.c.at)
    .where(
        error_budget.c.credential == bindparam("client_id"),
        error_budget.c.division == bindparam("division"),
        error_budget.c.endpoint == bindparam("endpoint"),
        error_budget.c.at > bindparam("since"),
    )
    .order_by(error_budget.c.at)
)
_VALUES = [f.name for f in fields(LedgerRow) if f.name not in ("client_id", "division")]
_UPDATE = (
    update(rate_ledger)
    .where(
        rate_ledger.c.client_id == bindparam("key_client_id"),
        rate_ledger.c.division == bindparam("key_division"),
    )
    .values({name: bindparam(name) for name in _VALUES})
)
_INSERT = insert(rate_ledger)


def reserve(
    conn: Connection,
    client_id: str,
    division: int,
    endpoint: str,
    *,
    since: float,
    now: float,
    decide: Decide[T],
) -> tuple[bool, T]:
    """Inside the caller's write transaction: read, decide, write. (True, result) when done;
    (False, result) when the row had to be inserted and another writer inserted it first
    (PostgreSQL only), so the caller decides again in a new transaction."""
    scope = {"client_id": client_id, "division": division, "endpoint": endpoint}
    block = _open_block(conn.execute(_BLOCK, scope).scalar(), now)
    errors = [float(at) for at in conn.execute(_ERRORS, {**scope, "since": since}).scalars()]
    return modify(conn, client_id, division, now=now, decide=lambda row: decide(block, errors, row))


def modify(
    conn: Connection,
    client_id: str,
    division: int,
    *,
    now: float,
    decide: Callable[[LedgerRow | None], tuple[LedgerRow | None, T]],
) -> tuple[bool, T]:
    """Inside the caller's write transaction: read the ledger row, decide, write what ``decide``
    returns; (False, result) as for ``reserve``."""
    key = {"client_id": client_id, "division": division}
    found = conn.execute(_LEDGER_ROW, key).first()
    current = row_to(LedgerRow, found) if found is not None else None
    new, result = decide(current)
    if new is None:
        return True, result
    values = _written(new, now)
    if current is not None:
        conn.execute(_UPDATE, {**values, "key_client_id": client_id, "key_division": division})
        return True, result
    return insert_guarded(conn, _INSERT.values(**values, **key)), result


def _open_block(until: Any, now: float) -> float | None:
    """When a block Exact announced on the endpoint lifts, if it still holds at ``now``."""
    return float(until) if until is not None and until > now else None


def _written(new: LedgerRow, now: float) -> dict[str, Any]:
    """The values of ``new`` a ledger write stores, stamped ``now``."""
    return {**{name: getattr(new, name) for name in _VALUES}, "updated_at": now}


class _Compiled:
    """One statement as the driver runs it: its SQL text for a dialect and how its parameters go."""

    def __init__(self, stmt: Any, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self._order = tuple(compiled.positiontup or ()) if dialect.positional else None

    def args(self, params: dict[str, Any]) -> Any:
        """The parameters in the driver's style: a tuple for ``?`` placeholders, else the mapping."""
        if self._order is None:
            return params
        return tuple(params[name] for name in self._order)


class DriverLedger:
    """The reservation of :func:`reserve` on a driver (DB-API) cursor, statements compiled once."""

    def __init__(self, dialect: Dialect) -> None:
        self._block = _Compiled(_BLOCK, dialect)
        self._errors = _Compiled(_ERRORS, dialect)
        self._row = _Compiled(_LEDGER_ROW, dialect)
        self._update = _Compiled(_UPDATE, dialect)
        self._columns = [column.name for column in rate_ledger.columns]

    def reserve(
        self,
        cursor: Any,
        client_id: str,
        division: int,
        endpoint: str,
        *,
        since: float,
        now: float,
        decide: Decide[T],
    ) -> tuple[T] | None:
        """Inside the caller's write transaction on ``cursor``: what :func:`reserve` does, the
        decision's result in a 1-tuple. None when ``decide`` wants a ledger row written that does
        not exist yet: the caller reserves again through :func:`reserve`, the one place a row is
        inserted (nothing was written here)."""
        scope = {"client_id": client_id, "division": division, "endpoint": endpoint}
        cursor.execute(self._block.sql, self._block.args(scope))
        blocked = cursor.fetchone()
        cursor.execute(self._errors.sql, self._errors.args({**scope, "since": since}))
        errors = [float(at) for (at,) in cursor.fetchall()]
        cursor.execute(self._row.sql, self._row.args(scope))
        found = cursor.fetchone()
        current = LedgerRow(**dict(zip(self._columns, found, strict=True))) if found is not None else None
        block = _open_block(blocked[0] if blocked is not None else None, now)
        new, result = decide(block, errors, current)
        if new is None:
            return (result,)
        if current is None:
            return None
        values = {**_written(new, now), "key_client_id": client_id, "key_division": division}
        cursor.execute(self._update.sql, self._update.args(values))
        return (result,)
