"""The audit log: a before/after snapshot of every update and delete, kept in the store.

Exact keeps no history a user can roll back to, so exactmate does: the record as it was read before
the write, what it became (for an update, the record merged with the fields sent; for a delete,
nothing), and how the write ended. Snapshots are JSON text; dates are written as ISO text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import desc, insert, select

from exactmate.clock import Clock
from exactmate.store import Store, audit_log


@dataclass(frozen=True)
class AuditEntry:
    """One audit row, snapshots decoded back to dicts."""

    id: int
    at: float
    credential: str
    division: int | None
    endpoint: str
    action: str
    record_key: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    outcome: str


def _snapshot(record: Mapping[str, Any] | None) -> str | None:
    if record is None:
        return None
    return json.dumps(dict(record), default=_plain, sort_keys=True, ensure_ascii=False)


def _plain(value: object) -> object:
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)


def record(
    store: Store,
    *,
    credential: str,
    division: int | None,
    endpoint: str,
    action: str,
    record_key: str | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    outcome: str,
    clock: Clock | None = None,
) -> int:
    """Add one audit row; returns its id."""
    at = (clock or store.clock).now()
    with store.transaction() as conn:
        result = conn.execute(
            insert(audit_log).values(
                at=at,
                credential=credential,
                division=division,
                endpoint=endpoint,
                action=action,
                record_key=record_key,
                before=_snapshot(before),
                after=_snapshot(after),
                outcome=outcome,
            )
        )
        key = result.inserted_primary_key
    return int(key[0]) if key else 0


def entries(store: Store, *, record_key: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest audit rows first, optionally only those of one record."""
    stmt = select(audit_log).order_by(desc(audit_log.c.id)).limit(limit)
    if record_key is not None:
        stmt = stmt.where(audit_log.c.record_key == record_key)
    with store.reading() as conn:
        rows = conn.execute(stmt).all()
    out: list[AuditEntry] = []
    for row in rows:
        m = row._mapping
        out.append(
            AuditEntry(
                id=int(m["id"]),
                at=float(m["at"]),
                credential=m["credential"],
                division=m["division"],
                endpoint=m["endpoint"],
                action=m["action"],
                record_key=m["record_key"],
                before=json.loads(m["before"]) if m["before"] else None,
                after=json.loads(m["after"]) if m["after"] else None,
                outcome=m["outcome"],
            )
        )
    return out
