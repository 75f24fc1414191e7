"""Sync benchmark: a first load of time entries into SQLite, against reading the same feed alone.

The emulator runs as ``exactmate emulator serve --records N`` in a child process (its data and CPU
are not the client's), one division, the given latency per answer. The time-and-cost feed
(``sync/Project/TimeCostTransactions``) holds the N time entries and N/10 cost entries.

Side by side, alternating, each repeated:

- **feed alone**: ``resource("project/TimeTransactions").changes()`` read to the end through a
  vault credential's client (the governor on), records counted and dropped: what the calls cost;
- **sync**: ``exactmate.sync.sync_endpoints`` of project/TimeTransactions into a fresh SQLite file,
  through the same kind of connection: the calls plus the upserts and the cursor, page by page.

Reported: records, calls (counted by the emulator), median seconds of each, their ratio (aim: the
sync within 1.2x of the feed alone), and the sync's peak resident memory growth (aim: flat).

Run from the repository root:  ``.venv/bin/python -m bench.sync_load``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from tests.proofs.harness import EmulatorProcess, Home, stats

from bench.client_support import client_for, command, machine, median, mib, rss_bytes
from exactmate.actions import open_connection
from exactmate.emulator.config import EmulatorConfig
from exactmate.sync import EndpointReport, sync_endpoints

PATH = "project/TimeTransactions"


def run(records: int, latency_ms: float, repeats: int) -> dict[str, object]:
    config = EmulatorConfig(
        port=0,
        records=records,
        divisions=1,
        minutely_limit=1_000_000,
        daily_limit=10_000_000,
        latency_ms=latency_ms,
    )
    feed_seconds: list[float] = []
    sync_seconds: list[float] = []
    feed_calls = sync_calls = synced = read = 0
    peak = 0
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        home = Home(str(Path(tmp) / "home"))
        division = config.accessible_divisions[0]
        client_for(home, emulator.config, emulator.base_url).close()
        with open_connection(home.credential, settings=home.settings()) as conn:
            conn.client.me()
            for round_ in range(repeats):
                before = stats(emulator.base_url)["total_requests"]
                started = time.perf_counter()
                read = sum(len(p.records) for p in conn.client.resource(PATH, division).changes())
                feed_seconds.append(time.perf_counter() - started)
                feed_calls = stats(emulator.base_url)["total_requests"] - before

                target = f"sqlite:///{Path(tmp) / f'sync-{round_}.db'}"
                start_rss = rss_bytes()

                def sample(_report: EndpointReport, start: int = start_rss) -> None:
                    nonlocal peak
                    peak = max(peak, rss_bytes() - start)

                before = stats(emulator.base_url)["total_requests"]
                started = time.perf_counter()
                result = sync_endpoints(conn, [PATH], target, division=division, progress=sample)
                sync_seconds.append(time.perf_counter() - started)
                sync_calls = stats(emulator.base_url)["total_requests"] - before
                assert result.ok, [str(r.error) for r in result.reports]
                synced = result.reports[0].inserted
    return {
        "records": records,
        "latency": latency_ms,
        "read": read,
        "synced": synced,
        "feed_calls": feed_calls,
        "sync_calls": sync_calls,
        "feed": median(feed_seconds),
        "sync": median(sync_seconds),
        "peak": peak,
    }


def report(results: list[dict[str, object]]) -> str:
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        "| latency | time entries | synced | feed calls | sync calls | bound ceil(N×1.1/1000)+3 "
        "| feed alone | sync | ratio (aim ≤ 1.2) | sync memory growth |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        n = int(str(r["records"]))
        bound = math.ceil((n + n // 10) / 1000) + 3  # the feed also holds one cost entry per ten
        feed, sync = float(str(r["feed"])), float(str(r["sync"]))
        lines.append(
            f"| {r['latency']:g} ms | {n:,} | {r['synced']:,} | {r['feed_calls']:,} | {r['sync_calls']:,} | "
            f"{bound:,} | {feed:.2f} s | {sync:.2f} s | {sync / feed:.2f} | {mib(float(str(r['peak'])))} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 100.0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = [run(args.records, latency, args.repeats) for latency in args.latency_ms]
    print(report(results))


if __name__ == "__main__":
    main()
