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

from sqlalchemy import RowMapping, desc, func, insert, select

from exactmate.actions.presentation import local_iso
from exactmate.clock import Clock
from exactmate.errors import ValidationError
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

    def as_dict(self) -> dict[str, Any]:
        """Plain data for output: the row with its time as local ISO text (``when``), snapshots
        included; an update's changed fields under ``changes``."""
        out: dict[str, Any] = {
            "id": self.id,
            "when": local_iso(self.at),
            "credential": self.credential,
            "division": self.division,
            "endpoint": self.endpoint,
            "action": self.action,
            "key": self.record_key,
            "outcome": self.outcome,
            "before": self.before,
            "after": self.after,
        }
        if self.action == "update":
            out["changes"] = {k: {"before": b, "after": a} for k, (b, a) in changed_fields(self).items()}
        return out


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


ACTIONS = ("update", "delete", "restore")
"""What an audit row records: a record changed, deleted, or re-created from a delete's snapshot."""


def entries(
    store: Store,
    *,
    record_key: str | None = None,
    credential: str | None = None,
    endpoint: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest audit rows first, optionally only those of one record (its key as stored, or a
    GUID typed without ``guid'…'``), one credential, one endpoint (any case) or one action."""
    if action is not None and action not in ACTIONS:
        raise ValidationError(f"{action!r} is not an audit action", hint=f"use one of: {', '.join(ACTIONS)}")
    if limit < 1:
        raise ValidationError(f"The limit must be at least 1, not {limit}", hint="e.g. --limit 50")
    stmt = select(audit_log).order_by(desc(audit_log.c.id)).limit(limit)
    if record_key is not None:
        key = record_key.strip().lower()
        bare = key.removeprefix("guid'").removesuffix("'")
        stmt = stmt.where(func.lower(audit_log.c.record_key).in_({key, bare, f"guid'{bare}'"}))
    if credential is not None:
        stmt = stmt.where(func.lower(audit_log.c.credential) == credential.strip().lower())
    if endpoint is not None:
        stmt = stmt.where(func.lower(audit_log.c.endpoint) == endpoint.strip().strip("/").lower())
    if action is not None:
        stmt = stmt.where(audit_log.c.action == action)
    with store.reading() as conn:
        rows = conn.execute(stmt).all()
    return [_entry(row._mapping) for row in rows]


def entry(store: Store, entry_id: int) -> AuditEntry:
    """The audit row ``entry_id``; a ValidationError that says how to list them when there is none."""
    with store.reading() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.id == entry_id)).first()
    if row is None:
        raise ValidationError(
            f"The audit log has no entry {entry_id}", hint="see the entries with: exactmate audit list"
        )
    return _entry(row._mapping)


def _entry(m: RowMapping) -> AuditEntry:
    return AuditEntry(
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


def changed_fields(entry: AuditEntry) -> dict[str, tuple[Any, Any]]:
    """An update's changes, field by field: ``{name: (before, after)}`` for every field of the
    "after" snapshot whose value differs from the "before" one (empty for other actions)."""
    if entry.action != "update" or entry.after is None:
        return {}
    before = entry.before or {}
    return {
        name: (before.get(name), value)
        for name, value in entry.after.items()
        if name not in before or before[name] != value
    }
