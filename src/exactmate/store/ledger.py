"""The per-call path of the rate ledger and the error budget: what every call to Exact costs the store.

Before a call, one write transaction reads the scope's announced block, its recent errors and its
ledger row, lets the governor decide, and writes the reservation: one lock and one commit instead
of a read for the budget and a write for the ledger. The statements are built once, with bound
parameters, so a call does not pay for building and caching SQL expressions again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, insert, select, update

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
    until = conn.execute(_BLOCK, scope).scalar()
    errors = [float(at) for at in conn.execute(_ERRORS, {**scope, "since": since}).scalars()]
    block = float(until) if until is not None and until > now else None
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
    values: dict[str, Any] = {name: getattr(new, name) for name in _VALUES}
    values["updated_at"] = now
    if current is not None:
        conn.execute(_UPDATE, {**values, "key_client_id": client_id, "key_division": division})
        return True, result
    return insert_guarded(conn, _INSERT.values(**values, **key)), result
