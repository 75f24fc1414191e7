"""The filter builder F(...): comparisons, functions, precedence, injection kept out (odata/filters.py)."""

from __future__ import annotations

from datetime import date

import pytest

from exactmate.errors import ValidationError
from exactmate.odata import (
    F,
    Filter,
)

GUID = "c5d3a5f2-1b2c-4d5e-8f90-0a1b2c3d4e5f"



def test_comparisons() -> None:
    assert str(F("Name") == "O'Brien") == "Name eq 'O''Brien'"
    assert str(F("Name") != None) == "Name ne null"  # noqa: E711
    assert str(F("Quantity") > 1) == "Quantity gt 1"
    assert str(F("Quantity") >= 1.5) == "Quantity ge 1.5"
    assert str(F("Date") < date(2024, 1, 1)) == "Date lt datetime'2024-01-01T00:00:00'"
    assert str(F("Timestamp", "Edm.Int64") <= 10) == "Timestamp le 10L"
    assert str(F("Account", "Edm.Guid") == GUID.upper()) == f"Account eq guid'{GUID}'"
    assert str(F("Account/Name") == "x") == "Account/Name eq 'x'"
    assert (F("Name") == "x") == Filter("Name eq 'x'", _op="cmp")


def test_functions() -> None:
    assert str(F("Name").startswith("Ab'")) == "startswith(Name,'Ab''') eq true"
    assert str(F("Name").endswith("BV")) == "endswith(Name,'BV') eq true"
    assert str(F("Name").contains("it's")) == "substringof('it''s',Name) eq true"
    assert str(F("Code").trim() == "25") == "trim(Code) eq '25'"
    assert str(F("Name").lower() == "abc") == "tolower(Name) eq 'abc'"
    assert str(F("Name").upper().startswith("A")) == "startswith(toupper(Name),'A') eq true"
    assert str(F("Status").in_([20, 50])) == "Status eq 20 or Status eq 50"
    with pytest.raises(ValidationError, match="No values"):
        F("Status").in_([])
    with pytest.raises(ValidationError, match="Expected text"):
        F("Name").startswith(5)  # type: ignore[arg-type]


def test_combining_keeps_precedence() -> None:
    a, b, c = F("A") == 1, F("B") == 2, F("C") == 3
    assert str(a & b) == "A eq 1 and B eq 2"
    assert str(a | b) == "A eq 1 or B eq 2"
    assert str((a | b) & c) == "(A eq 1 or B eq 2) and C eq 3"
    assert str(c & (a | b)) == "C eq 3 and (A eq 1 or B eq 2)"
    assert str((a & b) | c) == "A eq 1 and B eq 2 or C eq 3"
    assert str(a & b & c) == "A eq 1 and B eq 2 and C eq 3"
    assert str(~a) == "not (A eq 1)"
    assert str(~(a | b) & c) == "not (A eq 1 or B eq 2) and C eq 3"
    assert str(a & "Raw eq 1 or Other eq 2") == "A eq 1 and (Raw eq 1 or Other eq 2)"
    assert str("Raw eq 1" | a) == "(Raw eq 1) or A eq 1"


def test_injection_attempts_stay_strings() -> None:
    attacks = ["') or 1 eq 1", "x' or Name ne 'y", "'; DROP", "a'b''c", "' or ''='"]
    for attack in attacks:
        text = str(F("Name") == attack)
        assert text == "Name eq '" + attack.replace("'", "''") + "'"
        quoted = text[len("Name eq ") :]
        # Inside the literal every quote is doubled: stripping the outer quotes leaves only pairs.
        assert quoted[0] == quoted[-1] == "'" and quoted[1:-1].replace("''", "").count("'") == 0
    for attack in attacks:
        with pytest.raises(ValidationError, match="Expected a GUID"):
            F("ID", "Edm.Guid") == attack  # noqa: B015


@pytest.mark.parametrize(
    "name", ["Name eq 'x'", "Name)", "1Name", "", "Na me", "A//B", "A/", "tolower(Name)", 5]
)
def test_field_names_are_validated(name: object) -> None:
    with pytest.raises(ValidationError, match="is not a field name"):
        F(name)  # type: ignore[arg-type]


def test_filters_refuse_truth_tests_and_null_ordering() -> None:
    with pytest.raises(TypeError, match="combine filters with & and |"):
        bool(F("A") == 1)
    with pytest.raises(TypeError):
        1 < F("A") < 3  # noqa: B015
    with pytest.raises(ValidationError, match="Cannot compare A with None"):
        F("A") > None  # noqa: B015
    with pytest.raises(ValidationError, match="empty"):
        Filter("  ")


def test_filter_equality_and_repr() -> None:
    assert Filter("A eq 1") == Filter("A eq 1")
    assert Filter("A eq 1") != Filter("A eq 2")
    assert len({Filter("A eq 1"), Filter("A eq 1")}) == 1
    assert repr(F("A") == 1) == "Filter('A eq 1')"
    assert repr(F("A")) == "F('A')"
