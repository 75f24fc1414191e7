"""Proof 2 (test version): a job that needs five windows of calls meets no 429 and uses five windows.

The emulator allows 60 calls per 5-second window (fixed windows, as Exact's); the client and the
emulator share one FakeClock, so the governor's waits move the emulator's time too. The benchmark
``bench/client_rate.py`` runs the same job in real time against a uvicorn server.
"""

from __future__ import annotations

import math

from exactmate.emulator.config import EmulatorConfig
from exactmate.odata import F
from tests.proofs.conftest import WorldFactory

WINDOW = 5.0
LIMIT = 60
CALLS = 5 * LIMIT
RECORDS = (CALLS - 1) * 60 + 30  # 299 full pages of 60 and a last one of 30: 300 calls


def test_five_windows_of_calls_meet_no_429(make_world: WorldFactory) -> None:
    world = make_world(
        EmulatorConfig(
            records=RECORDS, divisions=1, minutely_limit=LIMIT, window_seconds=WINDOW, daily_limit=100_000
        )
    )
    start = world.clock.now()
    assert start % WINDOW == 0  # the job starts as a window opens: five windows are the minimum
    before = world.stats()

    accounts = world.client.resource("crm/Accounts", division=world.division)
    # A filter keeps the read on the 60-row endpoint, so the job needs 300 calls.
    records = list(accounts.list(select=["ID"], filter=F("Blocked") == False))  # noqa: E712

    after = world.stats()
    calls = world.recorder.api()
    assert len(records) == RECORDS
    assert len(calls) == CALLS == after["total_requests"] - before["total_requests"]
    assert after["rate_limited"] == before["rate_limited"]  # zero 429s
    assert {e.status for e in calls} == {200}
    windows = [math.floor(e.at / WINDOW) for e in calls]
    assert len(set(windows)) == 5
    assert all(windows.count(w) == LIMIT for w in set(windows))  # every window used to the full
    elapsed = world.clock.now() - start
    assert 4 * WINDOW <= elapsed <= 1.15 * 4 * WINDOW

