"""The ``exactmate`` command: arguments in, exit codes and output out.

Command groups live in their own modules, listed in ``cli/commands.py`` and imported only when used;
the one boundary that turns an ``ExactmateError`` into a message and an exit code is ``main``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import os
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


class _Ending:
    """How the command ended, and leaving the process without Python's teardown once it has.

    Everything a command opens is closed by the command itself (files, the store, the client), and
    threads that are not daemons are waited for before exit handlers run. What Python would do after
    that (walk every object for a last collection, empty each module, free the memory piece by
    piece) changes nothing outside the process, yet takes 0.15 to 0.2 s once SQLAlchemy and httpx
    are loaded: a tenth of a 20,000-record ``get --all`` (docs/benchmarks.md, "Output speed").
    ``leave`` is registered as ``main`` starts, so every exit handler registered after it (by a
    command, a library it imports) still runs first; then the standard streams are flushed and
    the process ends with the command's exit code. When an exception escapes instead (a bug: its
    traceback is printed), the ending is Python's own."""

    def __init__(self) -> None:
        self.code: int | None = None

    def ended(self, exit: SystemExit) -> None:
        """The command ended with ``exit`` (its code: None, a number, or a message, exit code 1)."""
        code = exit.code
        self.code = 0 if code is None else code if isinstance(code, int) else 1

    def leave(self) -> None:
        if self.code is None:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing to say
                stream.flush()
        os._exit(self.code)


YOUNG_OBJECTS = 10_000
"""Python's cycle collector looks at new objects once this many more have been made than freed
(Python's own 700). A page of 1,000 records is over 1,000 new objects at once, each looked at, found
alive and moved on to be looked at again later, while nearly all of them are freed a moment later
without the collector: the command spent 0.14 s less of its CPU time on a 20,000-record ``get --all``
(docs/benchmarks.md, "Output speed"). What is garbage only as part of a cycle still goes, later."""


HTTPX_COMMAND_LINE = "httpx._main"
"""httpx's own command-line client, which ``import httpx`` loads whenever Click, Rich and Pygments
are installed (they are, for Typer and uvicorn): 20 ms of every command that makes a call, for a
client exactmate never runs. ``main`` marks it as not importable, which httpx takes as those
packages missing (its ``main`` then only says so); only the ``exactmate`` process is affected, never
a program that imports exactmate as a library."""


def command() -> None:
    """Run the command line once, in this process as it is: an ``ExactmateError`` becomes its
    message on standard error and its exit code (``SystemExit``, as every ending of a command).
    What ``main`` runs; tests and programs that run commands in their own process call this, which
    changes nothing of the process (``main`` takes it over)."""
    _show_warnings()
    try:
        app(standalone_mode=True)
    except ExactmateError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exit_code_for(exc))


def main() -> None:
    """Entry point of the ``exactmate`` process: owns the process (httpx's own command line not
    loaded, ``YOUNG_OBJECTS``, and leaving without Python's teardown once the command has ended:
    ``_Ending``), then runs ``command``. Only for a process that is the command: once ``main`` has
    run, the process ends with the command's exit code, whatever runs after it."""
    sys.modules.setdefault(HTTPX_COMMAND_LINE, None)  # type: ignore[arg-type]
    ending = _Ending()
    atexit.register(ending.leave)
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
    try:
        command()
    except SystemExit as exit:
        ending.ended(exit)
        raise
