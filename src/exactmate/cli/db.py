"""``exactmate db``: the store's schema revision (``status``) and bringing it to this exactmate's
(``upgrade``).

Both open the database without the check every other command makes on opening, so they work on a
database that check refuses (older on PostgreSQL, or newer). Neither creates a SQLite file that does
not exist yet.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from exactmate.cli.context import context_of, no_database_yet
from exactmate.cli.formats import TextFormat as Format

if TYPE_CHECKING:
    from exactmate.store import SchemaStatus

app = typer.Typer(
    help="exactmate's own database: its schema revision, and upgrading it to this exactmate's.",
    no_args_is_help=True,
)




FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]


@app.command()
def status(ctx: typer.Context, fmt: FormatOpt = Format.text) -> None:
    """The database (without its password), its schema revision, this exactmate's, and what to do.

    Changes nothing: "up to date", "needs upgrade: exactmate db upgrade", "newer than this
    exactmate", or "empty" (the tables are made on first use)."""
    from exactmate.store import Store

    settings = context_of(ctx).settings
    if no_database_yet(ctx):
        shown = _not_created(settings.db_url)
    else:
        store = Store.from_settings(settings, check_schema=False)
        try:
            shown = store.schema_status()
        finally:
            store.close()
    if fmt is Format.json:
        typer.echo(json.dumps(shown.as_dict(), indent=2))
        return
    for label, value in (
        ("database", shown.database),
        ("revision", shown.found.describe()),
        ("head", shown.as_dict()["head"]),
        ("state", shown.summary),
    ):
        typer.echo(f"{label:<9} {value}")


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Bring the database's schema to this exactmate's: prints from which revision to which.

    Safe to run twice (the second time changes nothing) and from several places at once (they queue).
    On PostgreSQL run it once per release, before the workers start: they refuse an older schema."""
    from exactmate.store import Store

    store = Store.from_settings(context_of(ctx).settings, check_schema=False)
    try:
        done = store.upgrade_schema()
    finally:
        store.close()
    if done.changed:
        typer.echo(f"upgraded {done.database}: {done.before.describe()} → {done.after.describe()}")
    else:
        typer.echo(f"{done.database} is up to date: {done.after.describe()}")


def _not_created(url: str) -> SchemaStatus:
    from exactmate.config import describe_db_url
    from exactmate.store import SchemaState, SchemaStatus
    from exactmate.store.revision import Found

    return SchemaStatus(describe_db_url(url), Found(None, store_tables=False), SchemaState.empty)
