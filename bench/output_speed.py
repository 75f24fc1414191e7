"""Output speed: records written as NDJSON and CSV, and ``exactmate get --all -f ndjson -o F`` whole.

Two figures, each measured side by side in one run (issue 17 item 4):

- **Writers**: 200,000 records (the emulator's crm/Accounts and project/TimeTransactions records as
  ``get`` hands them to the writer: aware datetimes, GUIDs, numbers, text, empty fields, repeated
  to the count) written to a file as NDJSON and as CSV by ``exactmate.cli.output.write_records``
  ("now"), and by the writers as they were before orjson ("before", kept below verbatim as the
  baseline: ``json.dumps`` with a ``default`` per record, ``csv.DictWriter`` with ``csv_cell`` per
  value). The two alternate, round after round; medians and records a second. Aim: now at least
  3x before.
- **Whole command**: ``exactmate get crm/Accounts --all --format ndjson --output F`` over the
  emulator's records (a new process, as a shell runs it: start-up, vault, token, the read, writing
  the file), against exact-online-sdk's bare read loop of the same records and fields (its
  ``iter_pages``, no output, timed inside its own process so its start-up is not counted; installed
  in ``bench/.peer-venv`` as ``bench/peer_read.py`` does). Aim: exactmate faster.

Run from the repository root:  ``.venv/bin/python -m bench.output_speed``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import IO, Any

import httpx
from tests.proofs.harness import MASTER_KEY, EmulatorProcess, Home, stats

from bench.client_support import client_for, command, machine, median
from bench.emulator_bench import authorize
from bench.peer_read import PEER_LOOP, peer_python
from exactmate.actions.presentation import csv_cell, plain
from exactmate.catalogue import Catalogue
from exactmate.cli.output import Format, write_records
from exactmate.emulator.config import EmulatorConfig

SOURCES = ("crm/Accounts", "project/TimeTransactions")
ACCOUNTS = "crm/Accounts"
EXE = str(Path(sys.executable).with_name("exactmate"))
UNLIMITED = {"minutely_limit": 10**9, "daily_limit": 10**9, "token_seconds": 24 * 3600}


# -- the writers before this change (the baseline, as they were) -------------------------------------


def _before_default(value: Any) -> Any:
    converted = plain(value)
    if converted is value:
        return str(value)
    return converted


def _before_ndjson(records: Iterator[Mapping[str, Any]], out: IO[str]) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, default=_before_default, ensure_ascii=False))
        out.write("\n")
        count += 1
    out.flush()
    return count


def _before_csv(records: Iterator[Mapping[str, Any]], out: IO[str]) -> int:
    first = next(records)
    names = list(first)
    writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in (first, *records):
        writer.writerow({name: csv_cell(record.get(name)) for name in names})
        count += 1
    out.flush()
    return count


def _now(fmt: Format) -> Any:
    return lambda records, out: write_records(records, fmt, out)


WRITERS = {
    ("ndjson", "before"): _before_ndjson,
    ("ndjson", "now"): _now(Format.ndjson),
    ("csv", "before"): _before_csv,
    ("csv", "now"): _now(Format.csv),
}


def sample_records(per_source: int) -> dict[str, list[dict[str, Any]]]:
    """Records of each source endpoint as ``get --all`` hands them to the writer."""
    config = EmulatorConfig(port=0, records=per_source, divisions=1, **UNLIMITED)
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        division = emulator.config.accessible_divisions[0]
        client = client_for(Home(str(Path(tmp) / "home")), emulator.config, emulator.base_url)
        try:
            return {path: list(client.resource(path, division).list()) for path in SOURCES}
        finally:
            client.close()


def time_writers(records: list[dict[str, Any]], count: int, rounds: int) -> dict[tuple[str, str], float]:
    times: dict[tuple[str, str], list[float]] = {key: [] for key in WRITERS}
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out"
        for _ in range(rounds):
            for key, writer in WRITERS.items():
                with open(target, "w", encoding="utf-8", newline="") as out:
                    started = time.perf_counter()
                    written = writer(_cycle(records, count), out)
                    times[key].append(time.perf_counter() - started)
                assert written == count, (key, written)
    return {key: median(values) for key, values in times.items()}


def _cycle(records: list[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    return islice((record for _ in range(count // len(records) + 1) for record in records), count)


# -- the whole command against the peer's bare loop (PEER_LOOP: bench/peer_read.py's) ---------------


def time_command(records: int, rounds: int) -> dict[str, float]:
    fields = [n for n, f in Catalogue.load().endpoint(ACCOUNTS).fields.items() if not f.is_collection]
    config = EmulatorConfig(port=0, records=records, divisions=1, **UNLIMITED)
    python = peer_python()
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        division = emulator.config.accessible_divisions[0]
        home = Home(str(Path(tmp) / "home"))
        client_for(home, emulator.config, emulator.base_url).close()
        with httpx.Client(base_url=emulator.base_url) as http:
            token = authorize(http, emulator.config)
        target = Path(tmp) / "accounts.ndjson"
        argv = [EXE, "get", ACCOUNTS, "--all", "--format", "ndjson", "--output", str(target),
                "--division", str(division), "--overwrite", "--yes"]
        env = {**os.environ, "EXACTMATE_HOME": home.path, "EXACTMATE_MASTER_KEY": MASTER_KEY}
        peer_env = {**os.environ, "PEER_TOKEN": token, "PEER_BASE_URL": emulator.base_url,
                    "PEER_DIVISION": str(division), "PEER_PATH": ACCOUNTS, "PEER_SELECT": ",".join(fields)}
        for _ in range(rounds):
            before = stats(emulator.base_url)["total_requests"]
            started = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            ours.append(time.perf_counter() - started)
            our_calls = stats(emulator.base_url)["total_requests"] - before
            with target.open("rb") as written:
                lines = sum(1 for _ in written)
            before = stats(emulator.base_url)["total_requests"]
            done = subprocess.run([str(python), "-c", PEER_LOOP], env=peer_env, check=True,
                                  capture_output=True, text=True)
            answer = json.loads(done.stdout.strip().splitlines()[-1])
            theirs.append(float(answer["seconds"]))
            peer_calls = stats(emulator.base_url)["total_requests"] - before
            assert lines == answer["records"] == records, (lines, answer["records"], records)
    return {"ours": median(ours), "peer": median(theirs), "our_calls": our_calls, "peer_calls": peer_calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records the writers write")
    parser.add_argument("--command-records", type=int, default=20_000, help="accounts the command reads")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    samples = sample_records(1_000)
    written = {path: time_writers(records, args.records, args.rounds) for path, records in samples.items()}
    whole = time_command(args.command_records, args.rounds)

    print(f"Command: `{command()}`")
    print(f"Machine: {machine()}")
    print()
    print(f"Writers: {args.records:,} records to a file, medians of {args.rounds} alternating rounds.")
    print()
    print("| records of | format | before | now | records/s before | records/s now | speed-up (aim ≥ 3x) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for path, medians in written.items():
        fields = len(samples[path][0])
        for fmt in ("ndjson", "csv"):
            before, now = medians[(fmt, "before")], medians[(fmt, "now")]
            print(f"| {path} ({fields} fields) | {fmt} | {before:.2f} s | {now:.2f} s "
                  f"| {args.records / before:,.0f} | {args.records / now:,.0f} | {before / now:.1f}x |")
    print()
    print(f"Whole command: {args.command_records:,} records of {ACCOUNTS}, medians of {args.rounds} "
          "alternating rounds.")
    print()
    print("| run | calls | median | vs peer (aim < 1) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| `exactmate get {ACCOUNTS} --all --format ndjson --output F` (whole process) "
          f"| {int(whole['our_calls']):,} | {whole['ours']:.2f} s | {whole['ours'] / whole['peer']:.2f} |")
    print(f"| exact-online-sdk 2.0.0 `iter_pages` (loop only, no output) | {int(whole['peer_calls']):,} "
          f"| {whole['peer']:.2f} s | 1.00 |")


if __name__ == "__main__":
    main()
