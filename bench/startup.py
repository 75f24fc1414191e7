"""Start-up benchmark: how long a command takes to start, against ``python -c "import typer"``.

Each command runs as a new process, as a user's shell runs it, with an empty ``EXACTMATE_HOME``
(so ``vault list`` opens an empty vault), except ``journal list``, which runs in a home of its own
whose store exists already (made by one untimed run first), so it opens a database and checks its
schema as every command after the first does. With ``--baseline EXE`` (another checkout's
``exactmate``, e.g. main's) every command also runs through that one, in the same rounds, so the two
are compared side by side on one machine load. The processes alternate, nine rounds, and the medians
and their ratio to the bare ``import typer`` are reported. Aim (issue 17): each under 3x.

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
TYPER = 'python -c "import typer"'
COMMANDS = {
    "exactmate --help": ["--help"],
    "exactmate get --help": ["get", "--help"],
    "exactmate vault list (empty vault)": ["vault", "list"],
    "exactmate journal list (existing store)": ["journal", "list"],
}
EXISTING_STORE = "exactmate journal list (existing store)"
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
OPEN_STORE = """
import statistics, sys, time
from exactmate.store import Store
url = sys.argv[1]
Store(url).close()  # made, or upgraded, once
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    Store(url).close()
    times.append(time.perf_counter() - started)
print(statistics.median(times))
"""


def run(rounds: int, baseline: str | None = None) -> dict[str, float]:
    executables = {"": EXE, **({" (baseline)": baseline} if baseline else {})}
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as used:
        runs: dict[str, tuple[list[str], dict[str, str]]] = {
            TYPER: ([sys.executable, "-c", "import typer"], dict(os.environ))
        }
        for suffix, exe in executables.items():
            own = Path(used) / (suffix.strip(" ()") or "this")  # each exactmate its own store
            for name, args in COMMANDS.items():
                home = own if name == EXISTING_STORE else Path(empty)
                runs[name + suffix] = ([exe, *args], {**os.environ, "EXACTMATE_HOME": str(home)})
            first, env = runs[EXISTING_STORE + suffix]
            subprocess.run(first, env=env, check=True, **QUIET)  # makes this exactmate's store
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, (argv, env) in runs.items():
                started = time.perf_counter()
                subprocess.run(argv, env=env, check=False, **QUIET)
                times[name].append(time.perf_counter() - started)
    return {name: median(values) for name, values in times.items()}


def store_opens(executable: str, opens: int) -> float:
    """In ``executable``'s environment: the median time ``Store(url)`` takes on an existing SQLite
    store, the schema check every command makes."""
    python = str(Path(executable).with_name("python"))
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite:///{home}/exactmate.db"
        out = subprocess.run([python, "-c", OPEN_STORE, url, str(opens)], capture_output=True, text=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--baseline", help="another exactmate executable to time side by side, e.g. main's")
    parser.add_argument("--opens", type=int, default=200, help="store opens timed in process")
    args = parser.parse_args()
    medians = run(args.rounds, args.baseline)
    base = medians[TYPER]
    print(f"Command: `{command()}`")
    print(f"Machine: {machine()}")
    print()
    print("| process | median | vs `import typer` (aim < 3x) |")
    print("| --- | ---: | ---: |")
    for name, seconds in medians.items():
        print(f"| `{name}` | {seconds * 1000:.0f} ms | {seconds / base:.1f}x |")
    print()
    print(f"Opening an existing store in process (`Store(url)`, median of {args.opens}):")
    print()
    print("| exactmate | median |")
    print("| --- | ---: |")
    for label, exe in (("this", EXE), ("baseline", args.baseline)):
        if exe:
            print(f"| {label} | {store_opens(exe, args.opens) * 1000:.2f} ms |")


if __name__ == "__main__":
    main()
