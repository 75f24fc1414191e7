"""``exactmate sync``: endpoints into your own database, incrementally, deletions applied."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer

from exactmate.actions.divisions import DivisionChoice
from exactmate.actions.writers import to_json
from exactmate.cli import session
from exactmate.cli.context import context_of
from exactmate.cli.exit_codes import exit_code_for
from exactmate.cli.output import Format, write_records
from exactmate.cli.progress import part_bars
from exactmate.errors import ValidationError
from exactmate.sync import EndpointReport, default_target, plan_sync, sync_endpoints
from exactmate.sync.run import syncable_paths

COLUMNS = ["endpoint", "division", "table", "inserted", "updated", "deleted", "calls", "seconds", "error"]


def sync(
    ctx: typer.Context,
    endpoints: Annotated[
        list[str] | None,
        typer.Argument(help="Endpoints to sync, e.g. crm/Accounts project/Projects (or --all-syncable)."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="SQLAlchemy URL of your database (default: sync.db beside exactmate's own)."
        ),
    ] = None,
    credential: session.CredentialOption = None,
    division: session.DivisionOption = "current",
    full: Annotated[bool, typer.Option("--full", help="Start over: reload these endpoints' rows.")] = False,
    keep_deleted: Annotated[
        bool, typer.Option("--keep-deleted", help="Mark deleted records (_deleted) instead of removing them.")
    ] = False,
    all_syncable: Annotated[
        bool, typer.Option("--all-syncable", help="Every endpoint with a sync/ feed.")
    ] = False,
    plan: Annotated[
        bool, typer.Option("--plan", help="Say what a run would read and cost in calls; read nothing else.")
    ] = False,
    fmt: session.FormatOption = Format.table,
) -> None:
    """Bring your database's copy of ENDPOINTS up to date with Exact Online.

    Each endpoint is read through its sync/ feed (1,000 records a call) from where the last run got
    to; each page is committed with its cursor, so an interrupted run loses nothing and the next
    goes on from there. Deletions (sync/Deleted) are applied. One table per endpoint
    (crm_accounts, ...), with _division, _timestamp and _synced_at."""
    session.calling_exact()
    target = to or default_target(context_of(ctx).settings)
    choice = session.division(division)
    if all_syncable == bool(endpoints):
        raise ValidationError(
            "Name the endpoints to sync, or give --all-syncable (not both)",
            hint="e.g. exactmate sync crm/Accounts project/TimeTransactions",
        )
    if all_syncable:
        endpoints = syncable_paths(session.catalogue(ctx))
    assert endpoints is not None
    if plan:
        _show_plan(ctx, credential, endpoints, target, choice, fmt)
        return
    bar_on = session.show_progress()
    with session.connect(ctx, credential) as conn, part_bars(enabled=bar_on) as bars:

        def advance(report: EndpointReport) -> None:
            records = report.inserted + report.updated + report.deleted
            bars.update(f"{report.endpoint}, division {report.division}", records=records, calls=report.calls)

        result = sync_endpoints(
            conn, endpoints, target, division=choice, full=full, keep_deleted=keep_deleted, progress=advance
        )
        name = conn.credential_name
    if fmt is Format.table:
        rows = [{**r.as_dict(), "error": str(r.error) if r.error else ""} for r in result.reports]
        write_records(rows, fmt, sys.stdout, columns=COLUMNS, title=f"Synced into {result.target}")
    else:
        typer.echo(to_json(result.as_dict(), indent=2 if fmt is Format.json else None))
    for number in result.lost_divisions:
        session.echo_err(
            f"warning: division {number} was synced before and is no longer accessible: its rows are kept "
            f"as they were (check the access in Exact, then: exactmate vault test {shlex.quote(name)})"
        )
    failed = [r.error for r in result.reports if r.error is not None]
    if failed:
        session.echo_err(f"{len(failed)} endpoint(s) stopped early; the next run goes on from there")
        raise typer.Exit(exit_code_for(failed[0]))


PLAN_COLUMNS = ["endpoint", "division", "feed", "cursor", "records", "calls", "calls left today"]


def _show_plan(
    ctx: typer.Context,
    credential: str | None,
    endpoints: list[str],
    target: str,
    choice: DivisionChoice,
    fmt: Format,
) -> None:
    with session.connect(ctx, credential) as conn:
        planned = plan_sync(conn, endpoints, target, division=choice)
    rows = [p.as_dict() for p in planned]
    divisions = sorted({p.division for p in planned})
    total = sum(p.calls for p in planned) + len(divisions)  # one sync/Deleted read per division
    at_least = any(p.calls_at_least for p in planned)
    if fmt is not Format.table:
        answer = {"feeds": rows, "calls": total, "calls at least": at_least}
        typer.echo(to_json(answer, indent=2 if fmt is Format.json else None))
        return
    for row in rows:
        row["cursor"] = "first load" if row["cursor"] is None else row["cursor"]
        if row.pop("calls at least"):
            row["calls"] = f"at least {row['calls']:,}"
    write_records(rows, fmt, sys.stdout, columns=PLAN_COLUMNS, title="What a sync would read")
    total_text = f"at least {total:,}" if at_least else f"{total:,}"
    typer.echo(
        f"{total_text} calls in all, with one read of sync/Deleted per division ({len(divisions)})."
        + (" Exact refused to count the cost entries time entries' feed carries too." if at_least else "")
    )
