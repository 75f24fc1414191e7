"""The Data Manager: field values from text or JSON, coerced by the field's Edm type and checked
against the catalogue before anything is sent.

The check itself is ``exactmate.recordcheck.check_record`` (the one the library's ``Resource``
runs too), here with its text coercion on; this module adds the rules of its own
(``OneOfRequired``, ``AllowedValues``), ``Field=Value`` assignments and the list of writable fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exactmate.catalogue import Endpoint, Field
from exactmate.errors import ValidationError
from exactmate.odata.values import CoercionError
from exactmate.recordcheck import FieldRule, check_record, coerce_field, suggest_fields

_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$", re.DOTALL)

__all__ = [
    "AllowedValues",
    "CoercionError",
    "FieldRule",
    "OneOfRequired",
    "coerce",
    "parse_assignments",
    "prepare_record",
    "suggest_fields",
    "writable_fields",
]


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
    """``value`` as the JSON-ready Python value ``field`` takes (``recordcheck.coerce_field``): text
    is parsed by Edm type; values that already have the right Python type pass through; ``None`` and
    empty text mean null."""
    return coerce_field(field, value)


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


def prepare_record(
    endpoint: Endpoint,
    values: Mapping[str, Any],
    *,
    creating: bool,
    extra_rules: Sequence[FieldRule] = (),
) -> tuple[dict[str, Any], list[str]]:
    """Field names resolved to the catalogue's spelling and values coerced from text, plus every
    problem found: ``recordcheck.check_record`` with ``coerce_text`` on (its docstring has the rules,
    the key rule among them)."""
    body, problems = check_record(
        endpoint, values, creating=creating, coerce_text=True, extra_rules=extra_rules
    )
    return body, problems


def writable_fields(endpoint: Endpoint, *, creating: bool) -> list[Field]:
    """The fields a user may set: the Data Manager's list."""
    return [
        f
        for f in endpoint.fields.values()
        if not f.read_only and not f.is_collection and (creating or not f.insert_only)
    ]
