"""The commands against a real emulator on a free 127.0.0.1 port, with a connected vault credential.

The server lives for the module; each test gets a fresh emulator state (``/_emulator/reset``) and
its own ``EXACTMATE_HOME`` (from the autouse fixture), so each test signs in once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from exactmate.auth import TokenSet
from exactmate.cli import app
from exactmate.cli.exit_codes import exit_code_for
from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from exactmate.errors import ExactmateError
from exactmate.vault import Vault
from tests.emulator_helpers import authorize

D1, D2 = 100001, 100002
CREDENTIAL = "emu"


@dataclass
class Run:
    """A command's outcome as ``exactmate`` (``cli.main``) would end it: exit code, stdout, stderr."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None


@dataclass
class Emu:
    base_url: str
    config: EmulatorConfig

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)

    def stats(self) -> dict[str, Any]:
        with self.http() as http:
            snapshot: dict[str, Any] = http.get("/_emulator/stats").json()
        return snapshot

    def rest_calls(self) -> int:
        """Answered REST calls (sign-in and token calls excluded) plus dropped ones."""
        snapshot = self.stats()
        answered = sum(
            sum(per.values())
            for name, per in snapshot["by_endpoint"].items()
            if not name.startswith("oauth2/")
        )
        return answered + int(snapshot["dropped"])

    def control(self, method: str, name: str, body: Any = None) -> Any:
        with self.http() as http:
            answer = http.request(method, f"/_emulator/{name}", json=body)
            assert answer.status_code < 300, answer.text
            return answer.json()


@contextmanager
def serving(records: int, divisions: int) -> Iterator[Emu]:
    """An emulator with ``records`` accounts (and time entries) a division and call limits no test
    reaches, on a free port while the block runs."""
    config = EmulatorConfig(
        port=0, records=records, divisions=divisions, minutely_limit=100_000, daily_limit=1_000_000
    )
    with BackgroundServer(config) as running:
        yield Emu(running.base_url, config)


@pytest.fixture(scope="module")
def server() -> Iterator[Emu]:
    with serving(60, divisions=2) as running:
        yield running


@pytest.fixture
def emu(server: Emu) -> Emu:
    """A connected credential named ``emu`` in this test's vault, and clean statistics."""
    return connected(server)


@pytest.fixture(scope="module")
def feed_server() -> Iterator[Emu]:
    """950 time entries and 95 cost entries: one page of the time-and-cost feed would hold every time
    entry, but the feed takes two."""
    config = EmulatorConfig(port=0, records=950, divisions=1)
    with BackgroundServer(config) as running:
        yield Emu(running.base_url, config)


def connected(server: Emu) -> Emu:
    """``server`` reset, with the credential ``emu`` signed in to it in this test's vault."""
    server.control("POST", "reset")
    with server.http() as http:
        tokens = authorize(http, server.config)
    with Vault.open(Settings.from_env()) as vault:
        values = vault.new_values(
            CREDENTIAL,
            server_url=server.base_url,
            client_id=server.config.client_id,
            client_secret=server.config.client_secret,
        )
        vault.create(values, tokens=TokenSet.from_response(tokens, time.time()))
    server.control("POST", "reset", {"keep_tokens": True})
    return server


def run(*args: str, input: str | None = None) -> Run:
    """Invoke the command line as ``exactmate.cli.main`` does: an ExactmateError becomes a message on
    stderr and the exit code of its class."""
    result = CliRunner().invoke(app, list(args), input=input)
    error = result.exception
    if isinstance(error, ExactmateError):
        return Run(exit_code_for(error), result.stdout, result.stderr + f"error: {error}\n", error)
    if error is not None and not isinstance(error, SystemExit):
        raise error
    return Run(result.exit_code, result.stdout, result.stderr, error)


def first_id(emu: Emu, path: str, division: int = D1, **filters: Any) -> str:
    """The ID of the first record of ``path`` (matching ``filters``), read over plain HTTP by the test."""
    del emu
    from exactmate.actions import list_records, open_connection

    with open_connection(CREDENTIAL) as conn:
        listing = list_records(conn, path, division=division, filter=filters or None, top=1, select="ID")
        return str(next(iter(listing))["ID"])
