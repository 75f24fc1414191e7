"""Fixtures for the data-plane tests. The tests speak HTTP only, through the ``api`` client: today it
runs over an httpx.MockTransport that turns requests into RestRequests for a RestApi (see
support.http_client); the same tests can run against the full emulator app by swapping that
transport.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.rest import RestApi
from tests.emulator.data.support import START, Session, http_client


@pytest.fixture
def records() -> int:
    """Size of the demo data; parametrize ``records`` in a test for more rows."""
    return 150


@pytest.fixture
def config(records: int) -> EmulatorConfig:
    return EmulatorConfig(records=records)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def session() -> Session:
    return Session()


@pytest.fixture
def rest_api(config: EmulatorConfig, clock: FakeClock, session: Session) -> RestApi:
    def probe(url: str) -> int:
        session.probed.append(url)
        return session.probe_status

    return RestApi(config, clock.now, probe_callback=probe)


@pytest.fixture
def api(rest_api: RestApi, session: Session) -> Iterator[httpx.Client]:
    """An httpx client whose requests the RestApi answers, as the control plane would pass them."""
    with http_client(rest_api, session) as client:
        yield client


@pytest.fixture
def expect_problem() -> None:
    """Requested by a test that provokes an internal error on purpose."""


@pytest.fixture(autouse=True)
def no_hidden_failures(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """An unexpected exception inside the data plane becomes a 500 for the client, which a test
    might not notice; it is also logged, and this fixture fails the test when it was."""
    caplog.set_level(logging.ERROR, logger="exactmate.emulator.rest")
    yield
    if "expect_problem" in request.fixturenames:
        return
    failures = [
        r for r in caplog.records if r.name == "exactmate.emulator.rest" and r.levelno >= logging.ERROR
    ]
    assert not failures, failures[0].getMessage() + "\n" + (failures[0].exc_text or "")
