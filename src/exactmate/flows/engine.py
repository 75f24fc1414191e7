"""The flow engine: DBOS Transact, set up in one place, running flows as durable workflows.

A run is the DBOS workflow ``exactmate.flow``, which interprets the flow text *pinned* at start (the
text and its SHA-256 are the workflow's input), so a run recovered after a crash replays the same
steps even if the file changed since. Each step is one DBOS step: its record is checkpointed before
the next step starts, every call to Exact happens inside one, and a recovered run continues after the
last checkpointed step (a create step that was cut off is run again, and the create journal, scoped
to the flow, keeps its booked rows from being booked twice). Run ids come from the trigger (a manual
run's id, a schedule's tick), and DBOS starts a workflow id only once, so one event never starts two
runs. Runs wait on the DBOS queue ``exactmate-flows``, partitioned by division, so one division's
long run does not hold up another's.

DBOS's own database (its system database) is a SQLite file beside exactmate's, ``flows.sqlite`` under
``EXACTMATE_HOME``; when the store is PostgreSQL, it is the database ``<store database>_flows`` on the
same server, so every process sharing the store shares the runs. DBOS keeps process-wide state:
``FlowEngine`` launches it and ``close`` destroys it, and only one engine is open at a time.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from exactmate.errors import ExactmateError, ValidationError
from exactmate.flows.definition import Flow, Step, load_flow
from exactmate.flows.interpreter import FlowRunFailed, Interpreter, Record
from exactmate.flows.schedule import missed_ticks, tick_of, tick_run_id

if TYPE_CHECKING:
    from exactmate.actions import ActionContext
    from exactmate.clock import Clock
    from exactmate.config import Settings

WORKFLOW = "exactmate.flow"
QUEUE = "exactmate-flows"
APP_NAME = "exactmate"  # DBOS's application name: the owner of the queue and of every run
APP_VERSION = "exactmate-flows-1"  # one version for every process, so any worker recovers any run
DEFAULT_CONCURRENCY = 4
"""Runs one process takes from the queue at once, unless ``exactmate worker --concurrency`` set
another number: DBOS keeps this limit with the queue in the system database (one for every worker)."""
RESULT_POLL = 0.02  # seconds between looks at a run's end while waiting for it (DBOS's default: 1 s)
RETRY_INTERVAL = 1.0  # seconds before a step's first retry; DBOS doubles it each time


class StepFailed(Exception):
    """Raised inside a step whose policy is ``retry``, so that DBOS runs it again; the argument is
    the failed attempt's record as JSON (an exception of one text argument survives DBOS's storage)."""


class FlowEngineError(ExactmateError):
    """The engine cannot start or cannot find a run."""


def run_arguments(flow: Flow, trigger: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """The workflow's input for a run of ``flow``: the pinned flow, the trigger, the options. One
    home for what a run is handed, whether this process queues it or a client does."""
    pinned = {"name": flow.name, "text": flow.text, "source": flow.source, "digest": flow.digest}
    return pinned, dict(trigger), {}


def partition_of(flow: Flow) -> str:
    """The queue partition a run of ``flow`` waits in: its division (``current`` when not fixed)."""
    return str(flow.division or "current")


def new_run_id(flow: Flow) -> str:
    return f"{flow.name}:manual:{uuid.uuid4().hex[:12]}"


def system_database_url(settings: Settings) -> str:
    """Where DBOS keeps its runs: ``flows.sqlite`` under the home, or ``<database>_flows`` beside a
    PostgreSQL store."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.db_url)
    if url.get_backend_name() == "postgresql":
        return url.set(database=f"{url.database}_flows").render_as_string(hide_password=False)
    return f"sqlite:///{settings.home / 'flows.sqlite'}"


# -- the workflow -----------------------------------------------------------------------------------

_engine_lock = threading.Lock()
_current: FlowEngine | None = None


_workflow: Any = None  # the DBOS workflow function, declared once per process


def _register() -> Any:
    """Declare the workflow with DBOS (once per process, before DBOS is launched)."""
    global _workflow
    from dbos import DBOS

    if _workflow is not None:
        return _workflow

    @DBOS.workflow(name=WORKFLOW)
    def flow_workflow(
        pinned: dict[str, Any], trigger: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        engine = _current
        if engine is None:  # pragma: no cover - DBOS runs workflows only while an engine is open
            raise FlowEngineError("no flow engine is open in this process")
        return engine.interpret(pinned, trigger, options)

    _workflow = flow_workflow
    return _workflow


TICK_WORKFLOW = "exactmate.tick"
_tick: Any = None


def _register_tick() -> Any:
    """The workflow DBOS's scheduler fires per tick: it starts the flow's run for that tick."""
    global _tick
    from dbos import DBOS

    if _tick is not None:
        return _tick

    @DBOS.workflow(name=TICK_WORKFLOW)
    def tick(scheduled: datetime, context: dict[str, Any]) -> None:
        engine = _current
        if engine is None:  # pragma: no cover - DBOS runs workflows only while an engine is open
            raise FlowEngineError("no flow engine is open in this process")
        flow = _pinned_flow(context["text"], context["source"])
        engine.start(
            flow,
            {"kind": "schedule", "tick": scheduled.isoformat()},
            run_id=tick_run_id(flow.name, scheduled),
        )

    _tick = tick
    return _tick


@lru_cache(maxsize=64)
def _pinned_flow(text: str, source: str) -> Flow:
    return load_flow(text, source=source)


@dataclass(frozen=True)
class RunHandle:
    run_id: str
    flow: str


class FlowEngine:
    """DBOS launched for this process, and the flows it runs. Use as a context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        executor_id: str = "local",
        retry_interval: float = RETRY_INTERVAL,
        scheduler_poll: float = 30.0,
        clock: Clock | None = None,
        concurrency: int | None = None,
    ):
        """``concurrency``: None takes runs under the queue's stored per-worker limit; 0 takes no run
        from the queue (the process only queues runs and fires schedules); N > 0 stores N as that
        limit for every worker (DBOS keeps it with the queue)."""
        self.settings = settings
        self.executor_id = executor_id
        self.concurrency = concurrency
        self._draining = threading.Event()
        self._parked: set[str] = set()
        self._parked_lock = threading.Lock()
        self.retry_interval = retry_interval
        self.scheduler_poll = scheduler_poll
        self.clock = clock  # the steps' connections' clock (None: the system's)
        self._connections: dict[tuple[str, str | None], ActionContext] = {}
        self._connections_lock = threading.Lock()
        self._queue: Any = None
        self._engine: Any = None  # the SQLite system database's engine, when exactmate made it

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> FlowEngine:
        global _current
        from dbos import DBOS, DBOSConfig

        with _engine_lock:
            if _current is not None:
                raise FlowEngineError("a flow engine is already open in this process")
            _register()
            _register_tick()
            self.settings.home.mkdir(parents=True, exist_ok=True)
            url = system_database_url(self.settings)
            config: DBOSConfig = {
                "name": APP_NAME,
                "system_database_url": url,
                "executor_id": self.executor_id,
                "log_level": "CRITICAL",
                "application_version": APP_VERSION,
                "scheduler_polling_interval_sec": self.scheduler_poll,
            }
            if url.startswith("sqlite:"):
                self._engine = config["system_database_engine"] = _sqlite_engine(url)
            quiet_dbos()
            try:
                DBOS(config=config)
                if self.concurrency == 0:
                    DBOS.listen_queues([])  # DBOS's own queues still run here: the schedules' ticks
                DBOS.launch()
                self._queue = DBOS.register_queue(
                    QUEUE,
                    partition_concurrency=1,
                    worker_concurrency=self.concurrency or DEFAULT_CONCURRENCY,
                    polling_interval_sec=0.1,
                    on_conflict="always_update" if self.concurrency else "never_update",
                )
            except Exception as exc:
                DBOS.destroy()
                self._dispose()
                raise FlowEngineError(
                    f"the flow engine could not start: {without_secrets(exc, url)}"
                ) from None
            _current = self
        return self

    def close(self) -> None:
        global _current
        from dbos import DBOS

        with _engine_lock:
            if _current is not self:
                return
            DBOS.destroy(workflow_completion_timeout_sec=0)
            _current = None
        self._dispose()
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> FlowEngine:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- starting runs ---------------------------------------------------------------------------

    def start(self, flow: Flow, trigger: Mapping[str, Any], *, run_id: str | None = None) -> RunHandle:
        """Queue a run of ``flow`` with ``trigger`` (its id from the trigger, or a new one); a run id
        that exists already starts nothing and names that run."""
        from dbos import SetEnqueueOptions, SetWorkflowID

        run_id = run_id or new_run_id(flow)
        with SetWorkflowID(run_id), SetEnqueueOptions(queue_partition_key=partition_of(flow)):
            self._queue.enqueue(_register(), *run_arguments(flow, trigger))
        return RunHandle(run_id, flow.name)

    def schedule(self, flows: list[Flow]) -> list[str]:
        """Make DBOS's schedules those of ``flows`` (their schedule triggers): new and changed ones
        applied, those of flows no longer given deleted; the schedule names in force."""
        from dbos import DBOS

        wanted = [f for f in flows if f.trigger.kind == "schedule"]
        entries: list[Any] = [
            {
                "schedule_name": f"exactmate:{f.name}",
                "workflow_fn": _register_tick(),
                "schedule": f.trigger.options["cron"],
                "context": {"text": f.text, "source": f.source},
                "cron_timezone": f.timezone,
            }
            for f in wanted
        ]
        if entries:
            DBOS.apply_schedules(entries)
        names = {e["schedule_name"] for e in entries}
        for existing in DBOS.list_schedules():
            name = str(existing["schedule_name"])
            if name.startswith("exactmate:") and name not in names:
                DBOS.delete_schedule(name)
        return sorted(names)

    def catch_up(self, flow: Flow, now: datetime) -> list[str]:
        """Start the runs of the ticks ``flow`` missed while nothing served it (its ``catch_up``);
        their run ids (a tick that ran already starts nothing)."""
        from exactmate.flows.history import RunHistory

        if flow.trigger.kind != "schedule":
            return []
        ticks = [tick_of(r.run_id) for r in RunHistory(self.settings).runs(flow.name, limit=50)]
        last = max((t for t in ticks if t is not None), default=None)
        catch_up = str(flow.trigger.options.get("catch_up", "last"))
        missed = missed_ticks(flow.trigger.options["cron"], flow.timezone, catch_up, last_tick=last, now=now)
        trigger = {"kind": "schedule", "catch_up": True}
        return [
            self.start(flow, {**trigger, "tick": t.isoformat()}, run_id=tick_run_id(flow.name, t)).run_id
            for t in missed
        ]

    def fork(self, run_id: str, start_step: int) -> str:
        """A new run of the same pinned flow and trigger that reuses ``run_id``'s steps before
        ``start_step`` (DBOS's step number) and runs the rest again; its id."""
        from dbos import DBOS, SetWorkflowID

        flow = run_id.partition(":")[0]
        new_id = f"{flow}:rerun:{uuid.uuid4().hex[:12]}"
        with SetWorkflowID(new_id):
            handle = DBOS.fork_workflow(run_id, start_step)
        return str(handle.workflow_id)

    def wait(self, run_id: str, timeout: float | None = None) -> Any:
        """The run's result when it ends (raises its failure)."""
        from dbos import DBOS

        handle: Any = DBOS.retrieve_workflow(run_id)
        if timeout is None:
            return handle.get_result(polling_interval_sec=RESULT_POLL)
        return _with_timeout(handle, timeout)

    # -- workers: recovery and a graceful stop --------------------------------------------------------

    @property
    def worker_concurrency(self) -> int:
        """Runs each worker takes at once: the number DBOS keeps with the queue (0 when this process
        listens to no queue)."""
        if self.concurrency == 0:
            return 0
        return int(self._queue.worker_concurrency or DEFAULT_CONCURRENCY)

    def recover(self, executor_ids: list[str]) -> list[str]:
        """Hand the runs the executors ``executor_ids`` left running (PENDING) back to the queue, where
        any worker takes them and goes on from their last checkpointed step (DBOS's recovery call);
        their run ids."""
        from dbos import DBOS

        handles = DBOS._recover_pending_workflows(executor_ids)
        return [str(h.workflow_id) for h in handles]

    def drain(self, grace: float) -> Drained:
        """Stop taking runs, let each run's step in progress finish (for up to ``grace`` seconds), then
        hand this process's unfinished runs back to the queue for the next worker. A run waits at its
        next step boundary instead of starting that step; a step still running after ``grace`` is cut
        off when the process ends, and runs again where the run is taken up (creates go through the
        create journal, so nothing is booked twice). The process must end after this: the runs'
        threads stay parked."""
        import time

        self._draining.set()
        _stop_taking_runs()
        deadline = time.monotonic() + grace
        while True:
            with self._parked_lock:
                busy = [r for r in _active_runs() if r not in self._parked]
            if not busy or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        handed = self.recover([self.executor_id])
        return Drained(handed_back=handed, cut_off=busy)

    def _park(self) -> None:
        """Called before a step starts while draining: the run stays where it is, to be handed back."""
        from dbos import DBOS

        with self._parked_lock:
            self._parked.add(DBOS.workflow_id or "?")
        threading.Event().wait()

    # -- inside the workflow -------------------------------------------------------------------------

    def interpret(
        self, pinned: dict[str, Any], trigger: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        from dbos import DBOS

        flow = _pinned_flow(pinned["text"], pinned["source"])
        run_id = DBOS.workflow_id or "?"
        interpreter = Interpreter(flow, trigger, self._connection_for(run_id), run_id, settings=self.settings)
        try:
            records = interpreter.run(self._durable)
        finally:
            self._release(run_id)
        return {"flow": flow.name, "steps": len(records), "outputs": interpreter.outputs}

    def _durable(self, step: Step, work: Any) -> Record:
        """One flow step as one DBOS step (retried by DBOS when its policy says ``retry``)."""
        from dbos import DBOS
        from dbos._error import DBOSMaxStepRetriesExceeded

        def attempt() -> Record:
            record: Record = work()
            if record["status"] == "failed" and step.on_error == "retry":
                raise StepFailed(json.dumps(record))
            return record

        if self._draining.is_set():
            self._park()
        options: dict[str, Any] = {"name": f"step:{step.id}"}
        if step.on_error == "retry":
            options.update(
                retries_allowed=True,
                max_attempts=step.retries + 1,
                interval_seconds=self.retry_interval,
                backoff_rate=2.0,
            )
        try:
            return DBOS.run_step(cast(Any, options), attempt)
        except DBOSMaxStepRetriesExceeded as exc:
            last = next((e for e in reversed(exc.errors) if isinstance(e, StepFailed)), None)
            record = json.loads(last.args[0]) if last is not None else {"id": step.id, "status": "failed"}
            record["attempts"] = step.retries + 1
            # The last attempt's record, checkpointed like any step's, so the history shows it.
            return DBOS.run_step(cast(Any, {"name": f"step:{step.id}"}), lambda: record)

    def _connection_for(self, run_id: str) -> Any:
        def connection_for(credential: str | None) -> ActionContext:
            from exactmate.actions import open_connection

            key = (run_id, credential)
            with self._connections_lock:
                if key not in self._connections:
                    self._connections[key] = open_connection(
                        credential, settings=self.settings, clock=self.clock
                    )
                return self._connections[key]

        return connection_for

    def _release(self, run_id: str) -> None:
        with self._connections_lock:
            mine = [key for key in self._connections if key[0] == run_id]
            closing = [self._connections.pop(key) for key in mine]
        for connection in closing:
            connection.close()


@dataclass(frozen=True)
class Drained:
    """What a graceful stop did: the runs handed back to the queue, and those of them whose step was
    still running when the grace period ended (that step runs again where the run is taken up)."""

    handed_back: list[str]
    cut_off: list[str]


def _dbos_instance() -> Any:
    """The launched DBOS object. Its queue thread's stop events and its set of running workflows are
    not part of DBOS's public API (DBOS.destroy uses both); the pinned version is tested for them."""
    from dbos._dbos import _get_dbos_instance

    return _get_dbos_instance()


def _stop_taking_runs() -> None:
    """Stop DBOS's queue and scheduler threads, as DBOS.destroy starts by doing, so this process
    takes no further run while its runs in progress go on."""
    for event in _dbos_instance().background_thread_stop_events:
        event.set()


def _active_runs() -> list[str]:
    """The workflows running in this process, until DBOS has recorded their end."""
    return [str(w) for w in _dbos_instance()._active_workflows_set.activeList()]


def _with_timeout(handle: Any, timeout: float) -> Any:
    done: dict[str, Any] = {}

    def wait() -> None:
        try:
            done["result"] = handle.get_result(polling_interval_sec=RESULT_POLL)
        except BaseException as exc:  # handed to the caller below
            done["error"] = exc

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    waiter.join(timeout)
    if waiter.is_alive():
        raise FlowEngineError(f"run {handle.workflow_id} did not end within {timeout:g} s")
    if "error" in done:
        raise done["error"]
    return done.get("result")


def without_secrets(exc: BaseException, url: str) -> str:
    """``exc``'s message with the system database's URL shown without its password."""
    from sqlalchemy.engine import make_url

    from exactmate.config import describe_db_url

    text = str(exc).replace(url, describe_db_url(url))
    password = make_url(url).password
    return text.replace(str(password), "***") if password else text


def _sqlite_engine(url: str) -> Any:
    """DBOS's SQLite engine as DBOS sets it up (IMMEDIATE transactions, a long busy timeout, foreign
    keys), on a file in WAL mode with ``synchronous=NORMAL``: a step's checkpoint commits without
    waiting for the disk twice, and stays durable when the process is killed (only a power cut can lose
    the last commits, as with exactmate's own store)."""
    import sqlalchemy as sa
    from sqlalchemy import event

    _wal(url.removeprefix("sqlite:///"))
    engine = sa.create_engine(url)

    @event.listens_for(engine, "connect")
    def prepare(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = "IMMEDIATE"
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    return engine


def _wal(path: str) -> None:
    """Put DBOS's file in WAL mode, as exactmate's own store is (``store.sqlite.use_wal``: every
    ``flow serve`` starting on one home asks the same, and only the first switches it)."""
    import sqlite3

    from exactmate.store.sqlite import use_wal

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30)
    try:
        use_wal(conn.cursor())
    finally:
        conn.close()


def quiet_dbos() -> None:
    """DBOS logs every failed workflow with its traceback to a console handler it binds to the
    standard error of the moment; exactmate reports failures itself. Its records go to Python's
    logging instead (where ``exactmate`` shows warnings and worse), through no handler of its own."""
    logger = logging.getLogger("dbos")
    for handler in list(logger.handlers):
        if handler.name == "__dbos_console_log_handler__":
            logger.removeHandler(handler)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())  # DBOS adds its console handler only to a bare logger
    logger.propagate = True


@contextmanager
def dry_run(flow: Flow, trigger: Mapping[str, Any], settings: Settings) -> Iterator[list[Record]]:
    """Run ``flow`` at once, outside DBOS, with every write planned instead of sent (reads are sent:
    later steps need their records); yields the step records."""
    connections: dict[str | None, ActionContext] = {}

    def connection_for(credential: str | None) -> ActionContext:
        from exactmate.actions import open_connection

        if credential not in connections:
            connections[credential] = open_connection(credential, settings=settings)
        return connections[credential]

    run_id = f"{flow.name}:dry-run"
    interpreter = Interpreter(flow, dict(trigger), connection_for, run_id, dry_run=True, settings=settings)
    records: list[Record] = []

    def direct(step: Step, work: Any) -> Record:
        record: Record = work()
        records.append(record)
        return record

    try:
        with suppress(FlowRunFailed):  # the failed step is in the records
            interpreter.run(direct)
        yield records
    finally:
        for connection in connections.values():
            connection.close()


def check_credential(flow: Flow, settings: Settings) -> None:
    """Refuse, before any call, a flow whose credential is not in the vault (or, without one named,
    a vault with no default to use)."""
    if not flow.talks_to_exact:
        return
    from exactmate.actions import pick_credential
    from exactmate.store import Store

    store = Store(settings.db_url)
    try:
        pick_credential(store, flow.credential)
    except ExactmateError as exc:
        raise ValidationError(
            f"{flow.source}: the flow's credential cannot be used: {exc.message}",
            hint=exc.hint or "exactmate vault list",
        ) from None
    finally:
        store.close()
