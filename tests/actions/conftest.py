"""The actions against the emulator, in process: a ActionContext whose client talks to an ``Emulator``
through ``EmulatorTransport``, sharing one FakeClock with it, and a SQLite store in a temp dir (the
audit log and journal readers' tests, test_restore.py, also on PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from exactmate.actions import ActionContext
from exactmate.client import ExactClient
from exactmate.clock import FakeClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.transport import EmulatorTransport
from exactmate.governor import Governor
from exactmate.store import Store
from tests.emulator_helpers import authorize

SERVER = "http://127.0.0.1:8555"
D1, D2 = 100001, 100002


class StaticTokens:
    """The access token from one consent; the emulator's tokens outlive these tests (FakeClock)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh_after_401(self, rejected: str) -> str:
        return self.token


class CountingTransport(EmulatorTransport):
    """The emulator's transport, remembering every request's method, path, query and body."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator)
        self.requests: list[tuple[str, str]] = []
        self.queries: list[str] = []
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        self.queries.append(request.url.query.decode())
        self.bodies.append(request.read())
        return super().handle_request(request)


@dataclass
class World:
    """Everything a test touches: the emulator, its config, the connection and the shared clock."""

    emulator: Emulator
    config: EmulatorConfig
    conn: ActionContext
    clock: FakeClock
    store: Store
    transport: CountingTransport

    def stats(self) -> dict[str, Any]:
        return self.emulator.stats.snapshot()

    def sent(self, *methods: str) -> list[str]:
        """``"METHOD path"`` of every request the client sent (all methods unless some are named)."""
        return [f"{m} {p}" for m, p in self.transport.requests if not methods or m in methods]

    def fault(self, **spec: Any) -> None:
        """Inject a fault through the control API (``kind``, ``count`` or ``rate``, ``path``)."""
        answer = self.emulator.control.handle("POST", "faults", json.dumps(spec).encode())
        assert answer.status == 201, answer.body

    def hour_type(self, division: int = D1) -> str:
        item = next(
            self.conn.client.resource("logistics/Items", division).list(
                select=["ID"], filter={"IsTime": 1}, top=1
            )
        )
        return str(item["ID"])

    def project(self, division: int = D1) -> str:
        return str(
            next(self.conn.client.resource("project/Projects", division).list(select=["ID"], top=1))["ID"]
        )

    def entry_with_status(self, status: int, division: int = D1) -> dict[str, Any]:
        resource = self.conn.client.resource("project/TimeTransactions", division)
        return next(resource.list(filter={"HourStatus": status}, top=1))

    def count(self, filter: dict[str, Any], division: int = D1) -> int:
        return self.conn.client.resource("project/TimeTransactions", division).count(filter=filter)


def build_world(tmp_path: Path, store_url: str | None = None, **config: Any) -> Iterator[World]:
    """The world on a SQLite store in ``tmp_path``, or on the store at ``store_url``."""
    settings: dict[str, Any] = {
        "records": 40,
        "divisions": 2,
        "minutely_limit": 100_000,
        "daily_limit": 1_000_000,
    }
    settings.update(config)
    cfg = EmulatorConfig(**settings)
    clock = FakeClock(1_780_000_000.0)  # 2026-05-28
    emulator = Emulator(cfg, clock, sleep=clock.sleep)
    transport = CountingTransport(emulator)
    with httpx.Client(transport=transport, base_url=SERVER) as http:
        tokens = authorize(http, cfg)
    store = Store(store_url or f"sqlite:///{tmp_path / 'actions.db'}", clock=clock)
    client = ExactClient(
        server_url=SERVER,
        client_id=cfg.client_id,
        tokens=StaticTokens(tokens["access_token"]),
        credential_id="cred-test",
        governor=Governor(store, clock),
        clock=clock,
        transport=transport,
    )
    conn = ActionContext(client=client, store=store, credential_name="test", server_url=SERVER)
    world = World(emulator, cfg, conn, clock, store, transport)
    emulator.stats.reset()
    transport.requests.clear()
    transport.queries.clear()
    try:
        yield world
    finally:
        client.close()
        store.close()
        emulator.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path)
