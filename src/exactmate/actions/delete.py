"""Delete Endpoint with ID: any endpoint's record by its key, shown first, audited always.

Before any call: the endpoint must exist and allow DELETE, and the key must suit the endpoint's key
type (a GUID, a whole number, text, or every field of a composite key). Then the record is read
(when the endpoint allows GET) so it can be shown and kept as the audit log's "before" snapshot, a
final time entry is refused, the caller confirms, and only then the DELETE goes out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exactmate.actions import audit
from exactmate.actions.context import ActionContext
from exactmate.actions.divisions import DivisionChoice, DivisionInput, one_division, parse_division
from exactmate.actions.dryrun import PlannedRequest, plan
from exactmate.actions.keys import key_suffix, parse_key, record_key
from exactmate.actions.timerules import TIME_TRANSACTIONS, refuse_final
from exactmate.errors import ExactmateError

Confirm = Callable[[Mapping[str, Any] | None, PlannedRequest], bool]
"""Asked with the record (None when the endpoint cannot be read) and the request; True deletes."""


@dataclass(frozen=True)
class DeleteResult:
    """What a delete did: ``deleted`` is False for a dry run or when the confirmation said no."""

    endpoint: str
    key: str
    division: int
    deleted: bool
    record: dict[str, Any] | None
    request: PlannedRequest
    dry_run: bool = False
    cancelled: bool = False
    audit_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data: ``{"deleted", "endpoint", "key", "division"}`` (+ the request on a dry run)."""
        out: dict[str, Any] = {
            "deleted": self.deleted,
            "endpoint": self.endpoint,
            "key": self.key,
            "division": self.division,
        }
        if self.dry_run:
            out["request"] = self.request.as_dict()
        if self.cancelled:
            out["cancelled"] = True
        return out


def delete_record(
    conn: ActionContext,
    endpoint: str,
    key: object,
    *,
    division: DivisionInput | DivisionChoice = None,
    confirm: Confirm | None = None,
    dry_run: bool = False,
) -> DeleteResult:
    """Delete the record ``key`` of ``endpoint`` (``service/Endpoint``, any case).

    ``confirm`` is asked before the DELETE (None: no question; the caller already decided).
    ``division``: a number, ``current`` (default) or ``all`` (the division that holds the record).
    """
    target = conn.client.catalogue.endpoint(endpoint)
    target.require_method("DELETE")
    parsed = parse_key(target, key)
    shown = record_key(target, parsed)
    suffix = key_suffix(target, parsed)
    number = one_division(conn.client, parse_division(division), target, parsed)
    resource = conn.client.resource(target.path, number)
    before = resource.get(parsed) if target.allows("GET") else None
    if before is not None and target.path == TIME_TRANSACTIONS:
        refuse_final(before, action="deleted", key=shown)
    request = plan(conn.server_url, "DELETE", target, number, suffix=suffix)
    result = DeleteResult(target.path, shown, number, False, before, request, dry_run=dry_run)
    if dry_run:
        return result
    if confirm is not None and not confirm(before, request):
        return DeleteResult(target.path, shown, number, False, before, request, cancelled=True)
    try:
        resource.delete(parsed)
    except ExactmateError as exc:
        _audit(conn, target.path, number, shown, before, f"failed: {exc}")
        raise
    audit_id = _audit(conn, target.path, number, shown, before, "deleted")
    return DeleteResult(target.path, shown, number, True, before, request, audit_id=audit_id)


def _audit(
    conn: ActionContext,
    endpoint: str,
    division: int,
    key: str,
    before: Mapping[str, Any] | None,
    outcome: str,
) -> int:
    return audit.record(
        conn.store,
        credential=conn.credential_name,
        division=division,
        endpoint=endpoint,
        action="delete",
        record_key=key,
        before=before,
        after=None,
        outcome=outcome,
    )
