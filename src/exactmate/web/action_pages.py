"""The action forms: choose a credential, a division and one of the four actions, then Run or Dry run.

The page posts its form with ``fetch`` and shows the answer (a result table, or the problems) in
place. A listing shows at most ``MAX_ROWS`` records; when there are more, the page says so and offers
``POST /actions/export``, which streams every record as CSV or NDJSON through ``actions.writers`` (the
command line's writers), reading page by page through the governor as ``exactmate get --all`` does,
so memory stays flat whatever the number of records. The work is done by :mod:`exactmate.actions`,
exactly as for the command line; this module only turns the form into arguments and the outcome
into a :class:`~exactmate.web.results.Result`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain, islice
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from exactmate.actions import writers
from exactmate.actions.context import ActionContext, open_connection
from exactmate.actions.delete import delete_record
from exactmate.actions.listget import Listing, by_key, get_record, list_records
from exactmate.actions.presentation import plain
from exactmate.actions.timecreate import create_time_transactions
from exactmate.actions.timeupdate import update_time_transaction
from exactmate.errors import APIStatusError, ConfigError, ExactmateError, ValidationError, VaultError
from exactmate.web.actionform import ActionForm, parse_action_form
from exactmate.web.context import ui
from exactmate.web.credentials import STATUS_LABELS, list_credentials
from exactmate.web.results import Result, ResultStore
from exactmate.web.templating import render, render_fragment

router = APIRouter()

MAX_ROWS = 5_000
"""Rows shown (and in the result's own downloads) at most; more are exported (``/actions/export``)."""
EXPORT_FORMATS: tuple[writers.FileFormat, ...] = ("csv", "ndjson")

ACTION_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("create", "Create Project Time Transactions", "a new entry in project/TimeTransactions"),
    ("update", "Update Project Time Transaction", "change chosen fields of one entry"),
    ("delete", "Delete Endpoint with ID", "any endpoint that allows DELETE"),
    ("get", "List or Get Endpoint", "list an endpoint, or get one record by key"),
)


@router.get("/actions", response_class=HTMLResponse)
def actions_page(request: Request) -> Response:
    context = ui(request)
    rows = list_credentials(context)
    chosen = next((c.name for c in rows if c.is_default), rows[0].name if rows else "")
    return render(
        request,
        "actions.html",
        section="actions",
        credentials=rows,
        chosen_credential=chosen,
        status_labels=STATUS_LABELS,
        action_choices=ACTION_CHOICES,
    )


@router.post("/actions/run", response_class=HTMLResponse)
async def run(request: Request) -> Response:
    """Run (or dry-run) the action the form describes; answers the result fragment."""
    form = await request.form()
    try:
        action = parse_action_form(form)
        result = await run_in_threadpool(_run, request, action)
    except ExactmateError as exc:
        return render_fragment(request, "_result.html", _status(exc), result=None, error=_error(exc))
    store: ResultStore = ui(request).results
    store.add(result)
    return render_fragment(request, "_result.html", result=result, error=None)


@router.get("/actions/results/{result_id}.{fmt}")
def download(request: Request, result_id: str, fmt: str) -> Response:
    """A result as a JSON or CSV file."""
    store: ResultStore = ui(request).results
    result = store.get(result_id)
    if result is None or fmt not in ("json", "csv"):
        return Response("No such result (results are kept for the last 25 runs).", status_code=404)
    body = result.as_json() if fmt == "json" else result.as_csv()
    kind = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    disposition = f'attachment; filename="exactmate-{result.slug}.{fmt}"'
    return Response(body, media_type=kind, headers={"content-disposition": disposition})


@router.post("/actions/export")
async def export(request: Request) -> Response:
    """Every record of a listing as a CSV or NDJSON file, streamed as the pages arrive.

    The first page is read before the answer starts, so a refused query or an unreachable Exact is
    shown as a page; a failure after that (or a division of ``all`` that failed) breaks the download
    off, so no browser keeps a shortened file as if it were whole."""
    form = await request.form()
    try:
        action, fmt = _export_request(form)
        conn, listing, pieces = await run_in_threadpool(_open_listing, request, action, fmt)
    except ExactmateError as exc:
        title = "Nothing was exported"
        return render(request, "error.html", _status(exc), section="actions", title=title, message=str(exc))

    def body() -> Iterator[str | bytes]:
        try:
            yield from pieces
            if listing.errors:
                failed = ", ".join(str(number) for number, _ in listing.errors)
                path = listing.endpoint.path
                raise ExactmateError(f"the export of {path} is incomplete: division {failed} failed")
        finally:
            listing.close()  # a download broken off stops its read-ahead before the connection closes
            conn.close()

    name = f"exactmate-{listing.endpoint.path.replace('/', '-')}.{fmt}"
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(body(), media_type=writers.MEDIA_TYPES[fmt], headers=headers)


def _export_request(form: FormData) -> tuple[ActionForm, writers.FileFormat]:
    action = parse_action_form(form)
    chosen = form.get("format")
    fmt = next((f for f in EXPORT_FORMATS if f == chosen), None)
    if fmt is None:
        raise ValidationError(f"An export is written as {' or '.join(EXPORT_FORMATS)}, not {chosen!r}")
    if action.action != "get" or action.key:
        raise ValidationError(
            "Only a listing can be exported", hint="choose List or Get Endpoint and leave the key empty"
        )
    return action, fmt


def _open_listing(
    request: Request, form: ActionForm, fmt: writers.FileFormat
) -> tuple[ActionContext, Listing, Iterator[str | bytes]]:
    """An open connection, the lazy listing, and the pieces of its file in ``fmt`` with the first
    record read already: NDJSON as ``Listing.ndjson`` makes it (a whole read's pages straight from
    their bytes), CSV through ``writers.chunks``."""
    context = ui(request)
    conn = open_connection(
        form.credential or None, settings=context.settings, clock=context.clock, transport=context.transport
    )
    try:
        found = list_records(
            conn,
            form.endpoint,
            division=form.division,
            select=form.select or None,
            filter=form.filter or None,
            top=None if form.everything else form.top,
            all=form.everything,
        )
        if fmt == "ndjson":
            lines = found.ndjson()
            line = next(lines, None)
            return conn, found, lines if line is None else chain([line], lines)
        records = iter(found)
        first = next(records, None)
    except BaseException:
        conn.close()
        raise
    return conn, found, writers.chunks(records if first is None else chain([first], records), fmt)


def _run(request: Request, form: ActionForm) -> Result:
    context = ui(request)
    with open_connection(
        form.credential or None, settings=context.settings, clock=context.clock, transport=context.transport
    ) as conn:
        if form.action == "create":
            return _create(conn, form)
        if form.action == "update":
            return _update(conn, form)
        if form.action == "delete":
            return _delete(conn, form)
        return _get(conn, form)


def _create(conn: ActionContext, form: ActionForm) -> Result:
    outcome = create_time_transactions(conn, form.values, division=form.division, dry_run=form.dry_run)
    rows = [plain(o.as_dict()) for o in outcome.outcomes]
    for row in rows:
        row.pop("request", None)
    planned = [str(o.request) for o in outcome.outcomes if o.request is not None]
    failures = [f"row {o.row}: {o.message}" for o in outcome.failed + outcome.pending + outcome.changed]
    if form.dry_run:
        title = "Dry run: nothing was sent"
        summary = "This request would create the time transaction."
    elif outcome.failed:
        title = "The time transaction was not created"
        summary = "Exact Online refused it; its own message is below."
    elif outcome.pending:
        title = "Not known yet whether it was created"
        summary = "Exact Online's answer was lost. It was not sent again, so it cannot be booked twice."
    elif outcome.changed:
        title = "Booked earlier with other values"
        summary = "The same entry (employee, day, project, item, notes) was booked before; not sent again."
    elif outcome.skipped:
        title = "Already created"
        summary = "This very entry was booked earlier, so it was not sent again."
    else:
        ids = ", ".join(str(o.record_id) for o in outcome.created)
        title = "Time transaction created"
        summary = f"Created in division {outcome.outcomes[0].division}: ID {ids}."
    return Result(title, rows, summary, "\n\n".join(planned) or None, failures, slug="create")


def _update(conn: ActionContext, form: ActionForm) -> Result:
    done = update_time_transaction(conn, form.key, form.values, division=form.division, dry_run=form.dry_run)
    rows = [
        {"Field": name, "Before": plain(done.before.get(name)), "After": plain(done.after.get(name))}
        for name in done.sent
    ]
    if form.dry_run:
        title, summary = "Dry run: nothing was sent", f"This request would change time transaction {done.id}."
        return Result(title, rows, summary, str(done.request), slug="update")
    summary = f"Changed {len(done.sent)} field(s) of {done.id} in division {done.division}."
    return Result("Time transaction updated", rows, summary, slug="update")


def _delete(conn: ActionContext, form: ActionForm) -> Result:
    if not form.dry_run and not form.confirmed:
        raise ValidationError(
            "The delete was not confirmed, so nothing was sent",
            hint="press Run again and confirm, or use Dry run to see what would go",
        )
    done = delete_record(conn, form.endpoint, form.key, division=form.division, dry_run=form.dry_run)
    rows = [plain(done.record)] if done.record is not None else []
    if form.dry_run:
        summary = f"This request would delete {done.endpoint} {done.key} (the record below)."
        return Result("Dry run: nothing was sent", rows, summary, str(done.request), slug="delete")
    summary = f"Deleted {done.endpoint} {done.key} from division {done.division}. It was:"
    return Result("Record deleted", rows, summary, slug="delete")


def _get(conn: ActionContext, form: ActionForm) -> Result:
    filter, top = form.filter or None, None if form.everything or form.key else form.top
    if by_key(form.endpoint, form.key, filter=filter, top=top, all=form.everything):
        record = get_record(conn, form.endpoint, form.key, division=form.division, select=form.select or None)
        return Result(f"{form.endpoint} {form.key}", [plain(record)], "One record.", slug="get")
    found = list_records(
        conn,
        form.endpoint,
        division=form.division,
        select=form.select or None,
        filter=filter,
        top=top,
        all=form.everything,
    )
    rows: list[dict[str, Any]] = [plain(r) for r in islice(found, MAX_ROWS + 1)]
    more = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    problems = [f"division {number}: {error}" for number, error in found.errors]
    summary = f"{len(rows)} record(s) from {found.endpoint.path} in division(s) "
    summary += ", ".join(str(d) for d in found.divisions) + "."
    export: list[tuple[str, str]] = []
    if more:
        summary = (
            f"The first {MAX_ROWS:,} records of {found.endpoint.path} are shown; there are more. "
            "Download all of them as a file below (read page by page, as `exactmate get --all` does)."
        )
        export = _export_fields(form)
    return Result(found.endpoint.path, rows, summary, None, problems, slug="list", export=export)


def _export_fields(form: ActionForm) -> list[tuple[str, str]]:
    """The listing's query as the export form's hidden fields."""
    fields = [("action", "get"), ("credential", form.credential), ("division", form.division)]
    fields += [("endpoint", form.endpoint), ("filter", form.filter)]
    fields += [("select", name) for name in form.select]
    fields.append(("all", "1") if form.everything else ("top", str(form.top or "")))
    return fields


def _status(exc: ExactmateError) -> int:
    """400 for input refused here; 502 for what Exact (or the way to it) answered."""
    return 400 if isinstance(exc, ValidationError | VaultError | ConfigError) else 502


def _error(exc: ExactmateError) -> dict[str, Any]:
    """The problem as the page shows it: Exact's own message when Exact answered."""
    if isinstance(exc, APIStatusError):
        title = f"Exact Online answered HTTP {exc.status_code}"
        return {
            "title": title,
            "message": exc.exact_message,
            "reason": exc.reason,
            "problems": [],
            "hint": None,
        }
    if isinstance(exc, ValidationError):
        return {
            "title": "Nothing was sent",
            "message": exc.message,
            "reason": None,
            "problems": exc.problems,
            "hint": exc.hint,
        }
    return {
        "title": "The action failed",
        "message": exc.message,
        "reason": None,
        "problems": [],
        "hint": exc.hint,
    }
