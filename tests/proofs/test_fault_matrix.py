"""The fault matrix: a 200-row booking under each of the emulator's faults ends with exactly 200
entries in Exact, none twice, and every run's exit code tells the truth (0 only when every row is
booked; 13 while entries are pending; the cause's code when rows failed).

Everything runs in one process on the shared FakeClock: the booking goes through
``ExactClient.from_credential`` (token manager, governor, store) and ``create_time_transactions``,
as ``exactmate time create --file`` does; a rerun after the settle delay is what a user (or a
scheduler) does with an incomplete run. Two runs of the same file at once, on real processes, are
proven in ``test_concurrent_runs.py``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from exactmate.actions import create_time_transactions
from exactmate.actions.context import ActionContext
from exactmate.actions.timecreate import CreateResult
from exactmate.auth import TokenSet
from exactmate.cli.time import create_exit_code
from exactmate.emulator.config import EmulatorConfig
from exactmate.store import Store
from exactmate.vault import Vault
from tests.emulator_helpers import authorize
from tests.proofs.conftest import World, WorldFactory

ROWS = 200
RERUNS = 4

FAULTS: dict[str, dict[str, Any]] = {
    "500": {"kind": "500", "rate": 0.1},
    "503": {"kind": "503", "rate": 0.1},
    "slow past the timeout": {"kind": "slow", "rate": 0.05, "seconds": 45},
    "drop before": {"kind": "drop_before", "rate": 0.1},
    "drop after commit": {"kind": "drop_after_commit", "rate": 0.1},
}


def _entries(world: World, tag: str) -> list[dict[str, Any]]:
    division = world.division
    item = next(iter(world.client.resource("logistics/Items", division).list(filter={"IsTime": 1}, top=1)))
    project = next(iter(world.client.resource("project/Projects", division).list(top=1)))
    return [
        {"Item": item["ID"], "Project": project["ID"], "Quantity": 1 + n % 8, "Date": "2026-06-01",
         "Notes": f"{tag} {n}"}
        for n in range(ROWS)
    ]  # fmt: skip


def _booked(world: World, tag: str) -> Counter[str]:
    hours = world.client.resource("project/TimeTransactions", world.division)
    notes = (str(r["Notes"]) for r in hours.list(select=["Notes"], filter={"HourStatus": 1}))
    return Counter(n for n in notes if n.startswith(tag + " "))


def _truthful(result: CreateResult) -> None:
    code = create_exit_code(result)
    if result.ok:
        assert code == 0
    elif result.failed:
        assert code not in (0, 13)
    else:
        assert code == 13 and (result.pending or result.changed)


def _book_until_complete(world: World, conn: ActionContext, entries: list[dict[str, Any]]) -> list[int]:
    codes: list[int] = []
    for _ in range(1 + RERUNS):
        result = create_time_transactions(conn, entries, division=world.division)
        _truthful(result)
        codes.append(create_exit_code(result))
        if result.ok:
            return codes
        world.clock.advance(conn.settle_seconds)  # a rerun after the settle delay
    return codes


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_200_row_booking_under_a_fault_books_every_row_exactly_once(
    make_world: WorldFactory, fault: str
) -> None:
    world = make_world(EmulatorConfig(records=30, divisions=1, minutely_limit=100_000, daily_limit=100_000))
    store = Store.from_settings(world.home.settings(), clock=world.clock)
    conn = ActionContext(world.client, store, world.home.credential, world.config.base_url)
    tag = f"matrix {fault}"
    entries = _entries(world, tag)
    world.fault(**FAULTS[fault], path="TimeTransactions", method="POST")
    codes = _book_until_complete(world, conn, entries)
    world.control.delete("/_emulator/faults")
    fired = world.stats()["faults_fired"]
    booked = _booked(world, tag)
    store.close()
    assert fired > 0, "the fault never fired"
    assert codes[-1] == 0, codes
    assert len(booked) == ROWS and set(booked.values()) == {1}  # every row, none twice
    if fault != "drop after commit":  # an answer that never came makes the first run incomplete
        assert codes[0] != 0, codes


def test_a_lost_token_response_stops_the_booking_truthfully_and_a_reconnect_finishes_it(
    make_world: WorldFactory,
) -> None:
    # Exact rotated the refresh token but its answer never arrived: the credential needs a new
    # consent, which the run says (exit code 5) instead of booking on or pretending it is done.
    world = make_world(EmulatorConfig(records=30, divisions=1, minutely_limit=100_000, daily_limit=100_000))
    store = Store.from_settings(world.home.settings(), clock=world.clock)
    conn = ActionContext(world.client, store, world.home.credential, world.config.base_url)
    tag = "matrix lost token"
    entries = _entries(world, tag)
    world.fault(kind="lose_token_response", count=1)
    world.clock.advance(600)  # the access token expires: the next call refreshes
    first = create_time_transactions(conn, entries, division=world.division)
    _truthful(first)
    assert create_exit_code(first) == 5 and not first.created
    with Vault.open(world.home.settings(), clock=world.clock) as vault:  # exactmate vault connect
        answer = authorize(world.control, world.config)
        vault.save_tokens(world.home.credential, TokenSet.from_response(answer, world.clock.now()))
    codes = _book_until_complete(world, conn, entries)
    booked = _booked(world, tag)
    store.close()
    assert codes[-1] == 0 and len(booked) == ROWS and set(booked.values()) == {1}
