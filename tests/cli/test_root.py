"""The command's root: --version and -h, as users expect of any command."""

from __future__ import annotations

import pytest
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


def test_the_root_help_names_every_command_with_its_own_first_line() -> None:
    from exactmate.cli.commands import COMMANDS, load

    for name, lazy in COMMANDS.items():
        command = load(name)
        own = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        assert own == lazy.short_help, name  # cli/commands.py says what the command says of itself
        assert CliRunner().invoke(app, [name, "--help"]).exit_code == 0, name


@pytest.mark.parametrize("args", [["--help"], ["get", "--help"], ["call", "--help"], ["db", "--help"]])
def test_help_imports_none_of_the_heavy_packages(args: list[str]) -> None:
    """The start-up budget: help is typer, Rich and the command's own module, not the client, the
    store, SQLAlchemy, httpx, the web stack or the emulator (issue 17; bench/startup.py); nor
    pydantic (Typer converts an option's value through it, and the root's help flag used to have
    one to convert), the catalogue, the OData layer or the record writers, which the commands
    import when they run."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from exactmate.cli import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0 and 'Usage' in result.stdout, result.stdout\n"
        "heavy = ('sqlalchemy', 'httpx', 'fastapi', 'uvicorn', 'cryptography', 'exactmate.emulator',\n"
        "         'exactmate.client', 'exactmate.actions.context', 'exactmate.store', 'pydantic',\n"
        "         'exactmate.catalogue', 'exactmate.odata', 'exactmate.cli.output')\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == ""


def test_listing_a_vault_not_created_yet_imports_no_database_and_creates_nothing(tmp_path) -> None:
    """`exactmate vault list` on a fresh home: the vault is empty without opening (or creating) the
    database, so it needs neither SQLAlchemy nor the client, nor Rich to say so (issue 17;
    bench/startup.py)."""
    import os
    import subprocess
    import sys

    home = tmp_path / "fresh"
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from exactmate.cli import app\n"
        "result = CliRunner().invoke(app, ['vault', 'list'])\n"
        "assert result.exit_code == 0 and 'No credentials yet' in result.stdout, result.stdout\n"
        "heavy = ('sqlalchemy', 'httpx', 'cryptography', 'exactmate.client', 'exactmate.store', 'rich')\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    env = {**os.environ, "EXACTMATE_HOME": str(home)}
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert ran.stdout.strip() == ""
    assert not home.exists() or not any(home.iterdir())  # no database, no master key made for a listing


def test_listing_the_journal_needs_the_store_but_not_the_client(tmp_path) -> None:
    """`exactmate journal list` on an existing store opens the database (SQLAlchemy), but imports
    neither httpx nor the client, nor SQLAlchemy's PostgreSQL dialect on a SQLite store: 685 ms ->
    482 ms (bench/startup.py)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "EXACTMATE_HOME": str(tmp_path / "home")}
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from exactmate.cli import app\n"
        "result = CliRunner().invoke(app, ['journal', 'list'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = ('httpx', 'exactmate.client', 'exactmate.resource', 'sqlalchemy.dialects.postgresql')\n"
        "print('sqlalchemy' in sys.modules, ','.join(name for name in heavy if name in sys.modules))\n"
    )
    argv = [sys.executable, "-c", script]
    for _ in range(2):  # the first run makes the store; the second opens it
        ran = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
    assert ran.stdout.strip() == "True"
