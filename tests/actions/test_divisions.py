"""Division choices as users type them: refused locally, with the fix, whatever the input."""

from __future__ import annotations

import pytest

from exactmate.actions.divisions import MAX_DIVISION, parse_division
from exactmate.errors import ValidationError


@pytest.mark.parametrize(
    "value", ["99999999999999999999", 10**30, MAX_DIVISION + 1, "²", "１２３", "1" * 5000, -1]
)
def test_numbers_no_division_can_have_are_refused_locally(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_division(value)  # type: ignore[arg-type]
    assert "is not a division" in str(info.value) and "'current' or 'all'" in str(info.value)
    assert len(str(info.value)) < 300  # a 5,000-digit input is not echoed whole


def test_the_largest_division_code_is_accepted() -> None:
    assert parse_division(str(MAX_DIVISION)).number == MAX_DIVISION
    assert parse_division(" 100001 ").number == 100001
