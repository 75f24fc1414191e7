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
sync within 1.2x of the feed alone), the sync's peak resident memory growth (aim: flat), and the
peak resident memory of its writer process (``exactmate.sync.writer``, which writes a load's pages
into the SQLite file), sampled after each page.

``--baseline SRC`` adds a third measurement to each round: the same sync by another checkout's
exactmate (``SRC`` its ``src`` directory, e.g. main's), in a child process on the same emulator and
vault (timed inside the child, its imports not counted), so a change and what it replaces are
measured side by side, alternating, under the same load.

Run from the repository root:  ``.venv/bin/python -m bench.sync_load``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.proofs.harness import EmulatorProcess, Home, stats

from bench.client_support import PAGE_BYTES, client_for, command, machine, median, mib, rss_bytes
from exactmate.actions import open_connection
from exactmate.emulator.config import EmulatorConfig
from exactmate.sync import EndpointReport, sync_endpoints

PATH = "project/TimeTransactions"


def baseline_sync(src: str, home: Home, target: str, division: int) -> float:
    """Seconds of one sync by the exactmate under ``src``, in a child process (``--child``)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.getcwd()])}
    args = [sys.executable, "-m", "bench.sync_load", "--child", json.dumps([home.path, target, division])]
    ran = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    answer = json.loads(ran.stdout)
    assert answer["ok"] and answer["src"].startswith(src), answer
    return float(answer["seconds"])


def writer_rss_bytes() -> int:
    """The resident set size of this process's sync writer process now (0 when none runs)."""
    found = 0
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if b"exactmate.sync.writer" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
                with open(f"/proc/{pid}/statm") as statm:
                    found = max(found, int(statm.read().split()[1]) * PAGE_BYTES)
            except OSError:  # ended meanwhile
                continue
    return found


def child(arguments: str) -> None:
    """The baseline's side: one timed sync, its seconds and where its exactmate came from as JSON."""
    import exactmate

    path, target, division = json.loads(arguments)
    home = Home(path)
    with open_connection(home.credential, settings=home.settings()) as conn:
        started = time.perf_counter()
        result = sync_endpoints(conn, [PATH], target, division=division)
        seconds = time.perf_counter() - started
    print(json.dumps({"ok": result.ok, "seconds": seconds, "src": exactmate.__file__}))


def run(records: int, latency_ms: float, repeats: int, baseline: str | None = None) -> dict[str, object]:
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
    base_seconds: list[float] = []
    feed_calls = sync_calls = synced = read = 0
    peak = writer_peak = 0
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
                    nonlocal peak, writer_peak
                    peak = max(peak, rss_bytes() - start)
                    writer_peak = max(writer_peak, writer_rss_bytes())

                before = stats(emulator.base_url)["total_requests"]
                started = time.perf_counter()
                result = sync_endpoints(conn, [PATH], target, division=division, progress=sample)
                sync_seconds.append(time.perf_counter() - started)
                sync_calls = stats(emulator.base_url)["total_requests"] - before
                assert result.ok, [str(r.error) for r in result.reports]
                synced = result.reports[0].inserted
                if baseline is not None:
                    base_target = f"sqlite:///{Path(tmp) / f'baseline-{round_}.db'}"
                    base_seconds.append(baseline_sync(baseline, home, base_target, division))
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
        "writer_peak": writer_peak,
        "baseline": median(base_seconds) if base_seconds else None,
    }


def report(results: list[dict[str, object]]) -> str:
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        "| latency | time entries | synced | feed calls | sync calls | bound ceil(N×1.1/1000)+3 "
        "| feed alone | sync | ratio (aim ≤ 1.2) | sync memory growth | writer process peak |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    baselines = [r for r in results if r["baseline"] is not None]
    for r in results:
        n = int(str(r["records"]))
        bound = math.ceil((n + n // 10) / 1000) + 3  # the feed also holds one cost entry per ten
        feed, sync = float(str(r["feed"])), float(str(r["sync"]))
        lines.append(
            f"| {r['latency']:g} ms | {n:,} | {r['synced']:,} | {r['feed_calls']:,} | {r['sync_calls']:,} | "
            f"{bound:,} | {feed:.2f} s | {sync:.2f} s | {sync / feed:.2f} | {mib(float(str(r['peak'])))} | "
            f"{mib(float(str(r['writer_peak'])))} |"
        )
    if baselines:
        lines += [
            "",
            "| latency | baseline sync | baseline ratio to the feed | this sync | this sync / baseline |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in baselines:
            feed, sync, base = (float(str(r[k])) for k in ("feed", "sync", "baseline"))
            ratios = f"{base / feed:.2f} | {sync:.2f} s | {sync / base:.2f}"
            lines.append(f"| {r['latency']:g} ms | {base:.2f} s | {ratios} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 100.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", metavar="SRC", help="also time the sync of the exactmate in SRC")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    baseline = str(Path(args.baseline).resolve()) if args.baseline else None
    results = [run(args.records, latency, args.repeats, baseline) for latency in args.latency_ms]
    print(report(results))


if __name__ == "__main__":
    main()
