"""``exactmate sync --plan``: what a run would read and what it would cost, before it reads.

Per division and endpoint: the feed it reads, where its cursor stands in the target database, and
the calls. A first load (no cursor yet) is counted with one ``$count`` call on the endpoint: its
records take ``records // 1000 + 1`` calls (a full last page is followed by an empty one); a feed
that carries other rows too (time entries': the cost entries) counts those with one more. A later
run takes one call per 1,000 changed records, one at least. Each division adds one read of
``sync/Deleted``. Nothing is written, and the target database is not created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, inspect, select
from sqlalchemy.engine import make_url

from exactmate.actions.context import ActionContext
from exactmate.actions.divisions import DivisionChoice, DivisionInput, division_numbers, parse_division
from exactmate.actions.readcost import count_carried
from exactmate.sync.run import cursor_owner, feed_endpoints, open_target
from exactmate.sync.tables import CURSORS, cursor_table

FEED_PAGE = 1000


@dataclass(frozen=True)
class PlannedFeed:
    """One (division, endpoint) of a planned run."""

    endpoint: str
    division: int
    feed: str
    cursor: int | None  # None: a first load
    records: int | None  # counted for a first load
    calls: int
    calls_left_today: int | None
    # Exact refused to count the other rows the feed carries (time entries' cost entries): more calls.
    calls_at_least: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "division": self.division,
            "feed": self.feed,
            "cursor": self.cursor,
            "first load": self.cursor is None,
            "records": self.records,
            "calls": self.calls,
            "calls at least": self.calls_at_least,
            "calls left today": self.calls_left_today,
        }


def plan_sync(
    conn: ActionContext,
    endpoints: Sequence[str],
    target: str,
    *,
    division: DivisionInput | DivisionChoice = None,
) -> list[PlannedFeed]:
    """The feeds a sync of ``endpoints`` into ``target`` would read, with their cost in calls."""
    chosen = feed_endpoints(conn, endpoints)
    cursors = _cursors(target, cursor_owner(conn))
    planned: list[PlannedFeed] = []
    catalogue = conn.client.catalogue
    for number in division_numbers(conn.client, parse_division(division)):
        for endpoint in chosen:
            twins = catalogue.twins(endpoint.path)
            feed = endpoint if endpoint.kind == "sync" else (twins.sync or twins.rows)
            assert feed is not None
            cursor = cursors.get((number, endpoint.path))
            records = None
            calls, at_least = 1, False
            if cursor is None:
                records = conn.client.resource(endpoint.path, number).count()
                # A row twin's feed also carries other rows (time entries': the cost entries), read too.
                carried = count_carried(conn.client, twins.row_rule if feed is twins.rows else None, number)
                calls = (records + (carried.records or 0)) // FEED_PAGE + 1
                at_least = carried.records is None  # Exact refused to count them
            ledger = conn.store.ledger(conn.client.client_id, number)
            left = ledger.daily_remaining if ledger else None
            planned.append(
                PlannedFeed(endpoint.path, number, feed.path, cursor, records, calls, left, at_least)
            )
    return planned


def _cursors(target: str, owner: str) -> dict[tuple[int, str], int]:
    """The cursors ``owner`` has in ``target`` by (division, feed); none when it does not exist yet
    (a SQLite file is not created by looking)."""
    url = make_url(target)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").expanduser().is_file():
        return {}
    engine = open_target(target)
    try:
        if not inspect(engine).has_table(CURSORS):
            return {}
        table = cursor_table(MetaData())
        with engine.connect() as db:
            rows = db.execute(select(table).where(table.c.credential == owner)).mappings()
            return {(int(r["division"]), str(r["feed"])): int(r["cursor"]) for r in rows}
    finally:
        engine.dispose()
