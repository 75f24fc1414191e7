"""The Data Manager: text values coerced by Edm type, every problem reported at once, no call made."""

from __future__ import annotations

from datetime import datetime

import pytest

from exactmate.actions.fields import (
    AllowedValues,
    CoercionError,
    OneOfRequired,
    coerce,
    parse_assignments,
    prepare_record,
    suggest_fields,
    writable_fields,
)
from exactmate.catalogue import Catalogue, Field
from exactmate.errors import ValidationError

TT = Catalogue.load().endpoint("project/TimeTransactions")
GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def f(kind: str) -> Field:
    return Field(name="X", type=kind)


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("Edm.Guid", GUID.upper(), GUID),
        ("Edm.Guid", f"guid'{GUID}'", GUID),
        ("Edm.Int32", "42", 42),
        ("Edm.Int64", "123L", 123),
        ("Edm.Int16", 7, 7),
        ("Edm.Double", "7.5", 7.5),
        ("Edm.Double", "7,5", 7.5),
        ("Edm.Decimal", 3, 3.0),
        ("Edm.Boolean", "yes", True),
        ("Edm.Boolean", "FALSE", False),
        ("Edm.DateTime", "2026-03-29", datetime(2026, 3, 29)),
        ("Edm.DateTime", "2026-03-29T08:30", datetime(2026, 3, 29, 8, 30)),
        ("Edm.String", "O'Brien", "O'Brien"),
        ("Edm.String", "", ""),
        ("Edm.Int32", "", None),
        ("Edm.Binary", "aGVsbG8=", "aGVsbG8="),
    ],
)
def test_coerce_by_edm_type(kind: str, text: object, expected: object) -> None:
    assert coerce(f(kind), text) == expected


@pytest.mark.parametrize(
    ("kind", "text", "fragment"),
    [
        ("Edm.Guid", "not-a-guid", "not a GUID"),
        ("Edm.Int32", "7.5", "not a whole number"),
        ("Edm.Int16", "40000", "out of range"),
        ("Edm.Byte", "-1", "out of range"),
        ("Edm.Double", "seven", "not a number"),
        ("Edm.Double", "nan", "not a finite number"),
        ("Edm.Boolean", "maybe", "not a boolean"),
        ("Edm.DateTime", "29/03/2026", "not a date"),
        ("Edm.Binary", "***", "base64"),
        ("Edm.Int32", True, "whole number"),
    ],
)
def test_coerce_refuses_with_a_reason(kind: str, text: object, fragment: str) -> None:
    with pytest.raises(CoercionError, match=fragment):
        coerce(f(kind), text)


def test_parse_assignments_keeps_equals_in_values_and_reports_all_problems() -> None:
    assert parse_assignments(["Quantity=7.5", "Notes=a=b"]) == {"Quantity": "7.5", "Notes": "a=b"}
    with pytest.raises(ValidationError) as info:
        parse_assignments(["Quantity", "=3", "Notes=x", "Notes=y"])
    assert len(info.value.problems) == 3


def test_prepare_record_reports_every_problem_at_once() -> None:
    values = {"quantity": "seven", "Quantiy": "1", "AccountName": "Acme", "Item": GUID}
    record, problems = prepare_record(TT, values, creating=True)
    text = "\n".join(problems)
    assert "Quantity (Double)" in text  # case-insensitive name, resolved spelling, type problem
    assert "Quantiy: project/TimeTransactions has no such field. Did you mean: Quantity" in text
    assert "AccountName is read-only" in text
    assert record == {"Item": GUID}


def test_missing_mandatory_fields_are_named_on_create_only() -> None:
    _, problems = prepare_record(TT, {"Notes": "x"}, creating=True)
    assert {
        "Item is mandatory on project/TimeTransactions",
        "Quantity is mandatory on project/TimeTransactions",
    } <= set(problems)
    _, problems = prepare_record(TT, {"Notes": "x"}, creating=False)
    assert problems == []


def test_extra_rules() -> None:
    rules = (OneOfRequired(("Account", "Project", "Subscription")), AllowedValues("HourStatus", (1, 2, 10)))
    _, problems = prepare_record(
        TT, {"Item": GUID, "Quantity": "1", "HourStatus": "20"}, creating=True, extra_rules=rules
    )
    assert "one of Account, Project or Subscription is required" in problems
    assert "HourStatus cannot be written as 20; allowed: 1, 2, 10" in problems
    _, problems = prepare_record(
        TT,
        {"Item": GUID, "Quantity": "1", "Project": GUID, "HourStatus": "10"},
        creating=True,
        extra_rules=rules,
    )
    assert problems == []


def test_suggestions_and_writable_fields() -> None:
    assert suggest_fields(TT, "hourstatuss") == ["HourStatus"]
    names = {x.name for x in writable_fields(TT, creating=True)}
    assert {"Item", "Quantity", "Notes", "Project"} <= names
    assert "AccountName" not in names


def test_every_operation_of_the_product_is_offered_by_the_actions_package() -> None:
    import exactmate.actions as actions
    from exactmate.connect import run_test_connect

    assert actions.run_test_connect is run_test_connect
    operations = ("create_time_transactions", "update_time_transaction", "delete_record")
    for name in (*operations, "get_record", "list_records"):
        assert callable(getattr(actions, name))
