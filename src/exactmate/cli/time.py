"""``exactmate time create`` and ``exactmate time update``: project time transactions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exactmate.actions import CreateResult, UpdateResult, create_time_transactions, update_time_transaction
from exactmate.actions.fields import parse_assignments
from exactmate.actions.sources import read_entries
from exactmate.cli import session
from exactmate.cli.exit_codes import exit_code_for
from exactmate.cli.output import Format, cell, to_json
from exactmate.errors import ValidationError

app = typer.Typer(help="Project time transactions: create (one or many) and update.", no_args_is_help=True)

LONG_RUN = 5
"""From this many entries on, a run shows a progress bar (on a terminal)."""


@app.command("create")
def create(
    ctx: typer.Context,
    set_: session.SetOption = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-F", help="CSV, JSON or NDJSON file of entries ('-': stdin).")
    ] = None,
    file_format: Annotated[
        str | None, typer.Option("--file-format", help="csv, json or ndjson (default: from the file name).")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(help="Name this run in the create journal instead of the file's content hash."),
    ] = None,
    match_on: Annotated[
        list[str] | None,
        typer.Option(
            "--match-on",
            help="Fields a lost create is looked up by (default Employee, Date, Item, Quantity, "
            "Project or Account, Notes); comma-separated or repeated.",
        ),
    ] = None,
    credential: session.CredentialOption = None,
    division: session.DivisionOption = "current",
    dry_run: session.DryRunOption = False,
    fmt: session.FormatOption = Format.table,
) -> None:
    """Create time transactions from --set Field=Value or from a --file of entries.

    Every entry is checked before the first call; a rerun of the same file creates nothing twice.
    A row's own Division column says which division it goes to.
    """
    assignments = parse_assignments(set_ or [])
    if file is not None and assignments:
        raise ValidationError(
            "Give the entries either with --set or in a --file, not both",
            hint="put every field in the file's columns",
        )
    if file is None and not assignments:
        raise ValidationError(
            "No entry given",
            hint="use --set Field=Value … or --file entries.csv; fields: exactmate fields "
            "project/TimeTransactions",
        )
    entries: Any = read_entries(file, file_format=file_format) if file is not None else [assignments]
    matches = [name for value in (match_on or []) for name in value.split(",")] or None
    choice = session.division(division)
    with session.connect(ctx, credential) as conn:
        enabled = len(entries) >= LONG_RUN and session.show_progress()
        with session.progress("Creating time transactions", len(entries), enabled=enabled) as advance:
            result = create_time_transactions(
                conn,
                entries,
                division=choice,
                key=key,
                match_on=matches,
                dry_run=dry_run,
                progress=lambda _outcome: advance(1),
            )
    _show_create(result, fmt)
    if result.failed:
        first = result.failed[0].error
        raise typer.Exit(exit_code_for(first) if first is not None else 1)


def _show_create(result: CreateResult, fmt: Format) -> None:
    if fmt is not Format.table:
        payload = {**result.summary(), "outcomes": [o.as_dict() for o in result.outcomes]}
        typer.echo(to_json(payload, indent=2 if fmt is Format.json else None))
        return
    console = Console(highlight=False, soft_wrap=True)
    if result.dry_run:
        for outcome in result.outcomes:
            if outcome.request is not None:
                console.print(f"[bold]row {outcome.row}[/bold] (dry run, not sent):")
                console.print(str(outcome.request), markup=False)
            else:
                console.print(
                    f"row {outcome.row}: {outcome.status} — {outcome.message} (ID {outcome.record_id})"
                )
        console.print(f"Dry run: {len(result.outcomes)} entries checked; nothing was sent.")
        return
    table = Table("Row", "Division", "Status", "ID", "Message", title="Time transactions")
    for outcome in result.outcomes:
        style = "red" if outcome.status == "failed" else None
        table.add_row(
            str(outcome.row),
            str(outcome.division),
            outcome.status,
            cell(outcome.record_id),
            cell(outcome.message),
            style=style,
        )
    console.print(table)
    console.print(
        f"Created {len(result.created)}, already created earlier {len(result.skipped)}, "
        f"failed {len(result.failed)}. Journal source: {result.source}"
    )


@app.command("update")
def update(
    ctx: typer.Context,
    id: Annotated[str, typer.Argument(help="The time transaction's ID (a GUID).")],
    set_: session.SetOption = None,
    credential: session.CredentialOption = None,
    division: session.DivisionOption = "current",
    dry_run: session.DryRunOption = False,
    fmt: session.FormatOption = Format.table,
) -> None:
    """Change fields of one time transaction: only the fields given are sent.

    The entry is read first: a final one (HourStatus 20) is refused before any write. A before/after
    snapshot goes to the audit log.
    """
    changes = parse_assignments(set_ or [])
    with session.connect(ctx, credential) as conn:
        result = update_time_transaction(
            conn, id, changes, division=session.division(division), dry_run=dry_run
        )
    _show_update(result, fmt)


def _show_update(result: UpdateResult, fmt: Format) -> None:
    changed = {name: (result.before.get(name), result.after.get(name)) for name in result.sent}
    if fmt is not Format.table:
        payload = {
            **result.as_dict(),
            "changes": {k: {"before": b, "after": a} for k, (b, a) in changed.items()},
        }
        typer.echo(to_json(payload, indent=2 if fmt is Format.json else None))
        return
    console = Console(highlight=False, soft_wrap=True)
    verb = "Would update" if result.dry_run else "Updated"
    table = Table(
        "Field", "Before", "After", title=f"{verb} time transaction {result.id} (division {result.division})"
    )
    for name, (before, after) in changed.items():
        table.add_row(name, cell(before), cell(after))
    console.print(table)
    if result.dry_run:
        console.print("Dry run, not sent:")
        console.print(str(result.request), markup=False)
