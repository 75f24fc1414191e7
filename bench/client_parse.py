"""Client benchmark: the client's own cost per record, against a bare ``json.loads`` of the same bytes.

First the pages are recorded: every page of project/TimeTransactions (all fields, named in
``$select``: Price is among them, and the 1,000-row time-and-cost feed lacks it, so the read stays on
60-record pages, the path this benchmark has always measured) as the emulator serves them to
``ExactClient``. Then they are replayed through ``httpx.MockTransport`` to a client built with
explicit settings, and read with ``resource.list()``: request building, the transport, envelope
unwrapping, ``__metadata`` stripped, next links followed and every ``Edm.DateTime`` converted to an
aware Europe/Amsterdam datetime. Side by side, in the same run and alternating, the baseline is
``json.loads`` of each recorded page's bytes. The aim: the client reads at no less than half the
baseline's rate.

A second client line adds the rate governor on a SQLite store (what ``from_credential`` builds):
that is the cost per *call* of sharing limits across processes, shown for completeness. Two
breakdown lines split the client's time: the per-record work alone (``json.loads``, unwrapping,
``__metadata`` stripped, dates converted; no HTTP) and the transport alone (GETs of the recorded
pages through the ``httpx`` client the policy uses, no parsing); what the client takes beyond both
is its own plumbing.

Run from the repository root:  ``.venv/bin/python -m bench.client_parse``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
from tests.proofs.harness import Home, Recorder, StaticTokens, connect, replaying

from bench.client_support import command, machine, median
from exactmate import odata
from exactmate.catalogue import Catalogue
from exactmate.client import ExactClient
from exactmate.clock import SystemClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.transport import EmulatorTransport
from exactmate.governor import Governor
from exactmate.http import StatelessClient
from exactmate.store import Store

PATH = "project/TimeTransactions"
FIELDS = [name for name, field in Catalogue.load().endpoint(PATH).fields.items() if not field.is_collection]


def record(records: int, tmp: Path) -> tuple[str, int, dict[str, bytes], list[bytes]]:
    """Read every time transaction from the in-process emulator once; keep each page's bytes."""
    config = EmulatorConfig(records=records, divisions=1, minutely_limit=1_000_000, daily_limit=1_000_000)
    emulator = Emulator(config)
    try:
        home = Home(str(tmp / "record"))
        with httpx.Client(transport=EmulatorTransport(emulator), base_url=config.base_url) as http:
            connect(home, config, http, base_url=config.base_url)
        recorder = Recorder(EmulatorTransport(emulator), keep_bodies=True)
        division = config.accessible_divisions[0]
        with ExactClient.from_credential(home.credential, settings=home.settings(), transport=recorder) as c:
            count = sum(1 for _ in c.resource(PATH, division=division).list(select=FIELDS))
        pages = [body for url, body in recorder.bodies.items() if "/project/TimeTransactions" in url]
        assert count == records, (count, records)
        return config.base_url, division, dict(recorder.bodies), pages
    finally:
        emulator.close()


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    """Seconds ``fn`` takes, starting from a collected heap (no garbage left by the previous run)."""
    gc.collect()
    started = time.perf_counter()
    n = fn()
    return time.perf_counter() - started, n


READERS = {
    "json": "`json.loads` of each page's bytes (baseline)",
    "client": "`resource.list()` over MockTransport, dates converted",
    "governed": "the same with the rate governor on a SQLite store",
    "convert": "breakdown: `json.loads` + unwrap + strip + dates, no HTTP",
    "transport": "breakdown: the client's `httpx` client GETs the pages, no parsing",
}


def run(records: int, repeats: int) -> tuple[dict[str, list[float]], int, int]:
    """Every reader once per round, rounds alternating; returns each reader's per-round ratio to the
    baseline (``json``'s own list holds records/s), the number of pages and their bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        base_url, division, bodies, pages = record(records, Path(tmp))
        settings = Home(str(Path(tmp) / "replay")).settings()
        store = Store.from_settings(settings)
        clients = {
            "client": ExactClient(
                server_url=base_url,
                client_id="replay",
                tokens=StaticTokens(),
                transport=replaying(bodies),
                settings=settings,
            ),
            "governed": ExactClient(
                server_url=base_url,
                client_id="replay",
                tokens=StaticTokens(),
                transport=replaying(bodies),
                settings=settings,
                governor=Governor(store, SystemClock()),
            ),
        }
        plain = StatelessClient(transport=replaying(bodies))
        fields = clients["client"].catalogue.endpoint(PATH).fields
        sample = next(clients["client"].resource(PATH, division=division).list(select=FIELDS))
        assert isinstance(sample["Date"], datetime) and sample["Date"].tzinfo is not None

        def baseline() -> int:
            return sum(len(json.loads(page)["d"]["results"]) for page in pages)

        def convert() -> int:
            converter = odata.date_converter(fields, strip=True)
            n = 0
            for page in pages:
                payload = json.loads(page)
                raw, _, _ = odata.unwrap(payload)
                n += len(converter.page(raw, flat=odata.flat_page(page, payload, raw)))
            return n

        def transport() -> int:
            for url in bodies:
                plain.get(url).read()
            return records

        def client_read(client: ExactClient) -> Callable[[], int]:
            return lambda: sum(1 for _ in client.resource(PATH, division=division).list(select=FIELDS))

        readers: dict[str, Callable[[], int]] = {
            "json": baseline,
            "client": client_read(clients["client"]),
            "governed": client_read(clients["governed"]),
            "convert": convert,
            "transport": transport,
        }
        results: dict[str, list[float]] = {name: [] for name in readers}
        try:
            for _ in range(repeats):
                seconds = {}
                for name, reader in readers.items():
                    seconds[name], n = timed(reader)
                    assert n == records, (name, n)
                results["json"].append(records / seconds["json"])
                for name in readers:
                    if name != "json":
                        results[name].append(seconds["json"] / seconds[name])
        finally:
            for client in clients.values():
                client.close()
            plain.close()
            store.close()
        return results, len(pages), sum(len(p) for p in pages)


def report(records: int, results: dict[str, list[float]], pages: int, size: int) -> str:
    json_rate = median(results["json"])
    ratio = median(results["client"])
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        f"{records:,} time transactions, all fields, in {pages:,} recorded pages of 60 "
        f"({size / 2**20:.1f} MiB of JSON); medians of {len(results['json'])} alternating rounds.",
        "",
        "| reader | records/s | vs json.loads (median of per-round ratios) |",
        "| --- | ---: | ---: |",
    ]
    for name, label in READERS.items():
        share = 1.0 if name == "json" else median(results[name])
        lines.append(f"| {label} | {json_rate * share:,.0f} | {share:.2f} |")
    lines += [
        "",
        f"Verdict: the client reads at {ratio:.2f} of the baseline's rate (aim: at least 0.5): "
        f"{'yes' if ratio >= 0.5 else 'NO'}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="time transactions to record")
    parser.add_argument("--repeats", type=int, default=9, help="alternating runs (medians reported)")
    args = parser.parse_args()
    print(report(args.records, *run(args.records, args.repeats)))


if __name__ == "__main__":
    main()
