"""Output speed: records written as NDJSON and CSV, and ``exactmate get --all -f ndjson -o F`` whole.

Two figures, each measured side by side in one run (issue 17 item 4):

- **Writers**: 200,000 records (the emulator's crm/Accounts and project/TimeTransactions records as
  ``get`` hands them to the writer: aware datetimes, GUIDs, numbers, text, empty fields, repeated
  to the count) written to a file as NDJSON and as CSV by ``exactmate.cli.output.write_records``
  ("now"), and by the writers as they were before orjson ("before", kept below verbatim as the
  baseline: ``json.dumps`` with a ``default`` per record, ``csv.DictWriter`` with ``csv_cell`` per
  value). The two alternate, round after round; medians and records a second. Aim: now at least
  3x before.
- **Pages** (what the whole command's time per page is made of): the emulator's 1,000-record pages
  of every account field (fetched once), each turned into NDJSON bytes the two ways a whole read
  does it: the general path (``odata.parse_json``, ``unwrap``, the date converter, then
  ``presentation.json_line`` per record, as ``Listing.ndjson`` writes records) and the lines made
  straight from the bytes (``odata.LineShape``, what ``Resource.read(lines=True)`` gives from the
  second page on). One round reads every page in order with one converter and one shape, as one
  read does; the two alternate; medians per page.
- **Whole command**: ``exactmate get crm/Accounts --all --format ndjson --output F`` over the
  emulator's records (a new process, as a shell runs it: start-up, vault, token, the read, writing
  the file), against exact-online-sdk's bare read loop of the same records and fields (its
  ``iter_pages``, no output, timed inside its own process so its start-up is not counted; installed
  in ``bench/.peer-venv`` as ``bench/peer_read.py`` does). Aim: exactmate faster.

With ``--baseline SRC`` (another tree's ``src``, e.g. main's), that tree's writers ("baseline": a
child process with ``PYTHONPATH=SRC`` each round, on the same records) and its whole command
(``PYTHONPATH=SRC``) join the alternation, so a change is measured side by side with what it
changes. Every command runs with its bytecode cached (``PYTHONPYCACHEPREFIX`` in a temporary
directory, filled by a first run that is not timed), as an installed package runs: a shell whose
``PYTHONDONTWRITEBYTECODE`` is set would otherwise compile every module of the tree on each run.
``--parts`` runs only the writers or only the command.

Run from the repository root:  ``.venv/bin/python -m bench.output_speed``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import IO, Any

import httpx
from tests.proofs.harness import MASTER_KEY, EmulatorProcess, Home, stats

from bench.client_support import client_for, command, machine, median
from bench.emulator_bench import authorize
from bench.peer_read import PEER_LOOP, peer_python
from exactmate import odata
from exactmate.actions.presentation import csv_cell, json_line, plain
from exactmate.catalogue import Catalogue
from exactmate.cli.output import Format, write_records
from exactmate.emulator.config import EmulatorConfig
from exactmate.resource import check_read

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


def time_writers(
    records: list[dict[str, Any]], count: int, rounds: int, baseline: BaselineWriters | None = None
) -> dict[tuple[str, str], float]:
    times: dict[tuple[str, str], list[float]] = {key: [] for key in WRITERS}
    for _ in range(rounds):
        for key, seconds in _writers_round(records, count).items():
            times[key].append(seconds)
        if baseline is not None:
            for fmt, seconds in baseline.round().items():
                times.setdefault((fmt, "baseline"), []).append(seconds)
    return {key: median(values) for key, values in times.items()}


def _writers_round(
    records: list[dict[str, Any]], count: int, keys: Iterable[tuple[str, str]] = WRITERS
) -> dict[tuple[str, str], float]:
    """One round: each writer of ``keys`` writes ``count`` records to a new file; seconds each."""
    times: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out"
        for key in keys:
            writer = WRITERS[key]
            with open(target, "w", encoding="utf-8", newline="") as out:
                started = time.perf_counter()
                written = writer(_cycle(records, count), out)
                times[key] = time.perf_counter() - started
            assert written == count, (key, written)
    return times


class BaselineWriters:
    """The "now" writers of another tree, one round per child process (``PYTHONPATH=SRC``), on the
    records this run writes (handed over in a pickle file)."""

    def __init__(self, src: str, records: list[dict[str, Any]], count: int, folder: str) -> None:
        self._records_file = Path(folder) / f"records-{id(records)}.pickle"
        self._records_file.write_bytes(pickle.dumps(records))
        self._count = count
        self._env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.getcwd()])}

    def round(self) -> dict[str, float]:
        done = subprocess.run(
            [sys.executable, "-m", "bench.output_speed", "--writers-round", str(self._records_file),
             "--records", str(self._count)],
            env=self._env, check=True, capture_output=True, text=True,
        )
        answer: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return answer


def _one_round_of_now(records_file: str, count: int) -> None:
    """``--writers-round``: one round of this tree's "now" writers, as JSON (for ``BaselineWriters``)."""
    records = pickle.loads(Path(records_file).read_bytes())
    times = _writers_round(records, count, [("ndjson", "now"), ("csv", "now")])
    print(json.dumps({fmt: seconds for (fmt, _), seconds in times.items()}))


def _cycle(records: list[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    return islice((record for _ in range(count // len(records) + 1) for record in records), count)


# -- one page to NDJSON: the general path against the lines made from the bytes ----------------------


def fetch_pages(records: int) -> list[bytes]:
    """The emulator's pages of every account field, as a whole read of crm/Accounts asks for them."""
    catalogue = Catalogue.load()
    plan = check_read(catalogue, catalogue.endpoint(ACCOUNTS))
    config = EmulatorConfig(port=0, records=records, divisions=1, **UNLIMITED)
    pages: list[bytes] = []
    with EmulatorProcess(config) as emulator, httpx.Client(base_url=emulator.base_url) as http:
        token = authorize(http, emulator.config)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        url: str | None = emulator.base_url + plan.source.url_path(emulator.config.accessible_divisions[0])
        params: Any = plan.options.params()
        while url is not None:
            answer = http.get(url, params=params, headers=headers)
            answer.raise_for_status()
            pages.append(answer.content)
            url, params = odata.next_link(answer.content), None
    return pages


def time_pages(pages: list[bytes], rounds: int) -> dict[str, float]:
    catalogue = Catalogue.load()
    source = check_read(catalogue, catalogue.endpoint(ACCOUNTS)).source
    first = odata.unwrap(odata.parse_json(pages[0])).records[0]
    names = [name for name in first if name != "__metadata"]

    def general() -> list[float]:
        convert = odata.date_converter(source.fields, strip=True).page
        times = []
        for content in pages:
            started = time.perf_counter()
            payload = odata.parse_json(content)
            raw = odata.unwrap(payload).records
            records = convert(raw, flat=odata.flat_page(content, payload, raw))
            b"".join(json_line(record).encode() for record in records)
            times.append(time.perf_counter() - started)
        return times

    def lines() -> list[float]:
        shape = odata.LineShape(names, source.date_fields)
        times = []
        for content in pages:
            started = time.perf_counter()
            made = shape.page(content)
            assert made is not None
            times.append(time.perf_counter() - started)
        return times

    taken: dict[str, list[float]] = {"general": [], "lines": []}
    ways = {"general": general, "lines": lines}
    order = list(ways)
    for _ in range(rounds):
        for name in order:
            taken[name] += ways[name]()
        order.reverse()
    return {name: median(values) for name, values in taken.items()}


# -- the whole command against the peer's bare loop (PEER_LOOP: bench/peer_read.py's) ---------------


def time_command(records: int, rounds: int, baseline: str | None = None) -> dict[str, float]:
    fields = [n for n, f in Catalogue.load().endpoint(ACCOUNTS).fields.items() if not f.is_collection]
    config = EmulatorConfig(port=0, records=records, divisions=1, **UNLIMITED)
    python = peer_python()
    times: dict[str, list[float]] = {"ours": [], "baseline": [], "peer": []}
    calls: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        division = emulator.config.accessible_divisions[0]
        home = Home(str(Path(tmp) / "home"))
        client_for(home, emulator.config, emulator.base_url).close()
        with httpx.Client(base_url=emulator.base_url) as http:
            token = authorize(http, emulator.config)
        target = Path(tmp) / "accounts.ndjson"
        # The aim's command as a user types it: a new file (each round's is removed, untimed, before
        # it runs), so the time is not that of the kernel freeing the replaced file's 80 MB.
        argv = [EXE, "get", ACCOUNTS, "--all", "--format", "ndjson", "--output", str(target),
                "--division", str(division), "--yes"]
        env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        env |= {"EXACTMATE_HOME": home.path, "EXACTMATE_MASTER_KEY": MASTER_KEY,
                "PYTHONPYCACHEPREFIX": str(Path(tmp) / "bytecode")}
        runs = {"ours": env}
        if baseline is not None:
            runs["baseline"] = {**env, "PYTHONPATH": baseline}
        peer_env = {**os.environ, "PEER_TOKEN": token, "PEER_BASE_URL": emulator.base_url,
                    "PEER_DIVISION": str(division), "PEER_PATH": ACCOUNTS, "PEER_SELECT": ",".join(fields)}

        def command_run(name: str, run_env: dict[str, str]) -> float:
            target.unlink(missing_ok=True)
            before = stats(emulator.base_url)["total_requests"]
            started = time.perf_counter()
            subprocess.run(argv, env=run_env, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            calls[name] = stats(emulator.base_url)["total_requests"] - before
            with target.open("rb") as written:
                lines = sum(1 for _ in written)
            assert lines == records, (name, lines, records)
            return seconds

        for name, run_env in runs.items():
            command_run(name, run_env)  # fills the bytecode cache; not timed
        order = list(runs)
        for _ in range(rounds):
            for name in order:  # who goes first changes each round: no run always follows the peer's
                times[name].append(command_run(name, runs[name]))
            order.reverse()
            before = stats(emulator.base_url)["total_requests"]
            done = subprocess.run([str(python), "-c", PEER_LOOP], env=peer_env, check=True,
                                  capture_output=True, text=True)
            answer = json.loads(done.stdout.strip().splitlines()[-1])
            times["peer"].append(float(answer["seconds"]))
            calls["peer"] = stats(emulator.base_url)["total_requests"] - before
            assert answer["records"] == records, (answer["records"], records)
    return {
        **{name: median(values) for name, values in times.items() if values},
        **{f"{name}_calls": number for name, number in calls.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records the writers write")
    parser.add_argument("--command-records", type=int, default=20_000, help="accounts the command reads")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", metavar="SRC", help="another tree's src (main's), run side by side")
    parser.add_argument("--parts", choices=["all", "writers", "pages", "command"], default="all")
    parser.add_argument("--writers-round", metavar="PICKLE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writers_round:
        _one_round_of_now(args.writers_round, args.records)
        return
    print(f"Command: `{command()}`")
    print(f"Machine: {machine()}")
    print(f"Load average before: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    if args.parts in ("all", "writers"):
        _print_writers(args)
    if args.parts in ("all", "pages"):
        _print_pages(args)
    if args.parts in ("all", "command"):
        _print_command(args)
    print()
    print(f"Load average after: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


def _print_writers(args: argparse.Namespace) -> None:
    samples = sample_records(1_000)
    with tempfile.TemporaryDirectory() as tmp:
        written = {
            path: time_writers(
                records, args.records, args.rounds,
                BaselineWriters(args.baseline, records, args.records, tmp) if args.baseline else None,
            )
            for path, records in samples.items()
        }
    print()
    print(f"Writers: {args.records:,} records to a file, medians of {args.rounds} alternating rounds.")
    print()
    side = " | baseline | now vs baseline" if args.baseline else ""
    print("| records of | format | before | now | records/s before | records/s now "
          f"| speed-up (aim ≥ 3x){side} |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if args.baseline else ""))
    for path, medians in written.items():
        fields = len(samples[path][0])
        for fmt in ("ndjson", "csv"):
            before, now = medians[(fmt, "before")], medians[(fmt, "now")]
            row = (f"| {path} ({fields} fields) | {fmt} | {before:.2f} s | {now:.2f} s "
                   f"| {args.records / before:,.0f} | {args.records / now:,.0f} | {before / now:.1f}x |")
            if args.baseline:
                base = medians[(fmt, "baseline")]
                row += f" {base:.2f} s | {now / base:.2f} |"
            print(row)


def _print_pages(args: argparse.Namespace) -> None:
    pages = fetch_pages(args.command_records)
    medians = time_pages(pages, args.rounds)
    print()
    print(f"Pages: the {len(pages)} pages of {args.command_records:,} accounts (every field, "
          f"{sum(map(len, pages)) / len(pages) / 1e6:.1f} MB a page) to NDJSON bytes, medians per page "
          f"of {args.rounds} alternating rounds.")
    print()
    print("| way | per page | vs general |")
    print("| --- | ---: | ---: |")
    print(f"| general: parse, convert, `json_line` per record | {medians['general'] * 1000:.1f} ms | 1.00 |")
    print(f"| lines from the bytes (`odata.LineShape`) | {medians['lines'] * 1000:.1f} ms "
          f"| {medians['lines'] / medians['general']:.2f} |")


def _print_command(args: argparse.Namespace) -> None:
    whole = time_command(args.command_records, args.rounds, args.baseline)
    print()
    print(f"Whole command: {args.command_records:,} records of {ACCOUNTS}, medians of {args.rounds} "
          "alternating rounds.")
    print()
    print("| run | calls | median | vs peer (aim < 1) |")
    print("| --- | ---: | ---: | ---: |")
    names = {"ours": "this tree", "baseline": f"baseline ({args.baseline})"}
    for name in ("ours", "baseline"):
        if name in whole:
            ratio = whole[name] / whole["peer"]
            print(f"| `exactmate get {ACCOUNTS} --all --format ndjson --output F`, {names[name]} "
                  f"(whole process) | {int(whole[name + '_calls']):,} | {whole[name]:.2f} s | {ratio:.2f} |")
    print(f"| exact-online-sdk 2.0.0 `iter_pages` (loop only, no output) | {int(whole['peer_calls']):,} "
          f"| {whole['peer']:.2f} s | 1.00 |")
    if "baseline" in whole:
        print()
        print(f"This tree against the baseline: {whole['ours'] / whole['baseline']:.2f}")


if __name__ == "__main__":
    main()
