"""History → Audit log: the entries, one entry with its snapshots, and the restore of a deleted record.

Reading is all these pages do, except the restore: a confirmation page shows the record that would be
created and the exact request (a dry run), and its POST form (with the CSRF token) re-creates it and
redirects to the restore's own audit entry with a notice. The work is done by
:mod:`exactmate.actions.audit` and :mod:`exactmate.actions.restore`, as for the command line.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from exactmate.actions import audit
from exactmate.actions.audit import ACTIONS, AuditEntry
from exactmate.actions.context import open_connection
from exactmate.actions.presentation import cell
from exactmate.actions.restore import RestoreResult, check_restorable, restore_entry, restore_of
from exactmate.errors import ExactmateError, ValidationError
from exactmate.store import Store
from exactmate.web.context import UiContext, open_store, ui
from exactmate.web.templating import render

router = APIRouter()

LIMITS = (50, 200, 1000)
"""The page sizes the list offers."""


@router.get("/audit", response_class=HTMLResponse)
def audit_list(
    request: Request,
    credential: str = "",
    endpoint: str = "",
    key: str = "",
    action: str = "",
    limit: int = 50,
) -> Response:
    """The entries, newest first, filtered by credential, endpoint, record key and action."""
    filters = {"credential": credential, "endpoint": endpoint, "key": key, "action": action}
    problem = None
    found: list[AuditEntry] = []
    try:
        with open_store(ui(request)) as store:
            found = audit.entries(
                store,
                credential=credential.strip() or None,
                endpoint=endpoint.strip() or None,
                record_key=key.strip() or None,
                action=action or None,
                limit=max(1, min(limit, LIMITS[-1])),
            )
    except ValidationError as exc:
        problem = str(exc)
    return render(
        request,
        "audit_list.html",
        section="audit",
        entries=found,
        filters=filters,
        limit=limit,
        limits=LIMITS,
        actions=ACTIONS,
        problem=problem,
    )


@router.get("/audit/{entry_id}", response_class=HTMLResponse)
def audit_entry(request: Request, entry_id: int) -> Response:
    """One entry: who, where, what, the outcome, an update's changes and both snapshots; a delete
    that can be restored offers Restore, one restored already links to its restore."""
    context = ui(request)
    with open_store(context) as store:
        entry = _entry_or_none(store, entry_id)
        if entry is None:
            return _not_found(request, entry_id)
        restored = restore_of(store, entry_id) if entry.action == "delete" else None
        refusal = _refusal(context, store, entry)
    return render(
        request,
        "audit_entry.html",
        section="audit",
        entry=entry,
        changes=[(name, cell(b), cell(a)) for name, (b, a) in audit.changed_fields(entry).items()],
        before=_rows(entry.before),
        after=_rows(entry.after),
        restored=restored,
        refusal=refusal,
    )


@router.get("/audit/{entry_id}/restore", response_class=HTMLResponse)
def restore_page(request: Request, entry_id: int) -> Response:
    """The confirmation: the record that would be created and the exact request; nothing is sent."""
    try:
        planned = _restore(request, entry_id, dry_run=True)
    except ExactmateError as exc:
        return _refused(request, entry_id, exc)
    return render(
        request, "audit_restore.html", section="audit", result=planned, body=_rows(planned.body) or []
    )


@router.post("/audit/{entry_id}/restore")
def restore(request: Request, entry_id: int) -> Response:
    """Re-create the deleted record; back to the restore's own audit entry with a notice."""
    try:
        done = _restore(request, entry_id, dry_run=False)
    except ExactmateError as exc:
        return _refused(request, entry_id, exc)
    ui(request).flashes.add(
        request,
        "ok",
        f"Restored entry {entry_id} as {done.endpoint} {done.key} in division {done.division} "
        f"(audit log entry {done.audit_id}).",
    )
    return RedirectResponse(f"/audit/{done.audit_id}", status_code=303)


def _restore(request: Request, entry_id: int, *, dry_run: bool) -> RestoreResult:
    context = ui(request)
    with open_store(context) as store:
        credential = audit.entry(store, entry_id).credential
    with open_connection(
        credential, settings=context.settings, clock=context.clock, transport=context.transport
    ) as conn:
        return restore_entry(conn, entry_id, dry_run=dry_run)


def _refused(request: Request, entry_id: int, exc: ExactmateError) -> Response:
    ui(request).flashes.add(request, "bad", f"Entry {entry_id} was not restored: {exc}")
    return RedirectResponse(f"/audit/{entry_id}", status_code=303)


def _refusal(context: UiContext, store: Store, entry: AuditEntry) -> str | None:
    """Why a delete cannot be restored (None: it can); nothing for other actions' entries."""
    if entry.action != "delete":
        return None
    try:
        check_restorable(store, context.catalogue, entry)
    except ValidationError as exc:
        return str(exc)
    return None


def _entry_or_none(store: Store, entry_id: int) -> AuditEntry | None:
    try:
        return audit.entry(store, entry_id)
    except ValidationError:
        return None


def _rows(snapshot: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    return None if snapshot is None else [(name, cell(value)) for name, value in snapshot.items()]


def _not_found(request: Request, entry_id: int) -> Response:
    return render(
        request,
        "error.html",
        404,
        section="audit",
        title="No such audit log entry",
        message=f"The audit log has no entry {entry_id}. The Audit log page lists them.",
    )
