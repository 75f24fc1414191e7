"""The ``exactmate`` command: arguments in, exit codes and output out.

Command groups live in their own modules, listed in ``cli/commands.py`` and imported only when used;
the one boundary that turns an ``ExactmateError`` into a message and an exit code is ``main``.
"""

from __future__ import annotations

import logging
import sys

import typer

from exactmate import __version__
from exactmate.cli.commands import LazyGroup
from exactmate.cli.context import CliContext
from exactmate.cli.exit_codes import exit_code_for
from exactmate.errors import ExactmateError

app = typer.Typer(
    name="exactmate",
    cls=LazyGroup,  # each command's module is imported when the command is used (see cli/commands.py)
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
