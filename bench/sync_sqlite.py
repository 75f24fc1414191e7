"""SQLite alone, as a sync's first load writes it: which of the target's settings matter.

A first load of N time entries is synced once into a SQLite file (``sync_endpoints`` against
``exactmate emulator serve --records N`` at 0 ms), for the real table shape (47 columns, primary key
``(_division, ID)`` over random GUIDs) and the rows as the sync stores them. Those rows are then
written again, 1,000 a page in the feed's order, into fresh files, each way below, side by side,
alternating rounds, medians; no call, no parsing: the writes alone.

- **per page** (the sync before 2026-12-04): WAL, ``synchronous=NORMAL``, SQLite's default cache
  (2 MiB) and checkpoint (1,000 WAL pages); per page a lookup of its keys, the upsert, the cursor
  upsert, a commit;
- **+ cache and checkpoint**: ``SQLITE_LOADING`` (a 16 MiB cache, a checkpoint per 10,000 pages);
- **+ 10 pages a transaction**: also ``COMMIT_ROWS`` rows a transaction (the cursor still per page);
- **+ inserts counted by rowid**: also no lookup of the keys (``writer.upsert_counted``): the sync now.

Run from the repository root:  ``.venv/bin/python -m bench.sync_sqlite``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.proofs.harness import EmulatorProcess, Home

from bench.client_support import client_for, command, machine, median
from exactmate.actions import open_connection
from exactmate.emulator.config import EmulatorConfig
from exactmate.sync import sync_endpoints
from exactmate.sync.writer import COMMIT_ROWS, SQLITE_LOADING

PATH = "project/TimeTransactions"
TABLE = "project_timetransactions"
PAGE = 1_000
WAYS: dict[str, dict[str, Any]] = {
    "per page": {"pragmas": False, "pages": 1, "lookup": True},
    "+ cache and checkpoint": {"pragmas": True, "pages": 1, "lookup": True},
    "+ 10 pages a transaction": {"pragmas": True, "pages": COMMIT_ROWS // PAGE, "lookup": True},
    "+ inserts counted by rowid": {"pragmas": True, "pages": COMMIT_ROWS // PAGE, "lookup": False},
}


def sample(records: int, folder: Path) -> Path:
    """A SQLite file with the first load of ``records`` time entries, synced as a user would."""
    config = EmulatorConfig(
        port=0, records=records, divisions=1, minutely_limit=1_000_000, daily_limit=10_000_000
    )
    target = folder / "sample.db"
    with EmulatorProcess(config) as emulator:
        home = Home(str(folder / "home"))
        client_for(home, emulator.config, emulator.base_url).close()
        with open_connection(home.credential, settings=home.settings()) as conn:
            division = config.accessible_divisions[0]
            result = sync_endpoints(conn, [PATH], f"sqlite:///{target}", division=division)
            assert result.ok, [str(r.error) for r in result.reports]
    return target


def write(
    path: Path, schema: str, columns: Sequence[str], pages: Sequence[list[Any]], way: dict[str, Any]
) -> float:
    """Seconds to write ``pages`` into a fresh file at ``path`` the given way."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    if way["pragmas"]:
        for name, value in SQLITE_LOADING.items():
            db.execute(f"PRAGMA {name}={value}")
    db.execute(schema)
    db.execute("CREATE TABLE cursors (feed TEXT PRIMARY KEY, cursor INTEGER)")
    names = ", ".join(f'"{c}"' for c in columns)
    changes = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in ("_division", "ID"))
    upsert = (
        f"INSERT INTO {TABLE} ({names}) VALUES ({', '.join('?' for _ in columns)}) "
        f'ON CONFLICT (_division, "ID") DO UPDATE SET {changes}'
    )
    cursor = (
        "INSERT INTO cursors VALUES ('feed', ?) ON CONFLICT (feed) DO UPDATE SET cursor = excluded.cursor"
    )
    at = list(columns).index("ID")
    started = time.perf_counter()
    for number, page in enumerate(pages):
        if number % way["pages"] == 0:
            db.execute("BEGIN")
        if way["lookup"]:
            keys = [row[at] for row in page]
            marks = ", ".join("?" for _ in keys)
            found = db.execute(
                f'SELECT "ID" FROM {TABLE} WHERE _division = ? AND "ID" IN ({marks})', [page[0][0], *keys]
            )
            set(found)
        else:
            top = db.execute(f"SELECT max(rowid) FROM {TABLE}").fetchone()[0] or 0
        db.executemany(upsert, page)
        if not way["lookup"]:
            db.execute(f"SELECT count(*) FROM {TABLE} WHERE rowid > ?", (top,)).fetchone()
        db.execute(cursor, (number,))
        if number % way["pages"] == way["pages"] - 1 or number == len(pages) - 1:
            db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    return seconds


def run(records: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = sqlite3.connect(sample(records, folder))
        schema = source.execute("SELECT sql FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone()[0]
        columns = [row[1] for row in source.execute(f"PRAGMA table_info({TABLE})")]
        rows = source.execute(f"SELECT * FROM {TABLE} ORDER BY _timestamp").fetchall()
        source.close()
        pages = [rows[i : i + PAGE] for i in range(0, len(rows), PAGE)]
        seconds: dict[str, list[float]] = {name: [] for name in WAYS}
        for round_ in range(repeats):
            for index, (name, way) in enumerate(WAYS.items()):
                path = folder / f"way-{index}-{round_}.db"
                seconds[name].append(write(path, schema, columns, pages, way))
                for leftover in (
                    path,
                    path.with_name(path.name + "-wal"),
                    path.with_name(path.name + "-shm"),
                ):
                    leftover.unlink(missing_ok=True)
    return {name: median(values) for name, values in seconds.items()}


def report(records: int, results: dict[str, float]) -> str:
    first = next(iter(results.values()))
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        f"| {records:,} rows, 1,000 a page | writes | against per page |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {seconds:.2f} s | {seconds / first:.2f} |" for name, seconds in results.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(report(args.records, run(args.records, args.repeats)))


if __name__ == "__main__":
    main()
