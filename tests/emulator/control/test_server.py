"""The emulator served for real: uvicorn on a free 127.0.0.1 port, on a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator, HttpRequest
from exactmate.emulator.server import BackgroundServer
from tests.emulator.control.conftest import FakeDataPlane
from tests.emulator_helpers import authorize, bearer


@pytest.fixture
def served() -> Iterator[tuple[httpx.Client, EmulatorConfig, FakeDataPlane]]:
    config = replace(EmulatorConfig(), port=0)  # 0: any free port
    data = FakeDataPlane()
    emulator = Emulator(config, FakeClock(), data_plane=data)
    with (
        BackgroundServer(config, emulator=emulator) as server,
        httpx.Client(base_url=server.base_url) as client,
    ):
        assert server.port != 0
        yield client, config, data


def test_a_real_server_answers_calls_and_drops_connections_on_demand(
    served: tuple[httpx.Client, EmulatorConfig, FakeDataPlane],
) -> None:
    client, config, data = served
    tokens = authorize(client, config)
    url = f"/api/v1/{config.accessible_divisions[0]}/crm/Accounts"
    answer = client.get(url, headers=bearer(tokens))
    assert answer.status_code == 200
    assert answer.headers["x-ratelimit-minutely-remaining"] == "59"
    assert data.requests[-1].base_url == str(client.base_url).rstrip("/")

    client.post("/_emulator/faults", json={"kind": "drop_after_commit", "count": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(url, json={"Name": "Committed"}, headers=bearer(tokens))
    assert [a["Name"] for a in data.accounts.values()] == ["Committed"]

    client.post("/_emulator/faults", json={"kind": "drop_before", "count": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url, headers=bearer(tokens))

    # the server lives on after the drops
    assert client.get(url, headers=bearer(tokens)).status_code == 200
    assert client.get("/_emulator/stats").json()["dropped"] == 2


def test_a_real_server_refuses_a_huge_body(
    served: tuple[httpx.Client, EmulatorConfig, FakeDataPlane],
) -> None:
    client, config, data = served
    tokens = authorize(client, config)
    url = f"/api/v1/{config.accessible_divisions[0]}/crm/Accounts"
    answer = client.post(url, content=b"{" + b" " * (10 * 1024 * 1024) + b"}", headers=bearer(tokens))
    assert answer.status_code == 413
    assert data.accounts == {}


def test_a_request_that_waits_runs_off_the_event_loop_and_the_rest_are_answered_meanwhile() -> None:
    """A ``slow`` fault waits in a worker thread; quick requests, answered on the event loop itself,
    are not held up by it. The wait is an Event the test releases, not a real sleep."""
    config = replace(EmulatorConfig(), port=0)
    release, waiting = threading.Event(), threading.Event()

    def wait(seconds: float) -> None:
        waiting.set()
        assert release.wait(10), "the test never released the slow request"

    emulator = Emulator(config, FakeClock(), data_plane=FakeDataPlane(), sleep=wait)
    request = HttpRequest("GET", f"/api/v1/{config.accessible_divisions[0]}/crm/Accounts")
    assert not emulator.may_wait(request)
    with (
        BackgroundServer(config, emulator=emulator) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
    ):
        tokens = authorize(client, config)
        url = f"/api/v1/{config.accessible_divisions[0]}/crm/Accounts"
        client.post("/_emulator/faults", json={"kind": "slow", "count": 1, "seconds": 30})
        assert emulator.may_wait(request)
        slow: list[int] = []
        thread = threading.Thread(
            target=lambda: slow.append(client.get(url, headers=bearer(tokens), timeout=None).status_code)
        )
        thread.start()
        try:
            assert waiting.wait(10)
            assert client.get(url, headers=bearer(tokens)).status_code == 200  # while the slow one waits
            assert slow == []
        finally:
            release.set()
            thread.join(10)
        assert slow == [200]
        assert not emulator.may_wait(request)  # the counted fault is used up


def test_latency_and_webhook_subscriptions_may_wait() -> None:
    slowed = Emulator(replace(EmulatorConfig(), latency_ms=5.0), FakeClock(), data_plane=FakeDataPlane())
    emulator = Emulator(EmulatorConfig(), FakeClock(), data_plane=FakeDataPlane())
    try:
        assert slowed.may_wait(HttpRequest("GET", "/api/v1/1/crm/Accounts"))
        subscribe = HttpRequest("POST", "/api/v1/1/webhooks/WebhookSubscriptions")
        assert emulator.may_wait(subscribe)  # it probes the callback URL
        read = HttpRequest("GET", "/api/v1/1/webhooks/WebhookSubscriptions")
        assert not emulator.may_wait(read)
        with emulator._lock:  # another request holds the lock (a probe may take seconds)
            assert emulator.may_wait(read)
    finally:
        slowed.close()
        emulator.close()
