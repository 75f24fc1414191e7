"""Update Project Time Transaction: only the chosen fields, never a final entry, always audited.

The ID and every field are checked before any call. Then the entry is read (one GET): a final entry
(HourStatus 20) is refused before any write, and the record as it was becomes the "before" snapshot
in the audit log. The PUT carries only the fields given (Exact merges them into the record), and the
"after" snapshot is the record with those fields applied, so no second read is spent on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exactmate.actions import audit
from exactmate.actions.context import ActionContext
from exactmate.actions.divisions import DivisionChoice, DivisionInput, one_division, parse_division
from exactmate.actions.dryrun import PlannedRequest, plan
from exactmate.actions.fields import prepare_record
from exactmate.actions.keys import key_suffix, record_key
from exactmate.actions.references import Resolver, lookups_in, resolved, with_placeholders
from exactmate.actions.timerules import TIME_TRANSACTIONS, UPDATE_RULES, refuse_final
from exactmate.errors import ExactmateError, ValidationError


@dataclass(frozen=True)
class UpdateResult:
    """What an update did (or, on a dry run, would do)."""

    id: str
    division: int
    sent: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    request: PlannedRequest
    dry_run: bool = False
    audit_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data: ``{"updated": bool, "ID", "division", "fields", "request"?}``."""
        out: dict[str, Any] = {
            "updated": not self.dry_run,
            "ID": self.id,
            "division": self.division,
            "fields": self.sent,
        }
        if self.dry_run:
            out["request"] = self.request.as_dict()
        return out


def update_time_transaction(
    conn: ActionContext,
    id: object,
    changes: Mapping[str, Any],
    *,
    division: DivisionInput | DivisionChoice = None,
    dry_run: bool = False,
) -> UpdateResult:
    """Change the fields ``changes`` (names any case, text values coerced) of the entry ``id``.

    ``division``: a number, ``current`` (default) or ``all`` (the division that holds the entry).
    ``ValidationError`` for a malformed ID or field (no call made) and for a final entry (after the
    one GET, before any write).
    """
    endpoint = conn.client.catalogue.endpoint(TIME_TRANSACTIONS)
    key = record_key(endpoint, id)
    if not changes:
        raise ValidationError("Nothing to update: no fields given", hint="e.g. --set Quantity=6")
    lookups, problems = lookups_in(changes, endpoint)
    checked = with_placeholders(changes, lookups)  # every local problem before any call
    body, found = prepare_record(endpoint, checked, creating=False, extra_rules=UPDATE_RULES)
    if problems + found:
        raise ValidationError(
            f"Cannot update time transaction {key}; nothing was sent", problems=problems + found
        )
    number = one_division(conn.client, parse_division(division), endpoint, key)
    if lookups:
        values, failed = resolved(changes, lookups, Resolver(conn), number)
        if failed:
            raise ValidationError(f"Cannot update time transaction {key}; nothing was sent", problems=failed)
        body, _ = prepare_record(endpoint, values, creating=False, extra_rules=UPDATE_RULES)
    resource = conn.client.resource(TIME_TRANSACTIONS, number)
    before = resource.get(key)
    refuse_final(before, action="changed", key=key)
    request = plan(conn.server_url, "PUT", endpoint, number, suffix=key_suffix(endpoint, key), body=body)
    after = {**before, **body}
    if dry_run:
        return UpdateResult(key, number, body, before, after, request, dry_run=True)
    try:
        resource.update(key, body)
    except ExactmateError as exc:
        _audit(conn, number, key, before, None, f"failed: {exc}")
        raise
    audit_id = _audit(conn, number, key, before, after, "updated")
    return UpdateResult(key, number, body, before, after, request, audit_id=audit_id)


def _audit(
    conn: ActionContext,
    division: int,
    key: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any] | None,
    outcome: str,
) -> int:
    return audit.record(
        conn.store,
        credential=conn.credential_name,
        division=division,
        endpoint=TIME_TRANSACTIONS,
        action="update",
        record_key=key,
        before=before,
        after=after,
        outcome=outcome,
    )
