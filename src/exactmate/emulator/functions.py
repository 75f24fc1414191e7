"""The ``read/`` function endpoints the emulator implements, computed from the stored records.

- ``read/project/HourTypes``: the division's hour types (items with IsTime = 1).
- ``read/project/HoursByDate?checkDate=datetime'…'``: the signed-in user's time entries on that day.
- ``read/project/RecentHours``: the user's time entries in the last four ISO weeks (this week
  included).
- ``read/sync/Sync/SyncTimestamp?modified=datetime'…'&endPoint='TimeCostTransactions'``: the
  Timestamp to start syncing from: every record modified at or after ``modified`` has a greater
  Timestamp.

Any other ``read/`` function answers 400 saying it is not available here (400, not 5xx, so that a
client does not retry it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from exactmate.emulator.catalogue import Catalogue, Endpoint
from exactmate.emulator.odata_filter import Literal, ODataError, parse_literal
from exactmate.emulator.serialize import naive_of_wall_ms
from exactmate.emulator.store import TIMESTAMP, DataStore, Row

DAY_MS = 86_400_000
SUPPORTED = (
    "read/project/HoursByDate",
    "read/project/RecentHours",
    "read/project/HourTypes",
    "read/sync/Sync/SyncTimestamp",
)
_STATUS_BUCKETS = {1: "HoursDraft", 2: "HoursRejected", 10: "HoursSubmitted", 20: "HoursApproved"}


def _param(params: Mapping[str, str], name: str, kind: str, example: str) -> Any:
    if name not in params:
        raise ODataError(f"The parameter '{name}' is missing: add {name}={example} to the query string.")
    try:
        value: Literal = parse_literal(params[name])
    except ODataError:
        value = Literal("invalid", None)
    if value.kind != kind:
        raise ODataError(f"The parameter '{name}' must be a {kind} literal such as {example}.")
    return value.value


class Functions:
    """Answers the supported read/ functions from the stored records."""

    def __init__(self, catalogue: Catalogue, store: DataStore) -> None:
        self._catalogue = catalogue
        self._store = store
        self._handlers: dict[str, Callable[[int, str | None, Mapping[str, str], int], list[Row]]] = {
            "read/project/hoursbydate": self._hours_by_date,
            "read/project/recenthours": self._recent_hours,
            "read/project/hourtypes": self._hour_types,
            "read/sync/sync/synctimestamp": self._sync_timestamp,
        }

    def rows(
        self,
        endpoint: Endpoint,
        division: int,
        employee: str | None,
        params: Mapping[str, str],
        today_ms: int,
    ) -> list[Row]:
        """The function's result rows; raises ODataError (400) for bad or missing parameters and
        for functions this emulator does not implement.
        """
        handler = self._handlers.get(endpoint.lower)
        if handler is None:
            raise ODataError(
                f"The function {endpoint.path} is not available in this emulator. Available functions: "
                + ", ".join(SUPPORTED)
                + "."
            )
        return handler(division, employee, params, today_ms)

    def _table_rows(self, division: int, name: str) -> list[Row]:
        table = self._store.existing(division, name)
        return list(table.rows()) if table is not None else []

    def _hour_types(
        self, division: int, employee: str | None, params: Mapping[str, str], today: int
    ) -> list[Row]:
        return [
            {"ItemId": item["ID"], "ItemCode": item.get("Code"), "ItemDescription": item.get("Description")}
            for item in self._table_rows(division, "logistics/items")
            if item.get("IsTime") == 1
        ]

    def _hours_by_date(
        self, division: int, employee: str | None, params: Mapping[str, str], today: int
    ) -> list[Row]:
        day = _param(params, "checkDate", "datetime", "datetime'2024-05-01T00:00:00'")
        day -= day % DAY_MS
        return self._hours(division, employee, lambda date: day <= date < day + DAY_MS)

    def _recent_hours(
        self, division: int, employee: str | None, params: Mapping[str, str], today: int
    ) -> list[Row]:
        monday = today - naive_of_wall_ms(today).weekday() * DAY_MS
        first = monday - 3 * 7 * DAY_MS
        return self._hours(division, employee, lambda date: first <= date < today + DAY_MS)

    def _hours(self, division: int, employee: str | None, on_day: Callable[[int], bool]) -> list[Row]:
        entries = [
            tt
            for tt in self._table_rows(division, "project/timetransactions")
            if tt.get("Employee") == employee and tt.get("Date") is not None and on_day(tt["Date"])
        ]
        entries.sort(key=lambda tt: (tt["Date"], tt["ID"]))
        items = self._store.table(division, "logistics/items", "ID")
        projects = self._store.table(division, "project/projects", "ID")
        accounts = self._store.table(division, "crm/accounts", "ID")
        return [
            _hours_row(
                number,
                tt,
                items.get(tt.get("Item")),
                projects.get(tt.get("Project")),
                accounts.get(tt.get("Account")),
            )
            for number, tt in enumerate(entries, start=1)
        ]

    def _sync_timestamp(
        self, division: int, employee: str | None, params: Mapping[str, str], today: int
    ) -> list[Row]:
        modified = _param(params, "modified", "datetime", "datetime'2024-05-01T00:00:00'")
        name = _param(params, "endPoint", "string", "'TimeCostTransactions'")
        endpoint = self._catalogue.sync_endpoint(name)
        if endpoint is None:
            raise ODataError(
                f"The endPoint '{name}' is not a sync endpoint (for example 'TimeCostTransactions')."
            )
        table = self._store.existing(division, endpoint.table)
        stamps = [
            row[TIMESTAMP]
            for row in (table.rows() if table else ())
            if (row.get("Modified") or 0) >= modified
        ]
        if stamps:
            value = min(stamps) - 1
        else:
            value = max((table.ts_at(table.ts_size() - 1) if table and table.ts_size() else 0), 1)
        return [{"Modified": modified, "API": endpoint.entity_set, "TimeStampAsBigInt": value}]


def _hours_row(number: int, tt: Row, item: Row | None, project: Row | None, account: Row | None) -> Row:
    quantity = float(tt.get("Quantity") or 0.0)
    billable = project is None or project.get("Type") != 4
    row: Row = {
        "Id": number,
        "EntryId": tt["ID"],
        "Date": tt["Date"],
        "WeekNumber": naive_of_wall_ms(tt["Date"]).isocalendar()[1],
        "AccountId": tt.get("Account"),
        "AccountCode": account.get("Code") if account else None,
        "AccountName": tt.get("AccountName"),
        "Activity": tt.get("Activity"),
        "ActivityDescription": tt.get("ActivityDescription"),
        "ItemId": tt.get("Item"),
        "ItemCode": item.get("Code") if item else None,
        "ItemDescription": tt.get("ItemDescription"),
        "Notes": tt.get("Notes"),
        "ProjectId": tt.get("Project"),
        "ProjectCode": tt.get("ProjectCode"),
        "ProjectDescription": tt.get("ProjectDescription"),
    }
    for bucket in _STATUS_BUCKETS.values():
        row[bucket] = 0.0
        row[bucket + "Billable"] = 0.0
    status = _STATUS_BUCKETS.get(int(tt.get("HourStatus") or 1))
    if status is not None:
        row[status] = quantity
        row[status + "Billable"] = quantity if billable else 0.0
    return row


def function_params(query: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The non-system query parameters of a function call."""
    return {name: value for name, value in query if not name.startswith("$")}
