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

``--baseline SRC`` runs a second emulator from another checkout's ``src`` (``PYTHONPATH=SRC``), e.g.
``/work/main/src``, beside this one: each round then times the command and the fetching against
both, alternately, with this checkout's client, and the pages of both must be the same bytes.
Run from the repository root:  ``.venv/bin/python -m bench.read_overlap``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
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


@contextmanager
def emulator_from(config: EmulatorConfig, src: str | None) -> Iterator[EmulatorProcess]:
    """``exactmate emulator serve`` as a child process, from ``src`` (put first on PYTHONPATH) when
    given, else from this checkout."""
    saved = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = src
    try:
        emulator = EmulatorProcess(config).start()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass
class Served:
    """One emulator under test and what was measured against it."""

    name: str
    emulator: EmulatorProcess
    home: Home
    pages: list[bytes]
    token: str
    calls: int = 0
    whole: list[float] = field(default_factory=list)
    fetching: list[float] = field(default_factory=list)

    def own_ms(self, latency_ms: float) -> float:
        """What a page of fetching alone took beyond the emulator's latency, in ms."""
        return (median(self.fetching) / len(self.pages)) * 1000 - latency_ms


_DATE = re.compile(rb"/Date\(-?\d+\)/")


def _comparable(one: Served) -> list[bytes]:
    """The pages with the emulator's own address and dates set aside: the demo data's dates count
    back from the moment each emulator started."""
    base = one.emulator.base_url.encode()
    return [_DATE.sub(b"/Date()/", page.replace(base, b"BASE")) for page in one.pages]


def _same_pages(served: list[Served]) -> None:
    """Every emulator's pages are the same bytes but for their address and the dates."""
    first = _comparable(served[0])
    for other in served[1:]:
        assert _comparable(other) == first, f"the pages of {other.name} differ from those of {served[0].name}"


def run(records: int, latency_ms: float, rounds: int, baseline: str | None) -> tuple[list[Served], float]:
    """Every emulator's figures, and the median of parsing alone (the same pages for all)."""
    config = EmulatorConfig(port=0, records=records, divisions=1, latency_ms=latency_ms, **UNLIMITED)
    variants = [("this checkout", None)] + ([(f"baseline ({baseline})", baseline)] if baseline else [])
    parsing: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        served: list[Served] = []
        for number, (name, src) in enumerate(variants):
            emulator = stack.enter_context(emulator_from(config, src))
            division = emulator.config.accessible_divisions[0]
            home = Home(str(Path(tmp) / f"home{number}"))
            pages = recorded_pages(home, emulator.config, emulator.base_url, division)
            with httpx.Client(base_url=emulator.base_url) as http:
                token = authorize(http, emulator.config)
            served.append(Served(name, emulator, home, pages, token))
        _same_pages(served)
        target = Path(tmp) / "accounts.ndjson"
        argv = [EXE, "get", ACCOUNTS, "--all", "--format", "ndjson", "--output", str(target)]
        argv += ["--division", str(config.accessible_divisions[0]), "--overwrite", "--yes"]
        for _ in range(rounds):
            parsing.append(parse_alone(served[0].pages))
            for one in served:
                env = {**os.environ, "EXACTMATE_HOME": one.home.path, "EXACTMATE_MASTER_KEY": MASTER_KEY}
                before = stats(one.emulator.base_url)["total_requests"]
                started = time.perf_counter()
                subprocess.run(argv, env=env, check=True, capture_output=True)
                one.whole.append(time.perf_counter() - started)
                one.calls = stats(one.emulator.base_url)["total_requests"] - before
                with target.open("rb") as written:
                    assert sum(1 for _ in written) == records
                base_url, division = one.emulator.base_url, one.emulator.config.accessible_divisions[0]
                one.fetching.append(fetch_alone(base_url, one.token, division))
    return served, median(parsing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", metavar="SRC", help="also serve the emulator of this src directory")
    args = parser.parse_args()
    served, parsing = run(args.records, args.latency_ms, args.rounds, args.baseline)
    print(f"Command: `{command()}`")
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end")
    print()
    print(f"Medians of {args.rounds} alternating rounds.")
    print()
    print(
        "| emulator | latency | records | calls | calls x latency | fetching alone | parsing alone | command"
        " | (command - parsing) / (calls x latency) (aim ≤ 1.1) | command / fetching alone |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for one in served:
        waiting = one.calls * args.latency_ms / 1000
        whole, fetching = median(one.whole), median(one.fetching)
        print(
            f"| {one.name} | {args.latency_ms:g} ms | {args.records:,} | {one.calls:,} | {waiting:.2f} s "
            f"| {fetching:.2f} s | {parsing:.2f} s | {whole:.2f} s "
            f"| {(whole - parsing) / waiting:.2f} | {whole / fetching:.2f} |"
        )
    print()
    print(
        "The emulator's own time a page beyond the latency (fetching alone): "
        + ", ".join(f"{one.name} {one.own_ms(args.latency_ms):.1f} ms" for one in served)
        + "."
    )
    if len(served) > 1:
        mine, base = served
        print(
            f"This checkout / baseline: fetching alone {median(mine.fetching) / median(base.fetching):.3f}, "
            f"command {median(mine.whole) / median(base.whole):.3f}."
        )


if __name__ == "__main__":
    main()
