"""Paging: 60 rows on regular endpoints, 1000 on bulk and sync, ``__next`` as Exact writes it."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from exactmate.emulator.config import EmulatorConfig
from tests.emulator.data.support import BASE_URL, FIRST, all_pages, results

TIME = f"/api/v1/{FIRST}/project/TimeTransactions"


def test_pages_of_60_cover_every_row_once(api: httpx.Client) -> None:
    pages = all_pages(api, TIME, {"$select": "ID"})
    assert [len(p) for p in pages] == [60, 60, 30]
    ids = [r["ID"] for p in pages for r in p]
    assert len(set(ids)) == 150
    assert ids == sorted(ids)  # key order
    assert api.get(f"{TIME}/$count").text == "150"


def test_next_link_is_absolute_repeats_the_query_and_adds_the_last_key(api: httpx.Client) -> None:
    params = {"$select": "ID,Quantity", "$filter": "Quantity gt 0", "$inlinecount": "allpages"}
    response = api.get(TIME, params=params)
    body = response.json()["d"]
    last = body["results"][-1]["ID"]
    next_url = body["__next"]
    parts = urlsplit(next_url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL
    assert parts.path == TIME
    assert parts.query.endswith(f"$skiptoken=guid'{last}'")
    assert parse_qsl(parts.query) == [*params.items(), ("$skiptoken", f"guid'{last}'")]
    assert "%20" in parts.query  # the filter's spaces are encoded, the rest is readable


def test_last_page_has_no_next(api: httpx.Client) -> None:
    pages = all_pages(api, TIME, {"$select": "ID"})
    assert len(pages[-1]) == 30


@pytest.mark.parametrize("records", [120])
def test_a_full_last_page_still_carries_next_and_an_empty_page_follows(api: httpx.Client) -> None:
    pages = all_pages(api, TIME, {"$select": "ID"})
    assert [len(p) for p in pages] == [60, 60, 0]


class TestNextOnlyWhenMoreRows:
    @pytest.fixture
    def config(self) -> EmulatorConfig:
        return EmulatorConfig(records=120, next_on_full_page=False)

    def test_no_empty_last_page(self, api: httpx.Client) -> None:
        pages = all_pages(api, TIME, {"$select": "ID"})
        assert [len(p) for p in pages] == [60, 60]
        filtered = all_pages(api, TIME, {"$select": "ID", "$filter": "Quantity gt 0"})
        assert sum(len(p) for p in filtered) == 120
        assert len(filtered[-1]) > 0


def test_top_larger_than_a_page_continues_with_the_rest(api: httpx.Client) -> None:
    response = api.get(TIME, params={"$select": "ID", "$top": "100"})
    assert len(results(response)) == 60
    next_url = response.json()["d"]["__next"]
    assert "$top=40" in next_url
    second = api.get(next_url)
    assert len(results(second)) == 40
    assert "__next" not in second.json()["d"]


def test_top_within_a_page_has_no_next(api: httpx.Client) -> None:
    response = api.get(TIME, params={"$select": "ID", "$top": "60"})
    assert len(results(response)) == 60
    assert "__next" not in response.json()["d"]


def test_skip_is_not_repeated_in_the_next_link(api: httpx.Client) -> None:
    everything = [r["ID"] for p in all_pages(api, TIME, {"$select": "ID"}) for r in p]
    pages = all_pages(api, TIME, {"$select": "ID", "$skip": "10"})
    assert [r["ID"] for p in pages for r in p] == everything[10:]


def test_filtered_paging_round_trips_quotes_and_spaces(api: httpx.Client) -> None:
    text = "startswith(Notes, 'Code') or Notes eq 'Customer call'"
    pages = all_pages(api, TIME, {"$select": "ID,Notes", "$filter": text})
    notes = {r["Notes"] for p in pages for r in p}
    assert notes == {"Code review", "Customer call"}
    assert sum(len(p) for p in pages) == sum(
        1 for p in all_pages(api, TIME, {"$select": "Notes"}) for r in p if r["Notes"] in notes
    )


def test_skiptoken_of_the_wrong_type_is_a_syntax_error(api: httpx.Client) -> None:
    assert api.get(TIME, params={"$skiptoken": "123L"}).status_code == 400
    assert api.get(TIME, params={"$skiptoken": "guid'bad'"}).status_code == 400


@pytest.mark.parametrize("records", [1200])
def test_bulk_pages_hold_1000_rows_and_read_the_same_records(api: httpx.Client) -> None:
    pages = all_pages(api, f"/api/v1/{FIRST}/bulk/CRM/Accounts", {"$select": "ID,Name"})
    assert [len(p) for p in pages] == [1000, 200]
    regular = [r["ID"] for p in all_pages(api, f"/api/v1/{FIRST}/crm/Accounts", {"$select": "ID"}) for r in p]
    assert [r["ID"] for p in pages for r in p] == regular


@pytest.mark.parametrize("records", [1200])
def test_sync_pages_by_timestamp_with_an_int64_skiptoken(api: httpx.Client) -> None:
    url = f"/api/v1/{FIRST}/sync/CRM/Accounts"
    first = api.get(url, params={"$select": "Timestamp,ID", "$filter": "Timestamp gt 1L"})
    rows = results(first)
    assert len(rows) == 1000
    stamps = [r["Timestamp"] for r in rows]
    assert stamps == sorted(stamps) and stamps[0] > 1
    assert first.json()["d"]["__next"].endswith(f"$skiptoken={stamps[-1]}L")
    assert rows[0]["__metadata"]["uri"].endswith(f"sync/CRM/Accounts({stamps[0]}L)")
    rest = results(api.get(first.json()["d"]["__next"]))
    assert len(rest) == 200 and rest[0]["Timestamp"] > stamps[-1]
    later = results(api.get(url, params={"$select": "Timestamp", "$filter": f"Timestamp gt {stamps[499]}"}))
    assert [r["Timestamp"] for r in later][:3] == stamps[500:503]


def test_an_orderby_skiptoken_with_values_of_the_wrong_type_is_a_syntax_error(api: httpx.Client) -> None:
    key = results(api.get(TIME, params={"$select": "ID", "$top": "1"}))[0]["ID"]
    response = api.get(TIME, params={"$orderby": "Notes", "$skiptoken": f"5,guid'{key}'"})
    assert response.status_code == 400
    ok = api.get(TIME, params={"$orderby": "Quantity", "$skiptoken": f"2,guid'{key}'", "$select": "Quantity"})
    assert ok.status_code == 200 and all(r["Quantity"] >= 2 for r in results(ok))
