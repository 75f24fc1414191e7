"""``exactmate flow``: flows of steps, validated before they run, run durably, with a run history.

``validate`` checks a flow file without running it; ``run`` runs it once now (waiting for the end,
or ``--no-wait``; ``--dry-run`` shows what it would send); ``runs`` and ``show`` read the history;
``rerun`` starts a failed run again from its failed step; ``cancel`` stops a run; ``list`` shows the
flows of a directory; ``demo`` runs a flow against the built-in emulator. See docs/flows.md.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from exactmate.actions.writers import to_json
from exactmate.cli.context import context_of
from exactmate.cli.output import Format, write_records
from exactmate.errors import ValidationError

if TYPE_CHECKING:
    from exactmate.config import Settings
    from exactmate.flows import Flow

app = typer.Typer(
    help="Flows: steps that run unattended, validated first, durable, with a run history (docs/flows.md).",
    no_args_is_help=True,
)

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
    """The trigger of a manual run: ``inputs`` by name, and ``rows`` of the first file input."""
    from exactmate.actions.sources import read_entries

    declared = flow.trigger.inputs
    inputs: dict[str, Any] = {}
    rows: list[dict[str, Any]] | None = None
    problems: list[str] = []
    for given, is_file in [(v, False) for v in values] + [(f, True) for f in files]:
        name, sep, value = given.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f"{given!r}: write NAME=VALUE")
            continue
        kind = declared.get(name, {}).get("type", "string")
        if declared and name not in declared:
            problems.append(f"input {name!r} is not one the flow declares ({', '.join(declared) or 'none'})")
            continue
        if is_file != (kind == "file"):
            flag = "--input-file" if kind == "file" else "--input"
            problems.append(f"input {name!r} is a {kind}: give it with {flag} {name}=…")
            continue
        if is_file:
            source = read_entries(value)
            inputs[name] = [dict(row.values) for row in source.rows]
            rows = inputs[name] if rows is None else rows
        elif kind == "number":
            try:
                inputs[name] = float(value) if "." in value else int(value)
            except ValueError:
                problems.append(f"input {name!r} is a number, not {value!r}")
        else:
            inputs[name] = value
    for name, spec in declared.items():
        if name not in inputs and spec.get("required", True):
            flag = "--input-file" if spec.get("type") == "file" else "--input"
            problems.append(f"input {name!r} is missing: {flag} {name}=…")
    if problems:
        raise ValidationError(f"Cannot run flow {flow.name}; nothing was sent", problems=problems)
    trigger: dict[str, Any] = {"kind": "manual", "inputs": inputs}
    if rows is not None:
        trigger["rows"] = rows
    return trigger


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
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
) -> None:
    """Run a flow once, now, and wait for it to end (exit 1 if it failed)."""
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
    from exactmate.flows.engine import FlowEngine

    with FlowEngine(settings) as engine:
        handle = engine.start(flow, trigger)
        if no_wait:
            typer.echo(handle.run_id)
            return
        _finish(engine, handle.run_id, fmt, settings)


def _finish(engine: Any, run_id: str, fmt: Format, settings: Settings) -> None:
    from exactmate.flows.history import RunHistory

    failed = False
    try:
        engine.wait(run_id)
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
        columns = ["step", "action", "status", "took", "result"]
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
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
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
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
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
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
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
    with FlowEngine(settings) as engine:
        new_id = engine.fork(run_id, detail.restart_at)
        typer.echo(f"run {new_id} goes on from step {detail.restart_at} of {run_id}", err=True)
        _finish(engine, new_id, fmt, settings)


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
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
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


def _demo() -> None:
    from exactmate.cli.flow_demo import demo  # the emulator and its server load only for the demo

    app.command("demo")(demo)


_demo()
