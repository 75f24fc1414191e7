"""Create from a file: upload a CSV, JSON or NDJSON file of time entries on the Create form, see
each row with its check, then book them while the page shows the progress.

The rows are read by the command line's reader (``actions.sources.parse_entries``: delimiter and
encoding detection included) and checked by a dry run of ``create_time_transactions``, the very
function ``exactmate time create --file`` runs: every row's problems, the lookups by code or name,
and which rows the create journal knows as booked earlier. Booking runs that function for real,
journaled under the same rule as the command line, so a file booked here or there is never booked
twice, whatever was edited in it.

``POST /actions/upload`` (the file; answers the preview), ``POST /actions/upload/{id}/book`` (starts
the booking), ``GET /actions/upload/{id}`` (its progress; the results once done).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from exactmate.actions.context import open_connection
from exactmate.actions.presentation import cell, plain
from exactmate.actions.sources import EntrySource, FileFormat, detect_format, parse_entries
from exactmate.actions.timecreate import CreateResult, create_time_transactions
from exactmate.errors import ExactmateError, ValidationError
from exactmate.web.context import UiContext, ui
from exactmate.web.results import Result, columns_of
from exactmate.web.security import UploadTooLarge, browser_id, read_upload
from exactmate.web.templating import fragment
from exactmate.web.uploads import Progress, Upload, Uploads

router = APIRouter()

PREVIEW_ROWS = 500
"""Rows shown in the preview table at most (every row is checked)."""
DELIMITERS = {"": None, "comma": ",", "semicolon": ";", "tab": "\t"}
_ROW_PROBLEM = re.compile(r"^row (\d+):? (.*)$", re.S)
_LABELS = {
    "planned": "ready",
    "skipped": "booked earlier",
    "changed": "changed since booked",
    "invalid": "cannot be booked",
}


@dataclass
class PreviewRow:
    number: int
    values: dict[str, Any]
    status: str = "planned"
    messages: list[str] = field(default_factory=list)
    record_id: str | None = None

    @property
    def label(self) -> str:
        return _LABELS.get(self.status, self.status)


def _uploads(request: Request) -> Uploads:
    uploads: Uploads = ui(request).uploads
    return uploads


def _answer(request: Request, status: int = 200, **context: Any) -> JSONResponse:
    html = fragment(request, "_upload.html", **context)
    return JSONResponse(
        {"html": html, **{k: v for k, v in context.items() if k in ("ok", "upload_id")}}, status
    )


@router.post("/actions/upload")
async def upload(request: Request) -> Response:
    """Read and check an entry file; answers the preview (and, when every row can be booked, the
    upload's id to book it with). Nothing is created here."""
    try:
        name, data, form = await read_upload(request, "file")
        name = PurePath(name).name[:120] or "upload"  # shown and named in messages: no path, not endless
    except UploadTooLarge as exc:
        return _answer(request, 413, ok=False, error=str(exc))
    credential = _text(form.get("credential"))
    division = _text(form.get("division")) or "current"
    delimiter_choice = _text(form.get("delimiter"))
    if not data:
        return _answer(request, 400, ok=False, error="Choose a CSV, JSON or NDJSON file of entries first.")
    try:
        if delimiter_choice not in DELIMITERS:
            raise ValidationError(
                f"Unknown separator {delimiter_choice!r}", hint="choose comma, semicolon or tab"
            )
        delimiter = DELIMITERS[delimiter_choice]
        fmt = _format(name, _text(form.get("file_format")))
        entries = parse_entries(data, fmt, name=name, delimiter=delimiter)
    except ValidationError as exc:
        return _answer(request, 400, ok=False, error=exc.message, problems=exc.problems, hint=exc.hint)
    rows, general, planned = await run_in_threadpool(_check, ui(request), entries, credential, division)
    ok = not general and all(r.status != "invalid" for r in rows)
    stored = None
    if ok and planned:
        stored = _uploads(request).add(
            browser_id(request),
            data,
            name=name,
            file_format=fmt,
            delimiter=entries.delimiter,
            credential=credential,
            division=division,
            rows=len(entries),
        )
    return _answer(
        request,
        200 if ok else 400,
        ok=ok,
        upload_id=stored.id if stored else None,
        name=name,
        entries=entries,
        rows=rows[:PREVIEW_ROWS],
        total=len(rows),
        columns=columns_of(r.values for r in rows[:PREVIEW_ROWS]),
        counts=_counts(rows),
        general=general,
        planned=planned,
        credential=credential,
        division=division,
        cell=cell,
    )


def _check(
    context: UiContext, entries: EntrySource, credential: str, division: str
) -> tuple[list[PreviewRow], list[str], int]:
    """Each row with its check (a dry run of the create), the problems no row is named in, and how
    many rows would be sent."""
    rows = {
        row.number: PreviewRow(row.number, {k: plain(v) for k, v in row.values.items()}) for row in entries
    }
    general: list[str] = []
    try:
        with _connection(context, credential) as conn:
            result = create_time_transactions(conn, entries, division=division, dry_run=True)
    except ValidationError as exc:
        for problem in exc.problems or [exc.message]:
            found = _ROW_PROBLEM.match(problem)
            if found and int(found.group(1)) in rows:
                row = rows[int(found.group(1))]
                row.status = "invalid"
                row.messages.append(found.group(2))
            else:
                general.append(problem)
        if exc.hint:
            general.append(f"How to fix: {exc.hint}")
        return list(rows.values()), general, 0
    except ExactmateError as exc:
        return list(rows.values()), [str(exc)], 0
    for outcome in result.outcomes:
        row = rows[outcome.row]
        row.status = outcome.status
        row.record_id = outcome.record_id
        if outcome.message:
            row.messages.append(outcome.message)
    return list(rows.values()), general, len([o for o in result.outcomes if o.status == "planned"])


def _connection(context: UiContext, credential: str) -> Any:
    return open_connection(
        credential or None,
        settings=context.settings,
        clock=context.clock,
        transport=context.transport,
    )


def _counts(rows: Sequence[PreviewRow]) -> dict[str, int]:
    """How many rows have each check, in a fixed order (ready first)."""
    order = list(_LABELS.values())
    counts: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: order.index(r.label) if r.label in order else len(order)):
        counts[row.label] = counts.get(row.label, 0) + 1
    return counts


@router.post("/actions/upload/{upload_id}/book")
def book(request: Request, upload_id: str) -> Response:
    """Start booking a previewed upload; answers its progress. A second press while it is booking is
    refused and says so; a press after it finished runs again and books only what is still new."""
    found = _uploads(request).get(upload_id, browser_id(request))
    if found is None:
        return JSONResponse({"error": "This upload is unknown or expired: choose the file again."}, 404)
    context = ui(request)

    def work(progress: Progress) -> CreateResult:
        with _connection(context, found.credential) as conn:
            return create_time_transactions(conn, found.entries(), division=found.division, progress=progress)

    booking = _uploads(request).book(found, work)
    if booking is None:
        return JSONResponse({"error": f"{found.name} is being booked already: wait for that run."}, 409)
    return progress(request, upload_id)


@router.get("/actions/upload/{upload_id}")
def progress(request: Request, upload_id: str) -> Response:
    """How far the booking is: ``{"status": "running", "done": 12, "total": 20}``; when finished, the
    results as the page shows them (``html``)."""
    found = _uploads(request).get(upload_id, browser_id(request))
    if found is None or found.booking is None:
        return JSONResponse({"error": "No booking of this upload is known: choose the file again."}, 404)
    booking = found.booking
    answer: dict[str, Any] = {"done": booking.done, "total": booking.total}
    if booking.future is None or not booking.future.done():
        return JSONResponse({"status": "running", **answer})
    error = booking.future.exception()
    if error is not None:
        message = (
            str(error)
            if isinstance(error, ExactmateError)
            else f"The booking failed ({type(error).__name__})."
        )
        html = fragment(
            request,
            "_upload.html",
            ok=False,
            error=message,
            problems=getattr(error, "problems", []),
        )
        return JSONResponse({"status": "failed", "html": html, **answer})
    result = ui(request).results.add(_booked(found, booking.future.result()))
    html = fragment(request, "_result.html", result=result, error=None)
    return JSONResponse({"status": "finished", "ok": booking.future.result().ok, "html": html, **answer})


def _booked(upload: Upload, result: CreateResult) -> Result:
    rows = []
    for outcome in result.outcomes:
        row = plain(outcome.as_dict())
        row.pop("request", None)
        rows.append(row)
    counts = {
        "created": result.created,
        "booked earlier": result.skipped,
        "changed": result.changed,
        "pending": result.pending,
        "failed": result.failed,
    }
    said = ", ".join(
        f"{len(found)} {label}" for label, found in counts.items() if found or label == "created"
    )
    summary = f"{upload.name}: {len(result.outcomes)} entries, {said}."
    problems = [f"row {o.row}: {o.message}" for o in result.failed + result.pending + result.changed]
    if result.changed:
        problems.append(
            "A changed entry was booked earlier with other values and is not booked again: change it "
            "with Update (or `exactmate time update ID --set Field=Value`)."
        )
    title = "Entries booked" if result.ok else "Not every entry was booked"
    return Result(title, rows, summary, None, problems, slug="create-file")


def _format(name: str, chosen: str) -> FileFormat:
    """The format chosen on the form, else the one the file's name says."""
    try:
        return detect_format(name, chosen or None)
    except ValidationError as exc:
        hint = "name the file .csv, .json or .ndjson, or choose its format next to the file"
        raise ValidationError(exc.message, hint=hint) from None


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
