"""The run history: every run and each of its steps, read from DBOS's system database.

A run's workflow id is ``<flow>:<trigger>:<id>`` (``friday-hours:manual:3f2a…``), so the runs of one
flow are found by their prefix. Each step's record (its resolved inputs, output, error, items done
and failed) is the output DBOS checkpointed for it. Reading the history launches no engine: it uses
DBOS's client on the system database, and a missing database means no runs yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exactmate.errors import ValidationError
from exactmate.flows.engine import WORKFLOW, quiet_dbos, system_database_url

if TYPE_CHECKING:
    from exactmate.config import Settings

STATUS = {
    "ENQUEUED": "queued",
    "DELAYED": "queued",
    "PENDING": "running",
    "SUCCESS": "succeeded",
    "ERROR": "failed",
    "CANCELLED": "cancelled",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed",
}
DBOS_STATUS = {ours: [k for k, v in STATUS.items() if v == ours] for ours in set(STATUS.values())}


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    flow: str
    trigger: str
    status: str
    started: float | None
    ended: float | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "flow": self.flow,
            "trigger": self.trigger,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "error": self.error,
        }


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    steps: list[dict[str, Any]] = field(default_factory=list)
    restart_at: int | None = None
    """The DBOS step number a rerun starts from: the first that failed (None: none failed)."""

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary.as_dict(), "steps": self.steps}


def _has_runs_table(path: Path) -> bool:
    import sqlite3

    if not path.exists():
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'workflow_status'")
        return found.fetchone() is not None
    finally:
        conn.close()


class RunHistory:
    """The runs kept in the system database of ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = system_database_url(settings)

    def exists(self) -> bool:
        """Whether there can be runs: on SQLite, the file with DBOS's tables in it (a flow engine
        starting for the first time creates the file before its tables)."""
        if self.url.startswith("sqlite:///"):
            return _has_runs_table(Path(self.url.removeprefix("sqlite:///")))
        return True

    def _open(self) -> Any:
        from dbos import DBOSClient

        quiet_dbos()
        return DBOSClient(system_database_url=self.url)

    @contextmanager
    def _client(self) -> Iterator[Any]:
        client = self._open()
        try:
            yield client
        finally:
            client.destroy()

    def runs(
        self, flow: str | None = None, *, status: str | None = None, limit: int = 20
    ) -> list[RunSummary]:
        if status is not None and status not in DBOS_STATUS:
            raise ValidationError(
                f"Unknown run status {status!r}", hint=f"one of {', '.join(sorted(DBOS_STATUS))}"
            )
        if not self.exists():
            return []
        try:
            client = self._open()
            try:
                found = client.list_workflows(
                    name=WORKFLOW,
                    workflow_id_prefix=f"{flow}:" if flow else None,
                    status=DBOS_STATUS[status] if status else None,
                    limit=limit,
                    sort_desc=True,
                    load_input=False,
                    load_output=False,
                )
            finally:
                client.destroy()
        except Exception as exc:
            if _no_database(exc):  # PostgreSQL: no flow engine has created it yet
                return []
            raise
        return [_summary(w) for w in found]

    def show(self, run_id: str) -> RunDetail:
        if not self.exists():
            raise _unknown(run_id)
        with self._client() as client:
            found = client.list_workflows(workflow_ids=[run_id], load_input=False, load_output=True)
            if not found:
                raise _unknown(run_id)
            steps = client.list_workflow_steps(run_id)
        records: list[dict[str, Any]] = []
        restart_at = None
        for step in steps:
            output = step.get("output")
            failed = step.get("error") is not None or (
                isinstance(output, dict) and output.get("status") == "failed"
            )
            if failed and restart_at is None:
                restart_at = int(step["function_id"])
            if isinstance(output, dict) and "status" in output:
                records.append(output)
        return RunDetail(_summary(found[0]), records, restart_at)

    def cancel(self, run_id: str) -> RunSummary:
        detail = self.show(run_id)
        if detail.summary.status in ("succeeded", "failed", "cancelled"):
            raise ValidationError(
                f"Run {run_id} has ended ({detail.summary.status}); there is nothing to cancel",
                hint=f"see it with: exactmate flow show {run_id}",
            )
        with self._client() as client:
            client.cancel_workflow(run_id)
        return self.show(run_id).summary


def _no_database(exc: BaseException) -> bool:
    """Whether the server said the system database does not exist (no flow engine has made it yet)."""
    text = str(exc)
    return "database" in text and "does not exist" in text


def _summary(workflow: Any) -> RunSummary:
    flow, _, rest = str(workflow.workflow_id).partition(":")
    trigger = rest.partition(":")[0] or "?"
    error = workflow.error
    return RunSummary(
        run_id=str(workflow.workflow_id),
        flow=flow,
        trigger=trigger,
        status=STATUS.get(str(workflow.status), str(workflow.status).lower()),
        started=workflow.created_at / 1000 if workflow.created_at else None,
        ended=workflow.updated_at / 1000
        if workflow.updated_at and workflow.status in ("SUCCESS", "ERROR", "CANCELLED")
        else None,
        error=str(error) if error is not None else None,
    )


def _unknown(run_id: str) -> ValidationError:
    return ValidationError(f"No run {run_id!r}", hint="list the runs with: exactmate flow runs")
