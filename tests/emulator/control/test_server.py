"""The emulator served for real: uvicorn on a free 127.0.0.1 port, on a thread."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
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
