"""Client benchmark: reading all of 200,000 accounts, its cost in calls and the client's memory.

The emulator runs as ``exactmate emulator serve --records 200000`` in a child process, so neither its
data nor its CPU counts as the client's. The client is ``ExactClient.from_credential`` for a credential
signed in through the emulator's consent page (tokens sealed in a SQLite store, the rate governor on).

1. The whole read (``resource("crm/Accounts").list()``: no filter, order or top) goes through
   ``bulk/CRM/Accounts``: at most ceil(N/1000) + 2 calls, counted by the emulator.
2. The same 200,000 accounts through the 60-row endpoint (a filter that matches every account), for
   comparison: ceil(N/60) calls.
3. Memory while streaming: the client's resident set size, sampled at every page, against the size
   before the first page (the emulator's data is loaded by then, in the other process); and, in a
   second pass, the peak of Python allocations under ``tracemalloc``.

Run from the repository root:  ``.venv/bin/python -m bench.client_paging``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.proofs.harness import EmulatorProcess, Home, stats

from bench.client_support import client_for, command, machine, mib, rss_bytes
from exactmate.client import ExactClient
from exactmate.emulator.config import EmulatorConfig
from exactmate.odata import F, FilterInput

MEMORY_LIMIT = 50 * 2**20
_MASK = 2**64 - 1


@dataclass
class Read:
    """One full read: records, calls the emulator counted, seconds, and memory growth.

    ``checkpoints`` maps records read so far (a tenth, a half, all) to the growth since the start:
    of the resident set, and (when traced) of the Python allocations still held.
    """

    records: int
    fold: int
    calls: int
    seconds: float
    rss_peak: int = 0
    traced_peak: int = 0
    checkpoints: dict[int, tuple[int, int]] = field(default_factory=dict)


def read_all(
    client: ExactClient,
    base_url: str,
    division: int,
    expected: int,
    *,
    filter: FilterInput = None,
    trace: bool = False,
) -> Read:
    """Stream every account; keep only a count and a 64-bit sum of the IDs' hashes, so that what the
    benchmark itself holds does not grow with the records. Equal counts and sums from the bulk read
    and from the 60-row read (a different endpoint and paging key) show the same records came."""
    accounts = client.resource("crm/Accounts", division=division)
    before_calls = stats(base_url)["total_requests"]
    if trace:
        tracemalloc.start()
    start_rss = rss_bytes()
    read = Read(0, 0, 0, 0.0)
    marks = sorted({max(expected // 10, 1), max(expected // 2, 1), expected})
    started = time.perf_counter()
    for page in accounts.pages(select=["ID", "Code", "Name", "City", "Created", "Modified"], filter=filter):
        for record in page.records:
            read.records += 1
            read.fold = (read.fold + hash(record["ID"])) & _MASK
        now_rss = rss_bytes() - start_rss
        read.rss_peak = max(read.rss_peak, now_rss)
        while marks and read.records >= marks[0]:
            traced_now = tracemalloc.get_traced_memory()[0] if trace else 0
            read.checkpoints[marks.pop(0)] = (now_rss, traced_now)
    read.seconds = time.perf_counter() - started
    if trace:
        read.traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    read.calls = stats(base_url)["total_requests"] - before_calls
    return read


def run(records: int) -> dict[str, Any]:
    config = EmulatorConfig(
        port=0, records=records, divisions=1, minutely_limit=1_000_000, daily_limit=10_000_000
    )
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        home = Home(str(Path(tmp) / "home"))
        division = config.accessible_divisions[0]
        with client_for(home, emulator.config, emulator.base_url) as client:
            client.me()
            # Warm-up: imports, connection pool, store and token paths all used once before measuring.
            list(client.resource("crm/Accounts", division=division).list(select=["ID"], top=5))
            whole = read_all(client, emulator.base_url, division, records)
            traced = read_all(client, emulator.base_url, division, records, trace=True)
            paged = read_all(
                client, emulator.base_url, division, records, filter=F("Blocked") == False  # noqa: E712
            )
            # With the current division unknown, a fresh whole read also asks current/Me once.
            fresh = ExactClient.from_credential(home.credential, settings=home.settings())
            with fresh:
                before = stats(emulator.base_url)["total_requests"]
                n = sum(1 for _ in fresh.resource("crm/Accounts").list(select=["ID"]))
                fresh_calls = stats(emulator.base_url)["total_requests"] - before
    return {"records": records, "whole": whole, "traced": traced, "paged": paged, "fresh": (n, fresh_calls)}


def report(result: dict[str, Any]) -> str:
    n = result["records"]
    whole: Read = result["whole"]
    traced: Read = result["traced"]
    paged: Read = result["paged"]
    fresh_records, fresh_calls = result["fresh"]
    bound = math.ceil(n / 1000) + 2
    same = "yes" if (whole.records, whole.fold) == (paged.records, paged.fold) == (n, traced.fold) else "NO"
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        "| read of all accounts | records | same IDs as the 60-row read | calls | bound | seconds "
        "| records/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| whole read, `list()` from a fresh client (bulk twin + current/Me) | {fresh_records:,} | "
        f"| {fresh_calls:,} | ceil(N/1000)+2 = {bound:,} | | |",
        f"| whole read, division given (bulk twin, 1000 a call) | {whole.records:,} | {same} | "
        f"{whole.calls:,} | {bound - 1:,} | {whole.seconds:.2f} | {whole.records / whole.seconds:,.0f} |",
        f"| filtered read (60 a call, the endpoint itself) | {paged.records:,} | (reference) | "
        f"{paged.calls:,} | ceil(N/60)+1 = {math.ceil(n / 60) + 1:,} | {paged.seconds:.2f} | "
        f"{paged.records / paged.seconds:,.0f} |",
        "",
        "| client memory while streaming (emulator in another process) | growth since the first page |",
        "| --- | ---: |",
        *[
            f"| resident set after {done:,} records (bulk read) | {mib(rss)} |"
            for done, (rss, _) in whole.checkpoints.items()
        ],
        f"| resident set, peak during the bulk read | {mib(whole.rss_peak)} |",
        f"| resident set, peak during the 60-row read | {mib(paged.rss_peak)} |",
        *[
            f"| Python allocations held after {done:,} records (tracemalloc) | {mib(traced_now)} |"
            for done, (_, traced_now) in traced.checkpoints.items()
        ],
        f"| Python allocations, tracemalloc peak during a bulk read | {mib(traced.traced_peak)} |",
        "",
        f"Verdict: calls {fresh_calls} <= {bound}: {'yes' if fresh_calls <= bound else 'NO'}; "
        f"memory growth under 50 MiB: "
        f"{'yes' if max(whole.rss_peak, paged.rss_peak, traced.traced_peak) < MEMORY_LIMIT else 'NO'}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="accounts in the emulator")
    args = parser.parse_args()
    print(report(run(args.records)))


if __name__ == "__main__":
    main()
