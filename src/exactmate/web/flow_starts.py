"""The runs the web UI starts (Flows → Run now): one flow engine for the UI's process, opened when the
first run is started and closed when the UI stops.

The engine is the one ``exactmate flow run`` uses (DBOS, the same system database and queue), with
the executor id ``ui``: a run the UI was running when it was stopped is taken up again the next time
the UI starts a run, and any other process serving the queue (``exactmate flow serve``) may run a
queued run too. With the store on PostgreSQL the UI runs nothing itself: it queues the run for the
workers (``exactmate worker``) as ``flow run`` does (``flows.handoff``). The page does not wait for
the run: it goes to the run's timeline, which shows its steps as they are checkpointed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exactmate.clock import Clock
    from exactmate.config import Settings
    from exactmate.flows import Flow
    from exactmate.flows.engine import FlowEngine
    from exactmate.flows.handoff import Handoff

EXECUTOR_ID = "ui"


class FlowStarts:
    """Starts runs for one web app; ``close`` stops its engine (a run in progress stays this UI's and
    goes on at its next Run now, or through ``exactmate worker --recover ui``)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self._settings = settings
        self._clock = clock
        self._engine: FlowEngine | None = None
        self._handoff: Handoff | None = None
        self._lock = threading.Lock()

    def start(self, flow: Flow, trigger: Mapping[str, Any]) -> str:
        """Queue a run of ``flow`` with ``trigger``; its id."""
        from exactmate.flows.handoff import Handoff, uses_workers

        if uses_workers(self._settings):  # PostgreSQL: the workers run it
            with self._lock:
                if self._handoff is None:
                    self._handoff = Handoff(self._settings)
                handoff = self._handoff
            return handoff.submit(flow, trigger)
        return self._open().start(flow, trigger).run_id

    def _open(self) -> FlowEngine:
        from exactmate.flows.engine import FlowEngine

        with self._lock:
            if self._engine is None:
                self._engine = FlowEngine(self._settings, executor_id=EXECUTOR_ID, clock=self._clock).open()
            return self._engine

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
            handoff, self._handoff = self._handoff, None
        if engine is not None:
            engine.close()
        if handoff is not None:
            handoff.close()
