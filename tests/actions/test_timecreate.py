"""Create Project Time Transactions against the emulator: validation before any call, the create
journal, lost answers resolved by lookup, divisions, dry runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from exactmate.actions import create_time_transactions
from exactmate.actions.journal import CreateJournal, CreateOutcome
from exactmate.actions.sources import parse_entries
from exactmate.actions.timecreate import journal_source
from exactmate.errors import CatalogueError, RateLimitError, ValidationError
from tests.actions.conftest import D1, D2, SERVER, World, build_world

TT_URL = f"/api/v1/{D1}/project/TimeTransactions"


def entry(world: World, notes: str, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Item": world.hour_type(),
        "Project": world.project(),
        "Quantity": "7.5",
        "Date": "2026-05-04",
        "Notes": notes,
    }
    values.update(extra)
    return values


def csv_file(world: World, *notes: str, division: int | None = None) -> bytes:
    item, project = world.hour_type(division or D1), world.project(division or D1)
    lines = ["Item,Project,Quantity,Date,Notes" + (",Division" if division else "")]
    for note in notes:
        lines.append(f"{item},{project},2,2026-05-05,{note}" + (f",{division}" if division else ""))
    return ("\n".join(lines) + "\n").encode()


def test_creates_one_entry_and_returns_its_id(world: World) -> None:
    values = entry(world, "one entry")
    world.transport.requests.clear()
    result = create_time_transactions(world.conn, values, division=D1)
    assert result.ok and len(result.created) == 1
    created = result.created[0]
    assert created.status == "created" and created.record_id
    assert world.sent() == [f"POST {TT_URL}"]
    record = world.conn.client.resource("project/TimeTransactions", D1).get(created.record_id)
    assert record["Notes"] == "one entry" and record["Quantity"] == 7.5


def test_every_problem_of_every_row_is_reported_before_any_call(world: World) -> None:
    good = entry(world, "fine")
    rows = [
        good,
        {"Quantity": "seven", "Project": good["Project"], "Notes": "no item"},
        {**good, "HourStatus": "20", "Quantiy": "1"},
        {"Item": good["Item"], "Quantity": "1"},
        {**good, "AccountName": "Acme", "Division": "abc"},
    ]
    world.transport.requests.clear()
    with pytest.raises(ValidationError) as info:
        create_time_transactions(world.conn, rows, division=D1)
    problems = info.value.problems
    assert "4 of 5 entries cannot be created" in info.value.message
    text = "\n".join(problems)
    assert "row 2: Quantity (Double): 'seven' is not a number" in text
    assert "row 2: Item is mandatory on project/TimeTransactions" in text
    assert (
        "row 3: HourStatus cannot be written as 20; allowed: 1 (Draft), 2 (Rejected), 10 (Submitted)" in text
    )
    assert "row 3: Quantiy: project/TimeTransactions has no such field. Did you mean: Quantity?" in text
    assert "row 4: one of Account, Project or Subscription is required" in text
    assert "row 5: AccountName is read-only" in text
    assert "row 5: Division 'abc' is not a division code" in text
    assert not any(p.startswith("row 1:") for p in problems)
    assert world.sent() == []


def test_division_all_is_refused_without_a_call(world: World) -> None:
    values = entry(world, "x")
    world.transport.requests.clear()
    with pytest.raises(ValidationError, match="belongs to one division"):
        create_time_transactions(world.conn, values, division="all")
    with pytest.raises(ValidationError, match="is not a division"):
        create_time_transactions(world.conn, values, division="first")
    assert world.sent() == []


def test_unknown_match_fields_are_refused_without_a_call(world: World) -> None:
    values = entry(world, "x")
    world.transport.requests.clear()
    with pytest.raises(CatalogueError) as info:
        create_time_transactions(world.conn, values, division=D1, match_on=["Date", "Nots"])
    assert "Did you mean: Notes" in str(info.value)
    assert world.sent() == []


def test_rerunning_a_file_in_any_copy_creates_nothing_twice(world: World) -> None:
    data = csv_file(world, "rerun-a", "rerun-b")
    first = create_time_transactions(world.conn, parse_entries(data, "csv", name="hours.csv"), division=D1)
    assert [o.status for o in first.outcomes] == ["created", "created"]
    world.transport.requests.clear()
    again = create_time_transactions(world.conn, parse_entries(data, "csv", name="copy.csv"), division=D1)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
    assert [o.record_id for o in again.outcomes] == [o.record_id for o in first.outcomes]
    other = data.replace(b"\n", b"\r\n")  # the same bookings in another file (other bytes): still booked
    third = create_time_transactions(world.conn, parse_entries(other, "csv", name="new.csv"), division=D1)
    assert [o.status for o in third.outcomes] == ["skipped", "skipped"]
    assert world.sent("POST") == []
    assert world.count({"Notes": "rerun-a"}) == 1


def test_an_edited_file_reports_the_changed_row_and_an_appended_row_books_one(world: World) -> None:
    notes = [f"week row {n}" for n in range(1, 21)]
    data = csv_file(world, *notes)
    first = create_time_transactions(world.conn, parse_entries(data, "csv"), division=D1)
    assert len(first.created) == 20
    edited = data.replace(b",2,2026-05-05,week row 7\n", b",3.5,2026-05-05,week row 7\n")
    assert edited != data
    world.transport.requests.clear()
    rerun = create_time_transactions(world.conn, parse_entries(edited, "csv"), division=D1)
    assert world.sent("POST") == []
    assert len(rerun.skipped) == 19 and not rerun.ok
    [changed] = rerun.changed
    assert changed.row == 7 and changed.record_id == first.outcomes[6].record_id
    assert f"exactmate time update {changed.record_id} --division {D1} --set Quantity=3.5" in (
        changed.message or ""
    )
    assert "--rebook-changed" in (changed.message or "")
    appended = data + csv_file(world, "week row 21").split(b"\n", 1)[1]
    third = create_time_transactions(world.conn, parse_entries(appended, "csv"), division=D1)
    assert [o.row for o in third.created] == [21] and len(third.skipped) == 20
    assert world.count({"Notes": "week row 7"}) == 1 and world.count({"Notes": "week row 21"}) == 1
    rerun = parse_entries(edited, "csv")
    rebooked = create_time_transactions(world.conn, rerun, division=D1, rebook_changed=True)
    assert [o.row for o in rebooked.created] == [7]
    assert world.count({"Notes": "week row 7"}) == 2


def test_fixing_a_refused_row_books_only_that_row(world: World) -> None:
    item, project = world.hour_type(), world.project()
    unknown = "00000000-0000-4000-8000-000000000001"
    rows = [f"{unknown if n == 3 else item},{project},2,2026-05-06,fix row {n}" for n in range(1, 6)]
    data = ("Item,Project,Quantity,Date,Notes\n" + "\n".join(rows) + "\n").encode()
    first = create_time_transactions(world.conn, parse_entries(data, "csv"), division=D1)
    assert [o.status for o in first.outcomes] == ["created", "created", "failed", "created", "created"]
    fixed = data.replace(unknown.encode(), item.encode())
    world.transport.requests.clear()
    second = create_time_transactions(world.conn, parse_entries(fixed, "csv"), division=D1)
    assert [o.status for o in second.outcomes] == ["skipped", "skipped", "created", "skipped", "skipped"]
    assert len(world.sent("POST")) == 1
    assert all(world.count({"Notes": f"fix row {n}"}) == 1 for n in range(1, 6))


def test_rows_that_are_the_same_entry_need_a_key_column(world: World) -> None:
    values = entry(world, "same twice")
    world.transport.requests.clear()
    with pytest.raises(ValidationError, match="row 2 is the same entry as row 1") as info:
        create_time_transactions(world.conn, [values, values], division=D1)
    assert "Key column" in (info.value.hint or "")
    assert world.sent() == []
    keyed = [{**values, "Key": "a"}, {**values, "Key": "b"}]
    both = create_time_transactions(world.conn, keyed, division=D1)
    assert len(both.created) == 2 and world.count({"Notes": "same twice"}) == 2
    again = create_time_transactions(world.conn, keyed, division=D1)
    assert len(again.skipped) == 2


def test_the_identity_survives_other_spellings_of_the_same_entry(world: World) -> None:
    values = entry(world, "spelled  twice")
    assert create_time_transactions(world.conn, values, division=D1).created
    respelled = {
        **values,
        "Item": values["Item"].upper(),
        "Date": "2026-05-04T00:00:00",
        "Notes": " spelled twice ",
    }
    world.transport.requests.clear()
    again = create_time_transactions(world.conn, respelled, division=D1)
    assert again.outcomes[0].status in ("skipped", "changed")  # Notes is sent as typed: its content
    assert world.sent("POST") == []


def test_the_same_file_in_another_division_is_its_own_booking(world: World) -> None:
    data = csv_file(world, "per division")
    assert create_time_transactions(world.conn, parse_entries(data, "csv"), division=D1).ok
    world.transport.requests.clear()
    other = create_time_transactions(world.conn, parse_entries(data, "csv"), division=D2)
    assert other.outcomes[0].status != "skipped"  # sent to D2 (where these GUIDs are unknown)
    assert world.sent("POST") == [f"POST /api/v1/{D2}/project/TimeTransactions"]


def test_rows_go_to_the_division_their_division_column_names(world: World) -> None:
    data = csv_file(world, "in-d2", division=D2)
    result = create_time_transactions(world.conn, parse_entries(data, "csv"))
    assert result.ok and result.created[0].division == D2
    assert world.count({"Notes": "in-d2"}, D2) == 1
    assert not any("current/Me" in s for s in world.sent())


@pytest.mark.parametrize("kind", ["drop_after_commit", "drop_before", "503"])
def test_a_lost_answer_is_settled_by_lookup_and_never_books_twice(world: World, kind: str) -> None:
    values = entry(world, f"lost {kind}")
    world.fault(kind=kind, count=1, path="TimeTransactions", method="POST")
    world.transport.requests.clear()
    result = create_time_transactions(world.conn, values, division=D1)
    outcome = result.outcomes[0]
    assert len(world.sent("POST")) == 1  # never sent twice in one run
    if kind == "drop_after_commit":
        assert result.ok and outcome.status == "recovered"
        assert world.count({"Notes": f"lost {kind}"}) == 1
        return
    # Exact did not store it, but a lost answer is ambiguous: pending until the settle delay passed
    assert outcome.status == "pending" and not result.ok
    assert "Rerun after" in (outcome.message or "")
    early = create_time_transactions(world.conn, values, division=D1)
    assert early.outcomes[0].status == "pending" and len(world.sent("POST")) == 1
    world.clock.advance(world.conn.settle_seconds)
    settled = create_time_transactions(world.conn, values, division=D1)
    assert settled.ok and settled.outcomes[0].status == "created"
    assert world.count({"Notes": f"lost {kind}"}) == 1


def test_a_post_that_commits_after_the_client_gave_up_is_not_booked_twice(world: World) -> None:
    # The create is slow at Exact: the client times out, the lookup finds nothing yet, and only
    # then does Exact store it. The entry stays pending; the rerun after the settle delay finds it.
    values = entry(world, "slow commit")
    world.fault(kind="slow", count=1, seconds=35, path="TimeTransactions", method="POST")
    result = create_time_transactions(world.conn, values, division=D1)
    assert result.outcomes[0].status == "pending"
    world.clock.advance(world.conn.settle_seconds)
    again = create_time_transactions(world.conn, values, division=D1)
    assert again.ok and again.outcomes[0].status == "recovered"
    assert world.count({"Notes": "slow commit"}) == 1


def test_several_matches_stop_the_row_instead_of_guessing(world: World) -> None:
    values = entry(world, "twice on purpose")
    create_time_transactions(world.conn, [{**values, "Key": "1"}, {**values, "Key": "2"}], division=D1)
    assert world.count({"Notes": "twice on purpose"}) == 2
    world.fault(kind="drop_after_commit", count=1, path="TimeTransactions")
    result = create_time_transactions(world.conn, values, division=D1, key="third-one")
    outcome = result.failed[0]
    assert "2 or more records match it on Date, Item, Quantity, Project, Notes" in (outcome.message or "")
    assert world.count({"Notes": "twice on purpose"}) == 3  # the dropped one was stored; not sent again
    journal = CreateJournal(world.store, credential="test", endpoint="project/TimeTransactions")
    states = sorted(e.state for e in journal.entries(result.source))
    assert states == ["created", "created", "pending"]  # the two on purpose, and the unsettled third


def test_an_entry_left_pending_by_a_crash_is_looked_up_after_the_settle_delay(world: World) -> None:
    values = entry(world, "crashed run")
    done = create_time_transactions(world.conn, values, division=D1)
    journal = CreateJournal(world.store, credential="test", endpoint="project/TimeTransactions")
    [row] = journal.entries(done.source)
    journal.finish(done.source, row.row_key, "pending")  # "sent, then the process died"
    world.transport.requests.clear()
    early = create_time_transactions(world.conn, values, division=D1)
    assert early.outcomes[0].status == "pending" and world.sent() == []
    world.clock.advance(world.conn.settle_seconds)
    again = create_time_transactions(world.conn, values, division=D1)
    assert again.outcomes[0].status == "recovered"
    assert again.outcomes[0].record_id == done.outcomes[0].record_id
    assert world.sent("POST") == []
    assert world.count({"Notes": "crashed run"}) == 1


def test_a_run_key_reused_for_other_values_reports_them_as_changed(world: World) -> None:
    create_time_transactions(world.conn, entry(world, "first use"), division=D1, key="batch-1")
    world.transport.requests.clear()
    result = create_time_transactions(world.conn, entry(world, "other entry"), division=D1, key="batch-1")
    assert result.outcomes[0].status == "changed"
    assert "exactmate time update" in (result.outcomes[0].message or "")
    assert world.sent("POST") == []


def test_refused_entries_are_reported_per_row_and_the_rest_go_on(world: World) -> None:
    good = entry(world, "good row")
    bad = {**good, "Item": "00000000-0000-4000-8000-000000000001", "Notes": "unknown item"}
    result = create_time_transactions(world.conn, [bad, good], division=D1)
    assert [o.status for o in result.outcomes] == ["failed", "created"]
    assert result.failed[0].error is not None and "[POST" in str(result.failed[0].error)


def test_a_division_outside_the_consent_stops_after_the_first_refusal(tmp_path: Path) -> None:
    world_iter = build_world(tmp_path, divisions=3)
    world = next(world_iter)
    try:
        forbidden = world.config.forbidden_division
        values = {"Item": world.hour_type(), "Project": world.project(), "Quantity": 1}
        rows = [{**values, "Notes": f"refused {n}"} for n in range(3)]
        world.transport.requests.clear()
        result = create_time_transactions(world.conn, rows, division=forbidden)
        assert [o.status for o in result.outcomes] == ["failed"] * 3
        assert len(world.sent("POST")) == 1
        assert result.outcomes[1].message and result.outcomes[1].message.startswith("not tried:")
    finally:
        world_iter.close()


def test_dry_run_shows_the_exact_request_and_sends_nothing(world: World) -> None:
    values = entry(world, "dry")
    values["Date"] = "2026-05-04T09:30"
    world.transport.requests.clear()
    result = create_time_transactions(world.conn, values, division=D1, dry_run=True)
    request = result.outcomes[0].request
    assert result.outcomes[0].status == "planned"
    assert request.method == "POST" and request.url == SERVER + TT_URL
    body = request.as_dict()["body"]
    assert body["Date"] == "2026-05-04T09:30:00" and body["Quantity"] == 7.5 and body["Notes"] == "dry"
    assert world.sent() == []
    assert world.count({"Notes": "dry"}) == 0


def test_dry_run_tells_a_row_booked_earlier_with_other_values(world: World) -> None:
    values = entry(world, "dry changed")
    [booked] = create_time_transactions(world.conn, values, division=D1).outcomes
    world.transport.requests.clear()
    edited = {**values, "Quantity": 3}
    [outcome] = create_time_transactions(world.conn, edited, division=D1, dry_run=True).outcomes
    assert outcome.status == "changed" and outcome.record_id == booked.record_id
    assert "with other values" in (outcome.message or "") and outcome.request is None
    assert world.sent() == []
    rebooked = create_time_transactions(world.conn, edited, division=D1, dry_run=True, rebook_changed=True)
    [again] = rebooked.outcomes
    assert again.status == "planned"


def test_dry_run_with_the_current_division_reads_only_current_me(world: World) -> None:
    values = entry(world, "dry current")
    world.transport.requests.clear()
    result = create_time_transactions(world.conn, values, dry_run=True)
    assert result.outcomes[0].request.url == SERVER + TT_URL
    assert world.sent() == ["GET /api/v1/current/Me"]


def test_progress_is_called_once_per_entry_across_divisions(world: World) -> None:
    seen: list[int] = []
    d1 = entry(world, "p1")
    d2 = {"Item": world.hour_type(D2), "Project": world.project(D2), "Quantity": 2, "Division": D2}
    result = create_time_transactions(
        world.conn, [d1, d2, {**d1, "Notes": "p3"}], division=D1, progress=lambda o: seen.append(o.row)
    )
    assert sorted(seen) == [1, 2, 3] and result.ok
    assert {o.division for o in result.outcomes} == {D1, D2}


def test_a_file_booked_by_an_older_exactmate_is_not_booked_again(world: World) -> None:
    # Before the row identity rule the journal knew a row as (file hash, row number@division).
    data = csv_file(world, "old journal")
    source = parse_entries(data, "csv")
    booked = world.conn.client.resource("project/TimeTransactions", D1).create(
        {"Item": world.hour_type(), "Project": world.project(), "Quantity": 2, "Notes": "old journal"}
    )
    journal = CreateJournal(world.store, credential="test", endpoint="project/TimeTransactions")
    old_source = journal_source("test", source.source_id)
    journal.adopt(old_source, f"1@{D1}", division=D1, content_hash="old", record_key=str(booked["ID"]))
    world.transport.requests.clear()
    result = create_time_transactions(world.conn, source, division=D1)
    assert result.outcomes[0].status == "skipped" and result.outcomes[0].record_id == str(booked["ID"])
    assert world.sent("POST") == []


def test_a_stopped_run_sends_nothing_more_and_a_rerun_books_exactly_the_rest(world: World) -> None:
    stop = threading.Event()
    rows = [entry(world, f"ctrl-c {n}") for n in range(120)]
    seen: list[int] = []

    def progress(outcome: CreateOutcome) -> None:
        seen.append(outcome.row)
        if len(seen) == 30:
            stop.set()  # Ctrl-C, after the 30th answer

    first = create_time_transactions(world.conn, rows, division=D1, progress=progress, stop=stop)
    assert len(first.created) == 30 and len(first.stopped) == 90 and not first.ok
    assert len(world.sent("POST")) == 30  # nothing sent after the stop
    world.transport.requests.clear()
    again = create_time_transactions(world.conn, rows, division=D1)
    assert len(again.created) == 90 and len(again.skipped) == 30 and again.ok
    assert len(world.sent("POST")) == 90
    assert all(world.count({"Notes": f"ctrl-c {n}"}) == 1 for n in (0, 29, 30, 119))


def test_entries_beyond_the_calls_left_today_are_refused_before_any_is_sent(tmp_path: Path) -> None:
    """A division's daily limit, as its last answer said it, is checked for the whole booking first:
    14 entries to send with 10 calls left send nothing (rather than 10 entries and a failure at a
    random row); entries the journal knows as booked cost no call and are not counted."""
    for world in build_world(tmp_path, daily_limit=100):
        rows = [entry(world, f"daily {n}") for n in range(12)]
        more = [entry(world, f"daily {n}") for n in range(12, 22)]
        first = create_time_transactions(world.conn, rows[:8], division=D1)
        assert first.ok and len(first.created) == 8
        while _daily_left(world) > 10:  # other work in the division uses the day's calls
            world.conn.client.resource("project/TimeTransactions", D1).count()
        world.transport.requests.clear()
        with pytest.raises(RateLimitError) as refused:
            create_time_transactions(world.conn, rows + more, division=D1)  # 4 + 10 not booked yet
        assert refused.value.scope == "daily"
        assert f"division {D1}: 14 entries to send, 10 calls left today" in str(refused.value)
        assert world.sent() == []  # refused before any call
        done = create_time_transactions(world.conn, rows, division=D1)  # 8 booked before: 4 to send
        assert done.ok and len(done.created) == 4 and len(done.skipped) == 8


def _daily_left(world: World) -> int:
    row = world.store.ledger(world.conn.client.client_id, D1)
    assert row is not None and row.daily_remaining is not None
    return int(row.daily_remaining)
