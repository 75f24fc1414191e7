"""A whole read of time entries goes through sync/Project/TimeCostTransactions, 1,000 rows a call,
keeping only the time entries (Type 1) under project/TimeTransactions' field names: the same records,
field for field, as the 60-row read, in a fraction of the calls."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from exactmate.actions import list_records
from exactmate.errors import ValidationError
from tests.actions.conftest import D1, World, build_world

TT = "project/TimeTransactions"
ENTRIES = 2_500


@pytest.fixture
def big(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, records=ENTRIES)


def test_the_feed_gives_the_same_records_as_sixty_a_call_in_ceil_n_over_1000_calls(big: World) -> None:
    feed = list_records(big.conn, TT, division=D1, all=True)
    fast = {record["ID"]: record for record in feed}
    feed_calls = big.sent("GET")
    assert len(fast) == ENTRIES  # the cost entries of the same feed are left out
    assert all(call.endswith("/sync/Project/TimeCostTransactions") for call in feed_calls)
    assert len(feed_calls) <= math.ceil(ENTRIES / 1000) + 3
    shared = sorted(next(iter(fast.values())))
    assert "Activity" in shared and "Timestamp" not in shared and "WBS" not in shared
    assert {record["Type"] for record in fast.values()} == {1}
    big.transport.requests.clear()
    # The same read on 60-row pages: Price is not in the feed, so asking for it stays on the base.
    slow = list_records(big.conn, TT, division=D1, all=True, select=[*shared, "Price"])
    by_page = {record["ID"]: {name: record[name] for name in shared} for record in slow}
    assert len(big.sent("GET")) == ENTRIES // 60 + 1
    assert by_page == fast


def test_a_read_of_fields_the_feed_carries_under_another_name(big: World) -> None:
    listing = list_records(big.conn, TT, division=D1, all=True, select="ID,Activity,ActivityDescription")
    first = next(iter(listing))
    assert set(first) == {"ID", "Activity", "ActivityDescription"}
    [(_, path)] = big.transport.requests[:1]
    assert path.endswith("/sync/Project/TimeCostTransactions")


def test_the_change_feed_resumes_after_the_last_timestamp_read(world: World) -> None:
    feed = world.conn.client.resource("sync/Project/TimeCostTransactions", D1)
    first = [record for page in feed.changes(select=["ID", "Timestamp", "Type"]) for record in page.records]
    assert {record["Type"] for record in first} == {1, 2}
    cursor = max(record["Timestamp"] for record in first)
    assert [r for page in feed.changes(cursor) for r in page.records] == []  # nothing new
    entry = world.entry_with_status(1)
    world.conn.client.resource(TT, D1).update(entry["ID"], {"Notes": "changed since"})
    [changed] = [r for page in feed.changes(cursor, select=["ID", "Notes"]) for r in page.records]
    assert changed["ID"] == entry["ID"] and changed["Notes"] == "changed since"
    time_only = [r for page in world.conn.client.resource(TT, D1).changes(cursor - 5) for r in page.records]
    assert time_only and {r["Type"] for r in time_only} == {1} and all("Timestamp" in r for r in time_only)
    with pytest.raises(ValidationError, match="has no sync/ feed"):
        world.conn.client.resource("project/CostTransactions", D1).changes()
    with pytest.raises(ValidationError, match="carrying these fields"):
        world.conn.client.resource(TT, D1).changes(select=["ID", "Price"])
