"""The ``exactmate`` command: arguments in, exit codes and output out.

Command groups live in their own modules and are registered here; the one boundary that turns an
``ExactmateError`` into a message and an exit code is ``main``.
"""

from __future__ import annotations

import logging
import sys

import typer

from exactmate import __version__
from exactmate.cli.context import CliContext
from exactmate.cli.exit_codes import exit_code_for
from exactmate.errors import ExactmateError

app = typer.Typer(
    name="exactmate",
    help="Connect workflow automation to Exact Online.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"exactmate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
    ),
) -> None:
    """Connect workflow automation to Exact Online."""
    ctx.obj = CliContext()


@app.command()
def version() -> None:
    """Print the exactmate version."""
    typer.echo(__version__)


def _register() -> None:
    from exactmate.cli import emulator

    app.add_typer(emulator.app, name="emulator")
    from exactmate.cli import ui
    app.command(name="ui")(ui.ui)
    from exactmate.cli import demo, records, time

    app.add_typer(time.app, name="time")
    app.add_typer(records.app)
    app.add_typer(demo.app)
    from exactmate.cli import vault

    app.add_typer(vault.app, name="vault")
    from exactmate.cli import audit, journal

    app.add_typer(audit.app, name="audit")
    app.add_typer(journal.app, name="journal")
    from exactmate.cli import sync

    app.command(name="sync")(sync.sync)


_register()


def _show_warnings() -> None:
    """exactmate's own warnings (a database file others could read, ...) on standard error."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger("exactmate")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


def main() -> None:
    """Entry point of the ``exactmate`` command."""
    _show_warnings()
    try:
        app(standalone_mode=True)
    except ExactmateError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
