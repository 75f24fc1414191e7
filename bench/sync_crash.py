"""Sync crash proof at full size: a first load of 200,000 time entries into SQLite, ``kill -9``-ed at
20 random moments, each followed by another run; at the end the table must equal Exact's records.

The emulator runs as ``exactmate emulator serve --records N`` in a child process (one division, no
rate limits, the given latency per answer). Each sync run is its own process (a vault credential,
the governor, the store: the path users run), killed with SIGKILL when the table has grown past a
random point of the load plus a random few milliseconds, so kills land inside calls, inside page
writes and between them. After the last kill, one run goes to the end. Checked against the feed
read in full: rows equal distinct IDs equal the emulator's time entries (no duplicate, no gap), and
every row's Quantity, Date and Notes equal the emulator's.

This is a proof, not a timed test: it takes minutes, so it lives here and its outcome is recorded
in docs/benchmarks.md. ``tests/proofs/test_sync_crash.py`` runs the same proof at 12,000 entries in CI.

Run from the repository root:  ``.venv/bin/python -m bench.sync_crash``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from tests.proofs.harness import EmulatorProcess, Home

from bench.client_support import client_for, command, machine
from exactmate.actions import open_connection
from exactmate.emulator.config import EmulatorConfig
from exactmate.sync import sync_endpoints

PATH = "project/TimeTransactions"
TABLE = "project_timetransactions"


def load(home: Home, target: str, division: int) -> None:
    """The child: one sync run (killed from outside, or run to its end)."""
    with open_connection(home.credential, settings=home.settings()) as conn:
        sync_endpoints(conn, [PATH], target, division=division)


def stored(target: str) -> int:
    """Rows in the table so far (0 before it exists)."""
    engine = create_engine(target)
    try:
        with engine.connect() as db:
            return int(db.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar_one())
    except Exception:  # the file or the table does not exist yet
        return 0
    finally:
        engine.dispose()


def _comparable(value: Any) -> Any:
    """A date as SQLite keeps it (naive UTC text, to the second); anything else as it is."""
    if isinstance(value, datetime):
        value = (value.astimezone(UTC) if value.tzinfo else value).replace(tzinfo=None).isoformat(" ")
    return value[:19] if isinstance(value, str) and value[:2] in ("19", "20") else value


def run(records: int, kills: int, latency_ms: float, seed: int) -> dict[str, object]:
    limits = {"minutely_limit": 1_000_000, "daily_limit": 10_000_000}
    config = EmulatorConfig(port=0, records=records, divisions=1, latency_ms=latency_ms, **limits)
    rng = random.Random(seed)
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        home = Home(str(Path(tmp) / "home"))
        division = config.accessible_divisions[0]
        client_for(home, emulator.config, emulator.base_url).close()
        target = f"sqlite:///{Path(tmp) / 'exact.db'}"
        points = sorted(rng.randrange(1, records) for _ in range(kills))
        done, runs, moments = 0, 0, []
        for point in points:
            before = stored(target)
            if before >= records:
                break
            child = context.Process(target=load, args=(home, target, division))
            child.start()
            runs += 1
            goal = max(point, before + 1)
            while stored(target) < goal and child.is_alive():
                time.sleep(0.005)
            time.sleep(rng.random() * 0.05)  # somewhere inside the next page's call or write
            if child.is_alive():
                os.kill(child.pid or 0, signal.SIGKILL)
                done += 1
                moments.append(stored(target))
            child.join(timeout=60)
        final = context.Process(target=load, args=(home, target, division))
        final.start()
        final.join(timeout=900)
        runs += 1
        assert final.exitcode == 0, final.exitcode
        with open_connection(home.credential, settings=home.settings()) as conn:
            expected = {
                str(r["ID"]): (_comparable(r["Quantity"]), _comparable(r["Date"]), r["Notes"])
                for page in conn.client.resource(PATH, division).changes()
                for r in page.records
            }
        engine = create_engine(target)
        with engine.connect() as db:
            rows = db.execute(text(f'SELECT "ID", "Quantity", "Date", "Notes" FROM {TABLE}')).all()
        engine.dispose()
    table = {str(r[0]): (_comparable(r[1]), _comparable(r[2]), r[3]) for r in rows}
    return {
        "records": records,
        "kills": done,
        "runs": runs,
        "moments": moments,
        "rows": len(rows),
        "distinct": len(table),
        "expected": len(expected),
        "missing": len(expected.keys() - table.keys()),
        "extra": len(table.keys() - expected.keys()),
        "differ": sum(1 for key, values in expected.items() if key in table and table[key] != values),
        "seconds": time.perf_counter() - started,
    }


def report(result: dict[str, object]) -> str:
    moments = ", ".join(f"{m:,}" for m in result["moments"])  # type: ignore[attr-defined]
    return "\n".join(
        [
            f"Command: `{command()}`",
            f"Machine: {machine()}",
            "",
            "| time entries | kills | runs | rows | distinct IDs | Exact's entries | missing | extra "
            "| fields differing | wall time |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {result['records']:,} | {result['kills']} | {result['runs']} | {result['rows']:,} "
            f"| {result['distinct']:,} | {result['expected']:,} | {result['missing']} | {result['extra']} "
            f"| {result['differ']} | {float(str(result['seconds'])):.0f} s |",
            "",
            f"Rows in the table when each kill landed: {moments}.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=20261204)
    args = parser.parse_args()
    result = run(args.records, args.kills, args.latency_ms, args.seed)
    print(report(result))
    ok = result["rows"] == result["distinct"] == result["expected"] == args.records
    if not ok or result["differ"] or result["missing"] or result["extra"]:
        raise SystemExit("the table does not equal Exact's records")


if __name__ == "__main__":
    main()
