"""A whole read can count its records on its first page (``$inlinecount=allpages``, Exact's
``d.__count``) instead of a ``$count`` call before it: one call fewer a division, the same number."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from exactmate.actions.listget import check_query, read_listing
from exactmate.actions.readcost import Carried, count_carried, estimate_read, read_cost
from exactmate.catalogue import ROW_TWINS
from exactmate.errors import BudgetExceeded, ForbiddenError
from tests.actions.conftest import D1, D2, World, build_world

RECORDS = 150  # crm/Accounts filtered: three 60-row pages


@pytest.fixture
def many(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, records=RECORDS)


def _sent(world: World) -> list[tuple[str, str]]:
    """(path, query) of each GET the client sent, and forget them."""
    sent = zip(world.transport.requests, world.transport.queries, strict=True)
    pairs = [(path, query) for (method, path), query in sent if method == "GET"]
    world.transport.requests.clear()
    world.transport.queries.clear()
    return pairs


@pytest.mark.parametrize(
    ("endpoint", "filter", "source"),
    [
        ("crm/Accounts", "Name ne ''", "crm/Accounts"),  # 60 a call
        ("crm/Accounts", None, "bulk/CRM/Accounts"),
        ("project/Projects", None, "sync/Project/Projects"),
    ],
)
def test_the_first_page_counts_what_a_count_call_would(
    many: World, endpoint: str, filter: str | None, source: str
) -> None:
    catalogue = many.conn.client.catalogue
    query = check_query(catalogue, catalogue.endpoint(endpoint), filter=filter, everything=True)
    assert query.source.path == source and query.counts_inline
    counted = many.conn.client.resource(endpoint, D1).count(query.filter)
    _sent(many)
    pages = list(many.conn.client.resource(endpoint, D1).read(query, ahead=True, count=True))
    sent = _sent(many)
    assert pages[0].count == counted == sum(len(page.records) for page in pages) > 0
    assert len(sent) == len(pages) and not any(path.endswith("/$count") for path, _ in sent)
    assert "inlinecount=allpages" in sent[0][1]
    # Asked once: the next links are followed without it, so the server counts once, not each page.
    assert all("inlinecount" not in query and "skiptoken" in query for _, query in sent[1:])
    plain = list(many.conn.client.resource(endpoint, D1).read(query))  # not asked: not counted
    assert "inlinecount" not in _sent(many)[0][1] and plain[0].count is None
    assert [page.records for page in plain] == [page.records for page in pages]
    assert query.options.inline_count is False  # the checked query itself is left as it was


def test_each_division_is_told_its_count_before_its_records(many: World) -> None:
    catalogue = many.conn.client.catalogue
    query = check_query(catalogue, catalogue.endpoint("crm/Accounts"), filter="Name ne ''", everything=True)
    events: list[tuple[str, int, int | None]] = []
    listing = read_listing(
        many.conn,
        query,
        division="all",
        on_count=lambda division, records: events.append(("count", division, records)),
        on_page=lambda division, records: events.append(("page", division, records)),
    )
    for record in listing:
        events.append(("record", record["Division"], None))
    firsts = [events.index(("record", number, None)) for number in (D1, D2)]
    counts = [event for event in events if event[0] == "count"]
    assert [event[1] for event in counts] == [D1, D2]  # once a division, at its first page
    for (_, number, records), first in zip(counts, firsts, strict=True):
        told = events.index(("count", number, records))
        assert told < events.index(("page", number, 60)) < first  # before the page, before its records
        assert records == sum(1 for event in events if event[:2] == ("record", number))
    accounts = [call for call in many.sent() if "crm/Accounts" in call]
    assert len(accounts) == 2 * (RECORDS // 60 + 1)  # the pages only: no $count call


def test_the_cost_of_counted_records_is_the_cost_a_count_call_gives(world: World) -> None:
    catalogue = world.conn.client.catalogue
    query = check_query(catalogue, catalogue.endpoint("crm/Accounts"), everything=True)
    estimated = estimate_read(world.conn, query, D1)
    world.transport.requests.clear()
    assert estimated.counting_calls == 1
    assert read_cost(world.conn, query, D1, estimated.records) == replace(estimated, counting_calls=0)
    assert world.sent() == []  # the arithmetic costs no call


def test_a_row_twin_cannot_count_on_its_first_page(world: World) -> None:
    """Time entries read through the time-and-cost feed: its ``__count`` takes in the cost entries
    too, so their number comes from a ``$count`` call on project/TimeTransactions."""
    catalogue = world.conn.client.catalogue
    query = check_query(catalogue, catalogue.endpoint("project/TimeTransactions"), everything=True)
    assert query.rows is not None and not query.counts_inline
    with pytest.raises(ValueError, match="cannot count its records on its first page"):
        read_listing(world.conn, query, division=D1, on_count=lambda division, records: None)
    with pytest.raises(ValueError, match="count them with Resource.count"):
        world.conn.client.resource("project/TimeTransactions", D1).read(query, count=True)
    assert world.sent() == []


ACCOUNTS = "https://x/api/v1/1/crm/Accounts"


@pytest.mark.parametrize(
    ("options", "onward"),
    [
        ("$inlinecount=allpages&$skiptoken=guid'a'", "$skiptoken=guid'a'"),
        ("$select=ID&%24inlinecount=allpages&$skiptoken=5", "$select=ID&$skiptoken=5"),
        ("$select=ID&$skiptoken=5", "$select=ID&$skiptoken=5"),
    ],
)
def test_a_counted_reads_next_links_lose_only_the_count(options: str, onward: str) -> None:
    import httpx

    from exactmate.resource import _onward

    response = httpx.Response(200, request=httpx.Request("GET", ACCOUNTS))
    link = f"{ACCOUNTS}?{options}"
    assert _onward(link, response, counted=True) == f"{ACCOUNTS}?{onward}"
    assert _onward(link, response, counted=False) == link  # a read that did not ask: verbatim


class _Refusing:
    """A client whose counts of ``refused`` raise ``error``; others count 5."""

    def __init__(self, refused: str, error: Exception) -> None:
        self.refused, self.error, self.asked = refused, error, []

    def resource(self, path: str, division: int) -> _Refusing:
        self.asked.append(path)
        return self

    def count(self) -> int:
        if self.asked[-1] == self.refused:
            raise self.error
        return 5


@pytest.mark.parametrize(
    ("error", "calls"),
    [
        (ForbiddenError("403 Forbidden - Application Scope Violated", status_code=403), 1),
        (BudgetExceeded("too many failed calls", reopens_at=datetime.now(UTC), endpoint="x", division=D1), 0),
    ],
    ids=["refused by Exact: a call made", "refused by the error budget: none made"],
)
def test_carried_rows_that_cannot_be_counted_leave_the_cost_a_lower_bound(
    error: Exception, calls: int
) -> None:
    rule = ROW_TWINS["project/TimeTransactions"]
    client = _Refusing("project/CostTransactions", error)
    carried = count_carried(cast(Any, client), rule, D1)
    assert carried == Carried(("project/CostTransactions",), None, calls)
    assert count_carried(cast(Any, _Refusing("none", error)), rule, D1) == Carried(rule.others, 5, 1)
    assert count_carried(cast(Any, client), None, D1) == Carried()
