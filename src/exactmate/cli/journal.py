"""``exactmate journal list``: the create journal, which entries were booked, are pending or failed."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from exactmate.actions.journal import JournalEntry, journal_entries
from exactmate.actions.presentation import local_text
from exactmate.cli import session
from exactmate.cli.output import Format, write_records

app = typer.Typer(
    help="The create journal: every entry claimed before it was sent, and what became of it.",
    no_args_is_help=True,
)

COLUMNS = ["source", "row_key", "state", "division", "record_key", "updated"]


@app.command("list")
def list_rows(
    ctx: typer.Context,
    credential: session.CredentialFilterOption = None,
    source: Annotated[
        str | None, typer.Option(help="Only this source: its scope (e.g. entries) or the whole scope@owner.")
    ] = None,
    state: Annotated[str | None, typer.Option(help="Only pending, created or failed entries.")] = None,
    limit: session.LimitOption = 50,
    fmt: session.FormatOption = Format.table,
) -> None:
    """The entries, most recently changed first.

    Each with its source, row key, state, division, record key and when it last changed (local
    time)."""
    with session.store(ctx) as store:
        found = journal_entries(store, credential=credential, source=source, state=state, limit=limit)
    if fmt in (Format.json, Format.ndjson):
        write_records((e.as_dict() for e in found), fmt, sys.stdout)
        return
    rows = [_row(e, local=fmt is Format.table) for e in found]
    write_records(rows, fmt, sys.stdout, columns=COLUMNS, title="Create journal")


def _row(entry: JournalEntry, *, local: bool) -> dict[str, Any]:
    row = entry.as_dict()
    if local:
        row["updated"] = local_text(entry.updated_at)
    return {name: row[name] for name in COLUMNS}
