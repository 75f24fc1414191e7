"""Flows: the flow files of ``$EXACTMATE_HOME/flows`` as ``exactmate flow serve`` would load them,
each with its trigger, the next time its schedule fires, whether it is valid (and why not), and its
last run; and Run now: a form of the flow's declared inputs (a file input is an upload), checked as
``exactmate flow run`` checks them (``flows.inputs``), that starts a run and opens its timeline.

Run now starts a manual run of a flow with a manual or schedule trigger; the other triggers (http,
Exact's events) run on what they receive, through ``exactmate flow serve``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from exactmate.errors import ExactmateError, ValidationError
from exactmate.flows import Flow, FlowError, load_flow
from exactmate.flows.history import RunHistory
from exactmate.flows.inputs import Given, manual_trigger
from exactmate.flows.schedule import ticks_between
from exactmate.web.context import ui
from exactmate.web.security import UploadTooLarge, read_uploads
from exactmate.web.templating import render

router = APIRouter()

RUNNABLE = ("manual", "schedule")
"""The triggers whose flows Run now starts (with the manual trigger's inputs)."""


def flow_rows(folder: Path, history: RunHistory, now: datetime) -> list[dict[str, Any]]:
    """One row per flow file: its name, trigger, next tick, validity and last run."""
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        row: dict[str, Any] = {"file": path.name, "problems": [], "cron": None, "next": None, "last": None}
        try:
            flow = load_flow(path.read_text(encoding="utf-8"), source=path.name)
        except FlowError as exc:
            row["problems"] = exc.problems
            rows.append(row)
            continue
        row.update(
            name=flow.name,
            description=flow.description,
            trigger=flow.trigger.kind,
            steps=len(flow.steps),
            runnable=flow.trigger.kind in RUNNABLE,
        )
        if flow.trigger.kind == "schedule":
            cron = flow.trigger.options["cron"]
            row["cron"] = cron
            upcoming = ticks_between(cron, flow.timezone, now, now + timedelta(days=400))
            row["next"] = upcoming[0].timestamp() if upcoming else None
        last = history.runs(flow.name, limit=1)
        row["last"] = last[0] if last else None
        rows.append(row)
    return rows


@router.get("/flows", response_class=HTMLResponse)
def flow_list(request: Request) -> Response:
    settings = ui(request).settings
    folder = settings.home / "flows"
    rows = flow_rows(folder, RunHistory(settings), datetime.now(UTC))
    return render(request, "flow_list.html", section="flows", rows=rows, folder=str(folder))


def _flow_file(folder: Path, file: str) -> Path | None:
    """The flow file called ``file`` in ``folder`` (a name listed on the page, never a path)."""
    found = {p.name: p for p in folder.glob("*.y*ml")} if folder.is_dir() else {}
    return found.get(file)


def _runnable(request: Request, file: str) -> Flow | Response:
    """The flow of ``file``, or the page saying why it cannot be run from here."""
    folder = ui(request).settings.home / "flows"
    path = _flow_file(folder, file)
    if path is None:
        return _refused(request, 404, "No such flow", f"There is no flow file {file!r} in {folder}.")
    try:
        flow = load_flow(path.read_text(encoding="utf-8"), source=path.name)
    except FlowError as exc:
        return _refused(request, 422, "Flow not valid", str(exc))
    if flow.trigger.kind not in RUNNABLE:
        return _refused(
            request,
            409,
            "Runs on its trigger",
            f"Flow {flow.name} runs on its {flow.trigger.kind} trigger, through exactmate flow serve; "
            "Run now starts flows with a manual or schedule trigger.",
        )
    return flow


def _refused(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", status, section="flows", title=title, message=message)


def _form(
    request: Request,
    flow: Flow,
    file: str,
    values: dict[str, str],
    status: int = 200,
    problems: list[str] | None = None,
) -> Response:
    fields = [
        {"name": name, "type": str(spec.get("type", "string")), "required": bool(spec.get("required", True))}
        for name, spec in flow.trigger.inputs.items()
    ]
    return render(
        request,
        "flow_run.html",
        status,
        section="flows",
        flow=flow,
        file=file,
        fields=fields,
        values=values,
        problems=problems or [],
    )


@router.get("/flows/{file}/run", response_class=HTMLResponse)
def run_form(request: Request, file: str) -> Response:
    """The Run now form: the flow's declared inputs."""
    flow = _runnable(request, file)
    return flow if isinstance(flow, Response) else _form(request, flow, file, {})


@router.post("/flows/{file}/run", response_class=HTMLResponse)
async def run_now(request: Request, file: str) -> Response:
    """Check the inputs (every problem shown on the form, nothing started), start the run, and
    open its timeline."""
    flow = _runnable(request, file)
    if isinstance(flow, Response):
        return flow
    declared = flow.trigger.inputs
    file_inputs = [n for n, spec in declared.items() if spec.get("type") == "file"]
    try:
        uploads, form = await read_uploads(request, [f"input.{n}" for n in file_inputs])
    except UploadTooLarge as exc:
        return _form(request, flow, file, {}, 413, problems=[str(exc)])
    values = {n: str(form.get(f"input.{n}") or "") for n in declared if n not in file_inputs}
    given: list[Given] = [Given(n, text=v) for n, v in values.items() if v.strip()]
    problems: list[str] = []
    for name in file_inputs:
        upload = uploads.get(f"input.{name}")
        if upload is None or not upload[1]:
            continue
        try:
            given.append(Given(name, rows=_rows(*upload)))
        except ValidationError as exc:
            problems += [f"input {name!r}: {exc.message}", *exc.problems]
    try:
        trigger = manual_trigger(flow, given, _field)
    except ValidationError as exc:
        problems += exc.problems
    if problems:
        return _form(request, flow, file, values, 422, problems=problems)
    context = ui(request)
    try:
        await run_in_threadpool(_check_credential, flow, context.settings)
        run_id = await run_in_threadpool(context.flow_starts.start, flow, trigger)
    except ExactmateError as exc:
        return _form(request, flow, file, values, 422, problems=[str(exc)])
    context.flashes.add(request, "ok", f"Run {run_id} of {flow.name} started.")
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


def _rows(name: str, data: bytes) -> list[dict[str, Any]]:
    from exactmate.actions.sources import detect_format, parse_entries

    return [dict(r.values) for r in parse_entries(data, detect_format(name), name=name).rows]


def _check_credential(flow: Flow, settings: Any) -> None:
    from exactmate.flows.engine import check_credential

    check_credential(flow, settings)


def _field(name: str, kind: str) -> str:
    return f"the {name} field ({'a CSV, JSON or NDJSON file' if kind == 'file' else kind})"
