"""The Data Manager: field values from text or JSON, coerced by the field's Edm type and checked
against the catalogue before anything is sent.

Every check here runs locally, so a typo in a field name, a read-only field or a missing mandatory
field costs no call to Exact (and none of the hourly error budget). Problems are collected, not
raised one by one, so a user fixes a whole file in one go.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from exactmate.catalogue import Endpoint, Field
from exactmate.errors import ValidationError
from exactmate.odata import shorten
from exactmate.odata.edm import INT_RANGES, NUMBER_TYPES

_MAX_DIGITS = 20  # more than any Edm integer holds: refused before Python converts 5,000 digits
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$", re.DOTALL)


class CoercionError(ValueError):
    """One value that does not fit its field's type; the message says what was expected."""


class FieldRule(Protocol):
    """A rule the catalogue cannot express: one field among several required, or allowed values."""

    def check(self, record: Mapping[str, Any], *, creating: bool) -> list[str]: ...


@dataclass(frozen=True)
class OneOfRequired:
    """On create, at least one of ``fields`` must be set (Exact's "Account, Project or Subscription")."""

    fields: tuple[str, ...]

    def check(self, record: Mapping[str, Any], *, creating: bool) -> list[str]:
        if not creating or any(record.get(f) not in (None, "") for f in self.fields):
            return []
        return [f"one of {', '.join(self.fields[:-1])} or {self.fields[-1]} is required"]


@dataclass(frozen=True)
class AllowedValues:
    """``field`` may only be written with one of ``values`` (``labels`` explain them)."""

    field: str
    values: tuple[object, ...]
    labels: tuple[str, ...] = ()

    def check(self, record: Mapping[str, Any], *, creating: bool) -> list[str]:
        value = record.get(self.field)
        if value is None or value in self.values:
            return []
        allowed = ", ".join(
            f"{v} ({label})" if label else str(v)
            for v, label in zip(self.values, self.labels or ("",) * len(self.values), strict=True)
        )
        return [f"{self.field} cannot be written as {value}; allowed: {allowed}"]


def coerce(field: Field, value: Any) -> Any:
    """``value`` as the JSON-ready Python value ``field`` takes. Text is parsed by Edm type; values that
    already have the right Python type pass through; ``None`` and empty text mean null.
    """
    if value is None or (isinstance(value, str) and value.strip() == "" and field.type != "Edm.String"):
        return None
    kind = field.type
    if field.is_collection:
        raise CoercionError(
            f"{field.name} is a collection of {field.collection_of or 'records'}; "
            "write those through their own endpoint"
        )
    if kind == "Edm.Guid":
        return _guid(value)
    if kind in INT_RANGES:
        return _integer(value, kind)
    if kind in NUMBER_TYPES:
        return _number(value)
    if kind == "Edm.Boolean":
        return _boolean(value)
    if kind in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return _datetime(value)
    if kind == "Edm.Binary":
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


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["Quantity=7.5", "Notes=a=b"]`` -> ``{"Quantity": "7.5", "Notes": "a=b"}``; a malformed item
    or a field set twice is a ValidationError naming the item."""
    result: dict[str, str] = {}
    problems: list[str] = []
    for item in items:
        match = _ASSIGNMENT.match(item)
        if not match:
            problems.append(f"{item!r} is not Field=Value (e.g. --set Quantity=7.5)")
            continue
        name, value = match.group(1), match.group(2)
        if name in result:
            problems.append(f"{name} is set twice")
        result[name] = value
    if problems:
        raise ValidationError("Some --set values are malformed", problems=problems)
    return result


def suggest_fields(endpoint: Endpoint, name: str, n: int = 3) -> list[str]:
    """The endpoint's field names closest to ``name`` (case-insensitive)."""
    lower = {f.lower(): f for f in endpoint.fields}
    close = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.6)
    if not close:
        close = [low for low in lower if name.lower() in low][:n]
    return [lower[c] for c in close]


def _unknown(endpoint: Endpoint, name: str) -> str:
    hint = suggest_fields(endpoint, name)
    tail = f" Did you mean: {', '.join(hint)}?" if hint else f" See: exactmate fields {endpoint.path}"
    return f"{name}: {endpoint.path} has no such field.{tail}"


def prepare_record(
    endpoint: Endpoint,
    values: Mapping[str, Any],
    *,
    creating: bool,
    extra_rules: Sequence[FieldRule] = (),
) -> tuple[dict[str, Any], list[str]]:
    """Field names resolved to the catalogue's spelling and values coerced, plus every problem found:
    unknown fields (with the closest names), read-only fields, fields settable only on create, values
    of the wrong type, and, when ``creating``, missing mandatory fields and ``extra_rules``.
    """
    record: dict[str, Any] = {}
    problems: list[str] = []
    lower = {f.lower(): f for f in endpoint.fields}
    for raw_name, raw_value in values.items():
        name = lower.get(str(raw_name).strip().lower())
        if name is None:
            problems.append(_unknown(endpoint, str(raw_name)))
            continue
        field = endpoint.fields[name]
        if field.read_only:
            problems.append(f"{name} is read-only on {endpoint.path}: Exact fills it in; leave it out")
            continue
        if field.insert_only and not creating:
            problems.append(f"{name} can only be set when the record is created, not changed")
            continue
        try:
            record[name] = coerce(field, raw_value)
        except CoercionError as exc:
            problems.append(f"{name} ({field.type.removeprefix('Edm.')}): {exc}")
    if creating:
        for name, field in endpoint.fields.items():
            if field.mandatory and name != endpoint.key and record.get(name) in (None, ""):
                if name not in record and not any(p.startswith(f"{name} ") for p in problems):
                    problems.append(f"{name} is mandatory on {endpoint.path}")
                elif name in record:
                    problems.append(f"{name} is mandatory on {endpoint.path} and cannot be empty")
    for rule in extra_rules:
        problems.extend(rule.check(record, creating=creating))
    return record, problems


def writable_fields(endpoint: Endpoint, *, creating: bool) -> list[Field]:
    """The fields a user may set: the Data Manager's list."""
    return [
        f
        for f in endpoint.fields.values()
        if not f.read_only and not f.is_collection and (creating or not f.insert_only)
    ]
