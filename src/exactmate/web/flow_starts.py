"""The runs the web UI starts (Flows → Run now): one flow engine for the UI's process, opened when the
first run is started and closed when the UI stops.

The engine is the one ``exactmate flow run`` uses (DBOS, the same system database and queue), with
the executor id ``ui``: a run the UI was running when it was stopped is taken up again the next time
the UI starts a run, and any other process serving the queue (``exactmate flow serve``) may run a
queued run too. The page does not wait for the run: it goes to the run's timeline, which shows its
steps as they are checkpointed.
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

EXECUTOR_ID = "ui"


class FlowStarts:
    """Starts runs for one web app; ``close`` stops its engine (a run in progress is handed back)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self._settings = settings
        self._clock = clock
        self._engine: FlowEngine | None = None
        self._lock = threading.Lock()

    def start(self, flow: Flow, trigger: Mapping[str, Any]) -> str:
        """Queue a run of ``flow`` with ``trigger``; its id."""
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
        if engine is not None:
            engine.close()
