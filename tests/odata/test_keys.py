"""Key values written into a URL (format_key in odata/literals.py)."""

from __future__ import annotations

import uuid

import pytest

from exactmate.errors import ValidationError
from exactmate.odata import (
    format_key,
)

GUID = "c5d3a5f2-1b2c-4d5e-8f90-0a1b2c3d4e5f"



@pytest.mark.parametrize(
    ("value", "key_type", "expected"),
    [
        (GUID, "guid", f"guid'{GUID}'"),
        (GUID.upper(), "guid", f"guid'{GUID}'"),
        (uuid.UUID(GUID), "guid", f"guid'{GUID}'"),
        (123456, "int", "123456"),
        (" 42 ", "int", "42"),
        ("-1", "int", "-1"),
        ("EUR", "string", "'EUR'"),
        ("it's", "string", "'it''s'"),
    ],
)
def test_format_key(value: object, key_type: str, expected: str) -> None:
    assert format_key(value, key_type) == expected


@pytest.mark.parametrize(
    ("value", "key_type", "message"),
    [
        ("123", "guid", "Expected a GUID for this key"),
        (GUID + "') or ('1", "guid", "Expected a GUID"),
        ("12a", "int", "Expected a whole number for this key"),
        (True, "int", "Expected a whole number"),
        (1.0, "int", "Expected a whole number"),
        (5, "string", "Expected non-empty text"),
        ("", "string", "Expected non-empty text"),
        ("x", None, "has no key"),
        ("x", "Edm.Guid", "Unknown key type"),
    ],
)
def test_format_key_refuses_malformed_keys(value: object, key_type: str | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        format_key(value, key_type)
