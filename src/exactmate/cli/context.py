"""What every command of one ``exactmate`` run shares: the settings and the catalogue, built once.

The root callback puts a ``CliContext`` in Typer's context; a command takes that context and asks
``context_of(ctx)``. Both parts are built on first use, so ``exactmate --help`` reads no environment
and loads no catalogue, and a command that needs the settings twice (vault, then connector) reads
them once.
"""

from __future__ import annotations

import sys
from functools import cached_property
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from exactmate.catalogue import Catalogue
    from exactmate.config import Settings


class CliContext:
    """The settings and catalogue of one command run, each built on first use."""

    @cached_property
    def settings(self) -> Settings:
        from exactmate.config import Settings

        return Settings.from_env()

    @cached_property
    def catalogue(self) -> Catalogue:
        from exactmate.catalogue import Catalogue

        return Catalogue.load()


def context_of(ctx: typer.Context) -> CliContext:
    """The run's context (one is made if the command was invoked without the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliContext):
        root.obj = CliContext()
    return root.obj


def no_database_yet(ctx: typer.Context) -> bool:
    """Whether the store is a SQLite file not created yet (a fresh home): nothing is stored, and
    saying so needs neither the database nor SQLAlchemy."""
    path = context_of(ctx).settings.db_file
    return path is not None and not path.exists()


def read_hidden(prompt: str, *, prompt_when_piped: bool = False) -> str:
    """A value typed without echo on a terminal; otherwise the next line of standard input.

    The one reader for the CLI's secrets and pasted sign-in addresses. ``prompt_when_piped`` still
    shows the (hidden) prompt when standard input is not a terminal, as the client-secret question
    always has.
    """
    if prompt_when_piped or sys.stdin.isatty():
        return str(typer.prompt(prompt.rstrip(": "), hide_input=True))
    return sys.stdin.readline()
