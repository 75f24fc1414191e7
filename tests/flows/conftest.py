"""Flows against a real emulator on 127.0.0.1 (the command-line tests' one), with a connected
credential ``emu`` in each test's vault, and a flow engine on each test's own DBOS database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from exactmate.flows.engine import FlowEngine
from tests.cli.conftest import Emu, connected


@pytest.fixture(scope="module")
def server() -> Iterator[Emu]:
    config = EmulatorConfig(port=0, records=60, divisions=2, minutely_limit=100_000, daily_limit=1_000_000)
    with BackgroundServer(config) as running:
        yield Emu(running.base_url, config)


@pytest.fixture
def emu(server: Emu, monkeypatch: pytest.MonkeyPatch) -> Emu:
    # A failed call reaches the step at once (the client's own retries would wait for real); the
    # step's retry policy is what these tests exercise.
    monkeypatch.setenv("EXACTMATE_MAX_RETRIES", "0")
    return connected(server)


@pytest.fixture
def engine(emu: Emu) -> Iterator[FlowEngine]:
    """DBOS launched on this test's home; its retry waits are a few milliseconds."""
    with FlowEngine(Settings.from_env(), retry_interval=0.005) as running:
        yield running
