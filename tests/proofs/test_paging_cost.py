"""Proof 1: reading a whole endpoint costs at most ceil(N/1000) + 2 calls, not ceil(N/60).

The client reads through the endpoint's bulk/ twin (1000 rows a call): one call for ``current/Me``
(the current division), ceil(N/1000) pages, and at most one more when the last page is exactly full
(Exact still sends a ``__next`` link then). Calls are counted by the emulator, not by the client.
"""

from __future__ import annotations

import math

import pytest

from exactmate.emulator.config import EmulatorConfig
from tests.proofs.conftest import WorldFactory


def _delta(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict[str, int]:
    """Calls per endpoint between two ``by_endpoint`` snapshots."""
    out: dict[str, int] = {}
    for endpoint, statuses in after.items():
        calls = sum(statuses.values()) - sum(before.get(endpoint, {}).values())
        if calls:
            out[endpoint] = calls
    return out


@pytest.mark.parametrize("records", [5_000, 5_321])
def test_every_account_costs_at_most_ceil_n_over_1000_plus_2_calls(
    make_world: WorldFactory, records: int
) -> None:
    world = make_world(EmulatorConfig(records=records, divisions=1))
    before = world.stats()

    accounts = list(world.client.resource("crm/Accounts").list())

    after = world.stats()
    calls = after["total_requests"] - before["total_requests"]
    assert calls <= math.ceil(records / 1000) + 2
    assert math.ceil(records / 60) >= 10 * calls  # what 60-row paging would have cost
    assert _delta(after["by_endpoint"], before["by_endpoint"]) == {
        "current/me": 1,
        "bulk/crm/accounts": calls - 1,
    }
    ids = [account["ID"] for account in accounts]
    assert len(ids) == records
    assert sorted(ids) == sorted(world.keys("crm/accounts"))  # every record, each exactly once
    assert after["rate_limited"] == before["rate_limited"]


def test_the_whole_read_gives_every_plain_field_of_the_base_endpoint(make_world: WorldFactory) -> None:
    world = make_world(EmulatorConfig(records=1_500, divisions=1))
    base = world.client.catalogue.endpoint("crm/Accounts")
    plain = {name for name, field in base.fields.items() if not field.is_collection}
    accounts = world.client.resource("crm/Accounts")

    whole = {a["ID"]: a for a in accounts.list()}
    # The same records through the 60-row base endpoint (a filter that matches every account).
    one_by_one = {a["ID"]: a for a in accounts.list(select=sorted(plain), filter={"Blocked": False})}

    assert all(set(record) == plain for record in whole.values())
    assert whole == one_by_one


def test_a_select_keeps_the_cost_and_returns_only_the_fields_asked(make_world: WorldFactory) -> None:
    world = make_world(EmulatorConfig(records=2_000, divisions=1))
    world.client.me()
    before = world.stats()["total_requests"]

    accounts = list(world.client.resource("crm/Accounts").list(select=["ID", "Name", "Created"]))

    calls = world.stats()["total_requests"] - before
    assert calls <= math.ceil(2_000 / 1000) + 1  # the current division was already known
    assert len(accounts) == 2_000
    assert all(set(a) == {"ID", "Name", "Created"} for a in accounts)
    sent = [e.query for e in world.recorder.api() if e.path.endswith("/bulk/CRM/Accounts")]
    assert sent[0] == "$select=ID,Name,Created"
