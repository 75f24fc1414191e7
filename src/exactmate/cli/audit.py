"""``exactmate audit list|show|restore``: the audit log, and a deleted record re-created from it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exactmate.actions import audit
from exactmate.actions.audit import AuditEntry
from exactmate.actions.dryrun import PlannedRequest
from exactmate.actions.presentation import cell, local_text
from exactmate.actions.restore import Confirm, RestoreResult, restore_credential, restore_entry
from exactmate.actions.writers import to_json
from exactmate.cli import session
from exactmate.cli.output import Format, table_console, write_record, write_records
from exactmate.errors import ValidationError

app = typer.Typer(
    help="The audit log: every update, delete and restore, with the record before and after.",
    no_args_is_help=True,
)

EntryArg = Annotated[int, typer.Argument(help="The audit log entry's number (see: exactmate audit list).")]
LIST_COLUMNS = ["id", "when", "credential", "division", "endpoint", "action", "key", "outcome"]


@app.command("list")
def list_entries(
    ctx: typer.Context,
    credential: session.CredentialFilterOption = None,
    endpoint: Annotated[str | None, typer.Option(help="Only this endpoint's, e.g. crm/Accounts.")] = None,
    key: Annotated[str | None, typer.Option(help="Only this record's (its key).")] = None,
    action: Annotated[str | None, typer.Option(help="Only update, delete or restore entries.")] = None,
    limit: session.LimitOption = 50,
    fmt: session.FormatOption = Format.table,
) -> None:
    """The entries, newest first.

    Each with when (local time), credential, division, endpoint, action, key and outcome; the
    snapshots too with --format json or ndjson."""
    with session.store(ctx) as store:
        found = audit.entries(
            store, credential=credential, endpoint=endpoint, record_key=key, action=action, limit=limit
        )
    if fmt in (Format.json, Format.ndjson):
        write_records((e.as_dict() for e in found), fmt, sys.stdout)
        return
    rows = [_row(e, local=fmt is Format.table) for e in found]
    write_records(rows, fmt, sys.stdout, columns=LIST_COLUMNS, title="Audit log")


def _row(entry: AuditEntry, *, local: bool) -> dict[str, Any]:
    row = entry.as_dict()
    if local:
        row["when"] = local_text(entry.at)
    return {name: row[name] for name in LIST_COLUMNS}


@app.command("show")
def show(ctx: typer.Context, entry_id: EntryArg, fmt: session.FormatOption = Format.table) -> None:
    """One entry, with the record before and after.

    When (local time), credential, division, endpoint, action, key, outcome, an update's changed
    fields, and both snapshots."""
    with session.store(ctx) as store:
        entry = audit.entry(store, entry_id)
    if fmt is not Format.table:
        write_record(entry.as_dict(), fmt, sys.stdout)
        return
    out = sys.stdout
    console = table_console(out)
    summary = Table("Field", "Value", title=f"Audit log entry {entry.id}")
    for name, value in _row(entry, local=True).items():
        if name != "id":
            summary.add_row(name, cell(value))
    console.print(summary)
    changes = audit.changed_fields(entry)
    if changes:
        table = Table("Field", "Before", "After", title="Changed fields")
        for name, (before, after) in changes.items():
            table.add_row(name, cell(before), cell(after))
        console.print(table)
    for label, snapshot in (("Before", entry.before), ("After", entry.after)):
        if snapshot is None:
            console.print(f"{label}: (no record)")
        else:
            write_record(snapshot, Format.table, out, title=label)
    if entry.action == "delete" and entry.outcome == "deleted":
        console.print(f"Re-create it with: exactmate audit restore {entry.id}")


@app.command("restore")
def restore(
    ctx: typer.Context,
    entry_id: EntryArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Restore without asking.")] = False,
    credential: Annotated[
        str | None,
        typer.Option("--credential", "-c", help="Vault credential (default: the entry's own)."),
    ] = None,
    dry_run: session.DryRunOption = False,
    fmt: session.FormatOption = Format.table,
) -> None:
    """Re-create a deleted record from its audit snapshot.

    Only the fields a create may set are sent; the record is shown first, confirmed (unless --yes)
    and the restore is kept in the audit log. An entry is restored once; an update is undone with
    the command its refusal names."""
    console = Console(highlight=False, soft_wrap=True)
    with session.store(ctx) as store:
        name = credential or restore_credential(store, entry_id)
    shown_on = console.file if fmt is Format.table else sys.stderr  # keep JSON output clean
    with session.connect(ctx, name) as conn:
        result = restore_entry(conn, entry_id, confirm=_confirm(entry_id, yes, shown_on), dry_run=dry_run)
    _show(result, fmt, console)


def _confirm(entry_id: int, yes: bool, shown_on: IO[str]) -> Confirm:
    """Show what will be sent, then ask (unless ``--yes``); with nobody at the terminal, refuse."""

    def confirm(body: Mapping[str, Any], request: PlannedRequest) -> bool:
        if not yes and not session.someone_can_answer():
            raise ValidationError(
                "A restore must be confirmed, and nobody at a terminal can answer; nothing was sent",
                hint=f"pass --yes to restore without the question: exactmate audit restore {entry_id} --yes",
            )
        write_record(body, Format.table, shown_on, title=f"Restore entry {entry_id}: the record to create")
        return yes or session.agree(f"Re-create this record ({request.method} {request.url})?")

    return confirm


def _show(result: RestoreResult, fmt: Format, console: Console) -> None:
    if fmt is not Format.table:
        payload = {**result.as_dict(), "record": result.record}
        typer.echo(to_json(payload, indent=2 if fmt is Format.json else None))
    elif result.dry_run:
        write_record(result.body, Format.table, console.file, title=f"Restore entry {result.entry_id}")
        console.print("Dry run, not sent:")
        console.print(str(result.request), markup=False)
    elif result.restored:
        console.print(
            f"Restored entry {result.entry_id} as {result.endpoint} {result.key} in division "
            f"{result.division} (audit log entry {result.audit_id})."
        )
    if result.skipped and fmt is Format.table:
        console.print(f"Left out (fields the catalogue does not know): {', '.join(result.skipped)}")
    if result.cancelled:
        session.echo_err("Not restored: the restore was not confirmed (pass --yes to skip the question).")
        raise typer.Exit(1)
