"""Which entry a row is: the row identity rule behind never booking a time entry twice.

A file of hours is edited, appended to and rerun; a flow sends the same rows again. What must not
happen is that an entry already booked is booked again because something *else* changed. So a row
is known by its **identity**, not by its file:

- its ``Key`` column, or the run's ``--key`` plus its row number, when given: two truly identical
  entries in one file stay possible that way;
- otherwise the fields that say *which* entry it is (``IDENTITY_FIELDS``: who, which day, for what
  project, item, activity, account or subscription, with which notes), normalised, so a GUID's case
  or a date's time of day does not make another entry;

and by its **content**: every other field (Quantity, HourStatus, times, ...). Same identity and same
content is an entry booked earlier; same identity and other content is a *changed* entry, which is
reported rather than booked again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from exactmate.errors import ValidationError
from exactmate.odata import AMSTERDAM, format_datetime

IDENTITY_FIELDS: tuple[str, ...] = (
    "Employee",
    "Date",
    "Project",
    "Item",
    "Activity",
    "Account",
    "Subscription",
    "Notes",
)
KEY_COLUMN = "Key"
MAX_KEY_LENGTH = 100


@dataclass(frozen=True)
class RowIdentity:
    """A row's journal key within its division, what it was derived from, and its content: the names
    of the fields that are not its identity, and their values' hash."""

    key: str
    described: str
    content_fields: tuple[str, ...]
    content_hash: str


def row_identity(body: Mapping[str, Any], division: int, explicit: str | None = None) -> RowIdentity:
    """The identity of the entry ``body`` (a checked record) in ``division``; ``explicit`` is the row's
    Key (or the run's key and row number) when the user gave one."""
    if explicit is not None:
        text, described = f"key:{explicit}", f"Key {explicit}"
        content = dict(body)
    else:
        values = {name: _normal(name, body.get(name)) for name in IDENTITY_FIELDS}
        given = {name: value for name, value in values.items() if value is not None}
        text = "fields:" + _canonical(given)
        described = ", ".join(f"{name} {value}" for name, value in given.items()) or "no identifying field"
        content = {k: v for k, v in body.items() if k not in IDENTITY_FIELDS}
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]
    return RowIdentity(f"{division}:{digest}", described, tuple(content), content_hash(content))


def content_hash(values: Mapping[str, Any]) -> str:
    """SHA-256 of the values' canonical JSON: whether two entries with one identity say the same."""
    return hashlib.sha256(_canonical(values).encode("utf-8")).hexdigest()


def check_explicit_key(value: object, where: str) -> str:
    """A ``Key`` (column or ``--key``) as given: 1 to ``MAX_KEY_LENGTH`` characters of text."""
    text = "" if value is None else str(value).strip()
    if not text or len(text) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"{where} must be 1 to {MAX_KEY_LENGTH} characters of text", hint="e.g. payroll-2026-03"
        )
    return text


def _normal(name: str, value: Any) -> Any:
    """One identity field's value in the form two spellings of the same entry share."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if name == "Date":
        return _day(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        return text.lower() if name != "Notes" else " ".join(text.split())
    return value


def _day(value: Any) -> str:
    """The Dutch calendar day of a date, which is what Exact books hours on."""
    if isinstance(value, datetime):
        moment = value.astimezone(AMSTERDAM) if value.tzinfo is not None else value
        return moment.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()[:10]


def _canonical(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), sort_keys=True, separators=(",", ":"), default=_json_value)


def _json_value(value: object) -> object:
    return format_datetime(value) if isinstance(value, datetime | date) else str(value)
