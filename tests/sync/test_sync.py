"""``sync_endpoints`` against the in-process emulator, into SQLite and PostgreSQL: the tables equal
Exact's records field for field, an incremental run applies creates, updates and deletes for a few
calls, and an interrupted run resumes with no gap and no duplicate."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, create_engine, select, text

from exactmate.sync import EndpointReport, sync_endpoints
from exactmate.sync import run as sync_run
from exactmate.sync.tables import DIVISION
from exactmate.sync.writer import Writer
from tests.actions.conftest import D1, D2, World, build_world

ENDPOINTS = [
    "crm/Accounts",
    "project/Projects",
    "project/TimeTransactions",
    "logistics/Items",
    "payroll/Employees",
]
TABLES = {
    "crm/Accounts": "crm_accounts",
    "project/Projects": "project_projects",
    "project/TimeTransactions": "project_timetransactions",
    "logistics/Items": "logistics_items",
    "payroll/Employees": "payroll_employees",
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path, records=300)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).replace(tzinfo=None)
    return value


def exact_rows(world: World, path: str, division: int) -> dict[str, dict[str, Any]]:
    """What Exact holds, read through the same feed's fields (a whole read)."""
    resource = world.conn.client.resource(path, division)
    return {str(r["ID"]): {k: _plain(v) for k, v in r.items()} for r in resource.list()}


def table_rows(target: str, table: str, division: int) -> dict[str, dict[str, Any]]:
    engine = create_engine(target)
    try:
        with engine.connect() as db:
            if engine.dialect.name == "duckdb":  # typed by the database itself; its dialect cannot reflect
                query = text(f'SELECT * FROM {table} WHERE "{DIVISION}" = :division')
                rows = db.execute(query, {"division": division}).mappings()
            else:
                stored = Table(table, MetaData(), autoload_with=engine)  # typed columns: dates as dates
                rows = db.execute(select(stored).where(stored.c[DIVISION] == division)).mappings()
            return {str(r["ID"]): {k: _plain(v) for k, v in r.items() if not k.startswith("_")} for r in rows}
    finally:
        engine.dispose()


def assert_equal(world: World, target: str, divisions: tuple[int, ...] = (D1, D2)) -> None:
    for path, table in TABLES.items():
        for division in divisions:
            expected = exact_rows(world, path, division)
            stored = table_rows(target, table, division)
            assert stored.keys() == expected.keys(), (path, division)
            for key, record in expected.items():
                # A whole read may come through a bulk twin with a few fields fewer or more than the
                # sync feed the table is laid out from: compare every field both carry.
                shared = stored[key].keys() & record.keys()
                assert len(shared) >= 0.8 * len(stored[key]), (path, sorted(stored[key].keys() - shared))
                assert {k: stored[key][k] for k in shared} == {k: record[k] for k in shared}, (path, key)


def test_a_first_load_then_changes_and_deletes_in_a_few_calls(world: World, target: str) -> None:
    first = sync_endpoints(world.conn, ENDPOINTS, target, division="all")
    assert first.ok, [r.error for r in first.reports]
    assert {(r.endpoint, r.division) for r in first.reports} == {(p, d) for p in ENDPOINTS for d in (D1, D2)}
    assert_equal(world, target)
    tt = next(r for r in first.reports if r.endpoint == "project/TimeTransactions" and r.division == D1)
    assert tt.inserted == 300 and tt.calls <= math.ceil(330 / 1000) + 2  # time and cost in one feed
    client = world.conn.client
    accounts = client.resource("crm/Accounts", D1)
    created = accounts.create({"Name": "New Customer B.V.", "Code": "4711"})
    victim = next(accounts.list(select=["ID"], top=1))["ID"]
    changed = next(r for r in accounts.list(select=["ID"], top=3) if r["ID"] not in (victim, created["ID"]))
    accounts.update(changed["ID"], {"City": "Haarlem"})
    accounts.delete(victim)
    entry = world.entry_with_status(1, D2)
    client.resource("project/TimeTransactions", D2).delete(entry["ID"])
    world.transport.requests.clear()
    second = sync_endpoints(world.conn, ENDPOINTS, target, division="all")
    assert second.ok
    # each (division, endpoint): one page of changes; each division: one read of the deletions
    reads = [call for call in world.sent("GET") if "/sync/" in call]
    assert len(reads) == 2 * len(ENDPOINTS) + 2
    assert_equal(world, target)
    by = {(r.endpoint, r.division): r for r in second.reports}
    assert (by["crm/Accounts", D1].inserted, by["crm/Accounts", D1].updated) == (1, 1)
    assert by["crm/Accounts", D1].deleted == 1 and by["project/TimeTransactions", D2].deleted == 1


def test_an_interrupted_load_resumes_with_no_gap_and_no_duplicate(tmp_path: Path) -> None:
    for world in build_world(tmp_path, records=2_500, divisions=1):
        target = f"sqlite:///{tmp_path / 'exact.db'}"
        # the third page fails, and so do its retries
        world.fault(kind="503", count=10, after=2, path="/sync/Project/TimeCostTransactions")
        broken = sync_endpoints(world.conn, ["project/TimeTransactions"], target, division=D1)
        [report] = broken.reports
        assert report.error is not None and report.inserted > 0
        world.emulator.control.handle("DELETE", "faults", b"")  # Exact answers again
        world.transport.requests.clear()
        resumed = sync_endpoints(world.conn, ["project/TimeTransactions"], target, division=D1)
        assert resumed.ok
        stored = table_rows(target, "project_timetransactions", D1)
        assert stored.keys() == exact_rows(world, "project/TimeTransactions", D1).keys()
        assert len(stored) == 2_500
        [again] = resumed.reports
        assert again.inserted == 2_500 - report.inserted and again.updated == 0  # no gap, no duplicate
        assert again.calls == 2  # the one page left of 2,750 time and cost entries, and sync/Deleted


def test_bad_input_is_refused_before_any_call(world: World, tmp_path: Path) -> None:
    from exactmate.errors import ValidationError

    with pytest.raises(ValidationError) as caught:
        sync_endpoints(world.conn, ["crm/Acounts", "read/project/HourTypes"], f"sqlite:///{tmp_path}/x.db")
    assert any("Did you mean" in p for p in caught.value.problems)
    assert any("neither a sync/ feed nor a Modified date" in p for p in caught.value.problems)
    assert world.sent() == []
    with pytest.raises(ValidationError, match="not a database URL"):
        sync_endpoints(world.conn, ["crm/Accounts"], "not a url")
    assert world.sent() == []


def test_a_target_whose_driver_is_missing_says_which_extra_installs_it(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exactmate.errors import StoreError

    monkeypatch.setitem(sys.modules, "duckdb_engine", None)  # as if `exactmate[duckdb]` were not installed
    with pytest.raises(StoreError) as caught:
        sync_endpoints(world.conn, ["crm/Accounts"], f"duckdb:///{tmp_path}/x.duckdb")
    assert caught.value.hint == "pip install 'exactmate[duckdb]', or pick another --to"
    with pytest.raises(StoreError) as other:
        sync_endpoints(world.conn, ["crm/Accounts"], "nosuchdb://somewhere/x")
    assert other.value.hint == "install the database's SQLAlchemy driver, or pick another --to"
    assert world.sent() == []


CHANGES = 1_000


def test_after_a_thousand_random_changes_one_run_makes_the_tables_equal(world: World, tmp_path: Path) -> None:
    import random

    target = f"sqlite:///{tmp_path / 'exact.db'}"
    assert sync_endpoints(world.conn, ["crm/Accounts", "project/TimeTransactions"], target, division=D1).ok
    rng = random.Random(20261203)
    accounts = world.conn.client.resource("crm/Accounts", D1)
    entries = world.conn.client.resource("project/TimeTransactions", D1)
    item, project = world.hour_type(), world.project()
    account_ids = [r["ID"] for r in accounts.list(select=["ID"])]
    created: list[str] = []
    open_entries = [r["ID"] for r in entries.list(select=["ID"], filter={"HourStatus": 1})]
    for n in range(CHANGES):
        roll = rng.random()
        if roll < 0.2:
            created.append(accounts.create({"Name": f"Random {n} B.V.", "Code": str(10_000 + n)})["ID"])
        elif roll < 0.4:
            accounts.update(rng.choice(account_ids + created), {"City": f"City {n}"})
        elif roll < 0.5 and created:  # only new ones: the entries' accounts must stay
            accounts.delete(created.pop(rng.randrange(len(created))))
        elif roll < 0.7:
            body = {"Item": item, "Project": project, "Quantity": 1 + n % 4, "Notes": f"random {n}"}
            open_entries.append(entries.create(body)["ID"])
        elif roll < 0.9 and open_entries:
            entries.update(rng.choice(open_entries), {"Notes": f"changed {n}"})
        elif open_entries:
            entries.delete(open_entries.pop(rng.randrange(len(open_entries))))
    world.transport.requests.clear()
    report = sync_endpoints(world.conn, ["crm/Accounts", "project/TimeTransactions"], target, division=D1)
    assert report.ok
    feeds = [call for call in world.sent("GET") if "/sync/" in call]
    # per (division, endpoint) ceil(changes / 1000) + 2 at most, the division's deletions read once
    assert len(feeds) <= 2 * (math.ceil(CHANGES / 1000) + 2) + 1
    for path in ("crm/Accounts", "project/TimeTransactions"):
        table = TABLES[path]
        expected = exact_rows(world, path, D1)
        stored = table_rows(target, table, D1)
        assert stored.keys() == expected.keys(), path
        for key, record in expected.items():
            shared = stored[key].keys() & record.keys()
            assert {k: stored[key][k] for k in shared} == {k: record[k] for k in shared}, (path, key)


def test_an_endpoint_without_a_feed_syncs_by_its_modified_date(world: World, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'exact.db'}"
    costs = world.conn.client.resource("project/CostTransactions", D1)
    first = sync_endpoints(world.conn, ["project/CostTransactions"], target, division=D1)
    assert first.ok, [str(r.error) for r in first.reports]
    stored = table_rows(target, "project_costtransactions", D1)
    expected = {str(r["ID"]): r for r in costs.list()}
    assert stored.keys() == expected.keys() and len(stored) == 30
    world.clock.advance(60)  # later edits carry a later Modified
    entry = next(iter(expected))
    costs.update(entry, {"Notes": "edited later"})
    world.transport.requests.clear()
    second = sync_endpoints(world.conn, ["project/CostTransactions"], target, division=D1)
    assert second.ok
    [report] = second.reports
    # only what changed since the cursor, and what was saved in its last second (read again on purpose)
    assert report.inserted == 0 and 1 <= report.updated <= 2
    assert table_rows(target, "project_costtransactions", D1)[entry]["Notes"] == "edited later"
    reads = [call for call in world.sent("GET") if "CostTransactions" in call]
    assert len(reads) == 1


def test_every_syncable_endpoint_across_three_divisions(tmp_path: Path) -> None:
    from exactmate.sync import syncable

    for world in build_world(tmp_path, records=100, divisions=3):
        target = f"sqlite:///{tmp_path / 'all.db'}"
        paths = syncable(world.conn)
        assert len(paths) >= 40 and "financialtransaction/TransactionLines" in paths
        report = sync_endpoints(world.conn, paths, target, division="all")
        failed = {(r.endpoint, r.division): str(r.error) for r in report.reports if r.error is not None}
        assert failed == {}
        divisions = {r.division for r in report.reports}
        assert len(divisions) == 3 and len(report.reports) == 3 * len(paths)
        for path in ("crm/Accounts", "project/Projects", "project/TimeTransactions", "payroll/Employees"):
            for division in divisions:
                expected = exact_rows(world, path, division).keys()
                assert table_rows(target, TABLES[path], division).keys() == expected


def test_a_division_synced_before_and_no_longer_accessible_is_reported(world: World, tmp_path: Path) -> None:
    from exactmate.sync.run import cursor_owner
    from exactmate.sync.tables import cursor_table

    target = f"sqlite:///{tmp_path / 'exact.db'}"
    assert sync_endpoints(world.conn, ["project/Projects"], target, division="all").lost_divisions == ()
    engine = create_engine(target)
    cursors = cursor_table(MetaData())
    with engine.begin() as db:  # as if division 100009 had been synced when the user could reach it
        row = {"credential": cursor_owner(world.conn), "division": 100009, "feed": "project/Projects"}
        db.execute(cursors.insert().values(**row, cursor=5, updated_at=datetime.now(UTC)))
    engine.dispose()
    again = sync_endpoints(world.conn, ["project/Projects"], target, division="all")
    assert again.lost_divisions == (100009,) and again.as_dict()["lost_divisions"] == [100009]
    assert again.ok  # the others went on


def _committed(target: str) -> tuple[int, int, int]:
    """What another connection sees of a load: its rows, their largest Timestamp and the cursor, in
    one statement, so from one snapshot (a writer process may commit between two statements)."""
    engine = create_engine(target)
    try:
        with engine.connect() as db:
            query = text(
                "SELECT (SELECT count(*) FROM project_timetransactions), "
                "(SELECT max(_timestamp) FROM project_timetransactions), "
                "(SELECT max(cursor) FROM exactmate_sync_cursors)"
            )
            rows, top, cursor = db.execute(query).one()
            return int(rows), int(top or 0), int(cursor or 1)
    finally:
        engine.dispose()


def feed_pages(world: World, path: str, division: int) -> list[tuple[int, int]]:
    """The rows a load of ``path`` holds after each page of its feed, and the cursor then."""
    ends: list[tuple[int, int]] = []
    rows, cursor = 0, 1
    for page in world.conn.client.resource(path, division).changes(renamed=False):
        rows += len(page.records)
        cursor = max([cursor, *(r["Timestamp"] for r in page.records)])
        ends.append((rows, cursor))
    return ends


def commit_points(ends: list[tuple[int, int]], commit_rows: int) -> set[tuple[int, int]]:
    """Where a load commits: once ``commit_rows`` rows wait, and at the feed's end."""
    points, waiting, before = {(0, 1), ends[-1]}, 0, 0
    for rows, cursor in ends:
        waiting += rows - before
        before = rows
        if waiting >= commit_rows:
            points.add((rows, cursor))
            waiting = 0
    return points


@pytest.mark.parametrize("where", ["here", "writer"])
@pytest.mark.parametrize("commit_rows", [1, 2_000])
def test_every_commit_holds_whole_pages_and_the_cursor_at_their_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commit_rows: int, where: str
) -> None:
    monkeypatch.setattr(sync_run, "COMMIT_ROWS", commit_rows)
    monkeypatch.setattr(sync_run, "COMMIT_SECONDS", 3600.0)  # only the rows decide here
    if where == "here":
        monkeypatch.setattr(sync_run, "WRITER_ROWS", 10**9)  # no page hands the writes over
    started: list[object] = []
    monkeypatch.setattr(sync_run, "Writer", lambda database: started.append(database) or Writer(database))
    target = f"sqlite:///{tmp_path / 'exact.db'}"
    seen: list[tuple[int, int, int]] = []

    def watch(report: EndpointReport) -> None:
        seen.append(_committed(target))

    for world in build_world(tmp_path, records=5_000, divisions=1):
        ends = feed_pages(world, "project/TimeTransactions", D1)
        points = commit_points(ends, commit_rows)
        assert len(ends) >= 5 and len(points) >= 4  # several pages, several commits
        result = sync_endpoints(world.conn, ["project/TimeTransactions"], target, division=D1, progress=watch)
        assert result.ok and result.reports[0].inserted == 5_000
        assert len(started) == (1 if where == "writer" else 0)
        for rows, top, cursor in seen:
            assert (rows, cursor) in points  # whole pages, with the cursor at the last of them
            assert top <= cursor  # no row beyond the cursor
        rows, _, cursor = _committed(target)
        assert (rows, cursor) == ends[-1]
        if where == "here":  # committed before the page is reported: each commit point is seen
            assert {(rows, cursor) for rows, _, cursor in seen} >= points - {(0, 1)}


def test_a_page_whose_write_fails_is_rolled_back_and_the_next_run_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_run, "COMMIT_ROWS", 1)
    monkeypatch.setattr(sync_run, "WRITER_ROWS", 10**9)  # written here (the writer's: test_writer.py)
    set_cursor = sync_run._set_cursor
    calls = 0

    def failing(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second page's cursor: its rows are written, the page is not whole
            raise RuntimeError("the disk is full")
        set_cursor(*args)

    for world in build_world(tmp_path, records=2_500, divisions=1):
        target = f"sqlite:///{tmp_path / 'exact.db'}"
        monkeypatch.setattr(sync_run, "_set_cursor", failing)
        with pytest.raises(RuntimeError):
            sync_endpoints(world.conn, ["project/TimeTransactions"], target, division=D1)
        rows, top, cursor = _committed(target)
        assert 0 < rows < 2_000 and top == cursor  # the first page alone, none of the second's rows
        monkeypatch.setattr(sync_run, "_set_cursor", set_cursor)
        again = sync_endpoints(world.conn, ["project/TimeTransactions"], target, division=D1)
        assert again.ok and again.reports[0].inserted == 2_500 - rows
        assert _committed(target)[0] == 2_500


def test_a_sqlite_target_is_set_up_for_loading(tmp_path: Path) -> None:
    engine = sync_run.open_target(f"sqlite:///{tmp_path / 'exact.db'}")
    try:
        with engine.connect() as db:
            names = ["journal_mode", "synchronous", "cache_size", "wal_autocheckpoint"]
            found = {name: db.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}
    finally:
        engine.dispose()
    # WAL with commits that do not fsync, a 16 MiB page cache, a checkpoint per 10,000 WAL pages
    expected = {"journal_mode": "wal", "synchronous": 1, "cache_size": -16_384, "wal_autocheckpoint": 10_000}
    assert found == expected


def test_a_time_entrys_activity_comes_from_the_feeds_wbs(world: World, target: str) -> None:
    """The time-and-cost feed names an entry's activity WBS; the sync reads the feed's records under
    the feed's names and stores it as Activity (and WBSDescription as ActivityDescription)."""
    entries = world.conn.client.resource("project/TimeTransactions", D1)
    activity = "5ca1ab1e-0000-4000-8000-000000000001"
    body = {"Item": world.hour_type(), "Project": world.project(), "Quantity": 2, "Activity": activity}
    created = entries.create({**body, "Notes": "with an activity"})
    assert sync_endpoints(world.conn, ["project/TimeTransactions"], target, division=D1).ok
    stored = table_rows(target, "project_timetransactions", D1)
    assert stored[str(created["ID"])]["Activity"] == activity
    assert stored[str(created["ID"])]["Notes"] == "with an activity"
    expected = exact_rows(world, "project/TimeTransactions", D1)
    assert {key: row["ActivityDescription"] for key, row in stored.items()} == {
        key: row.get("ActivityDescription") for key, row in expected.items()
    }
