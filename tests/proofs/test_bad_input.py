"""Proof 6: bad input costs no call. Every refusal happens before the request, so it spends neither
a call of the rate limit nor a place in Exact's hourly error budget; the emulator's
``total_requests`` proves it. Values with quotes are no bad input: they reach Exact as the right,
escaped literal and find the right record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exactmate.emulator.config import EmulatorConfig
from exactmate.errors import CatalogueError, ValidationError
from exactmate.odata import F
from tests.proofs.conftest import World, WorldFactory


@pytest.fixture
def world(make_world: WorldFactory) -> Iterator[World]:
    made = make_world(EmulatorConfig(records=300, divisions=1))
    made.client.me()  # the current division is known from here on
    yield made


def _costs_no_call(
    world: World, action: Callable[[], Any], error: type[Exception], match: str | None = None
) -> str:
    before = world.stats()["total_requests"]
    with pytest.raises(error, match=match) as caught:
        action()
    assert world.stats()["total_requests"] == before, "a call was sent"
    return str(caught.value)


def test_an_unknown_endpoint_is_refused_with_a_suggestion(world: World) -> None:
    unknown = world.client.resource
    message = _costs_no_call(world, lambda: unknown("crm/Acounts"), CatalogueError, "crm/Acounts")
    assert "crm/Accounts" in message  # the suggestion
    message = _costs_no_call(
        world, lambda: world.client.request("GET", "project/TimeTransaction"), CatalogueError, "Did you mean"
    )
    assert "project/TimeTransactions" in message


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("bulk/CRM/Accounts", lambda r: r.create({"Name": "x"})),
        ("bulk/CRM/Accounts", lambda r: r.delete(str(uuid.uuid4()))),
        ("sync/CRM/Accounts", lambda r: r.update(1, {"Name": "x"})),
        ("payroll/Employees", lambda r: r.update(str(uuid.uuid4()), {"FullName": "x"})),
        ("system/AllDivisions", lambda r: r.delete(100001)),
    ],
)
def test_a_method_the_endpoint_lacks(world: World, path: str, call: Callable[[Any], Any]) -> None:
    _costs_no_call(world, lambda: call(world.client.resource(path)), CatalogueError, "GET")


def test_a_method_the_endpoint_lacks_through_request(world: World) -> None:
    _costs_no_call(world, lambda: world.client.request("DELETE", "bulk/CRM/Accounts"), CatalogueError, "GET")


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("crm/Accounts", "not-a-guid"),  # malformed GUID
        ("crm/Accounts", "1234"),
        ("crm/Accounts", 12345),  # an int where a GUID is the key
        ("system/Divisions", "one"),  # text where an int is the key
        ("system/Divisions", 1.5),
        ("system/Divisions", True),
        ("crm/Accounts", "c0ffee00-0000-4000-8000-000000000000') or (1 eq 1"),
    ],
)
def test_a_malformed_key_or_one_of_the_wrong_type(world: World, path: str, key: object) -> None:
    resource = world.client.resource(path)
    _costs_no_call(world, lambda: resource.get(key), ValidationError)
    if "DELETE" in resource.endpoint.methods:
        _costs_no_call(world, lambda: resource.delete(key), ValidationError)


def test_an_unknown_select_field_with_a_suggestion(world: World) -> None:
    accounts = world.client.resource("crm/Accounts")
    message = _costs_no_call(world, lambda: accounts.list(select=["ID", "Nmae"]), CatalogueError, "Nmae")
    assert "Name" in message
    _costs_no_call(world, lambda: accounts.pages(select=["ID", "Nmae"]), CatalogueError, "Nmae")
    _costs_no_call(world, lambda: accounts.list(order_by=["Nmae"]), CatalogueError, "Nmae")


@pytest.mark.parametrize(
    "division", [0, -5, "100001", 1.5, True], ids=["zero", "negative", "text", "float", "bool"]
)
def test_a_division_that_cannot_be_one(world: World, division: Any) -> None:
    _costs_no_call(
        world, lambda: world.client.resource("crm/Accounts", division=division), ValidationError, "division"
    )


def test_records_that_cannot_be_written(world: World) -> None:
    accounts = world.client.resource("crm/Accounts")
    _costs_no_call(world, lambda: accounts.create({"Code": "X1"}), ValidationError, "Cannot create")
    _costs_no_call(world, lambda: accounts.create({"Name": "x", "Nmae": "y"}), ValidationError, "Cannot")
    read_only = {"Name": "x", "Created": "2026-01-01"}
    _costs_no_call(world, lambda: accounts.create(read_only), ValidationError, "read-only")
    _costs_no_call(world, lambda: accounts.update(str(uuid.uuid4()), {}), ValidationError, "Nothing")
    _costs_no_call(world, lambda: accounts.create({"Name": 12}), ValidationError, "text")


def test_a_guid_filter_value_that_is_no_guid(world: World) -> None:
    accounts = world.client.resource("crm/Accounts")
    _costs_no_call(
        world, lambda: accounts.count(filter={"ID": "x' or 1 eq 1 or Name eq '"}), ValidationError, "GUID"
    )


@pytest.mark.parametrize("style", ["builder", "mapping"])
def test_values_with_quotes_reach_exact_escaped_and_find_the_right_record(world: World, style: str) -> None:
    accounts = world.client.resource("crm/Accounts")
    created = accounts.create({"Name": "O'Brien", "City": "Cork"})
    accounts.create({"Name": "O'Brien & Sons'", "City": "Dublin"})

    def where(name: str) -> Any:
        return F("Name") == name if style == "builder" else {"Name": name}

    found = list(accounts.list(select=["ID", "Name", "City"], filter=where("O'Brien")))

    assert found == [{"ID": created["ID"], "Name": "O'Brien", "City": "Cork"}]
    assert world.recorder.api()[-1].query == "$select=ID,Name,City&$filter=Name eq 'O''Brien'"
    # A value written to break out of its quotes stays a value: it matches no account.
    injected = "x' or Name ne 'y"
    assert list(accounts.list(select=["ID"], filter=where(injected))) == []
    assert world.recorder.api()[-1].query == "$select=ID&$filter=Name eq 'x'' or Name ne ''y'"
    assert accounts.count(filter=where("O'Brien & Sons'")) == 1
