"""``exactmate flow``: flows of steps, validated before they run, run durably, with a run history.

``validate`` checks a flow file without running it; ``run`` runs it once now (waiting for the end,
or ``--no-wait``; ``--dry-run`` shows what it would send); ``runs`` and ``show`` read the history;
``rerun`` starts a failed run again from its failed step; ``cancel`` stops a run; ``list`` shows the
flows of a directory; ``demo`` runs a flow against the built-in emulator. See docs/flows.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from exactmate.actions.writers import to_json
from exactmate.cli import session
from exactmate.cli.context import context_of
from exactmate.cli.output import Format, write_records
from exactmate.cli.worker import GraceSeconds
from exactmate.errors import ValidationError

if TYPE_CHECKING:
    from exactmate.config import Settings
    from exactmate.flows import Flow

app = typer.Typer(
    help="Flows: steps that run unattended, validated first, durable, with a run history (docs/flows.md).",
    no_args_is_help=True,
)

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table or json.")]

RUN_FAILED = 1
"""Exit code of ``flow run`` / ``flow rerun`` when the run ended failed (the failed step is shown)."""


def _load(path: Path, settings: Settings) -> Flow:
    from exactmate.flows import load_flow
    from exactmate.flows.engine import check_credential

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(
            f"Cannot read the flow file {path}: {exc.strerror}", hint="check the path"
        ) from None
    flow = load_flow(text, source=str(path))
    check_credential(flow, settings)
    return flow


@app.command()
def validate(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Flow files (YAML).", metavar="FILE...")],
) -> None:
    """Check flow files completely without running them: keys, actions, arguments, endpoints, fields,
    expressions, step references, the cron expression and the credential. Costs no call to Exact."""
    settings = context_of(ctx).settings
    for path in files:
        flow = _load(path, settings)
        trigger = flow.trigger.kind + (
            f" {flow.trigger.options.get('cron')}" if flow.trigger.kind == "schedule" else ""
        )
        typer.echo(f"{path}: valid: flow {flow.name}, trigger {trigger}, {len(flow.steps)} step(s)")


def _inputs(flow: Flow, values: list[str], files: list[str]) -> dict[str, Any]:
    """The trigger of a manual run from ``--input NAME=VALUE`` and ``--input-file NAME=PATH``."""
    from exactmate.actions.sources import read_entries
    from exactmate.flows.inputs import Given, manual_trigger

    given: list[Given] = []
    malformed: list[str] = []
    for text, is_file in [(v, False) for v in values] + [(f, True) for f in files]:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            malformed.append(f"{text!r}: write NAME=VALUE")
        elif is_file:
            given.append(Given(name.strip(), rows=[dict(r.values) for r in read_entries(value).rows]))
        else:
            given.append(Given(name.strip(), text=value))
    try:
        trigger = manual_trigger(flow, given, _flag)
    except ValidationError as exc:
        raise ValidationError(exc.message, problems=[*malformed, *exc.problems]) from None
    if malformed:
        raise ValidationError(f"Cannot run flow {flow.name}; nothing was sent", problems=malformed)
    return trigger


def _flag(name: str, kind: str) -> str:
    return f"{'--input-file' if kind == 'file' else '--input'} {name}=…"


@app.command()
def run(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The flow file (YAML).")],
    input: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="A value input: NAME=VALUE (repeatable).")
    ] = None,
    input_file: Annotated[
        list[str] | None,
        typer.Option("--input-file", help="A file input (CSV, JSON, NDJSON): NAME=PATH (repeatable)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show every write the run would send, and send none.")
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Queue the run, print its id, return.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Run a flow once, now, and wait for it to end (exit 1 if it failed)."""
    session.calling_exact()
    settings = context_of(ctx).settings
    flow = _load(file, settings)
    trigger = _inputs(flow, input or [], input_file or [])
    if dry_run:
        from exactmate.flows.engine import dry_run as dry

        with dry(flow, trigger, settings) as records:
            _print_steps(records, fmt, title=f"Dry run of {flow.name}: writes shown, none sent")
        if any(r["status"] == "failed" for r in records):
            raise typer.Exit(RUN_FAILED)
        return
    from exactmate.flows.handoff import uses_workers

    if uses_workers(settings):  # PostgreSQL: the workers run it (exactmate worker)
        from exactmate.flows.handoff import Handoff

        with Handoff(settings) as handoff:
            run_id = handoff.submit(flow, trigger)
            if no_wait:
                typer.echo(run_id)
                return
            _finish(_waiting_for_workers(handoff), run_id, fmt, settings)
        return
    from exactmate.flows.engine import FlowEngine

    with FlowEngine(settings) as engine:
        handle = engine.start(flow, trigger)
        if no_wait:
            typer.echo(handle.run_id)
            return
        _finish(engine.wait, handle.run_id, fmt, settings)


def _waiting_for_workers(handoff: Any) -> Callable[[str], Any]:
    """Waiting for a handed-over run, saying once on stderr when no worker has taken it yet."""

    def unclaimed(seconds: float) -> None:
        typer.echo(
            f"no worker has taken the run after {seconds:.0f} s; start one: exactmate worker "
            "(still waiting; Ctrl-C stops waiting, the run stays queued)",
            err=True,
        )

    return lambda run_id: handoff.wait(run_id, unclaimed=unclaimed)


def _finish(wait: Callable[[str], Any], run_id: str, fmt: Format, settings: Settings) -> None:
    from exactmate.flows.history import RunHistory

    failed = False
    try:
        wait(run_id)
    except Exception:  # the run's failure is in its history, shown below
        failed = True
    detail = RunHistory(settings).show(run_id)
    if fmt is Format.table:
        _print_steps(detail.steps, fmt, title=f"Run {run_id}: {detail.summary.status}")
        if detail.summary.error:
            typer.echo(f"error: {detail.summary.error}", err=True)
            typer.echo(f"after fixing the cause: exactmate flow rerun {run_id}", err=True)
    else:
        typer.echo(to_json(detail.as_dict(), indent=2 if fmt is Format.json else None))
    if failed or detail.summary.status != "succeeded":
        raise typer.Exit(RUN_FAILED)


def _step_line(record: dict[str, Any]) -> dict[str, Any]:
    error = record.get("error") or {}
    items = record.get("items")
    output = record.get("output")
    said = error.get("message") or _said(record.get("action"), output) or record.get("reason", "")
    if items:
        said = f"{items['done']} done, {items['failed']} failed" + (f"; {said}" if said else "")
    started, ended = record.get("started"), record.get("ended")
    took = f"{(ended - started) * 1000:.0f} ms" if started and ended else ""
    return {
        "step": record.get("id"),
        "action": record.get("action"),
        "status": record.get("status"),
        "took": took,
        "calls": record.get("calls", ""),
        "result": said,
    }


def _said(action: Any, output: Any) -> str:
    if not isinstance(output, dict):
        return ""
    if action == "list_or_get":
        return f"{output.get('count', 0)} record(s)"
    if action == "create_time_transactions":
        return (
            f"{output.get('created', 0)} created, {output.get('skipped', 0)} booked before, "
            f"{output.get('failed', 0)} failed"
        )
    if action == "log":
        return str(output.get("message", ""))
    return ""


def _print_steps(records: list[dict[str, Any]], fmt: Format, *, title: str) -> None:
    if fmt is Format.table:
        columns = ["step", "action", "status", "took", "calls", "result"]
        write_records(
            [_step_line(r) for r in records], Format.table, sys.stdout, columns=columns, title=title
        )
        for record in records:
            for problem in (record.get("error") or {}).get("problems", []):
                typer.echo(f"  {record.get('id')}: {problem}", err=True)
    else:
        typer.echo(to_json(records, indent=2 if fmt is Format.json else None))


def _when(epoch: float | None) -> str:
    return (
        "" if epoch is None else datetime.fromtimestamp(epoch, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    )


@app.command()
def runs(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this flow's runs.")] = None,
    status: Annotated[
        str | None, typer.Option(help="queued, running, succeeded, failed or cancelled.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 20,
    fmt: FormatOpt = Format.table,
) -> None:
    """The run history, newest first."""
    from exactmate.flows.history import RunHistory

    found = RunHistory(context_of(ctx).settings).runs(name, status=status, limit=limit)
    if fmt is not Format.table:
        typer.echo(to_json([r.as_dict() for r in found], indent=2 if fmt is Format.json else None))
        return
    if not found:
        typer.echo("No runs yet: start one with exactmate flow run FILE")
        return
    rows = [
        {
            "run": r.run_id,
            "flow": r.flow,
            "trigger": r.trigger,
            "status": r.status,
            "started": _when(r.started),
            "ended": _when(r.ended),
        }
        for r in found
    ]
    write_records(rows, Format.table, sys.stdout, columns=list(rows[0]), title="Flow runs")


@app.command()
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id (see exactmate flow runs).")],
    fmt: FormatOpt = Format.table,
) -> None:
    """A run's steps as a timeline: each step's status, time, result or error."""
    from exactmate.flows.history import RunHistory

    detail = RunHistory(context_of(ctx).settings).show(run_id)
    if fmt is not Format.table:
        typer.echo(to_json(detail.as_dict(), indent=2 if fmt is Format.json else None))
        return
    s = detail.summary
    typer.echo(f"run {s.run_id}: flow {s.flow}, trigger {s.trigger}, {s.status}, started {_when(s.started)}")
    _print_steps(detail.steps, fmt, title="Steps")
    if s.error:
        typer.echo(f"error: {s.error}", err=True)


@app.command()
def rerun(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A failed run's id.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Run a failed run again from its failed step (the steps before it are not run again; the
    create journal keeps rows booked already from being booked twice)."""
    from exactmate.flows.engine import FlowEngine
    from exactmate.flows.history import RunHistory

    settings = context_of(ctx).settings
    detail = RunHistory(settings).show(run_id)
    if detail.summary.status != "failed" or detail.restart_at is None:
        raise ValidationError(
            f"Run {run_id} is {detail.summary.status}; only a failed run goes on again from its failed step",
            hint=f"see it with: exactmate flow show {run_id}",
        )
    from exactmate.flows.handoff import Handoff, uses_workers

    if uses_workers(settings):
        with Handoff(settings) as handoff:
            new_id = handoff.fork(run_id, detail.restart_at)
            typer.echo(f"run {new_id} goes on from step {detail.restart_at} of {run_id}", err=True)
            _finish(_waiting_for_workers(handoff), new_id, fmt, settings)
        return
    with FlowEngine(settings) as engine:
        new_id = engine.fork(run_id, detail.restart_at)
        typer.echo(f"run {new_id} goes on from step {detail.restart_at} of {run_id}", err=True)
        _finish(engine.wait, new_id, fmt, settings)


@app.command()
def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A queued or running run's id.")],
) -> None:
    """Cancel a queued or running run: no further step starts (the one running finishes)."""
    from exactmate.flows.history import RunHistory

    summary = RunHistory(context_of(ctx).settings).cancel(run_id)
    typer.echo(f"run {run_id}: {summary.status}")


@app.command("list")
def list_(
    ctx: typer.Context,
    flows: Annotated[
        Path | None,
        typer.Option("--flows", help="The directory of flow files (default: $EXACTMATE_HOME/flows)."),
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """The flow files of a directory: name, trigger, steps, whether each is valid, its last run."""
    from exactmate.flows import FlowError, load_flow
    from exactmate.flows.history import RunHistory

    settings = context_of(ctx).settings
    folder = flows or settings.home / "flows"
    history = RunHistory(settings)
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        try:
            flow = load_flow(path.read_text(encoding="utf-8"), source=str(path))
        except FlowError as exc:
            rows.append(
                {
                    "file": path.name,
                    "flow": "",
                    "trigger": "",
                    "steps": "",
                    "valid": "no: " + exc.problems[0],
                    "last run": "",
                }
            )
            continue
        last = history.runs(flow.name, limit=1)
        rows.append(
            {
                "file": path.name,
                "flow": flow.name,
                "trigger": flow.trigger.kind,
                "steps": len(flow.steps),
                "valid": "yes",
                "last run": f"{last[0].status} {_when(last[0].started)}" if last else "",
            }
        )
    if fmt is not Format.table:
        typer.echo(to_json(rows, indent=2 if fmt is Format.json else None))
    elif not rows:
        typer.echo(f"No flow files in {folder}: put *.yaml files there, or name another with --flows DIR")
    else:
        write_records(rows, Format.table, sys.stdout, columns=list(rows[0]), title=f"Flows in {folder}")


@app.command()
def serve(
    ctx: typer.Context,
    flows: Annotated[
        Path | None,
        typer.Option("--flows", help="The directory of flow files (default: $EXACTMATE_HOME/flows)."),
    ] = None,
    reload_seconds: Annotated[
        float, typer.Option("--reload-seconds", min=0.2, help="How often changed files are read again.")
    ] = 2.0,
    host: Annotated[str, typer.Option(help="Where the http triggers' receiver listens.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Its port (0: do not listen).")] = 8401,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="Where Exact reaches the receiver (https, behind a reverse proxy); the exact triggers' "
            "callbacks are <URL>/events/<key>. Default: http://HOST:PORT.",
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            help="exact triggers: also start runs for changes since this date (Europe/Amsterdam), "
            "instead of only those after the flow was first served.",
        ),
    ] = None,
    grace_seconds: GraceSeconds = 30.0,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "--concurrency",
            min=0,
            max=256,
            help="0: run no flow here, only queue the runs the triggers start, for the workers "
            "(exactmate worker). Default: this process runs them too (N: as exactmate worker "
            "--concurrency N).",
        ),
    ] = None,
) -> None:
    """Run the schedule, http and exact triggers of every flow file in a directory until stopped (Ctrl-C
    or SIGTERM): a changed file is validated and applied, an invalid one keeps the version that was valid.
    http triggers: POST JSON to http://HOST:PORT/hooks/FLOW with the flow's token (exactmate flow token).
    exact triggers: Exact's webhooks to PUBLIC-URL/events/KEY, and each topic's sync/ feed read on the
    flow's reconcile interval (docs/flows.md)."""
    import signal
    import threading

    from exactmate.cli.worker import drain
    from exactmate.flows.engine import FlowEngine
    from exactmate.flows.workers import holding

    settings = context_of(ctx).settings
    folder = flows or settings.home / "flows"
    if not folder.is_dir():
        raise ValidationError(
            f"No directory {folder}", hint=f"mkdir -p {folder} and put flow files (*.yaml) there"
        )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with (
        holding(settings) as me,
        FlowEngine(settings, executor_id=me.value, scheduler_poll=1.0, concurrency=workers) as engine,
    ):
        from exactmate.flows.events import ExactEvents

        if workers == 0:
            typer.echo("running no flow here: the runs wait in the queue for exactmate worker")
        served = _Served(folder)
        url = (public_url or f"http://{host}:{port}") if port else None
        events = ExactEvents(engine, settings, public_url=url, since=_from(since))

        def scheduled() -> None:
            names = ", ".join(engine.schedule(list(served.flows.values()))) or "none"
            typer.echo(f"serving {len(served.flows)} flow(s) from {folder}; schedules: {names}")

        # The flows are read before the receiver listens, so once /health answers, /hooks/<flow>
        # knows them; Exact's subscriptions come after, as subscribing calls the receiver.
        changed = served.reload(engine)
        if changed:
            scheduled()
        listener = _listen(engine, served, settings, host, port, events.routes()) if port else None
        events.start()
        try:
            while True:
                if changed:
                    for line in events.apply(served.flows.values()):
                        typer.echo(line)
                if stop.wait(reload_seconds):
                    if listener is not None:
                        listener.should_exit = True
                    if drain(engine, grace_seconds, "flow serve"):
                        events.close()
                        me.release()
                        sys.stdout.flush()
                        sys.stderr.flush()
                        os._exit(0)  # the handed-back runs' threads are parked for good
                    return
                me.keep()
                changed = served.reload(engine)
                if changed:
                    scheduled()
        finally:
            events.close()


def _from(since: datetime | None) -> datetime | None:
    """``--from``'s date in Exact's time zone (Europe/Amsterdam) when it names none."""
    from exactmate.odata import AMSTERDAM

    return since.replace(tzinfo=AMSTERDAM) if since is not None and since.tzinfo is None else since


def _listen(engine: Any, served: _Served, settings: Settings, host: str, port: int, more: Any) -> Any:
    """The http and exact triggers' receiver on a background thread (uvicorn); its server, to stop
    it. Returns once it listens: Exact checks a new subscription's callback at once."""
    import threading
    import time

    import uvicorn

    from exactmate.flows.hooks import HookTokens, receiver

    def by_name() -> dict[str, Flow]:
        return {flow.name: flow for flow in served.flows.values()}

    app = receiver(engine, by_name, HookTokens(settings.home), more)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="exactmate-hooks", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise ValidationError(
            f"the receiver cannot listen on {host}:{port}", hint="pick another --port, or --port 0"
        )
    typer.echo(f"http triggers: POST http://{host}:{port}/hooks/FLOW (health: http://{host}:{port}/health)")
    return server


@app.command()
def token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The flow's name (its http trigger's token).")],
) -> None:
    """Make a new token for a flow's http trigger and show it once (the old one stops working)."""
    from exactmate.flows.hooks import HookTokens, check_name

    issued = HookTokens(context_of(ctx).settings.home).issue(check_name(name))
    typer.echo(issued)
    typer.echo(
        f"keep it: only its hash is kept; send it as Authorization: Bearer … to /hooks/{name}", err=True
    )


class _Served:
    """The valid flows of a directory, read again when a file changes; an invalid change keeps the
    version that was valid."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.flows: dict[Path, Flow] = {}
        self.seen: dict[Path, float] = {}

    def reload(self, engine: Any) -> bool:
        from datetime import UTC

        from exactmate.flows import FlowError, load_flow

        changed = False
        present = {p: p.stat().st_mtime for p in self.folder.glob("*.y*ml")}
        for path in [p for p in self.flows if p not in present]:
            typer.echo(f"{path.name}: removed; its schedule stops")
            del self.flows[path]
            changed = True
        for path, mtime in sorted(present.items()):
            if self.seen.get(path) == mtime:
                continue
            self.seen[path] = mtime
            try:
                flow = load_flow(path.read_text(encoding="utf-8"), source=str(path))
            except FlowError as exc:
                kept = " (the version read before stays in force)" if path in self.flows else ""
                typer.echo(f"{path.name}: not valid{kept}:\n  " + "\n  ".join(exc.problems), err=True)
                continue
            self.flows[path] = flow
            changed = True
            typer.echo(f"{path.name}: flow {flow.name}, trigger {flow.trigger.kind}")
            for run_id in engine.catch_up(flow, datetime.now(UTC)):
                typer.echo(f"{path.name}: caught up on a missed tick: {run_id}")
        return changed


def _demo() -> None:
    from exactmate.cli.flow_demo import demo  # the emulator and its server load only for the demo

    app.command("demo")(demo)


_demo()
