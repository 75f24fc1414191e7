"""The ``$filter`` operand check: a field compared with a literal of a type Exact would refuse is
named with the literal to write instead, before any call."""

from __future__ import annotations

import pytest

from exactmate.actions.filtercheck import check_filter_text
from exactmate.catalogue import Catalogue
from exactmate.errors import CatalogueError, ValidationError

CAT = Catalogue.load()
GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


@pytest.mark.parametrize(
    ("path", "text", "fix"),
    [
        ("crm/Accounts", "City eq Haarlem", "a value needs quotes: City eq 'Haarlem'"),
        ("project/TimeTransactions", "Date ge '2026-11-20'", "write Date ge datetime'2026-11-20'"),
        ("crm/Accounts", f"ID eq '{GUID}'", f"write ID eq guid'{GUID}'"),
        ("crm/Accounts", "Code eq 100", "write Code eq '100'"),
        ("project/TimeTransactions", "Quantity gt '7.5'", "write Quantity gt 7.5"),
        ("crm/Accounts", "IsSupplier eq 1", "write IsSupplier eq true"),
        ("project/TimeTransactions", "'2026-11-20' le Date", "write datetime'2026-11-20' le Date"),
        ("logistics/Items", "IsTime eq 'yes'", "IsTime is Edm.Byte (a whole number), not text"),
        ("crm/Accounts", "Code eq 'A' and Blocked eq 'no'", "Blocked is Edm.Boolean (true or false)"),
    ],
)
def test_an_operand_of_the_wrong_type_is_named_with_its_fix(path: str, text: str, fix: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_filter_text(CAT.endpoint(path), text)
    assert not isinstance(caught.value, CatalogueError)
    assert any(fix in problem for problem in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("logistics/Items", "IsTime eq true"),  # Exact's flag fields take true as well as 1
        ("logistics/Items", "IsTime eq 1 and IsSalesItem eq false"),
        ("crm/Accounts", "Name eq null and City ne 'Haarlem'"),
        ("crm/Accounts", "startswith(Name,'A') eq true"),
        ("crm/Accounts", "Name eq Code"),  # two fields: Exact's own business
        ("project/TimeTransactions", "Quantity add 1 gt 5 and Quantity ge 7"),
        ("project/TimeTransactions", "Quantity gt 7L and Date ge datetime'2026-11-20'"),
        ("crm/Accounts", f"ID eq guid'{GUID}' or 'Haarlem' eq City"),
    ],
)
def test_operands_exact_accepts_pass(path: str, text: str) -> None:
    check_filter_text(CAT.endpoint(path), text)


def test_every_wrong_operand_is_listed_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        check_filter_text(CAT.endpoint("crm/Accounts"), "City eq Haarlem or Code eq 7")
    assert len(caught.value.problems) == 2


def test_a_misspelt_field_is_still_an_unknown_field() -> None:
    with pytest.raises(CatalogueError, match="Did you mean: City"):
        check_filter_text(CAT.endpoint("crm/Accounts"), "Cty eq 'Haarlem'")
