"""The command's root: --version and -h, as users expect of any command."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from exactmate import __version__
from exactmate.cli import app
from tests.loaded_modules import loaded_after


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
    script = (
        "from typer.testing import CliRunner\n"
        "from exactmate.cli import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0 and 'Usage' in result.stdout, result.stdout\n"
    )
    heavy = ["sqlalchemy", "httpx", "fastapi", "uvicorn", "cryptography", "exactmate.emulator"]
    heavy += ["exactmate.client", "exactmate.actions.context", "exactmate.store", "pydantic"]
    heavy += ["exactmate.catalogue", "exactmate.odata", "exactmate.cli.output"]
    assert loaded_after(script, heavy) == []


def test_the_command_does_not_load_httpxs_own_command_line_client() -> None:
    """``import httpx`` loads its command-line client (Click, Rich's console, Pygments) when they are
    installed; the ``exactmate`` process never runs it (20 ms of every command that makes a call)."""
    script = (
        "import sys\n"
        "from exactmate.cli import main\n"
        "sys.argv = ['exactmate', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "import httpx\n"
        "assert httpx.Client is not None and callable(httpx.main)\n"
    )
    assert loaded_after(script, ["httpx", "httpx._main", "click"]) == ["httpx"]


def test_a_command_run_in_a_process_of_its_own_leaves_that_process_alone() -> None:
    """``command()`` runs the command line in whatever process calls it (the tests' own, a
    program's): that process still ends with its own exit code, collector settings and modules.
    Only ``main()``, the ``exactmate`` process's entry point, takes the process over."""
    import subprocess
    import sys

    script = (
        "import gc, sys\n"
        "threshold = gc.get_threshold()\n"
        "from exactmate.cli import command\n"
        "sys.argv = ['exactmate', '--version']\n"
        "try:\n"
        "    command()\n"
        "except SystemExit as ended:\n"
        "    assert ended.code in (0, None), ended.code\n"
        "assert gc.get_threshold() == threshold and 'httpx._main' not in sys.modules\n"
        "sys.exit(3)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert ran.returncode == 3, ran.stderr
    assert ran.stdout.startswith("exactmate ")


def test_records_to_a_file_without_a_bar_do_not_load_rich() -> None:
    """Rich draws bars and tables; ``get --all --output F`` from a script draws neither (18 ms)."""
    script = (
        "import io\n"
        "from exactmate.cli.output import Format, write_records\n"
        "from exactmate.cli.progress import part_bars, progress\n"
        "with progress('Reading', None, enabled=False) as bar, part_bars(enabled=False) as bars:\n"
        "    bar(1)\n"
        "    bars.update('part', records=1, calls=1)\n"
        "    for fmt in (Format.ndjson, Format.csv, Format.json):\n"
        "        write_records([{'ID': 1, 'Name': 'x'}], fmt, io.StringIO())\n"
    )
    assert loaded_after(script, ["exactmate.cli.output", "rich"]) == ["exactmate.cli.output"]


def test_listing_a_vault_not_created_yet_imports_no_database_and_creates_nothing(tmp_path) -> None:
    """`exactmate vault list` on a fresh home: the vault is empty without opening (or creating) the
    database, so it needs neither SQLAlchemy nor the client, nor Rich to say so (issue 17;
    bench/startup.py)."""
    import os

    home = tmp_path / "fresh"
    script = (
        "from typer.testing import CliRunner\n"
        "from exactmate.cli import app\n"
        "result = CliRunner().invoke(app, ['vault', 'list'])\n"
        "assert result.exit_code == 0 and 'No credentials yet' in result.stdout, result.stdout\n"
    )
    env = {**os.environ, "EXACTMATE_HOME": str(home)}
    heavy = ["sqlalchemy", "httpx", "cryptography", "exactmate.client", "exactmate.store", "rich"]
    assert loaded_after(script, heavy, env=env) == []
    assert not home.exists() or not any(home.iterdir())  # no database, no master key made for a listing


def test_listing_the_journal_needs_the_store_but_not_the_client(tmp_path) -> None:
    """`exactmate journal list` on an existing store opens the database (SQLAlchemy), but imports
    neither httpx nor the client, nor SQLAlchemy's PostgreSQL dialect on a SQLite store: 685 ms ->
    482 ms (bench/startup.py)."""
    import os

    env = {**os.environ, "EXACTMATE_HOME": str(tmp_path / "home")}
    script = (
        "from typer.testing import CliRunner\n"
        "from exactmate.cli import app\n"
        "result = CliRunner().invoke(app, ['journal', 'list'])\n"
        "assert result.exit_code == 0, result.output\n"
    )
    names = ["sqlalchemy", "httpx", "exactmate.client", "exactmate.resource"]
    names.append("sqlalchemy.dialects.postgresql")
    for _ in range(2):  # the first run makes the store; the second opens it
        loaded = loaded_after(script, names, env=env)
    assert loaded == ["sqlalchemy"]


@pytest.mark.parametrize(
    ("args", "code", "stdout", "stderr", "ran"),
    [
        (["--version"], 0, "exactmate ", "", False),  # eager: ends before any command runs
        (["get", "nope/Nope"], 3, "", "error: Unknown endpoint 'nope/Nope'", True),  # ExactmateError
        (["get"], 2, "", "Missing argument", True),  # a usage error: Typer's own exit
        (["vault", "list"], 0, "No credentials yet", "", True),
    ],
)
def test_the_command_ends_without_pythons_teardown_yet_keeps_its_code_and_output(
    tmp_path, args: list[str], code: int, stdout: str, stderr: str, ran: bool
) -> None:
    """Once a command has ended, ``exactmate`` leaves at once (``cli._Ending``): exit handlers that a
    command registers still run and everything written is flushed, while Python's teardown (0.15 to
    0.2 s with SQLAlchemy and httpx loaded) and handlers registered before the command started are
    skipped."""
    import os
    import subprocess
    import sys

    script = (
        "import atexit, sys\n"
        "atexit.register(print, 'teardown ran')  # before main: Python's own ending would run it\n"
        "from exactmate.cli import main\n"
        "import exactmate.cli.context as context\n"
        "made = context.CliContext.__init__\n"
        "import gc\n"
        "def _init(self, *a, **k):\n"
        "    atexit.register(print, 'command handler ran', gc.get_threshold()[0])\n"
        "    made(self, *a, **k)\n"
        "context.CliContext.__init__ = _init\n"
        "sys.stdout.write('x' * 100_000)  # buffered: lost unless flushed\n"
        f"sys.argv = ['exactmate', *{args!r}]\n"
        "main()\n"
    )
    env = {**os.environ, "EXACTMATE_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == code, done.stderr
    assert done.stdout.startswith("x" * 100_000)
    assert stdout in done.stdout and stderr in done.stderr
    assert "teardown ran" not in done.stdout
    assert ("command handler ran 10000" in done.stdout) is ran  # young objects collected less eagerly
