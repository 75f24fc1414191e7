"""What the proof tests (``tests/proofs``) and the client benchmarks (``bench/client_*.py``) share.

- ``Home`` and ``connect``: a vault in a directory of its own, holding one credential whose tokens
  came from the emulator's real consent flow over HTTP, as ``exactmate vault connect`` leaves it;
- ``Recorder``: an httpx transport that remembers what the library sent, when, and what came back;
- ``EmulatorProcess``: ``exactmate emulator serve`` in a child process on a free port, so that the
  emulator's memory and CPU are not the client's;
- ``run_token_workers``: several processes sharing one credential and one SQLite store, each making
  calls at a steady pace through its own ``ExactClient.from_credential``.

Nothing here reaches into the library's internals: the library is used as a caller uses it. The
emulator's own data is read (``emulator_keys``) only to compare what the client returned with what
the emulator holds.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import queue
import socket
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from exactmate.auth import TokenSet
from exactmate.client import ExactClient
from exactmate.clock import Clock, SystemClock
from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.errors import ExactmateError
from exactmate.vault import Credential, Vault
from tests.emulator_helpers import authorize, redirect_uri_for

# A fixed master key: it only ever seals tokens of the emulator, in temporary directories.
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
CREDENTIAL = "Emulated"
PG_ADMIN = os.environ.get("EXACTMATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def booking_flow(
    name: str,
    *,
    credential: str = CREDENTIAL,
    division: int | str = "current",
    trigger: str = "{manual: {inputs: {rows: {type: file}}}}",
    rows: str = "trigger.rows",
    on_error: str = "",
    tell: bool = True,
) -> str:
    """A flow that books the rows ``rows`` names (each with project, hours, date and notes; item
    DEVELOP) as time entries, then (``tell``) says how many it booked: the proofs' and benchmarks'
    one booking flow."""
    policy = f"\n    on_error: {on_error}" if on_error else ""
    told = (
        '\n  - id: tell\n    action: log\n    with: {message: "{{ steps.book.created }} booked"}'
        if tell
        else ""
    )
    return (
        f"name: {name}\ncredential: {credential}\ndivision: {division}\ntrigger: {trigger}\nsteps:\n"
        "  - id: book\n    action: create_time_transactions\n"
        f'    for_each: "{{{{ {rows} }}}}"\n'
        "    with:\n"
        '      fields: {Project: "{{ item.project }}", Item: "code:DEVELOP", Quantity: "{{ item.hours }}",\n'
        '               Date: "{{ item.date }}", Notes: "{{ item.notes }}"}'
        f"{policy}{told}\n"
    )


@contextmanager
def throwaway_pg_database(prefix: str = "exactmate_test") -> Iterator[str]:
    """A new PostgreSQL database (a SQLAlchemy URL) on the server ``scripts/postgres.sh`` makes sure of,
    dropped afterwards with the flows' system database DBOS may have made beside it (``<name>_flows``).
    Raises ``psycopg.OperationalError`` when there is no server."""
    import secrets

    import psycopg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}_flows" WITH (FORCE)')


@dataclass(frozen=True)
class Home:
    """Where one run keeps its vault (a SQLite file under ``path``); picklable, for child processes."""

    path: str
    credential: str = CREDENTIAL
    db_url: str | None = None  # another store than the SQLite file of the home (PostgreSQL)

    def settings(self, **overrides: Any) -> Settings:
        """Settings of this home only: no environment variable is read."""
        return Settings.from_env({}, home=self.path, master_key=MASTER_KEY, db_url=self.db_url, **overrides)

    @property
    def db_path(self) -> Path:
        return Path(self.path) / "exactmate.db"


def connect(
    home: Home,
    config: EmulatorConfig,
    http: httpx.Client,
    *,
    base_url: str,
    clock: Clock | None = None,
    divisions: Sequence[int] | None = None,
) -> Credential:
    """Sign in on the emulator's consent page (over ``http``, whose base URL is the emulator) and
    store the credential with the tokens it got, as connecting in the CLI or web UI would; the
    consent grants ``divisions`` (default: every division of the emulator)."""
    clock = clock or SystemClock()
    answer = authorize(http, config, divisions)
    tokens = TokenSet.from_response(answer, clock.now())
    with Vault.open(home.settings(), clock=clock) as vault:
        values = vault.new_values(
            home.credential,
            server_url=base_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            redirect_uri=redirect_uri_for(config),
        )
        return vault.create(values, tokens=tokens)


def connect_to(home: Home, config: EmulatorConfig, base_url: str, **options: Any) -> Credential:
    """``connect`` over a client of its own to the emulator at ``base_url``."""
    with httpx.Client(base_url=base_url) as http:
        return connect(home, config, http, base_url=base_url, **options)


def credential_status(home: Home) -> tuple[str, str | None]:
    """The stored credential's status and reason, read from the vault."""
    with Vault.open(home.settings()) as vault:
        found = vault.get(home.credential)
        return found.status, found.status_reason


def emulator_keys(emulator: Emulator, division: int, table: str) -> list[Any]:
    """The keys of every record the in-process emulator holds in ``table`` (lower-case
    ``service/endpoint``) of ``division``: the truth a listing is compared with."""
    found = emulator.data._store.existing(division, table)  # type: ignore[attr-defined]
    return [] if found is None else [row[found.key_field] for row in found.rows()]


@dataclass(frozen=True)
class Exchange:
    """One request the library sent: ``status`` None when the connection dropped."""

    method: str
    path: str
    query: str
    status: int | None
    at: float


class Recorder(httpx.BaseTransport):
    """Wraps a transport; remembers each request (decoded query, status, the clock's time) and, with
    ``keep_bodies``, each successful response's bytes by URL (for replay through MockTransport)."""

    def __init__(
        self, inner: httpx.BaseTransport, clock: Clock | None = None, *, keep_bodies: bool = False
    ) -> None:
        self.inner = inner
        self.clock = clock or SystemClock()
        self.keep_bodies = keep_bodies
        self.exchanges: list[Exchange] = []
        self.bodies: dict[str, bytes] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        at = self.clock.now()
        query = httpx.QueryParams(request.url.query)
        text = "&".join(f"{k}={v}" for k, v in query.multi_items())
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            self.exchanges.append(Exchange(request.method, request.url.path, text, None, at))
            raise
        self.exchanges.append(Exchange(request.method, request.url.path, text, response.status_code, at))
        if self.keep_bodies and response.status_code == 200:
            content = response.read()
            self.bodies[str(request.url)] = content
        return response

    def close(self) -> None:
        self.inner.close()

    def api(self) -> list[Exchange]:
        """The REST calls (``/api/v1/...``), in the order they were sent."""
        return [e for e in self.exchanges if e.path.startswith("/api/v1/")]


class StaticTokens:
    """A token source for replayed answers (``replaying``), which do not look at the token."""

    def access_token(self) -> str:
        return "replay"

    def refresh_after_401(self, rejected: str) -> str:
        return "replay"


def replaying(bodies: dict[str, bytes]) -> httpx.MockTransport:
    """An ``httpx.MockTransport`` answering each URL with the bytes a ``Recorder`` kept for it."""

    def handler(request: httpx.Request) -> httpx.Response:
        content = bodies[str(request.url)]
        return httpx.Response(200, content=content, headers={"Content-Type": "application/json"})

    return httpx.MockTransport(handler)


# -- the emulator in a process of its own --------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_arguments(config: EmulatorConfig) -> list[str]:
    """The ``exactmate emulator serve`` options that give ``config``."""
    return [
        f"--port={config.port}",
        f"--records={config.records}",
        f"--minutely-limit={config.minutely_limit}",
        f"--daily-limit={config.daily_limit}",
        f"--window-seconds={config.window_seconds}",
        f"--token-seconds={config.token_seconds}",
        f"--refresh-guard-seconds={config.refresh_guard_seconds}",
        f"--divisions={config.divisions}",
        f"--latency-ms={config.latency_ms}",
    ]


class EmulatorProcess:
    """``exactmate emulator serve`` as a child process; ``config.port`` 0 picks a free port.

    ``with EmulatorProcess(config) as emu: httpx.get(emu.base_url + "/_emulator/stats")``
    """

    def __init__(self, config: EmulatorConfig) -> None:
        port = config.port or free_port()
        self.config = replace(config, port=port)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return self.config.base_url

    def start(self, timeout: float = 60.0) -> EmulatorProcess:
        """Start serving and wait until the control API answers (the demo data is then loaded)."""
        exe = Path(sys.executable).with_name("exactmate")
        self._process = subprocess.Popen(
            [str(exe), "emulator", "serve", *serve_arguments(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                errors = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"the emulator exited with {self._process.returncode}: {errors[-2000:]}")
            try:
                if httpx.get(self.base_url + "/_emulator/stats", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the emulator did not answer on {self.base_url} within {timeout:g} s")

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the emulator process is not running")
        return self._process.pid

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stats(base_url: str) -> dict[str, Any]:
    """The emulator's counters (``GET /_emulator/stats``)."""
    answer = httpx.get(base_url + "/_emulator/stats", timeout=10.0)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


# -- many processes, one credential ---------------------------------------------------------------


@dataclass
class WorkerReport:
    """What one worker process did: calls answered, errors by class (with the first few messages)."""

    index: int
    pid: int
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0


def token_worker(
    home: Home, division: int, index: int, calls: int, duration: float, barrier: Any, results: Any
) -> None:
    """One process: build ``ExactClient.from_credential``, wait for the others, then make ``calls``
    calls spread evenly over ``duration`` seconds (``crm/Accounts/$count``: small, governed, counted),
    each answered or its error recorded. Runs in a spawned child, so everything arrives pickled."""
    report = WorkerReport(index=index, pid=os.getpid())
    try:
        with ExactClient.from_credential(home.credential, settings=home.settings()) as client:
            accounts = client.resource("crm/Accounts", division=division)
            barrier.wait(timeout=120)
            started = time.monotonic()
            for i in range(calls):
                pause = started + i * duration / calls - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # the pace is the point: the run must outlive several tokens
                try:
                    accounts.count()
                    report.ok += 1
                except ExactmateError as exc:
                    report.errors[type(exc).__name__] += 1
                    if len(report.messages) < 5:
                        report.messages.append(str(exc)[:500])
            report.seconds = time.monotonic() - started
    except BaseException as exc:  # report anything, so the parent never waits for a dead child
        report.errors[type(exc).__name__] += 1
        report.messages.append("".join(traceback.format_exception(exc))[-1500:])
    results.put(report)


def run_token_workers(
    home: Home, *, division: int, processes: int, calls: int, duration: float, timeout: float = 300.0
) -> list[WorkerReport]:
    """``processes`` spawned processes, ``calls`` calls in all, each process's share spread over
    ``duration`` seconds after all of them are ready. Returns one report per process."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    shares = [calls // processes + (1 if i < calls % processes else 0) for i in range(processes)]
    children = [
        context.Process(
            target=token_worker,
            args=(home, division, i, shares[i], duration, barrier, results),
            name=f"token-worker-{i}",
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    reports: list[WorkerReport] = []
    deadline = time.monotonic() + timeout
    try:
        while len(reports) < processes:
            try:
                reports.append(results.get(timeout=max(deadline - time.monotonic(), 0.1)))
            except queue.Empty:
                raise RuntimeError(f"only {len(reports)} of {processes} workers reported in time") from None
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
                child.join()
        results.close()
    return sorted(reports, key=lambda r: r.index)


def summarise(reports: Sequence[WorkerReport]) -> tuple[int, Counter[str]]:
    """Calls answered in all, and errors by class in all."""
    errors: Counter[str] = Counter()
    for report in reports:
        errors.update(report.errors)
    return sum(r.ok for r in reports), errors
