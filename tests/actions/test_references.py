"""Reference fields by code or name: ``Project=code:PRJ001`` books the project's GUID, one lookup
call per distinct value and division, and a value that names none or several stops the run before
anything is created, with the candidates."""

from __future__ import annotations

import pytest

from exactmate.actions import create_time_transactions, update_time_transaction
from exactmate.actions.references import REFERENCES, lookup_of
from exactmate.errors import ValidationError
from tests.actions.conftest import D1, D2, World

TT = "project/TimeTransactions"


def _id(world: World, path: str, division: int = D1, **equal: object) -> str:
    found = world.conn.client.resource(path, division).list(select=["ID"], filter=equal, top=1)
    return str(next(found)["ID"])


def _lookups(world: World, path: str) -> list[str]:
    return [call for call in world.sent("GET") if call.endswith("/" + path)]


def test_codes_and_names_book_the_guids_they_name(world: World) -> None:
    entry = {
        "Project": "code:PRJ003",
        "Item": "code:CONSULT",
        "Employee": "name:dana demo",  # names compare without regard to case
        "Account": "code:3",  # Exact pads account codes to 18 characters
        "Quantity": "2",
        "Notes": "looked up",
    }
    result = create_time_transactions(world.conn, entry, division=D1)
    assert result.ok, result.outcomes
    [created] = result.created
    record = world.conn.client.resource(TT, D1).get(created.record_id)
    assert record["Project"] == _id(world, "project/Projects", Code="PRJ003")
    assert record["Item"] == _id(world, "logistics/Items", Code="CONSULT")
    assert record["Employee"] == _id(world, "payroll/Employees", FullName="Dana Demo")
    assert record["Account"] == _id(world, "crm/Accounts", Code=f"{3:>18}")


def test_a_file_costs_one_lookup_per_distinct_value(world: World) -> None:
    rows = [
        {"Project": f"code:PRJ00{1 + n % 2}", "Item": "code:CONSULT", "Quantity": "1", "Notes": f"row {n}"}
        for n in range(30)
    ]
    result = create_time_transactions(world.conn, rows, division=D1)
    assert len(result.created) == 30
    assert len(_lookups(world, "project/Projects")) == 2 and len(_lookups(world, "logistics/Items")) == 1
    again = create_time_transactions(world.conn, rows, division=D1)  # the GUIDs are the identity
    assert len(again.skipped) == 30


def test_a_code_that_names_nothing_stops_the_run_with_candidates(world: World) -> None:
    rows = [{"Project": "code:PRJ0O1", "Item": "code:CONSULT", "Quantity": "1"}]  # letter O, not zero
    with pytest.raises(ValidationError) as caught:
        create_time_transactions(world.conn, rows, division=D1)
    [problem] = caught.value.problems
    assert problem.startswith("row 1: Project=code:PRJ0O1: no record of project/Projects in division")
    assert "similar: PRJ0" in problem
    assert caught.value.hint is not None and "GUID" in caught.value.hint
    assert world.sent("POST") == []


def test_a_name_several_records_carry_is_refused_naming_them(world: World) -> None:
    accounts = world.conn.client.resource("crm/Accounts", D1)
    name = next(accounts.list(select=["Name"], top=1))["Name"]
    accounts.create({"Name": name, "Code": "999"})
    rows = [{"Account": f"name:{name}", "Item": "code:CONSULT", "Quantity": "1"}]
    with pytest.raises(ValidationError) as caught:
        create_time_transactions(world.conn, rows, division=D1)
    assert "several records of crm/Accounts" in caught.value.problems[0]
    assert world.sent("POST") == ["POST /api/v1/100001/crm/Accounts"]  # the test's own, no entry


def test_local_problems_come_before_any_lookup(world: World) -> None:
    rows = [{"Project": "code:PRJ001", "Item": "code:CONSULT", "Quantity": "lots"}]
    with pytest.raises(ValidationError, match="cannot be created"):
        create_time_transactions(world.conn, rows, division=D1)
    assert world.sent() == []


def test_each_division_looks_up_its_own_record(world: World) -> None:
    rows = [
        {"Division": str(division), "Project": "code:PRJ001", "Item": "code:CONSULT", "Quantity": "1"}
        for division in (D1, D2)
    ]
    result = create_time_transactions(world.conn, rows)
    read = world.conn.client.resource
    projects = {o.division: read(TT, o.division).get(o.record_id)["Project"] for o in result.created}
    assert projects == {d: _id(world, "project/Projects", d, Code="PRJ001") for d in (D1, D2)}


def test_an_update_looks_up_too(world: World) -> None:
    entry = world.entry_with_status(1)
    result = update_time_transaction(world.conn, entry["ID"], {"Project": "code:PRJ002"}, division=D1)
    assert result.after["Project"] == _id(world, "project/Projects", Code="PRJ002")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("Notes", "code: 5 in the notes", None),  # a text field keeps its text
        ("Quantity", "name:x", None),
        ("Project", "P100", None),  # no prefix: a GUID (checked by the record check)
        ("Activity", "name:Design", "Activity=name:Design"),
    ],
)
def test_what_counts_as_a_lookup(field: str, value: str, expected: str | None) -> None:
    found = lookup_of(field, value, "Edm.String" if field in ("Notes", "Quantity") else "Edm.Guid")
    assert (str(found) if found else None) == expected


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("Subscription", "code:S1", "only Project, Item, Employee, Account, Activity"),
        ("Project", "code:  ", "names no code"),
        ("Activity", "code:A1", "has no code in Exact: look it up by name"),
    ],
)
def test_lookups_a_field_cannot_take(field: str, value: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        lookup_of(field, value)
    assert set(REFERENCES) == {"Project", "Item", "Employee", "Account", "Activity"}


def test_searching_by_part_of_a_code_or_name(world: World) -> None:
    from exactmate.actions.references import search_references

    found = search_references(world.conn, "Item", "cons", D1)
    assert [(row["code"], row["name"]) for row in found] == [("CONSULT", "Consultancy")]
    accounts = search_references(world.conn, "Account", "harbor", D1, limit=3)
    assert len(accounts) == 3 and all("Harbor" in row["name"] for row in accounts)
    assert all(row["code"] == row["code"].strip() for row in accounts)  # padding removed
    with pytest.raises(ValidationError, match="not looked up"):
        search_references(world.conn, "Notes", "x", D1)
