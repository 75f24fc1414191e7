"""The commands of ``exactmate``, each imported only when it is used.

The command modules pull in the client, SQLAlchemy, httpx, the web stack or the emulator; importing
all of them made ``exactmate --help`` take most of a second. The root command is a ``LazyGroup``:
its list of commands and their one-line help come from ``COMMANDS``, and a command's module is
imported when that command runs or shows its own help. ``tests/cli/test_root.py`` checks that the
one-line help here is each command's own, and that ``exactmate --help`` imports none of the heavy
packages.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

import typer
from typer import _click as click  # the click Typer carries and builds its commands with
from typer.core import TyperCommand, TyperGroup

from exactmate.cli.coercion import absent_help_is_false, plain_params

How = Literal["group", "member", "function"]


@dataclass(frozen=True)
class Lazy:
    """Where a command lives: ``module``, and ``how`` it is kept there (``group``: the module's
    ``app`` is the command group; ``member``: a command of the module's ``app``; ``function``: the
    module's function ``attr``), with the one line ``exactmate --help`` shows for it."""

    module: str
    how: How
    short_help: str
    attr: str = "app"


COMMANDS: dict[str, Lazy] = {
    "ui": Lazy(
        "exactmate.cli.ui",
        "function",
        "Serve the web UI: Management → Vault and the actions, with Test Connect in the browser.",
        "ui",
    ),
    "sync": Lazy(
        "exactmate.cli.sync",
        "function",
        "Bring your database's copy of ENDPOINTS up to date with Exact Online.",
        "sync",
    ),
    "flow": Lazy(
        "exactmate.cli.flow",
        "group",
        "Flows: steps that run unattended, validated first, durable, with a run history (docs/flows.md).",
    ),
    "worker": Lazy(
        "exactmate.cli.worker",
        "function",
        "Take flow runs from the shared queue and run them until stopped (SIGTERM or Ctrl-C).",
        "worker",
    ),
    "emulator": Lazy("exactmate.cli.emulator", "group", "Run the built-in Exact Online emulator."),
    "time": Lazy(
        "exactmate.cli.time", "group", "Project time transactions: create (one or many) and update."
    ),
    "get": Lazy("exactmate.cli.records", "member", "List records of an endpoint, or get one by its key."),
    "delete": Lazy(
        "exactmate.cli.records",
        "member",
        "Delete one record by its key: shown first, confirmed (unless --yes), kept in the audit log.",
    ),
    "endpoints": Lazy(
        "exactmate.cli.records",
        "member",
        "The service and endpoint picker: service, endpoint, methods, key, page size, status.",
    ),
    "fields": Lazy(
        "exactmate.cli.records", "member", "The Data Manager's field list: name, type, mandatory, read-only."
    ),
    "call": Lazy(
        "exactmate.cli.records",
        "member",
        "A custom request: read/ functions, navigation links, /$count and anything else.",
    ),
    "demo": Lazy(
        "exactmate.cli.demo",
        "member",
        "Run the emulator, connect to it, and show each of the four actions: no Exact account needed.",
    ),
    "vault": Lazy(
        "exactmate.cli.vault",
        "group",
        "Application credentials for Exact Online: add, test, connect, list, edit, remove.",
    ),
    "db": Lazy(
        "exactmate.cli.db",
        "group",
        "exactmate's own database: its schema revision, and upgrading it to this exactmate's.",
    ),
    "audit": Lazy(
        "exactmate.cli.audit",
        "group",
        "The audit log: every update, delete and restore, with the record before and after.",
    ),
    "journal": Lazy(
        "exactmate.cli.journal",
        "group",
        "The create journal: every entry claimed before it was sent, and what became of it.",
    ),
}


def load(name: str) -> click.Command:
    """The command ``name``, its module imported now."""
    lazy = COMMANDS[name]
    module = importlib.import_module(lazy.module)
    found: Any = getattr(module, lazy.attr)
    if lazy.how == "function":
        single = typer.Typer()
        single.command(name=name)(found)
        return plain_params(typer.main.get_command(single))
    group = typer.main.get_group(found)
    if lazy.how == "group":
        group.name = name
        return plain_params(group)
    return plain_params(group.commands[name])


class LazyGroup(TyperGroup):
    """The root group: ``COMMANDS`` listed without importing them, each loaded when it is used."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return own + [name for name in COMMANDS if name not in own]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in COMMANDS:
            return found
        if self._listing:  # the root's help: the one line is enough
            return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name].short_help)
        command = load(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def get_help_option(self, ctx: click.Context) -> Any:
        """Typer's help flag, False when not given (``coercion.absent_help_is_false``): the root's
        absent help flag imported pydantic before any command's own help was shown."""
        return absent_help_is_false(super().get_help_option(ctx))

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
