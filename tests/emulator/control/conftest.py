"""Fixtures for the control-plane tests: an Emulator over a small fake data plane, a fake clock,
recorded webhook deliveries and sleeps, and HTTP clients over the in-process transport."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.exchange import Change, RestRequest, RestResponse, endpoint_key, error_response
from exactmate.emulator.transport import EmulatorTransport
from tests.emulator_helpers import authorize, bearer

BASE_URL = "http://127.0.0.1:8555"


class FakeDataPlane:
    """Just enough of a data plane to drive the pipeline: crm/Accounts (GET, POST, PUT, DELETE),
    webhooks/WebhookSubscriptions (POST probes the callback), anything else 404."""

    def __init__(self, probe: Callable[[str], int] | None = None) -> None:
        self.probe = probe
        self.requests: list[RestRequest] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[tuple[int, str], list[str]] = {}
        self.resets = 0
        self.me_calls: list[dict[str, Any]] = []
        self.explode = False

    def handle(self, req: RestRequest) -> RestResponse:
        self.requests.append(req)
        if self.explode:
            raise RuntimeError("data plane bug")
        endpoint = endpoint_key(req.path)
        if endpoint == "crm/accounts":
            return self._accounts(req)
        if endpoint == "webhooks/webhooksubscriptions" and req.method == "POST":
            return self._subscribe(req)
        return error_response(404, f"Not found: {req.path}", accept_json=req.accept_json)

    def _accounts(self, req: RestRequest) -> RestResponse:
        url = f"{req.base_url}/api/v1/{req.division}/crm/Accounts"
        if req.method == "GET":
            rows = [a for a in self.accounts.values() if a["Division"] == req.division]
            return RestResponse(200, json.dumps({"d": {"results": rows}}).encode())
        if req.method == "POST":
            data = json.loads(req.body or b"{}")
            key = str(uuid.uuid4())
            self.accounts[key] = {"ID": key, "Division": req.division, **data}
            change = Change("Accounts", req.division, "Create", key, f"{url}(guid'{key}')")
            return RestResponse(201, json.dumps({"d": self.accounts[key]}).encode(), changes=[change])
        key = req.path.split("guid'", 1)[-1].rstrip("')")
        if key not in self.accounts:
            return error_response(404, "Not found", accept_json=req.accept_json)
        action = "Update" if req.method == "PUT" else "Delete"
        if req.method == "DELETE":
            del self.accounts[key]
        change = Change("Accounts", req.division, action, key, f"{url}(guid'{key}')")
        return RestResponse(204, b"", changes=[change])

    def _subscribe(self, req: RestRequest) -> RestResponse:
        data = json.loads(req.body)
        assert self.probe is not None
        status = self.probe(data["CallbackURL"])
        if not 200 <= status < 300:
            text = f"Invalid: Post to callback URL endpoint returns {status}"
            return error_response(500, text, accept_json=req.accept_json)
        self.subscriptions.setdefault((req.division, data["Topic"]), []).append(data["CallbackURL"])
        return RestResponse(201, json.dumps({"d": data}).encode())

    def me(
        self,
        *,
        user_id: str,
        current_division: int,
        base_url: str,
        accept_json: bool,
        query: tuple[tuple[str, str], ...],
    ) -> RestResponse:
        self.me_calls.append({"user_id": user_id, "current_division": current_division, "query": query})
        row = {"UserID": user_id, "CurrentDivision": current_division}
        return RestResponse(200, json.dumps({"d": {"results": [row]}}).encode())

    def reset(self) -> None:
        self.resets += 1
        self.accounts.clear()
        self.subscriptions.clear()

    def webhook_callbacks(self, division: int, topic: str) -> list[str]:
        return list(self.subscriptions.get((division, topic), []))

    def division_description(self, division: int) -> str:
        return f"Demo company {division}"


@dataclass
class Recorder:
    """Records webhook deliveries and probes; answers with ``status``."""

    status: int = 200
    deliveries: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)

    def deliver(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.deliveries.append((url, body, headers))
        return self.status

    def probe(self, url: str) -> int:
        self.probes.append(url)
        return self.status


@dataclass
class Env:
    """One emulator under test and the fakes around it."""

    config: EmulatorConfig
    clock: FakeClock
    data: FakeDataPlane
    hooks: Recorder
    sleeps: list[float]
    emulator: Emulator
    client: httpx.Client

    def login(self, divisions: list[int] | None = None) -> dict[str, Any]:
        return authorize(self.client, self.config, divisions)

    def headers(self, tokens: dict[str, Any]) -> dict[str, str]:
        return bearer(tokens)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


MakeEnv = Callable[..., Env]


@pytest.fixture
def make_env() -> Iterator[MakeEnv]:
    """Build an ``Env``; keyword arguments override ``EmulatorConfig`` fields; ``start`` sets the
    fake clock (default 2026-01-01T10:00:00Z)."""
    made: list[Env] = []

    def make(start: float = 1_767_261_600.0, **overrides: Any) -> Env:
        config = replace(EmulatorConfig(), **overrides)
        clock = FakeClock(start)
        hooks = Recorder()
        data = FakeDataPlane(probe=hooks.probe)
        sleeps: list[float] = []
        emulator = Emulator(config, clock, data_plane=data, deliver=hooks.deliver, sleep=sleeps.append)
        client = httpx.Client(transport=EmulatorTransport(emulator), base_url=BASE_URL)
        env = Env(config, clock, data, hooks, sleeps, emulator, client)
        made.append(env)
        return env

    yield make
    for env in made:
        env.client.close()
        env.emulator.close()


@pytest.fixture
def env(make_env: MakeEnv) -> Env:
    return make_env()
