"""History → Flow runs: every run of every flow, newest first, and one run's steps as a timeline.

Read-only, from the run history (``exactmate.flows.history``: DBOS's system database, read through
its client, so the web UI launches no engine). The same data as ``exactmate flow runs`` and
``exactmate flow show RUN_ID``; a failed run names the command that goes on from its failed step.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from exactmate.errors import ValidationError
from exactmate.flows.history import DBOS_STATUS, RunDetail, RunHistory, RunSummary
from exactmate.web.context import ui
from exactmate.web.templating import render

router = APIRouter()

LIMITS = (50, 200, 1000)


@router.get("/runs", response_class=HTMLResponse)
def run_list(request: Request, flow: str = "", status: str = "", limit: int = 50) -> Response:
    """The runs: flow, trigger, status, start and end (local time)."""
    filters = {"flow": flow, "status": status}
    problem = None
    found: list[RunSummary] = []
    try:
        history = RunHistory(ui(request).settings)
        found = history.runs(
            flow.strip() or None, status=status or None, limit=max(1, min(limit, LIMITS[-1]))
        )
    except ValidationError as exc:
        problem = str(exc)
    return render(
        request,
        "run_list.html",
        section="runs",
        rows=found,
        filters=filters,
        limit=limit,
        limits=LIMITS,
        statuses=sorted(DBOS_STATUS),
        problem=problem,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_detail(request: Request, run_id: str) -> Response:
    """One run: its steps in order, each with its status, time, inputs, result or error."""
    try:
        detail: RunDetail = RunHistory(ui(request).settings).show(run_id)
    except ValidationError as exc:
        return render(
            request, "error.html", status_code=404, section="runs", title="No such run", message=str(exc)
        )
    return render(request, "run_detail.html", section="runs", run=detail)
