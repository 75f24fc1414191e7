"""A page's records as rows (``_Feed._rows``, read column by column with the date columns last) and
the lease renewed at most every ``RENEW_SECONDS``: what is stored is each record's value under its
own column, on every kind of target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import MetaData, select

from exactmate.catalogue import Catalogue
from exactmate.odata import AMSTERDAM
from exactmate.sync import run as sync_run
from exactmate.sync.tables import DELETED, DIVISION, SYNCED_AT, TIMESTAMP, cursor_table, ensure, record_table

CATALOGUE = Catalogue.load()
FIELDS = ["ID", "Notes", "Date", "Quantity", "Created", "HourStatus", "Modified"]


def _record(number: int, **values: Any) -> dict[str, Any]:
    created = datetime(2026, 3, 29, 1, 30, tzinfo=AMSTERDAM) + timedelta(minutes=number)
    record: dict[str, Any] = {
        "ID": f"00000000-0000-0000-0000-{number:012d}",
        "Notes": f"entry {number}",
        "Date": datetime(2026, 3, 29, tzinfo=AMSTERDAM),
        "Quantity": number / 4,
        "Created": created,
        "HourStatus": 20,
        "Modified": created,
        "Timestamp": 1000 + number,
    }
    record.update(values)
    return record


def _stored(value: Any) -> Any:
    """What a date reads back as through SQLAlchemy: UTC, naive on SQLite."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def test_each_value_is_stored_under_its_own_column_whatever_the_order_of_the_rows(target: str) -> None:
    endpoint = CATALOGUE.endpoint("project/TimeTransactions")
    metadata = MetaData()
    table = record_table(metadata, endpoint, FIELDS)
    engine = sync_run.open_target(target)
    try:
        cursors = cursor_table(metadata)
        cursors.create(engine, checkfirst=True)
        ensure(engine, table)
        report = sync_run.EndpointReport(endpoint.path, 7, table.name)
        run = sync_run._Run(None, engine, cursors, "me", sync_run._Writers(engine))  # type: ignore[arg-type]
        feed = sync_run._Feed(run, table, endpoint, report)
        whole = [_record(n) for n in range(1, 4)]
        # a page with a record that lacks fields (read field by field), a date seen before, None dates
        # and a date on the hour the clock skips
        gappy = [_record(4, Date=None), {"ID": _record(5)["ID"], "Timestamp": 1005}, _record(6)]
        gappy[2]["Created"] = datetime(2026, 3, 29, 3, 0, tzinfo=AMSTERDAM)
        with engine.begin() as db:
            assert feed._write(db, whole) == (3, 0)
            assert feed._write(db, gappy) == (3, 0)
            assert feed._write(db, [_record(2, Notes="edited")]) == (0, 1)
        with engine.connect() as db:
            rows = {row.ID: row._mapping for row in db.execute(select(table))}
        expected = {r["ID"]: r for r in [whole[0], _record(2, Notes="edited"), whole[2], *gappy]}
        assert rows.keys() == expected.keys()
        for key, record in expected.items():
            row = rows[key]
            for name in FIELDS:
                value = row[name]
                if isinstance(value, datetime):
                    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
                assert value == _stored(record.get(name)), (key, name)
            assert row[DIVISION] == 7 and row[TIMESTAMP] == record["Timestamp"]
            assert row[DELETED] is False or row[DELETED] == 0
            assert row[SYNCED_AT] is not None
        created = rows[gappy[2]["ID"]]["Created"]
        assert created.replace(tzinfo=None) == datetime(2026, 3, 29, 1, 0)  # 03:00 summer time is 01:00 UTC
    finally:
        engine.dispose()


def test_a_date_is_converted_once_while_it_is_remembered() -> None:
    seen: list[datetime] = []

    def convert(value: datetime) -> str:
        seen.append(value)
        return value.astimezone(UTC).isoformat()

    dates = sync_run._Dates(convert)
    day = datetime(2026, 12, 4, tzinfo=AMSTERDAM)
    assert dates[None] is None
    assert list(map(dates.__getitem__, [day, day, None, day])) == [day.astimezone(UTC).isoformat()] * 2 + [
        None,
        day.astimezone(UTC).isoformat(),
    ]
    assert seen == [day]
    for minute in range(sync_run._Dates.LIMIT + 1):  # past the limit it starts over
        dates[day + timedelta(minutes=minute + 1)]
    assert len(dates) <= sync_run._Dates.LIMIT and dates[None] is None


def test_the_lease_is_renewed_when_renew_seconds_have_passed_and_not_before() -> None:
    now = [100.0]
    renewals: list[float] = []
    renew = sync_run._Renewal(lambda: renewals.append(now[0]), 10.0, clock=lambda: now[0])
    for step in [1, 4, 4, 1, 3, 5, 1, 1]:  # a page after each step
        now[0] += step
        renew()
    assert renewals == [110.0, 120.0]
    assert sync_run.RENEW_SECONDS * 4 <= sync_run.LEASE_SECONDS  # several renewals before it lapses


def test_a_sync_renews_its_lease_while_it_runs(monkeypatch: Any) -> None:
    """Pages read for longer than ``RENEW_SECONDS`` renew the lease (here: every page)."""
    calls: list[str] = []
    monkeypatch.setattr(sync_run, "RENEW_SECONDS", 0.0)

    class Store:
        def lock(self, name: str, *, timeout: float, ttl: float) -> Any:
            from contextlib import nullcontext

            return nullcontext("owner")

        def renew_lock(self, name: str, owner: str, *, ttl: float) -> None:
            calls.append(name)

    class Conn:
        store = Store()

    class Job:
        def run(self, *, full: bool, progress: Any, renew: Any) -> None:
            for _ in range(3):
                renew()

    sync_run._held(Conn(), "lease", Job(), full=False, progress=None)  # type: ignore[arg-type]
    assert calls == ["lease"] * 3


def test_a_row_twins_changes_can_be_left_under_the_twins_names(tmp_path: Any) -> None:
    """``Resource.changes(renamed=False)``: the same time entries as ``changes()``, under the
    time-and-cost feed's names (WBS, its kind field Type kept), cost entries still left out."""
    from tests.actions.conftest import D1, build_world

    for world in build_world(tmp_path, records=40):
        feed = world.conn.client.resource("project/TimeTransactions", D1)
        renamed = [record for page in feed.changes() for record in page.records]
        fed = [record for page in feed.changes(renamed=False) for record in page.records]
        rule = CATALOGUE.twins("project/TimeTransactions").row_rule
        assert rule is not None and len(fed) == len(renamed) == 40
        assert all(record["Type"] == rule.kind for record in fed)
        assert "WBS" in fed[0] and "Activity" not in fed[0] and "Activity" in renamed[0]
        back = [{rule.base_name(name): value for name, value in r.items()} for r in fed]
        assert back == renamed
