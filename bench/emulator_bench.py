"""Emulator benchmark: how fast the emulator serves what clients ask of it most, with 200,000 records.

Measured twice: over HTTP (the emulator app from ``exactmate.emulator.app.create_app`` under uvicorn
with one worker on 127.0.0.1 in a child process, an httpx client on loopback, JSON) and in-process
(``RestApi.handle`` directly, no HTTP), so the data plane's own share is visible. Figures:

- the 100th 60-row page of project/TimeTransactions with a 20-field ``$select``, reached via
  ``$skiptoken`` (aim < 10 ms);
- a 1000-row bulk/CRM/Accounts page (aim < 60 ms), and the same page with all its fields (issue 17
  item 5: aim < 30 ms);
- 60-row pages of every field: crm/Accounts and project/TimeTransactions, what a client reads most;
- a key lookup on crm/Accounts (aim < 2 ms), and key lookups per second (aim > 1,000/s);
- an ``$orderby=Name`` listing of crm/Accounts: its first page, which sorts every row, and the
  pages after it, which reuse that sort while the table is unchanged.

``--baseline SRC`` also serves the emulator of another checkout's ``src`` (``PYTHONPATH=SRC``, e.g.
``/work/main/src``) and times the page figures over HTTP against both, alternating round by round.

Run from the repository root:  ``.venv/bin/python -m bench.emulator_bench``  (``--help`` for options).
The results replace the emulator section of docs/benchmarks.md and leave the other sections alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx

from exactmate.catalogue import Catalogue
from exactmate.emulator.config import DEMO_PASSWORD, DEMO_USERNAME, EmulatorConfig
from exactmate.emulator.exchange import RestRequest
from exactmate.emulator.rest import RestApi

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "benchmarks.md"
TIME_SELECT = (
    "ID,Account,AccountName,Activity,AmountFC,Created,Creator,Currency,Date,Division,"
    "Employee,HourStatus,Item,ItemDescription,Modified,Notes,PriceFC,Project,ProjectCode,Quantity"
)
BULK_SELECT = (
    "ID,Code,Name,SearchCode,AddressLine1,Postcode,City,Country,Email,Phone,Website,Language,"
    "Status,IsSupplier,IsSales,Blocked,VATNumber,Created,Modified,Division"
)
# Every field the catalogue lists for the bulk accounts endpoint (164): a client asking for all of them.
ALL_ACCOUNT_FIELDS = ",".join(Catalogue.load().endpoint("bulk/CRM/Accounts").fields)
HEADING = "## Emulator (issue 2)"


@dataclass
class Figures:
    page100_ms: float
    bulk_ms: float
    bulk_all_ms: float
    bulk_all_bytes: int
    accounts60_ms: float
    time60_ms: float
    lookup_ms: float
    lookups_per_second: float
    ordered_first_ms: float
    ordered_next_ms: float


Get = Callable[[str, dict[str, str] | None], dict[str, Any]]
Fetch = Callable[[str, dict[str, str]], bytes]  # the answer's bytes, not parsed


def _median_ms(action: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure(get: Get, fetch: Fetch, division: int, repeat: int, seconds: float) -> Figures:
    """The four figures, through ``get(url_or_path, params) -> JSON body``."""
    time_url = f"/api/v1/{division}/project/TimeTransactions"
    params: dict[str, str] | None = {"$select": TIME_SELECT}
    url = time_url
    for _ in range(99):  # follow __next to the 100th page, as a client does
        url, params = get(url, params)["d"]["__next"], None
    page = get(url, None)["d"]["results"]
    assert len(page) == 60, len(page)
    page100 = _median_ms(lambda: get(url, None), repeat)

    bulk_url = f"/api/v1/{division}/bulk/CRM/Accounts"
    bulk_params = {"$select": BULK_SELECT}
    rows = get(bulk_url, bulk_params)["d"]["results"]
    assert len(rows) == 1000, len(rows)
    bulk = _median_ms(lambda: get(bulk_url, bulk_params), max(repeat // 3, 5))
    every_field = {"$select": ALL_ACCOUNT_FIELDS}
    assert len(get(bulk_url, every_field)["d"]["results"]) == 1000
    size = len(fetch(bulk_url, every_field))
    bulk_all = _median_ms(lambda: fetch(bulk_url, every_field), repeat)  # issue 17's aim: a steadier median
    accounts60 = _median_ms(lambda: fetch(f"/api/v1/{division}/crm/Accounts", {}), repeat)
    time60 = _median_ms(lambda: fetch(time_url, {}), repeat)

    keys = [r["ID"] for r in rows]
    rng = random.Random(7)
    lookup = _median_ms(
        lambda: get(f"/api/v1/{division}/crm/Accounts(guid'{rng.choice(keys)}')", None), repeat * 4
    )
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        get(f"/api/v1/{division}/crm/Accounts(guid'{keys[done % len(keys)]}')", None)
        done += 1
    per_second = done / (time.perf_counter() - start)

    # An ordered listing: the first page sorts every row; the pages after it reuse that sort.
    ordered_url = f"/api/v1/{division}/crm/Accounts"
    ordered = {"$select": "ID,Name", "$orderby": "Name"}
    started = time.perf_counter()
    next_url = get(ordered_url, ordered)["d"]["__next"]
    first = (time.perf_counter() - started) * 1000
    later = []
    for _ in range(repeat):
        started = time.perf_counter()
        next_url = get(next_url, None)["d"]["__next"]
        later.append((time.perf_counter() - started) * 1000)
    return Figures(
        page100, bulk, bulk_all, size, accounts60, time60, lookup, per_second, first, statistics.median(later)
    )


# The pages ``--baseline`` times against both emulators: (label, path after the division, query).
PAGES = (
    ("1000-row bulk/CRM/Accounts page, all fields", "bulk/CRM/Accounts", {"$select": ALL_ACCOUNT_FIELDS}),
    ("1000-row bulk/CRM/Accounts page, 20-field $select", "bulk/CRM/Accounts", {"$select": BULK_SELECT}),
    ("60-row crm/Accounts page, all fields", "crm/Accounts", {}),
    ("60-row project/TimeTransactions page, all fields", "project/TimeTransactions", {}),
)


def side_by_side(
    fetches: dict[str, Fetch], division: int, rounds: int, repeat: int
) -> dict[str, list[float]]:
    """For each emulator, the median of each page in ``PAGES`` over ``rounds`` rounds, the
    emulators taking turns within each round (so both see the same machine)."""
    samples: dict[str, list[list[float]]] = {name: [[] for _ in PAGES] for name in fetches}
    for _ in range(rounds):
        for name, fetch in fetches.items():
            for number, (_, path, params) in enumerate(PAGES):
                url = f"/api/v1/{division}/{path}"
                fetch(url, params)
                samples[name][number].append(_median_ms(partial(fetch, url, params), repeat))
    return {name: [statistics.median(figure) for figure in figures] for name, figures in samples.items()}


# ------------------------------------------------------------------------------------ in-process
def in_process_getter(api: RestApi, base_url: str) -> Get:
    """``get`` straight into RestApi.handle (absolute ``__next`` URLs are split back into parts)."""

    def get(url: str, params: dict[str, str] | None) -> dict[str, Any]:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True) + list((params or {}).items())
        _, _, _, division, path = parts.path.split("/", 4)  # "", "api", "v1", division, path
        request = RestRequest("GET", int(division), path, tuple(query), b"", True, False, base_url)
        response = api.handle(request)
        assert response.status == 200, response.body[:300]
        body: dict[str, Any] = json.loads(response.body)
        return body

    return get


def in_process_fetcher(api: RestApi) -> Fetch:
    """The emulator's own work for one answer: query, rows and JSON text, no client parse."""

    def fetch(url: str, params: dict[str, str]) -> bytes:
        _, _, _, division, path = url.split("/", 4)
        request = RestRequest("GET", int(division), path, tuple(params.items()), b"", True, False, "")
        response = api.handle(request)
        assert response.status == 200, response.body[:300]
        return response.body

    return fetch


# ----------------------------------------------------------------------------------------- HTTP
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(config: EmulatorConfig, *, floor: bool = False, src: str | None = None) -> Iterator[str]:
    """The emulator app (or, with ``floor``, an empty ASGI app) under uvicorn, one worker, in a child
    process so that client and server do not share one interpreter lock; yields its base URL once it
    answers. ``src``: serve the emulator of that source directory (first on PYTHONPATH).
    """
    command = [sys.executable, "-m", "bench.emulator_bench", "--serve", str(config.port)]
    command += ["--records", str(config.records)] + (["--floor"] if floor else [])
    env = {**os.environ, "PYTHONPATH": src} if src is not None else None
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 300
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"the emulator exited with status {child.returncode}")
            try:
                httpx.get(f"{config.base_url}/api/v1/current/Me", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.2)
        yield config.base_url
    finally:
        child.terminate()
        child.wait(timeout=30)


async def empty_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The HTTP floor: an ASGI app that answers ``{}`` at once."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def serve(config: EmulatorConfig, *, floor: bool) -> None:
    """Run the emulator app (or the empty app) in the foreground: the child process of ``served``."""
    import uvicorn

    from exactmate.emulator.app import create_app

    app: Any = empty_app if floor else create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, workers=1, log_level="warning")


def floor_per_second(config: EmulatorConfig, seconds: float) -> float:
    """Requests per second an empty app answers under the same server and client: the ceiling any
    emulator figure over HTTP can reach on this machine.
    """
    with served(config, floor=True) as base_url, httpx.Client(base_url=base_url) as client:
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            client.get("/api/v1/current/Me").raise_for_status()
            done += 1
        return done / (time.perf_counter() - start)


def authorize(client: httpx.Client, config: EmulatorConfig) -> str:
    """An access token through the emulator's consent page and token endpoint, as a user would."""
    redirect = "http://127.0.0.1:8765/callback"
    params = {"client_id": config.client_id, "redirect_uri": redirect, "response_type": "code", "state": "b"}
    client.get("/api/oauth2/auth", params=params).raise_for_status()
    form: dict[str, Any] = {
        **params,
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "action": "approve",
    }
    form["division"] = [str(d) for d in config.accessible_divisions]
    answer = client.post("/api/oauth2/auth", data=form, follow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = client.post(
        "/api/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
    )
    token.raise_for_status()
    return str(token.json()["access_token"])


def http_getter(client: httpx.Client) -> Get:
    def get(url: str, params: dict[str, str] | None) -> dict[str, Any]:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text[:300]
        body: dict[str, Any] = response.json()
        return body

    return get


def http_fetcher(client: httpx.Client) -> Fetch:
    def fetch(url: str, params: dict[str, str]) -> bytes:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text[:300]
        return response.content

    return fetch


# --------------------------------------------------------------------------------------- report
def _row(name: str, aim: str, http: float | None, local: float, unit: str, fmt: str = "{:.2f}") -> str:
    shown = "n/a" if http is None else fmt.format(http)
    return f"| {name} | {aim} | {shown} {unit} | {fmt.format(local)} {unit} |"


def report(
    records: int,
    build_s: float,
    rss_mb: float,
    http: Figures | None,
    local: Figures,
    command: str,
    floor: float | None,
    compared: tuple[str, dict[str, list[float]], int] | None = None,
) -> str:
    lines = [
        HEADING,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} "
        f"(Python {platform.python_version()}, {platform.machine()}, {platform.system()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end).",
        "",
        f"{records:,} accounts and {records:,} time transactions in the first division; building the demo "
        f"data took {build_s:.2f} s and {rss_mb:.0f} MB of resident memory (in-process measurement).",
        "",
        "HTTP: the app from `exactmate.emulator.app.create_app` under uvicorn, one worker, 127.0.0.1, in "
        "a child process; one httpx client on loopback, JSON, no rate limits. In-process: "
        "`RestApi.handle` called directly. Times are medians.",
        "",
        "| measurement | aim | HTTP | in-process |",
        "| --- | --- | --- | --- |",
        _row(
            "100th 60-row page of project/TimeTransactions, 20-field $select, via $skiptoken",
            "< 10 ms",
            http.page100_ms if http else None,
            local.page100_ms,
            "ms",
        ),
        _row(
            "1000-row bulk/CRM/Accounts page (20-field $select)",
            "< 60 ms",
            http.bulk_ms if http else None,
            local.bulk_ms,
            "ms",
        ),
        _row(
            f"1000-row bulk/CRM/Accounts page, all {ALL_ACCOUNT_FIELDS.count(',') + 1} fields",
            "< 30 ms",
            http.bulk_all_ms if http else None,
            local.bulk_all_ms,
            "ms",
        ),
        _row(
            "60-row crm/Accounts page, all fields",
            "none",
            http.accounts60_ms if http else None,
            local.accounts60_ms,
            "ms",
        ),
        _row(
            "60-row project/TimeTransactions page, all fields",
            "none",
            http.time60_ms if http else None,
            local.time60_ms,
            "ms",
        ),
        _row(
            "key lookup, crm/Accounts(guid'…')",
            "< 2 ms",
            http.lookup_ms if http else None,
            local.lookup_ms,
            "ms",
        ),
        _row(
            "first page of crm/Accounts ordered by Name (sorts every row)",
            "none",
            http.ordered_first_ms if http else None,
            local.ordered_first_ms,
            "ms",
        ),
        _row(
            "each later page of that listing, via $skiptoken",
            "< 10 ms",
            http.ordered_next_ms if http else None,
            local.ordered_next_ms,
            "ms",
        ),
        _row(
            "key lookups per second (one client, sequential)",
            "> 1,000/s",
            http.lookups_per_second if http else None,
            local.lookups_per_second,
            "/s",
            "{:,.0f}",
        ),
        "",
        "Each figure includes the client's `json.loads` of the answer, except the pages of all fields, which "
        f"time the answer alone (the 1000-row one is {local.bulk_all_bytes / 1e6:.1f} MB of JSON, whose "
        "parsing is the client's cost, not the emulator's).",
        "",
    ]
    if compared is not None:
        baseline, medians, rounds = compared
        mine, base = medians["this checkout"], medians["baseline"]
        lines += [
            f"Side by side over HTTP with the emulator of `{baseline}` (`PYTHONPATH={baseline}`, same "
            f"client), each page timed against both in turn, round after round: medians of {rounds} "
            "rounds' medians, the answer alone (no `json.loads`).",
            "",
            "| page | this checkout | baseline | ratio |",
            "| --- | ---: | ---: | ---: |",
            *(
                f"| {label} | {m:.2f} ms | {b:.2f} ms | {m / b:.2f} |"
                for (label, _, _), m, b in zip(PAGES, mine, base, strict=True)
            ),
            "",
        ]
    if floor is not None:
        lines += [
            f"For scale: an empty ASGI app under the same uvicorn and client answers {floor:,.0f} requests "
            "a second on this machine; no HTTP figure can do better than that.",
            "",
        ]
    return "\n".join(lines)


def compare(config: EmulatorConfig, baseline: str, rounds: int, repeat: int) -> dict[str, list[float]]:
    """The ``PAGES`` over HTTP from this checkout's emulator and the one in ``baseline``."""
    with ExitStack() as stack:
        fetches: dict[str, Fetch] = {}
        for name, src in (("this checkout", None), ("baseline", baseline)):
            one = replace(config, port=_free_port())
            base_url = stack.enter_context(served(one, src=src))
            client = stack.enter_context(httpx.Client(base_url=base_url, timeout=60))
            token = authorize(client, one)
            client.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
            fetches[name] = http_fetcher(client)
        return side_by_side(fetches, config.accessible_divisions[0], rounds, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=30, help="samples per median")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the lookups-per-second run")
    parser.add_argument("--no-http", action="store_true", help="measure the data plane in-process only")
    parser.add_argument("--output", type=Path, default=REPORT, help="markdown file to write ('-' for stdout)")
    parser.add_argument("--baseline", metavar="SRC", help="also time the pages on the emulator of this src")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the side-by-side comparison")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server child
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)  # ... serving the empty app
    args = parser.parse_args(argv)
    if args.records < 100 * 60:
        parser.error("--records must be at least 6000: the benchmark reads the 100th page of 60 rows")
    config = EmulatorConfig(
        records=args.records,
        port=args.serve or _free_port(),
        minutely_limit=10**9,
        daily_limit=10**9,
        token_seconds=24 * 3600,
    )
    if args.serve:
        serve(config, floor=args.floor)
        return 0

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    api = RestApi(config, time.time)
    build_s = time.perf_counter() - start
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    division = config.accessible_divisions[0]
    local_get, local_fetch = in_process_getter(api, config.base_url), in_process_fetcher(api)
    local = measure(local_get, local_fetch, division, args.repeat, args.seconds)
    # The HTTP client's process must not carry the in-process emulator's 200,000 records: its
    # collector would walk them, and the client's time counts in every HTTP figure.
    del api, local_get, local_fetch

    http, floor = None, None
    if not args.no_http:
        with served(config) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
            token = authorize(client, config)
            client.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
            http = measure(http_getter(client), http_fetcher(client), division, args.repeat, args.seconds)
        floor = floor_per_second(replace(config, port=_free_port()), args.seconds)
    compared = None
    if args.baseline and not args.no_http:
        compared = (args.baseline, compare(config, args.baseline, args.rounds, args.repeat), args.rounds)

    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python.name
    command = f"{shown} -m bench.emulator_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(args.records, build_s, rss_mb, http, local, command.strip(), floor, compared)
    print(text)
    if str(args.output) != "-":
        write_section(args.output, text)
    return 0


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of the report (or append it), leaving the other sections."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if HEADING in text:
        head, _, rest = text.partition(HEADING)
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following != -1 else ""
        text = head.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
