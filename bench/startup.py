"""Start-up benchmark: how long a command takes to start, against ``python -c "import typer"``.

Each command runs as a new process, as a user's shell runs it, with an empty ``EXACTMATE_HOME``
(so ``vault list`` opens an empty vault), except ``journal list``, which runs in a second home whose
store exists already (made by one untimed run first), so it opens a database and checks its schema
revision as every command after the first does; the processes alternate, nine rounds, and the
medians and their ratio to the bare ``import typer`` are reported. Aim (issue 17): each under 3x.

Run from the repository root:  ``.venv/bin/python -m bench.startup``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.client_support import command, machine, median

EXE = str(Path(sys.executable).with_name("exactmate"))
RUNS = {
    'python -c "import typer"': [sys.executable, "-c", "import typer"],
    "exactmate --help": [EXE, "--help"],
    "exactmate get --help": [EXE, "get", "--help"],
    "exactmate vault list (empty vault)": [EXE, "vault", "list"],
    "exactmate journal list (existing store)": [EXE, "journal", "list"],
}
EXISTING_STORE = "exactmate journal list (existing store)"


def run(rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in RUNS}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as used:
        env = {**os.environ, "EXACTMATE_HOME": home}
        env_used = {**os.environ, "EXACTMATE_HOME": used}
        subprocess.run(RUNS[EXISTING_STORE], env=env_used, check=True, **quiet)  # creates the store
        for _ in range(rounds):
            for name, argv in RUNS.items():
                started = time.perf_counter()
                subprocess.run(argv, env=env_used if name == EXISTING_STORE else env, check=False, **quiet)
                times[name].append(time.perf_counter() - started)
    return {name: median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    medians = run(args.rounds)
    base = medians['python -c "import typer"']
    print(f"Command: `{command()}`")
    print(f"Machine: {machine()}")
    print()
    print("| process | median | vs `import typer` (aim < 3x) |")
    print("| --- | ---: | ---: |")
    for name, seconds in medians.items():
        print(f"| `{name}` | {seconds * 1000:.0f} ms | {seconds / base:.1f}x |")


if __name__ == "__main__":
    main()
