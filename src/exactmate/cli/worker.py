"""``exactmate worker``: take flow runs from the shared queue until stopped (docs/deploy.md).

With the store on PostgreSQL, ``flow run``, ``flow serve`` and the http triggers queue runs in DBOS's
system database on the same server, and any number of workers on any number of machines take them,
one run per division at a time. On SQLite, workers on the one machine share the home's files.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from exactmate.cli.context import context_of

if TYPE_CHECKING:
    from exactmate.config import Settings
    from exactmate.store import Store


GraceSeconds = Annotated[
    float,
    typer.Option(
        "--grace-seconds",
        min=0,
        help="On SIGTERM or Ctrl-C: how long the steps in progress may take to finish before the "
        "unfinished runs are handed back to the queue.",
    ),
]
"""``--grace-seconds`` of ``exactmate worker`` and ``exactmate flow serve`` (see ``drain``)."""


def drain(engine: Any, grace: float, who: str) -> bool:
    """Stop taking runs, give the steps in progress ``grace`` seconds, hand this process's unfinished
    runs back to the queue, and say so; whether any was handed back (the process must then end with
    ``os._exit``: their threads stay parked)."""
    typer.echo(f"{who}: stopping: no new runs; the steps in progress get {grace:g} s")
    drained = engine.drain(grace)
    for run_id in drained.handed_back:
        cut = " (its step was cut off and runs again)" if run_id in drained.cut_off else ""
        typer.echo(f"  handed back to the queue: {run_id}{cut}")
    typer.echo(f"{who}: stopped, {len(drained.handed_back)} run(s) handed back")
    return bool(drained.handed_back or drained.cut_off)


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            max=256,
            help="Runs each worker takes at once (default 4). DBOS keeps this number with the queue, "
            "so it applies to every worker; the last worker started with it sets it.",
        ),
    ] = None,
    executor_id: Annotated[
        str | None,
        typer.Option(
            "--executor-id",
            help="This worker's stable id (default: HOSTNAME-N, the lowest slot N free on this host). "
            "Restarted with the same id, a worker goes on with the runs it held.",
        ),
    ] = None,
    recover: Annotated[
        list[str] | None,
        typer.Option(
            "--recover",
            metavar="ID",
            help="First hand the runs a dead worker ID held back to the queue (repeatable).",
        ),
    ] = None,
    grace_seconds: GraceSeconds = 30.0,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Only check that the store and the flows' system database answer at the right "
            "schema (exit 0 and one line), for health checks; starts nothing.",
        ),
    ] = False,
) -> None:
    """Take flow runs from the shared queue and run them until stopped (SIGTERM or Ctrl-C).

    When stopped: no new run is taken, each step in progress may finish, the unfinished runs are
    handed back to the queue, and the worker exits 0."""
    from exactmate.flows.workers import check as health

    settings = context_of(ctx).settings
    if check:
        typer.echo(health(settings).line())
        return
    _serve(settings, concurrency, executor_id, recover or [], grace_seconds)


def _serve(
    settings: Settings, concurrency: int | None, wanted: str | None, recover: list[str], grace: float
) -> None:
    import signal
    import threading

    from exactmate.errors import ValidationError
    from exactmate.flows.engine import QUEUE, FlowEngine
    from exactmate.flows.workers import RENEW_EVERY, ExecutorId, check_executor_id
    from exactmate.store import Store

    dead = [check_executor_id(r) for r in recover]
    store = Store(settings.db_url)
    me = ExecutorId(store, wanted)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        executor = me.take()
        if executor in dead:
            raise ValidationError(
                f"--recover {executor} names this worker itself; its own runs are recovered at its start",
                hint="give the id of a worker that has stopped: exactmate worker --recover ID",
            )
        for other in dead:
            _refuse_if_running(store, other)
        engine = FlowEngine(settings, executor_id=executor, scheduler_poll=1.0, concurrency=concurrency)
        with engine:
            for other in dead:
                handed = engine.recover([other])
                typer.echo(f"handed {len(handed)} run(s) of worker {other} back to the queue", err=True)
                for run_id in handed:
                    typer.echo(f"  {run_id}", err=True)
            typer.echo(
                f"worker {executor}: taking runs from {QUEUE} ({engine.worker_concurrency} at once, one "
                "per division); "
                "stop with Ctrl-C or SIGTERM"
            )
            while not stop.wait(RENEW_EVERY):
                me.keep()
            if drain(engine, grace, f"worker {executor}"):
                me.release()
                store.close()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)  # the handed-back runs' threads are parked for good; nothing else is left to do
    finally:
        me.release()
        store.close()


def _refuse_if_running(store: Store, executor_id: str) -> None:
    """Refuse to recover the runs of a worker that holds its id right now (it is running them)."""
    from exactmate.errors import StoreError, ValidationError
    from exactmate.flows.workers import LEASE_PREFIX, LEASE_TTL

    try:
        with store.lock(LEASE_PREFIX + executor_id, timeout=0, ttl=30):
            return
    except StoreError:
        raise ValidationError(
            f"worker {executor_id} is running: its runs are its own (recovering them would run them twice)",
            hint=f"stop it first (a worker of a machine that is gone frees its id within {LEASE_TTL:g} s "
            f"of its last renewal); then: exactmate worker --recover {executor_id}",
        ) from None
