"""Restore a deleted record from the audit log: the delete's "before" snapshot sent again as a create.

Only a delete that went through (outcome ``deleted``), of an endpoint that allows POST, with a
snapshot, made by the credential in use, can be restored; an update is undone by writing the old
values back (the refusal names the command). The snapshot keeps every field as it was read, so
before anything is sent the key field, read-only fields, navigation collections, empty values and
fields the catalogue does not know (named in ``RestoreResult.skipped``) are left out, and the rest
goes through the Data Manager's create check (``fields.prepare_record``) like any new record. The
new record gets a new key from Exact.

A restore is itself an audit row: action ``restore``, ``record_key`` the new record's key, ``after``
the record as Exact stored it, and the entry it restored in its outcome, one of

- ``restored entry N``: done;
- ``unanswered: entry N: …``: the POST's answer was lost, so the record may exist;
- ``failed: entry N: …``: Exact refused it.

An entry with a ``restored`` or ``unanswered`` restore row is not restored again: the record would
exist twice.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, desc, or_, select

from exactmate.actions import audit
from exactmate.actions.audit import AuditEntry
from exactmate.actions.context import ActionContext
from exactmate.actions.dryrun import PlannedRequest, plan
from exactmate.actions.fields import prepare_record
from exactmate.actions.keys import key_text
from exactmate.actions.presentation import local_text
from exactmate.actions.timerules import CREATE_RULES, TIME_TRANSACTIONS
from exactmate.catalogue import Catalogue, Endpoint
from exactmate.errors import APIConnectionError, ExactmateError, ServerError, ValidationError
from exactmate.store import Store, audit_log, name_key

Confirm = Callable[[Mapping[str, Any], PlannedRequest], bool]
"""Asked with the body about to be sent and the request; True restores."""


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: ``restored`` is False for a dry run or when the confirmation said no."""

    entry_id: int
    endpoint: str
    division: int
    body: dict[str, Any]
    request: PlannedRequest
    restored: bool = False
    key: str | None = None
    record: dict[str, Any] | None = None
    audit_id: int | None = None
    skipped: tuple[str, ...] = field(default=())
    dry_run: bool = False
    cancelled: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain data: ``{"restored", "entry", "endpoint", "division", "ID", "audit_id"}`` (+ the
        request on a dry run, the fields left out when there are any)."""
        out: dict[str, Any] = {
            "restored": self.restored,
            "entry": self.entry_id,
            "endpoint": self.endpoint,
            "division": self.division,
        }
        if self.restored:
            out["ID"] = self.key
            out["audit_id"] = self.audit_id
        if self.dry_run:
            out["request"] = self.request.as_dict()
        if self.skipped:
            out["skipped"] = list(self.skipped)
        if self.cancelled:
            out["cancelled"] = True
        return out


def restore_credential(store: Store, entry_id: int) -> str:
    """The credential the audit entry ``entry_id`` was made with (the one its restore must use)."""
    return audit.entry(store, entry_id).credential


def restore_entry(
    conn: ActionContext,
    entry_id: int,
    *,
    confirm: Confirm | None = None,
    dry_run: bool = False,
) -> RestoreResult:
    """Re-create the record the delete ``entry_id`` removed, in the division it was deleted from.

    ``confirm`` is asked before the POST (None: no question). A ValidationError says why an entry
    cannot be restored (and how to undo an update); nothing is sent then."""
    entry = audit.entry(conn.store, entry_id)
    target = check_restorable(conn.store, conn.client.catalogue, entry, credential=conn.credential_name)
    assert entry.before is not None
    values, skipped = create_values(target, entry.before)
    rules = CREATE_RULES if target.path == TIME_TRANSACTIONS else ()
    body, problems = prepare_record(target, values, creating=True, extra_rules=rules)
    if problems:
        raise ValidationError(
            f"Entry {entry_id}'s snapshot is not a record {target.path} takes on create; nothing was sent",
            problems=problems,
        )
    division = entry.division if entry.division is not None else conn.client.current_division()
    request = plan(conn.server_url, "POST", target, division, body=body)
    result = RestoreResult(entry_id, target.path, division, body, request, skipped=skipped, dry_run=dry_run)
    if dry_run:
        return result
    if confirm is not None and not confirm(body, request):
        return RestoreResult(entry_id, target.path, division, body, request, skipped=skipped, cancelled=True)
    resource = conn.client.resource(target.path, division)
    try:
        created = resource.create(body)
    except ExactmateError as exc:
        lost = "unanswered" if isinstance(exc, APIConnectionError | ServerError) else "failed"
        _audit(conn, entry, division, None, None, f"{lost}: entry {entry_id}: {exc}")
        raise
    key = created.get(target.key) if target.key else None
    new_key = str(key) if key is not None else None
    audit_id = _audit(conn, entry, division, new_key, created, restored_outcome(entry_id))
    return RestoreResult(
        entry_id,
        target.path,
        division,
        body,
        request,
        restored=True,
        key=new_key,
        record=dict(created),
        audit_id=audit_id,
        skipped=skipped,
    )


def restored_outcome(entry_id: int) -> str:
    """The outcome of the audit row of a restore of ``entry_id`` that went through."""
    return f"restored entry {entry_id}"


def restore_of(store: Store, entry_id: int) -> AuditEntry | None:
    """The newest restore of ``entry_id`` that went through, or whose answer was lost; None if none."""
    columns = audit_log.c
    done = or_(
        columns.outcome == restored_outcome(entry_id),
        columns.outcome.startswith(f"unanswered: entry {entry_id}:", autoescape=True),
    )
    stmt = select(columns.id).where(and_(columns.action == "restore", done)).order_by(desc(columns.id))
    with store.reading() as conn:
        found = conn.execute(stmt.limit(1)).scalar()
    return None if found is None else audit.entry(store, int(found))


def create_values(endpoint: Endpoint, snapshot: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The snapshot's values a create may set: the key, read-only fields, collections and empty
    values left out; also the names of the fields the catalogue does not know (left out too)."""
    keys = {name.lower() for name in endpoint.keys} | ({endpoint.key.lower()} if endpoint.key else set())
    known = {name.lower(): f for name, f in endpoint.fields.items()}
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for name, value in snapshot.items():
        described = known.get(name.lower())
        if described is None:
            if not name.startswith("__"):
                unknown.append(name)
            continue
        if name.lower() in keys or described.read_only or described.is_collection or value is None:
            continue
        values[described.name] = value
    return values, tuple(unknown)


def check_restorable(
    store: Store, catalogue: Catalogue, entry: AuditEntry, *, credential: str | None = None
) -> Endpoint:
    """The entry's endpoint when the entry can be restored (by ``credential``, when given); else a
    ValidationError that says why not, and what to do instead."""
    n = entry.id
    if entry.action == "update":
        raise ValidationError(
            f"Entry {n} is an update of {entry.endpoint} {entry.record_key}: restore re-creates deleted "
            "records; nothing was sent",
            hint=undo_update_command(catalogue, entry),
        )
    if entry.action != "delete":
        raise ValidationError(
            f"Entry {n} is a {entry.action}, not a delete: only a deleted record can be restored",
            hint="see the deletes with: exactmate audit list --action delete",
        )
    if entry.outcome != "deleted":
        raise ValidationError(
            f"Entry {n} records a delete that did not go through ({entry.outcome}): the record was not "
            "deleted, so there is nothing to restore",
            hint=f"see it with: exactmate audit show {n}",
        )
    if entry.before is None:
        raise ValidationError(
            f"Entry {n} holds no snapshot of the record ({entry.endpoint} cannot be read), so it cannot "
            "be re-created",
        )
    if credential is not None and name_key(entry.credential) != name_key(credential):
        raise ValidationError(
            f"Entry {n} was made with credential {entry.credential!r}, not {credential!r}: a record "
            "is restored to the Exact it was deleted from",
            hint=f"exactmate audit restore {n} --credential {shlex.quote(entry.credential)}",
        )
    target = catalogue.endpoint(entry.endpoint)
    if not target.allows("POST"):
        raise ValidationError(
            f"{target.path} does not allow POST, so entry {n}'s record cannot be re-created through the API",
            hint=f"see the snapshot with: exactmate audit show {n}",
        )
    earlier = restore_of(store, n)
    if earlier is not None:
        when = local_text(earlier.at)
        if earlier.outcome.startswith("unanswered"):
            raise ValidationError(
                f"Entry {n} was restored at {when} (audit log entry {earlier.id}) but the answer was lost, "
                f"so the record may exist already; it is not sent again",
                hint=f"look for it with: exactmate get {target.path} --division {earlier.division}",
            )
        raise ValidationError(
            f"Entry {n} was restored already, at {when}, as {target.path} {earlier.record_key} "
            f"(audit log entry {earlier.id}); restoring it again would make the record twice",
            hint=f"see it with: exactmate audit show {earlier.id}",
        )
    return target


def undo_update_command(catalogue: Catalogue, entry: AuditEntry) -> str:
    """The command that writes an update's old values back (for the refusal of its restore)."""
    old = {name: before for name, (before, _after) in audit.changed_fields(entry).items()}
    if not old or entry.before is None:
        return f"the audit log holds no old values to write back; see: exactmate audit show {entry.id}"
    bare = (entry.record_key or "KEY").removeprefix("guid'").removesuffix("'")
    division = f" --division {entry.division}" if entry.division is not None else ""
    if entry.endpoint == TIME_TRANSACTIONS:
        sets = " ".join(f"--set {shlex.quote(f'{name}={_text(value)}')}" for name, value in old.items())
        return f"undo it with: exactmate time update {bare}{division} {sets}"
    try:
        key = key_text(catalogue.endpoint(entry.endpoint), bare)
    except ExactmateError:
        key = entry.record_key or "KEY"
    data = json.dumps(old, ensure_ascii=False)
    return (
        f"undo it with: exactmate call PUT {_shell_word(f'{entry.endpoint}({key})')}{division} "
        f"--data {_shell_word(data)}"
    )


def _shell_word(text: str) -> str:
    """``text`` as one shell word: in double quotes when it holds single quotes only (the way keys
    such as ``guid'…'`` are written in the README), else as ``shlex.quote`` makes it."""
    if "'" in text and not any(c in text for c in '"$`\\!'):
        return f'"{text}"'
    return shlex.quote(text)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _audit(
    conn: ActionContext,
    entry: AuditEntry,
    division: int,
    key: str | None,
    after: Mapping[str, Any] | None,
    outcome: str,
) -> int:
    return audit.record(
        conn.store,
        credential=conn.credential_name,
        division=division,
        endpoint=entry.endpoint,
        action="restore",
        record_key=key,
        before=None,
        after=after,
        outcome=outcome,
    )
