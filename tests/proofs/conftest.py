"""The in-process world the proofs run in: emulator, vault and client sharing one ``FakeClock``.

Everything runs for real except time: the credential is stored by the consent flow over HTTP,
``ExactClient.from_credential`` builds the client (TokenManager, Governor on a SQLite store,
HttpPolicy), and the emulator answers through ``EmulatorTransport``. The client's ``sleep`` and the
emulator's ``sleep`` advance the same fake clock, so rate windows, backoff and token expiry pass
instantly. What the emulator saw is read from its control API (``/_emulator/stats``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from exactmate.client import ExactClient
from exactmate.clock import FakeClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.transport import EmulatorTransport
from tests.proofs.harness import Home, Recorder, connect, emulator_keys


@dataclass
class World:
    """One emulator, one stored credential, one client; ``recorder`` sees every call the client sent."""

    clock: FakeClock
    config: EmulatorConfig
    emulator: Emulator
    recorder: Recorder
    control: httpx.Client
    home: Home
    client: ExactClient

    @property
    def division(self) -> int:
        return self.config.accessible_divisions[0]

    def stats(self) -> dict[str, Any]:
        """The emulator's counters, through its control API."""
        answer = self.control.get("/_emulator/stats")
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def fault(self, **spec: object) -> None:
        """Add a fault through the control API (``POST /_emulator/faults``)."""
        answer = self.control.post("/_emulator/faults", json=spec)
        assert answer.status_code == 201, answer.text

    def keys(self, table: str) -> list[Any]:
        """Every key the emulator holds in ``table`` of the first division."""
        return emulator_keys(self.emulator, self.division, table)

    def close(self) -> None:
        self.client.close()
        self.control.close()
        self.emulator.close()


def build_world(tmp_path: Path, config: EmulatorConfig, *, max_retries: int = 2) -> World:
    clock = FakeClock()
    emulator = Emulator(config, clock=clock, sleep=clock.sleep)
    control = httpx.Client(transport=EmulatorTransport(emulator), base_url=config.base_url)
    home = Home(str(tmp_path / "home"))
    connect(home, config, control, base_url=config.base_url, clock=clock)
    recorder = Recorder(EmulatorTransport(emulator), clock)
    client = ExactClient.from_credential(
        home.credential,
        settings=home.settings(max_retries=max_retries),
        clock=clock,
        transport=recorder,
    )
    return World(clock, config, emulator, recorder, control, home, client)


WorldFactory = Callable[..., World]


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[WorldFactory]:
    """``make_world(EmulatorConfig(...), max_retries=2)``: a world, closed after the test."""
    made: list[World] = []

    def make(config: EmulatorConfig, *, max_retries: int = 2) -> World:
        world = build_world(tmp_path / f"world{len(made)}", config, max_retries=max_retries)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()
