"""List or Get Endpoint, divisions and the custom call against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from exactmate.actions import by_key, custom_call, get_record, list_records, parse_division
from exactmate.actions.divisions import ALL, CURRENT, DivisionChoice
from exactmate.actions.dryrun import PlannedRequest
from exactmate.actions.listget import shares
from exactmate.errors import CatalogueError, ForbiddenError, ValidationError
from exactmate.odata import F
from tests.actions.conftest import D1, D2, SERVER, World


def test_without_a_key_it_lists_one_page_by_default(world: World) -> None:
    listing = list_records(world.conn, "project/timetransactions", division=D1)
    records = list(listing)
    assert len(records) == 40 and listing.count == 40 and listing.divisions == [D1]
    assert world.sent() == [f"GET /api/v1/{D1}/project/TimeTransactions"]


def test_top_select_filter_and_order(world: World) -> None:
    listing = list_records(
        world.conn,
        "crm/Accounts",
        division=D1,
        select="ID, code,Name",
        filter="Name ne null",
        top=7,
        order_by="Code desc",
    )
    records = list(listing)
    assert len(records) == 7 and listing.fields == ("ID", "Code", "Name")
    assert set(records[0]) == {"ID", "Code", "Name"}
    codes = [r["Code"] for r in records]
    assert codes == sorted(codes, reverse=True)


def test_with_a_key_it_gets_one_record(world: World) -> None:
    some = next(iter(list_records(world.conn, "crm/Accounts", division=D1, top=1, select="ID")))
    world.transport.requests.clear()
    record = get_record(world.conn, "crm/Accounts", some["ID"], division=D1, select=["ID", "Name"])
    assert set(record) == {"ID", "Name"} and record["ID"] == some["ID"]
    assert world.sent() == [f"GET /api/v1/{D1}/crm/Accounts(guid'{some['ID']}')"]


def test_all_streams_everything_through_the_bulk_twin(world: World) -> None:
    listing = list_records(world.conn, "crm/Accounts", division=D1, all=True)
    pages: list[int] = []
    listing_with_hook = list_records(
        world.conn, "crm/Accounts", division=D1, all=True, on_page=lambda d, n: pages.append(n)
    )
    count = sum(1 for _ in listing_with_hook)
    assert count == sum(pages) and count > 0
    assert any("bulk/CRM/Accounts" in s for s in world.sent())
    assert "Timestamp" not in next(iter(listing))


def test_division_all_fans_out_and_tags_each_record(world: World) -> None:
    listing = list_records(world.conn, "project/Projects", division="all", top=3, select="ID,Code")
    records = list(listing)
    assert listing.divisions == [D1, D2]
    assert [r["Division"] for r in records] == [D1, D1, D2]  # top 3 in all, shared in turn
    assert list(records[0]) == ["Division", "ID", "Code"]
    everything = list_records(world.conn, "project/Projects", division="all", all=True, select="ID")
    assert {r["Division"] for r in everything} == {D1, D2}


def test_a_failing_division_is_reported_while_the_others_go_on(world: World) -> None:
    world.fault(kind="drop_before", count=10, path=f"/{D2}/project/Projects")
    listing = list_records(world.conn, "project/Projects", division="all", top=2)
    records = list(listing)
    assert {r["Division"] for r in records} == {D1}
    assert [number for number, _ in listing.errors] == [D2]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"select": "ID,Nmae"}, "Did you mean: Name"),
        ({"top": 0}, "--top must be a whole number of at least 1"),
        ({"top": 5, "all": True}, "give one of them"),
        ({"order_by": "Cdoe"}, "Did you mean: Code"),
        ({"filter": {"ID": "not-a-guid"}}, "Expected a GUID"),
        ({"select": "ID,,Name"}, "empty field name"),
    ],
)
def test_bad_listing_options_cost_no_call(world: World, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        list_records(world.conn, "crm/Accounts", division=D1, **kwargs)
    assert fragment in str(info.value)
    assert world.sent() == []


def test_bad_endpoint_key_and_options_with_a_key_cost_no_call(world: World) -> None:
    with pytest.raises(CatalogueError, match="Did you mean"):
        list_records(world.conn, "crm/Acounts", division=D1)
    with pytest.raises(ValidationError, match="Expected a GUID"):
        get_record(world.conn, "crm/Accounts", "123", division=D1)
    with pytest.raises(ValidationError, match="apply to listings"):
        by_key("crm/Accounts", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", top=3)
    with pytest.raises(CatalogueError, match="does not support GET"):
        list_records(world.conn, _post_only(world), division=D1)
    assert world.sent() == []


def _post_only(world: World) -> str:
    return next(e.path for e in world.conn.client.catalogue if e.methods == frozenset({"POST"}))


def test_current_division_comes_from_current_me(world: World) -> None:
    listing = list_records(world.conn, "project/Projects", top=1)
    list(listing)
    assert world.sent() == ["GET /api/v1/current/Me", f"GET /api/v1/{D1}/project/Projects"]


def test_a_division_outside_the_consent_is_forbidden(world: World) -> None:
    listing = list_records(world.conn, "project/Projects", division=world.config.forbidden_division)
    with pytest.raises(ForbiddenError, match="NoDivisionAccess"):
        list(listing)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, CURRENT),
        ("current", CURRENT),
        (" ALL ", ALL),
        ("100001", DivisionChoice("number", 100001)),
        (7, DivisionChoice("number", 7)),
    ],
)
def test_parse_division(value: object, expected: DivisionChoice) -> None:
    assert parse_division(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["0", "-3", "x", 0, True, "1.5"])
def test_parse_division_refuses_with_the_fix(value: object) -> None:
    with pytest.raises(ValidationError, match="'current' or 'all'"):
        parse_division(value)  # type: ignore[arg-type]


# -- the custom call ---------------------------------------------------------------------------------


def test_custom_call_reads_a_function_and_a_count(world: World) -> None:
    hours = custom_call(world.conn, "get", "read/project/HourTypes", division=D1)
    assert isinstance(hours, list) and hours and "ItemId" in hours[0]
    count = custom_call(world.conn, "GET", "crm/Accounts/$count", division=D1)
    assert isinstance(count, int) and count > 0


def test_custom_call_write_dry_run_and_checks(world: World) -> None:
    project = world.project()
    planned = custom_call(
        world.conn,
        "PUT",
        f"project/Projects(guid'{project}')",
        division=D1,
        data={"description": "renamed"},
        dry_run=True,
    )
    assert isinstance(planned, PlannedRequest)
    assert planned.url == f"{SERVER}/api/v1/{D1}/project/Projects(guid'{project}')"
    assert planned.as_dict()["body"] == {"Description": "renamed"}
    world.transport.requests.clear()
    with pytest.raises(ValidationError, match="Descripton"):
        custom_call(
            world.conn, "PUT", f"project/Projects(guid'{project}')", division=D1, data={"Descripton": "x"}
        )
    with pytest.raises(ValidationError, match="Unknown HTTP method"):
        custom_call(world.conn, "PATCH", "crm/Accounts", division=D1)
    with pytest.raises(CatalogueError, match="does not support POST"):
        custom_call(world.conn, "POST", "read/project/HourTypes", division=D1, data={})
    with pytest.raises(ValidationError, match="one division"):
        custom_call(world.conn, "GET", "crm/Accounts", division="all")
    assert world.sent() == []


def test_a_misspelt_field_in_a_text_filter_costs_no_call(world: World) -> None:
    with pytest.raises(ValidationError, match="Did you mean: Code"):
        list_records(world.conn, "crm/Accounts", division=D1, filter="Cdoe eq 'A'")
    assert world.sent() == []


def test_misspelt_fields_in_mapping_and_built_filters_cost_no_call(world: World) -> None:
    with pytest.raises(ValidationError, match="Did you mean: Name"):
        list_records(world.conn, "crm/Accounts", division=D1, filter={"Nmae": "O'Brien"})
    with pytest.raises(ValidationError, match="Did you mean: Name"):
        list_records(world.conn, "crm/Accounts", division=D1, filter=F("Nmae") == "O'Brien")
    assert world.sent() == []


@pytest.mark.parametrize(
    ("available", "total", "expected"),
    [
        ({1: 10, 2: 10}, 2, {1: 1, 2: 1}),
        ({1: 10, 2: 10}, 3, {1: 2, 2: 1}),
        ({1: 1, 2: 10, 3: 0}, 6, {1: 1, 2: 5, 3: 0}),
        ({1: 2, 2: 2}, 60, {1: 2, 2: 2}),
        ({1: 5}, None, {1: 5}),
    ],
)
def test_top_over_divisions_is_shared_in_turn(
    available: dict[int, int], total: int | None, expected: dict[int, int]
) -> None:
    assert shares(available, total) == expected
