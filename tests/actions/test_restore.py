"""Restore from the audit log against the emulator: only a delete that went through is re-created,
with the fields a create may set, once; a lost answer blocks a second try, a refusal does not. And
the audit log's and the create journal's read functions with their filters."""

from __future__ import annotations

import json
import uuid

import pytest

from exactmate.actions import audit, create_time_transactions, delete_record
from exactmate.actions.journal import journal_entries
from exactmate.actions.restore import create_values, restore_entry
from exactmate.errors import APIConnectionError, APIStatusError, ValidationError
from tests.actions.conftest import D1, World
from tests.actions.test_timeupdate_delete import new_entry

TT = "project/TimeTransactions"
GUID = "0c6a9f3e-0000-4000-8000-000000000001"


def deleted(world: World, notes: str) -> tuple[str, int]:
    record_id = new_entry(world, notes)
    result = delete_record(world.conn, TT, record_id, division=D1)
    assert result.audit_id is not None
    return record_id, result.audit_id


def fake_entry(world: World, **values: object) -> int:
    """An audit row written directly (states the actions never leave behind by themselves)."""
    row: dict[str, object] = {
        "credential": "test",
        "division": D1,
        "endpoint": TT,
        "action": "delete",
        "record_key": str(uuid.uuid4()),
        "before": {"Notes": "fake", "Quantity": 1},
        "after": None,
        "outcome": "deleted",
    }
    row.update(values)
    return audit.record(world.store, **row)  # type: ignore[arg-type]


def test_a_restore_sends_only_writable_fields_and_is_audited(world: World) -> None:
    record_id, entry_id = deleted(world, "restore me")
    world.transport.requests.clear()
    result = restore_entry(world.conn, entry_id)
    assert world.sent() == [f"POST /api/v1/{D1}/{TT}"]
    body = json.loads(world.transport.bodies[-1])
    assert "ID" not in body and "Created" not in body and "Division" not in body and "AccountName" not in body
    assert body["Notes"] == "restore me" and body["Quantity"] == 2
    assert all(value is not None for value in body.values())
    assert result.restored and result.key and result.key != record_id
    again = world.conn.client.resource(TT, D1).get(result.key)
    assert again["Notes"] == "restore me" and again["Quantity"] == 2
    [row] = audit.entries(world.store, action="restore")
    assert row.id == result.audit_id and row.record_key == result.key
    assert row.outcome == f"restored entry {entry_id}" and row.after is not None
    assert row.after["Notes"] == "restore me" and row.before is None
    with pytest.raises(ValidationError, match="restored already"):
        restore_entry(world.conn, entry_id)


def test_a_dry_run_and_a_no_send_nothing(world: World) -> None:
    _record_id, entry_id = deleted(world, "not yet")
    world.transport.requests.clear()
    planned = restore_entry(world.conn, entry_id, dry_run=True)
    assert planned.dry_run and not planned.restored and planned.request.method == "POST"
    assert planned.body["Notes"] == "not yet"
    declined = restore_entry(world.conn, entry_id, confirm=lambda body, request: False)
    assert declined.cancelled and not declined.restored
    assert world.sent() == [] and audit.entries(world.store, action="restore") == []


def test_a_lost_answer_blocks_a_second_restore(world: World) -> None:
    _record_id, entry_id = deleted(world, "lost answer")
    world.fault(kind="drop_after_commit", count=1, path="TimeTransactions", method="POST")
    with pytest.raises(APIConnectionError):
        restore_entry(world.conn, entry_id)
    [row] = audit.entries(world.store, action="restore")
    assert row.outcome.startswith(f"unanswered: entry {entry_id}: ")
    world.transport.requests.clear()
    with pytest.raises(ValidationError, match="answer was lost") as refused:
        restore_entry(world.conn, entry_id)
    assert f"exactmate get {TT} --division {D1}" in str(refused.value)
    assert world.sent() == [] and world.count({"Notes": "lost answer"}) == 1  # the record, once


def test_a_refused_restore_can_be_tried_again(world: World) -> None:
    unknown = {"Item": str(uuid.uuid4()), "Project": world.project()}
    entry_id = fake_entry(world, before={"Notes": "no item", "Quantity": 1, **unknown})
    with pytest.raises(APIStatusError):
        restore_entry(world.conn, entry_id)
    [row] = audit.entries(world.store, action="restore")
    assert row.outcome.startswith(f"failed: entry {entry_id}: ")
    world.transport.requests.clear()
    with pytest.raises(APIStatusError):
        restore_entry(world.conn, entry_id)  # not "restored already": it is sent again
    assert world.sent("POST") == [f"POST /api/v1/{D1}/{TT}"]


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"outcome": "failed: Exact said no"}, "did not go through"),
        ({"before": None}, "holds no snapshot"),
        ({"credential": "other"}, "exactmate audit restore {n} --credential other"),
        ({"endpoint": "read/project/HourTypes"}, "does not allow POST"),
        ({"action": "restore"}, "only a deleted record can be restored"),
        ({"before": {"Notes": "x"}}, "Item is mandatory"),
        (
            {
                "action": "update",
                "endpoint": "crm/Accounts",
                "record_key": f"guid'{GUID}'",
                "before": {"Name": "Old", "City": "Haarlem"},
                "after": {"Name": "New"},
            },
            f"exactmate call PUT \"crm/Accounts(guid'{GUID}')\" --division {D1} "
            "--data '{\"Name\": \"Old\"}'",
        ),
    ],
)
def test_what_cannot_be_restored_is_refused_before_any_call(
    world: World, values: dict[str, object], fragment: str
) -> None:
    entry_id = fake_entry(world, **values)
    world.transport.requests.clear()
    with pytest.raises(ValidationError) as refused:
        restore_entry(world.conn, entry_id)
    assert fragment.replace("{n}", str(entry_id)) in str(refused.value)
    assert world.sent() == []


def test_an_unknown_entry_names_the_list_command(world: World) -> None:
    with pytest.raises(ValidationError, match="no entry 7") as missing:
        restore_entry(world.conn, 7)
    assert missing.value.hint == "see the entries with: exactmate audit list"


def test_create_values_leave_out_what_a_create_cannot_set(world: World) -> None:
    endpoint = world.conn.client.catalogue.endpoint(TT)
    snapshot = {"ID": "x", "Created": "2026-01-01", "Notes": "n", "Price": None, "Extra": 1, "__metadata": {}}
    values, skipped = create_values(endpoint, snapshot)
    assert values == {"Notes": "n"} and skipped == ("Extra",)


def test_audit_entries_filter_and_changed_fields(world: World) -> None:
    first = fake_entry(world, record_key="abc")
    update = fake_entry(
        world, action="update", record_key="guid'def'", before={"A": 1, "B": 2}, after={"A": 1, "B": 3}
    )
    fake_entry(world, credential="Other", endpoint="crm/Accounts")
    assert [e.id for e in audit.entries(world.store, limit=1)] == [update + 1]
    assert [e.id for e in audit.entries(world.store, record_key="ABC")] == [first]
    assert [e.id for e in audit.entries(world.store, record_key="def")] == [update]
    assert [e.id for e in audit.entries(world.store, credential="other")] == [update + 1]
    assert [e.id for e in audit.entries(world.store, endpoint="CRM/accounts")] == [update + 1]
    assert [e.id for e in audit.entries(world.store, action="update")] == [update]
    assert audit.changed_fields(audit.entry(world.store, update)) == {"B": (2, 3)}
    assert audit.entry(world.store, update).as_dict()["changes"] == {"B": {"before": 2, "after": 3}}
    with pytest.raises(ValidationError, match="not an audit action"):
        audit.entries(world.store, action="create")


def test_journal_entries_filter(world: World) -> None:
    values = {"Item": world.hour_type(), "Project": world.project(), "Quantity": 1}
    entries = [{**values, "Notes": "a"}, {**values, "Notes": "b"}]
    done = create_time_transactions(world.conn, entries, division=D1)
    rows = journal_entries(world.store)
    assert {r.record_key for r in rows} == {o.record_id for o in done.created}
    assert {r.state for r in rows} == {"created"} and {r.credential for r in rows} == {"test"}
    assert len(journal_entries(world.store, source="entries", credential="TEST", state="created")) == 2
    assert journal_entries(world.store, source=done.source, limit=1)[0].source == done.source
    assert journal_entries(world.store, source="entries%") == []  # a LIKE wildcard matches nothing
    assert journal_entries(world.store, state="failed") == []
    with pytest.raises(ValidationError, match="pending, created, failed"):
        journal_entries(world.store, state="done")
