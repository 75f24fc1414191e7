"""OData literals: how a Python value is written into a filter or a key (odata/literals.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from exactmate.errors import ValidationError
from exactmate.odata import (
    literal,
)

GUID = "c5d3a5f2-1b2c-4d5e-8f90-0a1b2c3d4e5f"



@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-17, "-17"),
        (1.5, "1.5"),
        (2.0, "2.0"),
        (1e-07, "0.0000001"),
        (1e16, "10000000000000000"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.000001"), "-0.000001"),
        ("plain", "'plain'"),
        ("O'Brien", "'O''Brien'"),
        ("", "''"),
        (uuid.UUID(GUID), f"guid'{GUID}'"),
        (date(2024, 1, 1), "datetime'2024-01-01T00:00:00'"),
        (datetime(2024, 5, 1, 9, 30), "datetime'2024-05-01T09:30:00'"),
        (datetime(2024, 5, 1, 9, 30, 0, 123000), "datetime'2024-05-01T09:30:00.123'"),
        (datetime(2024, 1, 1, 12, 0, tzinfo=UTC), "datetime'2024-01-01T13:00:00'"),  # CET = UTC+1
        (datetime(2024, 7, 1, 12, 0, tzinfo=UTC), "datetime'2024-07-01T14:00:00'"),  # CEST = UTC+2
    ],
)
def test_untyped_literals(value: object, expected: str) -> None:
    assert literal(value) == expected


@pytest.mark.parametrize(
    ("value", "edm_type", "expected"),
    [
        (GUID.upper(), "Edm.Guid", f"guid'{GUID}'"),
        ("{" + GUID + "}", "Edm.Guid", f"guid'{GUID}'"),
        (GUID.replace("-", ""), "Edm.Guid", f"guid'{GUID}'"),
        (f"guid'{GUID}'", "Edm.Guid", f"guid'{GUID}'"),
        (uuid.UUID(GUID), "Edm.Guid", f"guid'{GUID}'"),
        (123, "Edm.Int64", "123L"),
        (123, "Edm.Int32", "123"),
        (255, "Edm.Byte", "255"),
        (-5, "Edm.Int16", "-5"),
        (3, "Edm.Double", "3"),
        (0.25, "Edm.Decimal", "0.25"),
        ("x'y", "Edm.String", "'x''y'"),
        (False, "Edm.Boolean", "false"),
        ("2024-03-31T02:30:00", "Edm.DateTime", "datetime'2024-03-31T02:30:00'"),
        ("2024-05-01T07:00:00Z", "Edm.DateTime", "datetime'2024-05-01T09:00:00'"),
        (date(2024, 10, 27), "Edm.DateTime", "datetime'2024-10-27T00:00:00'"),
        (None, "Edm.Guid", "null"),
    ],
)
def test_typed_literals(value: object, edm_type: str, expected: str) -> None:
    assert literal(value, edm_type) == expected


@pytest.mark.parametrize(
    ("value", "edm_type", "message"),
    [
        ("not-a-guid", "Edm.Guid", "Expected a GUID"),
        (GUID + "0", "Edm.Guid", "Expected a GUID"),
        ("1-2-3", "Edm.Guid", "Expected a GUID"),
        (12, "Edm.Guid", "Expected a GUID"),
        ("12", "Edm.Int32", "Expected a whole number"),
        (True, "Edm.Int32", "Expected a whole number"),
        (1.5, "Edm.Int64", "Expected a whole number"),
        (256, "Edm.Byte", "does not fit Edm.Byte"),
        (2**31, "Edm.Int32", "does not fit Edm.Int32"),
        ("1.5", "Edm.Double", "Expected a number"),
        (True, "Edm.Double", "Expected a number"),
        (5, "Edm.String", "Expected text"),
        ("true", "Edm.Boolean", "Expected true or false"),
        ("yesterday", "Edm.DateTime", "Expected a date or datetime"),
        (b"bytes", "Edm.Binary", "Cannot compare a field of type Edm.Binary"),
        ([1], "Collection", "Cannot compare a field of type Collection"),
    ],
)
def test_typed_literals_refuse_values_of_the_wrong_kind(value: object, edm_type: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        literal(value, edm_type)


@pytest.mark.parametrize(
    "value", [object(), [1, 2], {"a": 1}, b"x", float("nan"), float("inf"), Decimal("NaN")]
)
def test_untyped_literals_refuse_other_values(value: object) -> None:
    with pytest.raises(ValidationError):
        literal(value)


def test_error_messages_shorten_huge_values() -> None:
    with pytest.raises(ValidationError) as caught:
        literal("x" * 10_000, "Edm.Guid")
    assert len(str(caught.value)) < 200
