"""The command's root: --version and -h, as users expect of any command."""

from __future__ import annotations

from typer.testing import CliRunner

from exactmate import __version__
from exactmate.cli import app


def test_version_and_short_help() -> None:
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.strip() == f"exactmate {__version__}"
    for args in (["-h"], ["time", "create", "-h"], ["vault", "-h"]):
        shown = runner.invoke(app, args)
        assert shown.exit_code == 0 and "Usage: exactmate" in shown.stdout, args
