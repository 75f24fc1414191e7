"""One checked read: a listing's options are checked once into a ``ReadQuery``, and that very object
is what is sent, so what was checked cannot differ from what goes to Exact and bad input costs no call."""

from __future__ import annotations

from typing import Any

import pytest

from exactmate import odata
from exactmate.actions import listget
from exactmate.actions.listget import check_query, list_records, read_listing
from exactmate.actions.readcost import estimate_read
from exactmate.errors import ValidationError
from exactmate.odata import F
from exactmate.resource import EndpointCaller, Resource
from tests.actions.conftest import D1, D2, World


def _spy(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[tuple[Any, ...]]:
    """Record the arguments of every call of ``owner.name`` while still running it."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(owner, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_a_listing_is_checked_and_its_options_built_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = _spy(monkeypatch, listget, "check_read")
    built = _spy(monkeypatch, odata, "build_query")
    listing = list_records(
        world.conn,
        "crm/accounts",
        division=D1,
        select="id, name,Code",
        filter=F("Name") != "",
        top=4,
        order_by="code desc",
    )
    assert len(list(listing)) == 4
    assert len(checked) == 1 and len(built) == 1


def test_the_query_checked_is_the_query_sent(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = world.conn.client.catalogue
    accounts = catalogue.endpoint("crm/Accounts")
    query = check_query(
        catalogue, accounts, select="id,name", filter="Name ne ''", top=3, order_by="code desc"
    )
    assert world.sent() == []  # checking costs no call
    assert query.endpoint is accounts and query.source is accounts
    assert query.fields == ("ID", "Name") and query.top == 3 and query.filter == "Name ne ''"
    assert query.options.order_by == ("Code desc",)  # spelt as the catalogue spells it
    read = _spy(monkeypatch, Resource, "read")
    sent = _spy(monkeypatch, EndpointCaller, "send")
    records = list(read_listing(world.conn, query, division=D1))
    assert len(records) == 3 and set(records[0]) == {"ID", "Name"}
    assert [args[1] for args in read] == [query] and read[0][1] is query
    assert len(sent) == 1 and sent[0][2] is query.source


def test_one_query_serves_every_division_and_the_cost_estimate(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalogue = world.conn.client.catalogue
    query = check_query(catalogue, catalogue.endpoint("crm/Accounts"), select="ID", everything=True)
    assert query.source.path == "bulk/CRM/Accounts" and query.top is None and query.filter is None
    cost = estimate_read(world.conn, query, D1)
    assert cost.source == "bulk/CRM/Accounts" and cost.records > 0
    read = _spy(monkeypatch, Resource, "read")
    listing = read_listing(world.conn, query, division="all")
    assert {record["Division"] for record in listing} == {D1, D2}
    accounts = [args[1] for args in read if args[0].endpoint is query.endpoint]  # not system/Divisions
    assert len(accounts) == 2 and all(sent is query for sent in accounts)


def test_a_read_is_refused_by_a_resource_of_another_endpoint(world: World) -> None:
    catalogue = world.conn.client.catalogue
    query = check_query(catalogue, catalogue.endpoint("crm/Accounts"))
    with pytest.raises(ValueError, match="a read of crm/Accounts was given to project/Projects"):
        world.conn.client.resource("project/Projects", D1).read(query)
    assert world.sent() == []


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"filter": "Code = 'A'"}, "use eq (or ne)"),
        ({"filter": "Name eq 'x' and"}, "the filter ends with 'and'"),
        ({"filter": F("Cdoe") == "A"}, "Did you mean: Code"),
        ({"filter": {"Blocked": "maybe"}}, "$filter: Blocked"),
        ({"select": "*"}, "Unknown field '*'"),
        ({"select": "ID,Nmae"}, "Did you mean: Name"),
        ({"top": -1}, "--top must be a whole number of at least 1, got -1"),
        ({"top": True}, "--top must be a whole number of at least 1, got True"),
        ({"order_by": "Code sideways"}, "is not 'Field', 'Field asc' or 'Field desc'"),
    ],
)
def test_a_bad_filter_select_or_top_is_refused_before_any_call(
    world: World, options: dict[str, Any], fragment: str
) -> None:
    catalogue = world.conn.client.catalogue
    with pytest.raises(ValidationError) as info:
        check_query(catalogue, catalogue.endpoint("crm/Accounts"), **options)
    assert fragment in str(info.value) and "nothing was sent" in str(info.value)
    with pytest.raises(ValidationError):
        list_records(world.conn, "crm/Accounts", division=D1, **options)
    assert world.sent() == []


def test_a_resource_checks_its_read_before_any_call(world: World) -> None:
    resource = world.conn.client.resource("crm/Accounts")  # the current division: not looked up yet
    with pytest.raises(ValidationError, match="Did you mean: Name"):
        resource.pages(select=["Nmae"])
    with pytest.raises(ValidationError, match=r"\$top: expected a whole number of at least 0"):
        resource.pages(top=-1)
    with pytest.raises(ValidationError, match="Did you mean: Code"):
        resource.query(order_by="Cdoe desc")
    checked = resource.query(select="id")
    assert checked.fields == ("ID",) and checked.options.select == ("ID",) and checked.top is None
    assert world.sent() == []  # nor was the current division looked up: checking needs no call
