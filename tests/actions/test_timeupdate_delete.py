"""Update Project Time Transaction and Delete Endpoint with ID against the emulator: one GET first,
final entries refused before any write, only the chosen fields sent, snapshots in the audit log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exactmate.actions import audit, create_time_transactions, delete_record, update_time_transaction
from exactmate.errors import BadRequestError, CatalogueError, NotFoundError, ValidationError
from tests.actions.conftest import D1, D2, SERVER, World

TT = "project/TimeTransactions"


def new_entry(world: World, notes: str, division: int = D1) -> str:
    values = {
        "Item": world.hour_type(division),
        "Project": world.project(division),
        "Quantity": 2,
        "Notes": notes,
    }
    result = create_time_transactions(world.conn, values, division=division)
    record_id = result.created[0].record_id
    assert record_id
    return record_id


def last_body(world: World) -> Any:
    """The JSON body of the last request that reached the emulator with one."""
    bodies = [r for r in world.transport.bodies if r]
    return json.loads(bodies[-1])


# -- update ------------------------------------------------------------------------------------------


def test_update_sends_only_the_chosen_fields_and_audits_before_and_after(world: World) -> None:
    record_id = new_entry(world, "before")
    world.transport.requests.clear()
    result = update_time_transaction(
        world.conn, record_id.upper(), {"quantity": "6,5", "Notes": "after"}, division=D1
    )
    assert world.sent() == [
        f"GET /api/v1/{D1}/{TT}(guid'{record_id}')",
        f"PUT /api/v1/{D1}/{TT}(guid'{record_id}')",
    ]
    assert last_body(world) == {"Quantity": 6.5, "Notes": "after"}
    stored = world.conn.client.resource(TT, D1).get(record_id)
    assert stored["Quantity"] == 6.5 and stored["Notes"] == "after"
    [row] = audit.entries(world.store, record_key=record_id)
    assert row.action == "update" and row.outcome == "updated" and row.id == result.audit_id
    assert row.before is not None and row.before["Notes"] == "before" and row.before["Quantity"] == 2.0
    assert row.after is not None and row.after["Notes"] == "after" and row.after["Quantity"] == 6.5


def test_a_final_entry_is_refused_after_one_get_and_before_any_write(world: World) -> None:
    final = world.entry_with_status(20)
    world.transport.requests.clear()
    with pytest.raises(ValidationError, match=r"final \(HourStatus 20 \(Final\)\).*TimeCorrections"):
        update_time_transaction(world.conn, final["ID"], {"Notes": "too late"}, division=D1)
    assert world.sent() == [f"GET /api/v1/{D1}/{TT}(guid'{final['ID']}')"]
    with pytest.raises(ValidationError, match="final"):
        delete_record(world.conn, TT, final["ID"], division=D1)
    assert world.sent("PUT", "DELETE") == []


@pytest.mark.parametrize(
    ("key", "changes", "fragment"),
    [
        ("not-a-guid", {"Notes": "x"}, "Expected a GUID"),
        ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", {}, "Nothing to update"),
        ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", {"HourStatus": "20"}, "HourStatus cannot be written as 20"),
        ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", {"Notez": "x"}, "Did you mean: Notes"),
        ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", {"Created": "2026-01-01"}, "Created is read-only"),
        ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", {"Quantity": "lots"}, "is not a number"),
    ],
)
def test_bad_update_input_costs_no_call(
    world: World, key: str, changes: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ValidationError) as info:
        update_time_transaction(world.conn, key, changes, division=D1)
    assert fragment in str(info.value)
    assert world.sent() == []


def test_update_dry_run_reads_but_does_not_write(world: World) -> None:
    record_id = new_entry(world, "dry update")
    world.transport.requests.clear()
    result = update_time_transaction(world.conn, record_id, {"Notes": "changed"}, division=D1, dry_run=True)
    assert result.dry_run and world.sent("PUT") == []
    assert result.request.method == "PUT"
    assert result.request.url == f"{SERVER}/api/v1/{D1}/{TT}(guid'{record_id}')"
    assert result.request.as_dict()["body"] == {"Notes": "changed"}
    assert world.conn.client.resource(TT, D1).get(record_id)["Notes"] == "dry update"
    assert audit.entries(world.store) == []


def test_update_with_division_all_finds_the_division_that_holds_it(world: World) -> None:
    record_id = new_entry(world, "lives in d2", division=D2)
    world.transport.requests.clear()
    result = update_time_transaction(world.conn, record_id, {"Notes": "found"}, division="all")
    assert result.division == D2
    assert not any(" 404" in s for s in world.sent())
    assert world.conn.client.resource(TT, D2).get(record_id)["Notes"] == "found"
    with pytest.raises(NotFoundError, match="No accessible division holds"):
        update_time_transaction(
            world.conn, "3f2504e0-4f89-11d3-9a0c-0305e82c3301", {"Notes": "x"}, division="all"
        )
    assert world.stats()["by_status"].get("404", 0) == 0


def test_a_refused_update_is_audited_with_its_reason(world: World) -> None:
    record_id = new_entry(world, "will fail")
    unknown_project = "00000000-0000-4000-8000-00000000beef"
    with pytest.raises(BadRequestError):
        update_time_transaction(world.conn, record_id, {"Project": unknown_project}, division=D1)
    [row] = audit.entries(world.store, record_key=record_id)
    assert row.outcome.startswith("failed: ") and row.after is None
    assert row.before is not None and row.before["Notes"] == "will fail"


# -- delete ------------------------------------------------------------------------------------------


def test_delete_shows_the_record_asks_and_keeps_a_snapshot(world: World) -> None:
    record_id = new_entry(world, "to delete")
    asked: list[Any] = []

    def confirm(record: Any, request: Any) -> bool:
        asked.append((record["Notes"], request.method, request.url))
        return True

    world.transport.requests.clear()
    result = delete_record(world.conn, "PROJECT/timetransactions", record_id, division=D1, confirm=confirm)
    assert result.deleted and asked == [
        ("to delete", "DELETE", f"{SERVER}/api/v1/{D1}/{TT}(guid'{record_id}')")
    ]
    assert world.sent() == [
        f"GET /api/v1/{D1}/{TT}(guid'{record_id}')",
        f"DELETE /api/v1/{D1}/{TT}(guid'{record_id}')",
    ]
    [row] = audit.entries(world.store, record_key=record_id)
    assert row.action == "delete" and row.outcome == "deleted" and row.after is None
    assert row.before is not None and row.before["Notes"] == "to delete"
    assert world.count({"Notes": "to delete"}) == 0


def test_a_declined_confirmation_deletes_nothing(world: World) -> None:
    record_id = new_entry(world, "kept")
    world.transport.requests.clear()
    result = delete_record(world.conn, TT, record_id, division=D1, confirm=lambda _r, _q: False)
    assert result.cancelled and not result.deleted
    assert world.sent("DELETE") == [] and world.count({"Notes": "kept"}) == 1


def test_delete_dry_run_sends_no_delete(world: World) -> None:
    record_id = new_entry(world, "dry delete")
    world.transport.requests.clear()
    result = delete_record(world.conn, TT, record_id, division=D1, dry_run=True)
    assert result.dry_run and not result.deleted and result.record is not None
    assert str(result.request) == f"DELETE {SERVER}/api/v1/{D1}/{TT}(guid'{record_id}')"
    assert world.sent("DELETE") == []


@pytest.mark.parametrize(
    ("endpoint", "key", "error", "fragment"),
    [
        ("crm/Acounts", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", CatalogueError, "Did you mean"),
        ("read/project/HourTypes", "1", CatalogueError, "does not support DELETE"),
        ("system/Divisions", "abc", ValidationError, "whole number"),
        ("crm/Accounts", "12", ValidationError, "Expected a GUID"),
        (TT, "", ValidationError, "Expected a GUID"),
    ],
)
def test_bad_delete_input_costs_no_call(
    world: World, endpoint: str, key: str, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as info:
        delete_record(world.conn, endpoint, key, division=D1)
    assert fragment in str(info.value)
    assert world.sent() == []


def test_delete_formats_an_integer_key_by_its_type(world: World) -> None:
    world.transport.requests.clear()
    result = delete_record(world.conn, "system/Divisions", f" {D1} ", division=D1, dry_run=True)
    assert world.sent() == [f"GET /api/v1/{D1}/system/Divisions({D1})"]
    assert result.request.url.endswith(f"/system/Divisions({D1})") and result.key == str(D1)
