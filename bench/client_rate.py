"""Client benchmark: a job that needs five windows of calls, against the emulator's rate limit, in
real time.

The emulator (uvicorn, ``BackgroundServer``, the system clock) allows 60 calls per 5-second window,
fixed windows as Exact's. The job reads 17,970 accounts through the 60-row endpoint (a filter keeps
it off the bulk twin): 300 calls, five windows' worth. The client is ``ExactClient.from_credential``
with its rate governor on a SQLite store; it must meet no 429 and finish within 1.15 times the time
the limit allows.

The time the limit allows: the job starts as a window opens (the benchmark waits for that), so the
fifth window opens 4 x 5 s later and its 60 calls take what 60 calls take without any limit. That
last part is measured in the same run, against a second emulator whose limit is never reached.

Run from the repository root:  ``.venv/bin/python -m bench.client_rate``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.proofs.harness import Home, stats

from bench.client_support import client_for, command, machine, median
from exactmate.client import ExactClient
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from exactmate.odata import F

WINDOW = 5.0
LIMIT = 60
WINDOWS = 5
RECORDS = (WINDOWS * LIMIT - 1) * 60 + 30  # 299 full pages and one of 30: 300 calls


@dataclass
class Job:
    seconds: float
    calls: int
    rate_limited: int
    records: int


def job(client: ExactClient, base_url: str, division: int) -> Job:
    before = stats(base_url)
    started = time.perf_counter()
    accounts = client.resource("crm/Accounts", division=division)
    records = sum(1 for _ in accounts.list(select=["ID"], filter=F("Blocked") == False))  # noqa: E712
    seconds = time.perf_counter() - started
    after = stats(base_url)
    return Job(
        seconds,
        after["total_requests"] - before["total_requests"],
        after["rate_limited"] - before["rate_limited"],
        records,
    )


def wait_for_window() -> None:
    """Sleep until the next window opens (plus a hair, so that the server's clock agrees)."""
    now = time.time()
    time.sleep(math.ceil(now / WINDOW) * WINDOW - now + 0.01)


def run(repeats: int) -> tuple[list[Job], list[Job]]:
    limited_config = EmulatorConfig(
        port=0, records=RECORDS, divisions=1, minutely_limit=LIMIT, window_seconds=WINDOW, daily_limit=100_000
    )
    free_config = EmulatorConfig(
        port=0, records=RECORDS, divisions=1, minutely_limit=1_000_000, daily_limit=1_000_000
    )
    division = limited_config.accessible_divisions[0]
    limited_runs: list[Job] = []
    free_runs: list[Job] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        BackgroundServer(limited_config) as limited,
        BackgroundServer(free_config) as free,
        client_for(Home(str(Path(tmp) / "limited")), limited_config, limited.base_url) as slow,
        client_for(Home(str(Path(tmp) / "free")), free_config, free.base_url) as fast,
    ):
        job(fast, free.base_url, division)  # warm-up
        for _ in range(repeats):
            free_runs.append(job(fast, free.base_url, division))
            wait_for_window()
            limited_runs.append(job(slow, limited.base_url, division))
    return limited_runs, free_runs


def report(limited_runs: list[Job], free_runs: list[Job]) -> str:
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        "| run | calls | 429s | seconds (limited) | unlimited job, seconds | time the limit allows | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ratios = []
    for i, (limited, free) in enumerate(zip(limited_runs, free_runs, strict=True), start=1):
        allowed = (WINDOWS - 1) * WINDOW + free.seconds * LIMIT / free.calls
        ratio = limited.seconds / allowed
        ratios.append(ratio)
        lines.append(
            f"| {i} | {limited.calls} | {limited.rate_limited} | {limited.seconds:.2f} | {free.seconds:.2f} "
            f"| {allowed:.2f} | {ratio:.3f} |"
        )
    total_429 = sum(r.rate_limited for r in limited_runs)
    records_ok = all(r.records == RECORDS for r in limited_runs)
    lines += [
        "",
        f"Median ratio {median(ratios):.3f} (aim: at most 1.15); 429s in all runs: {total_429}; "
        f"every run read all {RECORDS:,} records: {'yes' if records_ok else 'NO'}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of the job (median reported)")
    args = parser.parse_args()
    print(report(*run(args.repeats)))


if __name__ == "__main__":
    main()
