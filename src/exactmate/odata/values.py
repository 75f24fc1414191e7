"""A value for a field of an Edm type, before it goes into a request body: checked as given
(``value_problem``, what the library's ``Resource`` sends) or parsed from what users type
(``coerce``: ``"7,5"``, ``"yes"``, ``"2026-03-29"``, the Data Manager's text and JSON values).

Both read the Edm facts from ``edm``, so a type or range is known once. The record check
(``exactmate.recordcheck``) calls these for every field of a record; nothing else should.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from exactmate.odata._show import shorten
from exactmate.odata.edm import INT_RANGES, NUMBER_TYPES

_MAX_DIGITS = 20  # more than any Edm integer holds: refused before Python converts 5,000 digits
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


class CoercionError(ValueError):
    """One value that does not fit its field's type; the message says what was expected."""


# -- values as given ---------------------------------------------------------------------------------


def value_problem(edm: str, value: object) -> str | None:
    """Why ``value`` cannot be sent as ``edm`` as it is, or None. Nothing is converted: a number must
    already be a number, a flag a bool (text dates and GUIDs are sent as text, so they pass when
    well formed)."""
    if value is None:
        return None
    if edm == "Edm.Guid":
        if isinstance(value, uuid.UUID):
            return None
        try:
            uuid.UUID(str(value))
        except ValueError:
            return f"expected a GUID like 'c0ffee00-0000-4000-8000-000000000000', got {shorten(value)}"
        return None
    if edm in INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected a whole number, got {type(value).__name__} {shorten(value)}"
        low, high = INT_RANGES[edm]
        return None if low <= value <= high else f"{value} is out of range for {edm} ({low} to {high})"
    if edm in NUMBER_TYPES:
        ok = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {type(value).__name__} {shorten(value)}"
    if edm == "Edm.Boolean":
        return None if isinstance(value, bool) else f"expected true or false, got {shorten(value)}"
    if edm == "Edm.DateTime":
        return _date_problem(value)
    if edm == "Edm.String":
        ok = isinstance(value, str)
        return None if ok else f"expected text, got {type(value).__name__} {shorten(value)}"
    if edm.startswith("Collection"):
        return None if isinstance(value, list) else f"expected a list of records, got {type(value).__name__}"
    return None


def _date_problem(value: object) -> str | None:
    if isinstance(value, date):
        return None
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return f"expected a date or an ISO date-time like '2026-01-31T09:00:00', got {shorten(value)}"
        return None
    return f"expected a date or date-time, got {type(value).__name__} {shorten(value)}"


# -- values from text --------------------------------------------------------------------------------


def coerce(edm: str, value: Any) -> Any:
    """``value`` as the JSON-ready Python value a field of ``edm`` takes. Text is parsed by Edm type;
    values that already have the right Python type pass through; ``None`` and empty text mean null
    (empty text stays empty text for ``Edm.String``). ``CoercionError`` says what was expected.
    """
    if value is None or (isinstance(value, str) and value.strip() == "" and edm != "Edm.String"):
        return None
    if edm == "Edm.Guid":
        return _guid(value)
    if edm in INT_RANGES:
        return _integer(value, edm)
    if edm in NUMBER_TYPES:
        return _number(value)
    if edm == "Edm.Boolean":
        return _boolean(value)
    if edm in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return _datetime(value)
    if edm == "Edm.Binary":
        return _binary(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise CoercionError(f"expected text, got {type(value).__name__}")


def _guid(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    text = str(value).strip()
    if text.lower().startswith("guid'") and text.endswith("'"):
        text = text[5:-1]
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise CoercionError(
            f"{shorten(value)} is not a GUID (expected 8-4-4-4-12 hex digits, "
            "e.g. 3f2504e0-4f89-11d3-9a0c-0305e82c3301)"
        ) from None


def _integer(value: Any, kind: str) -> int:
    if isinstance(value, bool):
        raise CoercionError(f"expected a whole number, got {shorten(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        text = str(value).strip().removesuffix("L")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise CoercionError(f"{shorten(value)} is not a whole number")
        if len(text.lstrip("+-").lstrip("0")) > _MAX_DIGITS:  # no Edm integer has more digits
            low, high = INT_RANGES[kind]
            raise CoercionError(f"{shorten(value)} is out of range for {kind} ({low} to {high})")
        number = int(text)
    low, high = INT_RANGES[kind]
    if not low <= number <= high:
        raise CoercionError(f"{number} is out of range for {kind} ({low} to {high})")
    return number


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise CoercionError(f"expected a number, got {shorten(value)}")
    if isinstance(value, int | float | Decimal):
        try:
            result = float(value)
        except (OverflowError, ValueError):  # an int too large for a float, Decimal('sNaN')
            raise CoercionError(f"{shorten(value)} is not a finite number") from None
    else:
        text = str(value).strip()
        if "," in text and "." not in text and text.count(",") == 1:
            text = text.replace(",", ".")  # a decimal comma, as Dutch and German users type it
        try:
            result = float(Decimal(text))
        except ValueError:  # Decimal("sNaN"): a signalling NaN has no float
            raise CoercionError(f"{shorten(value)} is not a finite number") from None
        except InvalidOperation:
            message = f"{shorten(value)} is not a number (use a dot for decimals, e.g. 7.5)"
            raise CoercionError(message) from None
    if result != result or result in (float("inf"), float("-inf")):
        raise CoercionError(f"{shorten(value)} is not a finite number")
    return result


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CoercionError(f"{shorten(value)} is not a boolean (use true or false)")


def _datetime(value: Any) -> datetime:
    """Dates as Exact takes them: a naive value is Dutch wall-clock time (CET/CEST); an aware one is
    converted when the request is written. A bare date is midnight."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value).strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise CoercionError(f"{shorten(value)} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)")


def _binary(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    text = str(value).strip()
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CoercionError("expected base64-encoded data") from None
    return text
