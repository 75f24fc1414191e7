"""``exactmate time create`` and ``exactmate time update``: project time transactions."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exactmate.actions import CreateResult, UpdateResult, create_time_transactions, update_time_transaction
from exactmate.actions.fields import parse_assignments
from exactmate.actions.presentation import cell
from exactmate.actions.sources import read_entries
from exactmate.actions.writers import to_json
from exactmate.cli import session
from exactmate.cli.exit_codes import INCOMPLETE, INTERRUPTED, exit_code_for
from exactmate.cli.output import Format, write_records
from exactmate.cli.progress import progress
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
    delimiter: Annotated[
        str | None,
        typer.Option(help="The CSV separator: ',' ';' or tab (default: detected from the header row)."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="Know each row by this name plus its row number instead of by the entry's fields "
            "(a Key column does the same per row)."
        ),
    ] = None,
    rebook_changed: Annotated[
        bool,
        typer.Option(
            "--rebook-changed",
            help="Book entries that were booked earlier with other values again, as new entries.",
        ),
    ] = False,
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

    Every entry is checked before the first call. An entry is known by who, which day, project,
    item, activity, account and notes (or by its Key column): one booked earlier is never booked
    again, however the file was edited, and one booked with other values is reported as changed.
    A row's own Division column says which division it goes to.
    """
    session.calling_exact()
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
    entries: Any = [assignments]
    if file is not None:
        entries = read_entries(file, file_format=file_format, delimiter=delimiter)
    matches = [name for value in (match_on or []) for name in value.split(",")] or None
    choice = session.division(division)
    stop = threading.Event()
    with session.connect(ctx, credential) as conn, session.interruptible(stop, "entries"):
        enabled = len(entries) >= LONG_RUN and session.show_progress()
        with progress("Creating time transactions", len(entries), enabled=enabled) as advance:
            result = create_time_transactions(
                conn,
                entries,
                division=choice,
                key=key,
                match_on=matches,
                dry_run=dry_run,
                progress=lambda _outcome: advance(1),
                rebook_changed=rebook_changed,
                stop=stop,
            )
    _show_create(result, fmt)
    code = create_exit_code(result)
    if code:
        raise typer.Exit(code)


def create_exit_code(result: CreateResult) -> int:
    """What a batch's exit code says: 0 only when every entry is booked (now or earlier); the code of
    the first failure's cause; else 13 when entries are pending or changed (the run is not complete)."""
    if result.stopped:
        return INTERRUPTED
    if result.failed:
        first = result.failed[0].error
        return exit_code_for(first) if first is not None else 1
    if result.pending or result.changed:
        return INCOMPLETE
    return 0


OUTCOME_COLUMNS = ("row", "division", "status", "ID", "message")


def _show_create(result: CreateResult, fmt: Format) -> None:
    if fmt in (Format.csv, Format.ndjson) and not result.dry_run:
        rows = ({name: o.as_dict().get(name) for name in OUTCOME_COLUMNS} for o in result.outcomes)
        write_records(rows, fmt, sys.stdout, columns=OUTCOME_COLUMNS)  # one line per entry
        return
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
        style = {"failed": "red", "pending": "yellow", "changed": "yellow"}.get(outcome.status)
        table.add_row(
            str(outcome.row),
            str(outcome.division),
            outcome.status,
            cell(outcome.record_id),
            cell(outcome.message),
            style=style,
        )
    console.print(table)
    counts = {
        "Created": result.created,
        "booked earlier": result.skipped,
        "changed": result.changed,
        "pending": result.pending,
        "failed": result.failed,
        "not sent (interrupted)": result.stopped,
    }
    shown = [f"{label} {len(found)}" for label, found in counts.items() if found or label == "Created"]
    console.print(", ".join(shown) + ".")
    if result.pending:
        console.print("Pending entries were not sent again: rerun after the time shown to settle them.")
    if result.stopped:
        console.print(
            f"Interrupted: {len(result.stopped)} entries were not sent; the same command books them "
            "(nothing booked is sent twice)."
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
    session.calling_exact()
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
