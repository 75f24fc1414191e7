"""Overlap: a whole read against an emulator with latency, against what its calls and parsing alone take.

The emulator runs as ``exactmate emulator serve --records N --latency-ms L`` in a child process (one
division, no rate limits). Timed, alternating, round after round:

- **command**: ``exactmate get crm/Accounts --all --format ndjson --output F`` as a new process (start-up,
  vault, token, the counting call, the read through the bulk twin, writing the file); the calls it
  made are counted by the emulator;
- **fetching alone**: the same pages fetched by a bare httpx loop (no governor, no parsing): what
  the server (the emulator's latency and its own work on each page) and the network take;
- **parsing alone**: the same pages' bytes (fetched once before the rounds) turned into the records
  ``get`` writes, in this process, without HTTP: ``odata.parse_json``, ``odata.unwrap`` and the
  record conversion, page by page.

Reported: the medians, calls x latency, and the command's time less parsing alone as a multiple of
calls x latency. Aim (issue 17 item 3): at most 1.1, i.e. everything but the waiting and the parsing
(start-up, conversion to output, writing) hidden behind the calls.
Run from the repository root:  ``.venv/bin/python -m bench.read_overlap``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from tests.proofs.harness import MASTER_KEY, EmulatorProcess, Home, stats

from bench.client_support import client_for, command, machine, median
from bench.emulator_bench import authorize
from exactmate import odata
from exactmate.catalogue import Catalogue
from exactmate.client import ExactClient
from exactmate.emulator.config import EmulatorConfig
from exactmate.resource import check_read

ACCOUNTS = "crm/Accounts"
EXE = str(Path(sys.executable).with_name("exactmate"))
UNLIMITED = {"minutely_limit": 10**9, "daily_limit": 10**9, "token_seconds": 24 * 3600}


class Recording(httpx.HTTPTransport):
    """A transport that keeps the body of every page of the bulk twin it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if "/bulk/" in request.url.path:
            self.pages.append(response.read())
        return response


def recorded_pages(home: Home, config: EmulatorConfig, base_url: str, division: int) -> list[bytes]:
    """The bytes of every page ``get --all`` reads (the bulk twin, every field), fetched once."""
    client_for(home, config, base_url).close()  # signs in and stores the credential
    recording = Recording()
    settings = home.settings()
    with ExactClient.from_credential(home.credential, settings=settings, transport=recording) as client:
        read = sum(len(page.records) for page in client.resource(ACCOUNTS, division).pages())
    assert read == config.records and recording.pages, (read, len(recording.pages))
    return recording.pages


def fetch_alone(base_url: str, token: str, division: int) -> float:
    """Seconds a bare httpx loop takes to fetch the same pages (no governor, no parsing): what the
    server and the network take, the emulator's own work on each page included."""
    query = check_read(Catalogue.load(), Catalogue.load().endpoint(ACCOUNTS))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url: str | None = base_url + query.source.url_path(division)
    params: list[tuple[str, str]] | None = list(query.options.params())
    started = time.perf_counter()
    with httpx.Client(headers=headers) as http:
        while url is not None:
            url = odata.next_link(http.get(url, params=params).content)
            params = None
    return time.perf_counter() - started


def parse_alone(pages: list[bytes]) -> float:
    """Seconds to turn ``pages`` into records as a read does, no HTTP."""
    endpoint = Catalogue.load().endpoint(ACCOUNTS)
    convert = odata.date_converter(endpoint.fields, strip=True).page
    started = time.perf_counter()
    for content in pages:
        payload = odata.parse_json(content)
        raw, _, _ = odata.unwrap(payload)
        convert(raw, flat=odata.flat_page(content, payload, raw))
    return time.perf_counter() - started


def run(records: int, latency_ms: float, rounds: int) -> dict[str, float]:
    config = EmulatorConfig(port=0, records=records, divisions=1, latency_ms=latency_ms, **UNLIMITED)
    whole: list[float] = []
    parsing: list[float] = []
    fetching: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        division = emulator.config.accessible_divisions[0]
        home = Home(str(Path(tmp) / "home"))
        pages = recorded_pages(home, emulator.config, emulator.base_url, division)
        with httpx.Client(base_url=emulator.base_url) as http:
            token = authorize(http, emulator.config)
        target = Path(tmp) / "accounts.ndjson"
        argv = [EXE, "get", ACCOUNTS, "--all", "--format", "ndjson", "--output", str(target),
                "--division", str(division), "--overwrite", "--yes"]
        env = {**os.environ, "EXACTMATE_HOME": home.path, "EXACTMATE_MASTER_KEY": MASTER_KEY}
        for _ in range(rounds):
            before = stats(emulator.base_url)["total_requests"]
            started = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True)
            whole.append(time.perf_counter() - started)
            calls = stats(emulator.base_url)["total_requests"] - before
            with target.open("rb") as written:
                assert sum(1 for _ in written) == records
            parsing.append(parse_alone(pages))
            fetching.append(fetch_alone(emulator.base_url, token, division))
    return {"records": records, "latency": latency_ms, "calls": calls, "pages": len(pages),
            "whole": median(whole), "parsing": median(parsing), "fetching": median(fetching)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    r = run(args.records, args.latency_ms, args.rounds)
    waiting = r["calls"] * r["latency"] / 1000
    print(f"Command: `{command()}`")
    print(f"Machine: {machine()}")
    print()
    print(f"Medians of {args.rounds} alternating rounds.")
    print()
    print("| latency | records | calls | calls x latency | fetching alone | parsing alone | command "
          "| (command - parsing) / (calls x latency) (aim ≤ 1.1) | command / fetching alone |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {r['latency']:g} ms | {int(r['records']):,} | {int(r['calls']):,} | {waiting:.2f} s "
          f"| {r['fetching']:.2f} s | {r['parsing']:.2f} s | {r['whole']:.2f} s "
          f"| {(r['whole'] - r['parsing']) / waiting:.2f} | {r['whole'] / r['fetching']:.2f} |")


if __name__ == "__main__":
    main()
