"""OData v2 literals and keys: how a Python value is written into a filter or a key.

Every user value goes through here, so none can ever become OData syntax: quotes are doubled, GUIDs
and numbers are checked, and a value that does not suit the field's Edm type is refused locally.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime
from decimal import Decimal

from exactmate.errors import ValidationError
from exactmate.odata._show import shorten
from exactmate.odata.dates import format_datetime
from exactmate.odata.edm import INT_RANGES, NUMBER_TYPES

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*\Z")
"""A field name, or a navigation path of them (``Account/Name``): all that may precede an operator."""
_GUID = re.compile(
    r"\{?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})\}?\Z"
)


def literal(value: object, edm_type: str | None = None) -> str:
    """``value`` as an OData v2 literal; with ``edm_type`` the value must suit that type.

    ``None`` -> ``null``; bool -> ``true``/``false``; UUID (or a GUID string for ``Edm.Guid``) ->
    ``guid'…'``; datetime/date -> ``datetime'2024-01-01T00:00:00'`` in Amsterdam wall clock; int ->
    ``123`` (``123L`` for ``Edm.Int64``); float/Decimal -> plain digits, never an exponent; str ->
    ``'…'`` with every ``'`` doubled. Anything else raises ``ValidationError``.
    """
    if value is None:
        return "null"
    if edm_type is None:
        return _untyped_literal(value)
    if edm_type == "Edm.Guid":
        return f"guid'{_guid(value, 'an Edm.Guid value')}'"
    if edm_type == "Edm.DateTime":
        return f"datetime'{format_datetime(_as_datetime(value))}'"
    if edm_type in INT_RANGES:
        number = _whole_number(value, edm_type)
        return f"{number}L" if edm_type == "Edm.Int64" else str(number)
    if edm_type in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise _type_error(value, edm_type, "a number")
        return _plain_number(value)
    if edm_type == "Edm.String" and isinstance(value, str):
        return _quoted(value)
    if edm_type == "Edm.Boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if edm_type in ("Edm.String", "Edm.Boolean"):
        raise _type_error(value, edm_type, "text" if edm_type == "Edm.String" else "true or false")
    raise ValidationError(
        f"Cannot compare a field of type {edm_type} with a value", hint="filter on a plain field"
    )


def _untyped_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return f"guid'{value}'"
    if isinstance(value, datetime | date):
        return f"datetime'{format_datetime(value)}'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _plain_number(value)
    if isinstance(value, str):
        return _quoted(value)
    raise ValidationError(
        f"Cannot use a {type(value).__name__} as an OData value",
        hint="use text, a number, True/False, None, a UUID or a date/datetime",
    )


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _plain_number(value: int | float | Decimal) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{value!r} is not a number Exact can store", hint="use a finite number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValidationError(f"{value!r} is not a number Exact can store", hint="use a finite number")
    if isinstance(value, int):
        return str(value)
    # repr() keeps the shortest exact digits of a float; "f" drops any exponent (1e-07 -> 0.0000001).
    return format(Decimal(repr(value)) if isinstance(value, float) else value, "f")


def _whole_number(value: object, edm_type: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(value, edm_type, "a whole number")
    low, high = INT_RANGES[edm_type]
    if not low <= value <= high:
        raise ValidationError(f"{value} does not fit {edm_type} (from {low} to {high})")
    return value


def _guid(value: object, what: str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower().startswith("guid'") and text.endswith("'"):
            text = text[5:-1]
        match = _GUID.match(text)
        if match:
            return "-".join(match.groups()).lower()
    raise ValidationError(
        f"Expected a GUID for {what}, got {shorten(value)}",
        hint="a GUID looks like 'c5d3a5f2-1b2c-4d5e-8f90-0a1b2c3d4e5f'",
    )


def _as_datetime(value: object) -> datetime | date:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _type_error(value, "Edm.DateTime", "a date or datetime (or an ISO text like '2024-05-01T09:00:00')")


def _type_error(value: object, edm_type: str, expected: str) -> ValidationError:
    return ValidationError(f"Expected {expected} for an {edm_type} value, got {shorten(value)}")


def format_key(value: object, key_type: str | None) -> str:
    """The key as it goes between the parentheses of ``Entity(…)``: ``guid'…'``, ``123`` or ``'text'``."""
    if key_type == "guid":
        return f"guid'{_guid(value, 'this key')}'"
    if key_type == "int":
        # At most 19 digits (Edm.Int64): Python would refuse to convert thousands of them anyway.
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,19}\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"Expected a whole number for this key, got {shorten(value)}")
        return str(value)
    if key_type == "string":
        if not isinstance(value, str) or not value:
            raise ValidationError(f"Expected non-empty text for this key, got {shorten(value)}")
        return _quoted(value)
    if key_type is None:
        raise ValidationError("This endpoint has no key, so its records cannot be addressed one by one")
    raise ValidationError(f"Unknown key type {key_type!r}", hint="key types are guid, int and string")
