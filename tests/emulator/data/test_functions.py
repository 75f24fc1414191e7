"""The read/ functions the emulator implements, and the clear refusal of the others."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.emulator.data.support import FIRST, all_pages, error_text, results

READ = f"/api/v1/{FIRST}/read"
TIME = f"/api/v1/{FIRST}/project/TimeTransactions"
TODAY = date(2026, 1, 1)  # the fixtures' START, in Amsterdam


def _day_ms(day: date) -> int:
    return calendar.timegm(day.timetuple()) * 1000


def _ms(value: str) -> int:
    return int(value[6:-2])


def _my_entries(api: httpx.Client) -> list[dict[str, Any]]:
    employee = results(api.get("/api/v1/current/Me"))[0]["EmployeeID"]
    params = {
        "$select": "ID,Date,Quantity,HourStatus,ItemDescription",
        "$filter": f"Employee eq guid'{employee}'",
    }
    return [r for page in all_pages(api, TIME, params) for r in page]


def test_hour_types_are_the_time_items(api: httpx.Client) -> None:
    rows = results(api.get(f"{READ}/project/HourTypes"))
    items = results(api.get(f"/api/v1/{FIRST}/logistics/Items", params={"$filter": "IsTime eq 1"}))
    assert sorted(r["ItemId"] for r in rows) == sorted(i["ID"] for i in items)
    assert {r["ItemCode"] for r in rows} >= {"CONSULT", "TRAVEL"}
    assert "LAPTOP" not in {r["ItemCode"] for r in rows}


def test_hours_by_date_lists_the_users_entries_of_that_day(api: httpx.Client) -> None:
    entries = _my_entries(api)
    day_ms = int(entries[0]["Date"][6:-2])
    day = date(1970, 1, 1) + timedelta(milliseconds=day_ms)
    want = sorted(e["ID"] for e in entries if e["Date"] == entries[0]["Date"])
    response = api.get(
        f"{READ}/project/HoursByDate", params={"checkDate": f"datetime'{day.isoformat()}T00:00:00'"}
    )
    rows = results(response)
    assert sorted(r["EntryId"] for r in rows) == want
    assert [r["Id"] for r in rows] == list(range(1, len(rows) + 1))
    by_entry = {e["ID"]: e for e in entries}
    for row in rows:
        entry = by_entry[row["EntryId"]]
        bucket = {1: "HoursDraft", 2: "HoursRejected", 10: "HoursSubmitted", 20: "HoursApproved"}[
            entry["HourStatus"]
        ]
        assert row[bucket] == entry["Quantity"]
        assert row["ItemDescription"] == entry["ItemDescription"]
        assert row["WeekNumber"] == day.isocalendar()[1]


@pytest.mark.parametrize(
    "query, message",
    [
        ({}, "The parameter 'checkDate' is missing"),
        ({"checkDate": "2026-01-01"}, "The parameter 'checkDate' must be a datetime literal"),
        ({"checkDate": "datetime'garbage'"}, "The parameter 'checkDate' must be a datetime literal"),
    ],
)
def test_hours_by_date_needs_a_datetime_check_date(
    api: httpx.Client, query: dict[str, str], message: str
) -> None:
    response = api.get(f"{READ}/project/HoursByDate", params=query)
    assert response.status_code == 400
    assert error_text(response).startswith(message)


def test_recent_hours_cover_the_last_four_iso_weeks(api: httpx.Client) -> None:
    monday = TODAY - timedelta(days=TODAY.weekday()) - timedelta(weeks=3)
    window = (_day_ms(monday), _day_ms(TODAY))
    want = sorted(e["ID"] for e in _my_entries(api) if window[0] <= int(e["Date"][6:-2]) <= window[1])
    rows = results(api.get(f"{READ}/project/RecentHours"))
    assert want and sorted(r["EntryId"] for r in rows) == want


def test_functions_take_select_and_filter(api: httpx.Client) -> None:
    rows = results(
        api.get(f"{READ}/project/HourTypes", params={"$select": "ItemCode", "$filter": "ItemCode eq 'PM'"})
    )
    assert [list(r) for r in rows] == [["__metadata", "ItemCode"]]


def test_sync_timestamp_gives_the_timestamp_to_sync_from(api: httpx.Client) -> None:
    sync = f"/api/v1/{FIRST}/sync/Project/TimeCostTransactions"
    rows = [r for page in all_pages(api, sync, {"$select": "Timestamp,Modified"}) for r in page]
    cutoff = sorted(_ms(r["Modified"]) for r in rows)[len(rows) // 2]
    moment = (datetime(1970, 1, 1) + timedelta(milliseconds=cutoff)).isoformat(timespec="milliseconds")
    params = {"modified": f"datetime'{moment}'", "endPoint": "'TimeCostTransactions'"}
    found = results(api.get(f"{READ}/sync/Sync/SyncTimestamp", params=params))[0]
    assert found["API"] == "TimeCostTransactions"
    assert found["Modified"] == f"/Date({cutoff})/"
    since_params = {"$select": "Timestamp", "$filter": f"Timestamp gt {found['TimeStampAsBigInt']}L"}
    since = {r["Timestamp"] for page in all_pages(api, sync, since_params) for r in page}
    changed = {r["Timestamp"] for r in rows if _ms(r["Modified"]) >= cutoff}
    assert changed and changed <= since
    assert len(since) < len(rows)


def test_sync_timestamp_checks_its_parameters(api: httpx.Client) -> None:
    url = f"{READ}/sync/Sync/SyncTimestamp"
    unknown = api.get(url, params={"modified": "datetime'2025-01-01T00:00:00'", "endPoint": "'Nonsense'"})
    assert unknown.status_code == 400
    assert "'Nonsense' is not a sync endpoint" in error_text(unknown)
    assert api.get(url, params={"modified": "datetime'2025-01-01T00:00:00'"}).status_code == 400


def test_other_read_functions_are_refused_clearly(api: httpx.Client) -> None:
    response = api.get(f"{READ}/financial/ReceivablesList")
    assert response.status_code == 400
    assert error_text(response).startswith(
        "The function read/financial/ReceivablesList is not available in this emulator. Available functions: "
    )
