"""What the action commands share: the ``--credential`` and ``--division`` options, opening the
connection (or the local store alone), reading ``Field=Value`` assignments, and when a progress bar
is shown (on a terminal only; the bars themselves are ``cli.progress``)."""

from __future__ import annotations

import gc
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from exactmate.cli.context import context_of
from exactmate.cli.formats import Format

if TYPE_CHECKING:  # imported where used: a command's --help needs neither the client, the store,
    # the catalogue nor the OData layer
    from exactmate.actions import ActionContext
    from exactmate.actions.divisions import DivisionChoice
    from exactmate.catalogue import Catalogue, Endpoint
    from exactmate.store import Store

def calling_exact() -> None:
    """What a command that will call Exact does first: have another thread make the process's TLS
    context (``tls.prepare``) while the command imports the client, the store and SQLAlchemy, so
    the 17 ms OpenSSL takes to read the certificates (the interpreter's lock released) overlap those
    imports instead of following them."""
    from exactmate import tls

    tls.prepare()


CredentialOption = Annotated[
    str | None,
    typer.Option(
        "--credential",
        "-c",
        help="Vault credential to use; optional when the vault holds one credential or a default one.",
    ),
]
DivisionOption = Annotated[
    str,
    typer.Option(
        "--division",
        "-d",
        help="Division code, 'current' (the one Exact uses for you, from current/Me) or 'all'.",
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the records to this file instead of the screen.")
]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace the --output file if it exists.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show the exact request (method, URL, JSON body); send no write.")
]
CredentialFilterOption = Annotated[
    str | None, typer.Option("--credential", "-c", help="Only the rows of this credential (any case).")
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many rows.")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Field=Value (repeatable); values are coerced by the field's type."),
]


@contextmanager
def connect(ctx: typer.Context, credential: str | None) -> Iterator[ActionContext]:
    """The connection for ``--credential`` (or the vault's only or default credential), open for
    the ``with`` block and closed after it.

    For the block's length, what exists when it opens (the modules, the catalogue, the client) is
    set aside from Python's cycle collector (``gc.freeze``), and handed back after (``gc.unfreeze``).
    None of it becomes garbage during a command, yet a long read, which makes short-lived objects by
    the million, would have each full collection walk all of it again: a tenth of a 20,000-record
    ``get --all`` (docs/benchmarks.md, "Output speed")."""
    from exactmate.actions import open_connection

    read_in_large_pieces()
    with open_connection(credential, settings=context_of(ctx).settings) as conn:
        gc.freeze()
        try:
            yield conn
        finally:
            gc.unfreeze()


READ_BYTES = 1 << 20
"""How much of an answer the command's HTTP client takes from its socket at a time; httpcore's own
is 64 KiB. A whole read's 4 MB page then comes in a handful of reads instead of 64, and the
read-ahead thread that receives it needs the interpreter's lock as many times fewer, while the
main thread writes the page before it: a 20,000-record ``get --all`` takes 0.93 of the time it took
with 64 KiB reads, side by side (docs/benchmarks.md, "Seventh session")."""


def read_in_large_pieces() -> None:
    """Have this process's HTTP connections read ``READ_BYTES`` at a time (httpcore's
    ``HTTP11Connection.READ_NUM_BYTES``, a class attribute: every connection of the process). Set by
    the commands, which own their process; a program that imports exactmate keeps httpcore's own."""
    from httpcore._sync.http11 import HTTP11Connection

    HTTP11Connection.READ_NUM_BYTES = READ_BYTES


@contextmanager
def store(ctx: typer.Context) -> Iterator[Store]:
    """The local database alone (the audit log, the create journal): no credential, no call."""
    from exactmate.store import Store

    opened = Store.from_settings(context_of(ctx).settings)
    try:
        yield opened
    finally:
        opened.close()


def catalogue(ctx: typer.Context) -> Catalogue:
    """The run's catalogue (loaded on first use)."""
    return context_of(ctx).catalogue


def endpoint(ctx: typer.Context, path: str, method: str, key: str | None = None) -> Endpoint:
    """Check ``path`` (its method and, when given, the key's form) against the catalogue before the
    vault is opened, so a typo is named with suggestions even when no credential is set up yet; the
    catalogue's ``Endpoint``, for the command to pass along instead of its path."""
    from exactmate.actions.keys import key_text

    target = catalogue(ctx).endpoint(path)
    target.require_method(method)
    if key is not None and key.strip():
        key_text(target, key)
    return target


def division(value: str) -> DivisionChoice:
    """``--division`` parsed (a ValidationError names the fix)."""
    from exactmate.actions.divisions import parse_division

    return parse_division(value)


def show_progress(stream: TextIO | None = None, *, data_on_screen: bool = False) -> bool:
    """Progress bars go to standard error, and only when it is a terminal; and not when records are
    being written to that same terminal (the two would interleave)."""
    stream = stream or sys.stderr
    if not _isatty(stream):
        return False
    return not (data_on_screen and _isatty(sys.stdout))


def agree(question: str) -> bool:
    """Ask ``question`` at the terminal, on standard error so that JSON on standard output stays
    clean; no, an empty answer or Ctrl-C is False."""
    try:
        return bool(typer.confirm(question, default=False, err=True))
    except typer.Abort:
        return False


def someone_can_answer() -> bool:
    """Whether a question can be asked: standard input is a terminal (not a pipe, a file or a job)."""
    return _isatty(sys.stdin)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def interruptible(stop: threading.Event, what: str) -> Iterator[None]:
    """While the block runs, the first Ctrl-C sets ``stop`` (no new call goes out; the ones in flight
    finish and are recorded) instead of killing the run half-way; a second Ctrl-C stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        echo_err(f"stopping: no new {what} are sent; the calls in flight finish (Ctrl-C again: quit now)")

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def echo_err(message: str) -> None:
    typer.echo(message, err=True)
