"""Runs handed to the workers: with the store on PostgreSQL, ``exactmate flow run`` queues its run in
DBOS's system database through DBOS's client and waits for a worker (``exactmate worker``) to run it,
without running anything itself.

The run is the same as one a flow engine queues (``engine.run_arguments``, ``engine.partition_of``):
the same workflow, queue, division partition, application and version, so the same flow file runs
unchanged on one SQLite process and on N workers. A system database that no worker has created yet
is created here (DBOS's own migrations), so the run waits for the first worker to start.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from exactmate.flows.engine import (
    APP_NAME,
    APP_VERSION,
    QUEUE,
    RESULT_POLL,
    WORKFLOW,
    FlowEngineError,
    new_run_id,
    partition_of,
    quiet_dbos,
    run_arguments,
    system_database_url,
    without_secrets,
)

if TYPE_CHECKING:
    from exactmate.config import Settings
    from exactmate.flows.definition import Flow

UNCLAIMED_AFTER = 5.0
"""Seconds a handed-over run may wait for a worker before ``flow run`` says that none is taking it."""

ENDED = {"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}


def uses_workers(settings: Settings) -> bool:
    """Whether runs go to the workers: the store (and so DBOS's system database) is on a server."""
    return not system_database_url(settings).startswith("sqlite:")


class Handoff:
    """Queues runs for the workers and waits for their end, through DBOS's client (no engine here)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = system_database_url(settings)
        self._client = self._connect()

    def _connect(self) -> Any:
        from dbos import DBOS, DBOSClient

        quiet_dbos()
        try:
            return DBOSClient(system_database_url=self.url, application_name=APP_NAME)
        except Exception:  # no system database yet: DBOS creates it, as a worker's start would
            pass
        try:
            DBOS.migrate(self.url)
            return DBOSClient(system_database_url=self.url, application_name=APP_NAME)
        except Exception as exc:
            raise FlowEngineError(
                f"cannot reach the flows' system database: {without_secrets(exc, self.url)}",
                hint="check EXACTMATE_DB and that the PostgreSQL server answers: exactmate worker --check",
            ) from None

    def close(self) -> None:
        self._client.destroy()

    def __enter__(self) -> Handoff:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, flow: Flow, trigger: Mapping[str, Any], *, run_id: str | None = None) -> str:
        """Queue a run of ``flow`` for the workers; its id (an id that exists already queues nothing)."""
        run_id = run_id or new_run_id(flow)
        options: Any = {
            "workflow_name": WORKFLOW,
            "queue_name": QUEUE,
            "workflow_id": run_id,
            "queue_partition_key": partition_of(flow),
            "app_version": APP_VERSION,
            "application_name": APP_NAME,
        }
        self._client.enqueue(options, *run_arguments(flow, trigger))
        return run_id

    def fork(self, run_id: str, start_step: int) -> str:
        """A new run of the same pinned flow and trigger that reuses ``run_id``'s steps before
        ``start_step``, queued for the workers in the same division's partition; its id."""
        from dbos import SetWorkflowID

        found = self._client.list_workflows(workflow_ids=[run_id], load_input=False, load_output=False)
        if not found:
            raise FlowEngineError(f"no run {run_id}", hint="see the runs: exactmate flow runs")
        new_id = f"{run_id.partition(':')[0]}:rerun:{uuid.uuid4().hex[:12]}"
        with SetWorkflowID(new_id):
            handle = self._client.fork_workflow(
                run_id,
                start_step,
                application_version=APP_VERSION,
                queue_name=QUEUE,
                queue_partition_key=found[0].queue_partition_key or "current",
            )
        return str(handle.workflow_id)

    def status(self, run_id: str) -> str:
        """DBOS's status of the run (``ENQUEUED``, ``PENDING``, ``SUCCESS``, ``ERROR``, …), read
        without its input (the pinned flow and its rows)."""
        found = self._client.list_workflows(workflow_ids=[run_id], load_input=False, load_output=False)
        if not found:
            raise FlowEngineError(f"no run {run_id}", hint="see the runs: exactmate flow runs")
        return str(found[0].status)

    def wait(
        self,
        run_id: str,
        *,
        unclaimed: Callable[[float], None] | None = None,
        unclaimed_after: float = UNCLAIMED_AFTER,
        poll: float = RESULT_POLL * 5,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Any:
        """The run's result when it ends (raises its failure). ``unclaimed(seconds)`` is called once
        when no worker has taken the run ``unclaimed_after`` seconds after the wait began."""
        started = monotonic()
        told = False
        while (status := self.status(run_id)) not in ENDED:
            waited = monotonic() - started
            if status == "ENQUEUED" and not told and waited >= unclaimed_after:
                told = True
                if unclaimed is not None:
                    unclaimed(waited)
            sleep(poll)
        return self._client.retrieve_workflow(run_id).get_result(polling_interval_sec=poll)
