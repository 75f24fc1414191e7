"""``exactmate emulator``: run the built-in Exact Online emulator."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run the built-in Exact Online emulator.", no_args_is_help=True)
