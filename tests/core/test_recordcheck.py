"""The one record check: the library's strict check and the Data Manager's coercing one are the same
function, so they agree on every rule and message; the key rule is the documented one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from exactmate.actions.fields import OneOfRequired, prepare_record
from exactmate.catalogue import Catalogue, Endpoint, Field
from exactmate.errors import ValidationError
from exactmate.recordcheck import check_record, checked_body

CATALOGUE = Catalogue.load()
ACCOUNTS = CATALOGUE.endpoint("crm/Accounts")
TT = CATALOGUE.endpoint("project/TimeTransactions")
GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def _endpoint(key_type: str, key_edm: str, *, mandatory: bool, read_only: bool = False) -> Endpoint:
    return Endpoint(
        path="test/Things",
        service="test",
        name="Things",
        kind="rest",
        methods=frozenset({"GET", "POST", "PUT"}),
        key="ID",
        key_type=key_type,  # type: ignore[arg-type]
        keys=("ID",),
        fields={
            "ID": Field("ID", key_edm, mandatory=mandatory, read_only=read_only),
            "Name": Field("Name", "Edm.String", mandatory=True),
        },
    )


@pytest.mark.parametrize("coerce_text", [False, True])
@pytest.mark.parametrize(
    ("record", "creating", "problem"),
    [
        ({"Name": "x", "Nmae": "y"}, True, "Nmae: crm/Accounts has no such field. Did you mean: Name?"),
        ({"Name": "x", "Qqqqqq": 1}, True, "Qqqqqq: crm/Accounts has no such field. See: exactmate fields"),
        (
            {"Name": "x", "Created": "2026-01-01"},
            True,
            "Created is read-only on crm/Accounts: Exact fills it in",
        ),
        ({"Name": "x", "name": "y"}, True, "Name is given twice (as 'Name' and 'name')"),
        ({"Code": "x"}, True, "Name is mandatory on crm/Accounts"),
        ({"Name": None}, True, "Name is mandatory on crm/Accounts and cannot be empty"),
        ({"Name": ""}, True, "Name is mandatory on crm/Accounts and cannot be empty"),
        ({}, False, "Nothing to update on crm/Accounts: no fields given"),
        ({"Name": "x", "Blocked": "maybe"}, True, "Blocked (Boolean): "),
        ({"Name": "x", "AccountManager": "bob"}, True, "AccountManager (Guid): "),
    ],
)
def test_both_modes_name_the_same_problem(
    record: dict[str, Any], creating: bool, problem: str, coerce_text: bool
) -> None:
    _, problems = check_record(ACCOUNTS, record, creating=creating, coerce_text=coerce_text)
    assert any(p.startswith(problem) for p in problems), problems


def test_insert_only_fields_are_refused_on_update_only() -> None:
    quotations = CATALOGUE.endpoint("crm/Quotations")
    _, problems = check_record(quotations, {"InvoiceAccount": GUID}, creating=False)
    assert problems == ["InvoiceAccount can only be set when the record is created, not when it is updated"]
    _, problems = check_record(quotations, {"InvoiceAccount": GUID}, creating=True)
    assert not any("InvoiceAccount" in p for p in problems)


def test_coercion_parses_text_and_the_strict_check_refuses_it() -> None:
    record = {"quantity": "7,5", "Date": "2026-03-29", "Item": GUID.upper(), "Project": GUID}
    body, problems = check_record(TT, record, creating=True, coerce_text=True)
    assert problems == []
    assert body == {"Quantity": 7.5, "Date": datetime(2026, 3, 29), "Item": GUID, "Project": GUID}
    _, strict = check_record(TT, record, creating=True)
    assert strict == ["Quantity (Double): expected a number, got str '7,5'"]


def test_the_guid_key_is_never_mandatory_and_may_be_given_unless_read_only() -> None:
    generated = _endpoint("guid", "Edm.Guid", mandatory=True)
    assert check_record(generated, {"Name": "x"}, creating=True).problems == []
    assert check_record(generated, {"Name": "x", "ID": GUID}, creating=True).problems == []
    read_only = _endpoint("guid", "Edm.Guid", mandatory=False, read_only=True)
    assert check_record(read_only, {"Name": "x", "ID": GUID}, creating=True).problems == [
        "ID is read-only on test/Things: Exact fills it in; leave it out"
    ]


@pytest.mark.parametrize(("key_type", "edm"), [("string", "Edm.String"), ("int", "Edm.Int32")])
def test_other_keys_are_mandatory_when_the_catalogue_says_so(key_type: str, edm: str) -> None:
    coded = _endpoint(key_type, edm, mandatory=True)
    assert check_record(coded, {"Name": "x"}, creating=True).problems == ["ID is mandatory on test/Things"]
    assert (
        check_record(_endpoint(key_type, edm, mandatory=False), {"Name": "x"}, creating=True).problems == []
    )


def test_no_key_in_the_catalogue_is_marked_mandatory() -> None:
    """So the key rule changes neither path today: it decides only what a future catalogue says."""
    assert not [e.path for e in CATALOGUE for k in e.keys if k in e.fields and e.fields[k].mandatory]


def test_collections_take_lists_as_given_but_no_text() -> None:
    invoices = CATALOGUE.endpoint("salesinvoice/SalesInvoices")
    lines = next(n for n, f in invoices.fields.items() if f.is_collection)
    assert not any(lines in p for p in check_record(invoices, {lines: []}, creating=False).problems)
    _, problems = check_record(invoices, {lines: "x"}, creating=False, coerce_text=True)
    assert problems and "write those through their own endpoint" in problems[0]


def test_a_bad_value_is_not_also_reported_missing() -> None:
    _, problems = check_record(
        TT, {"Item": "nope", "Quantity": 1, "Project": GUID}, creating=True, coerce_text=True
    )
    assert [p for p in problems if p.startswith("Item")] == [
        "Item (Guid): 'nope' is not a GUID "
        "(expected 8-4-4-4-12 hex digits, e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301)"
    ]


def test_integers_are_range_checked_as_given_too() -> None:
    field = next(n for n, f in TT.fields.items() if f.type == "Edm.Int32" and not f.read_only)
    _, problems = check_record(TT, {field: 2**31}, creating=False)
    assert problems == [
        f"{field} (Int32): 2147483648 is out of range for Edm.Int32 (-2147483648 to 2147483647)"
    ]


def test_extra_rules_see_the_checked_record() -> None:
    rule = OneOfRequired(("Account", "Project"))
    _, problems = prepare_record(TT, {"Item": GUID, "Quantity": "1"}, creating=True, extra_rules=[rule])
    assert problems == ["one of Account or Project is required"]
    _, problems = prepare_record(
        TT, {"project": GUID, "Item": GUID, "Quantity": "1"}, creating=True, extra_rules=[rule]
    )
    assert problems == []


def test_checked_body_raises_one_error_listing_every_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        checked_body(ACCOUNTS, {"Nmae": "x", "Created": "2026-01-01"}, creating=True)
    assert caught.value.message == "Cannot create a record on crm/Accounts"
    assert len(caught.value.problems) == 3  # the unknown field, the read-only one, Name missing
    assert checked_body(ACCOUNTS, {"name": "x", "ID": uuid.UUID(GUID)}, creating=True) == {
        "Name": "x",
        "ID": uuid.UUID(GUID),
    }


def _typed(field: Field) -> object:
    """A value of ``field``'s Edm type already in the Python type the strict check wants."""
    return {
        "Edm.Guid": GUID,
        "Edm.String": "text",
        "Edm.Boolean": True,
        "Edm.Int16": 7,
        "Edm.Int32": 7,
        "Edm.Int64": 7,
        "Edm.Byte": 1,
        "Edm.SByte": 1,
        "Edm.Double": 7.5,
        "Edm.Decimal": 7.5,
        "Edm.Single": 7.5,
    }.get(field.type)


def test_typed_records_pass_both_modes_alike_on_every_writable_endpoint() -> None:
    """For values already of their field's type, coercion changes nothing: over every endpoint that
    takes a POST or a PUT, the two modes find the same problems and build the same body."""
    checked = 0
    for endpoint in CATALOGUE:
        for creating in (True, False):
            if not endpoint.allows("POST" if creating else "PUT") or not endpoint.fields:
                continue
            record = {
                name: _typed(field)
                for name, field in endpoint.fields.items()
                if not field.is_collection and _typed(field) is not None
            }
            record["NoSuchFieldAnywhere"] = 1
            strict = check_record(endpoint, record, creating=creating)
            coerced = check_record(endpoint, record, creating=creating, coerce_text=True)
            assert strict == coerced, endpoint.path
            checked += 1
    assert checked > 200
