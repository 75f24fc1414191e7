"""Create Project Time Transactions against the emulator: validation before any call, the create
journal, lost answers resolved by lookup, divisions, dry runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exactmate.actions import create_time_transactions
from exactmate.actions.journal import CreateJournal
from exactmate.actions.sources import parse_entries
from exactmate.errors import CatalogueError, ValidationError
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


def test_rerunning_a_file_creates_nothing_twice_but_a_new_file_books_again(world: World) -> None:
    data = csv_file(world, "rerun-a", "rerun-b")
    first = create_time_transactions(world.conn, parse_entries(data, "csv", name="hours.csv"), division=D1)
    assert [o.status for o in first.outcomes] == ["created", "created"]
    world.transport.requests.clear()
    again = create_time_transactions(world.conn, parse_entries(data, "csv", name="copy.csv"), division=D1)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
    assert [o.record_id for o in again.outcomes] == [o.record_id for o in first.outcomes]
    assert world.sent("POST") == []
    other = data + b"\n"  # the same bookings in a different file: booked again
    third = create_time_transactions(world.conn, parse_entries(other, "csv", name="new.csv"), division=D1)
    assert [o.status for o in third.outcomes] == ["created", "created"]
    assert world.count({"Notes": "rerun-a"}) == 2


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
def test_a_lost_answer_is_resolved_by_lookup_and_never_books_twice(world: World, kind: str) -> None:
    values = entry(world, f"lost {kind}")
    world.fault(kind=kind, count=1, path="TimeTransactions")
    world.transport.requests.clear()
    result = create_time_transactions(world.conn, values, division=D1)
    assert result.ok, result.outcomes
    outcome = result.outcomes[0]
    assert world.count({"Notes": f"lost {kind}"}) == 1
    posts = len(world.sent("POST"))
    if kind == "drop_after_commit":
        assert outcome.status == "recovered" and posts == 1
    else:
        assert outcome.status == "created" and posts == 2
    assert "lost" in (outcome.message or "") or outcome.status == "created"


def test_several_matches_stop_the_row_instead_of_guessing(world: World) -> None:
    values = entry(world, "twice on purpose")
    create_time_transactions(world.conn, [values, values], division=D1)
    assert world.count({"Notes": "twice on purpose"}) == 2
    world.fault(kind="drop_after_commit", count=1, path="TimeTransactions")
    result = create_time_transactions(world.conn, values, division=D1, key="third-one")
    outcome = result.failed[0]
    assert "2 or more records match it on Date, Item, Quantity, Project, Notes" in (outcome.message or "")
    assert world.count({"Notes": "twice on purpose"}) == 3  # the dropped one was stored; not sent again
    journal = CreateJournal(world.store, credential="test", endpoint="project/TimeTransactions")
    pending = [e for e in journal.entries(result.source)]
    assert [e.state for e in pending] == ["pending"]


def test_an_entry_left_pending_by_a_crash_is_looked_up_first(world: World) -> None:
    values = entry(world, "crashed run")
    done = create_time_transactions(world.conn, values, division=D1, key="crash")
    journal = CreateJournal(world.store, credential="test", endpoint="project/TimeTransactions")
    [row] = journal.entries(done.source)
    journal.begin(done.source, row.row_key, division=D1, body_hash=row.request_hash)  # "sent, no answer"
    world.transport.requests.clear()
    again = create_time_transactions(world.conn, values, division=D1, key="crash")
    assert again.outcomes[0].status == "recovered"
    assert again.outcomes[0].record_id == done.outcomes[0].record_id
    assert world.sent("POST") == []
    assert world.count({"Notes": "crashed run"}) == 1


def test_a_reused_key_for_other_entries_is_refused(world: World) -> None:
    create_time_transactions(world.conn, entry(world, "first use"), division=D1, key="batch-1")
    world.transport.requests.clear()
    result = create_time_transactions(world.conn, entry(world, "other entry"), division=D1, key="batch-1")
    assert "used before for a different entry" in (result.failed[0].message or "")
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
        world.transport.requests.clear()
        result = create_time_transactions(world.conn, [values, values, values], division=forbidden)
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
        world.conn, [d1, d2, d1], division=D1, progress=lambda o: seen.append(o.row)
    )
    assert sorted(seen) == [1, 2, 3] and result.ok
    assert {o.division for o in result.outcomes} == {D1, D2}
