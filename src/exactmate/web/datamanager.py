"""The Data Manager as the page shows it: which fields come first, and an input suited to each type.

The catalogue knows every field's Edm type and its mandatory and read-only marks; this module turns
those into what a form needs (an input kind, number ranges, choices), and picks the "usual" fields a
user sees before searching the rest. What may be written, and how text becomes a value, stays with
:mod:`exactmate.actions.fields`, which the run itself goes through.
"""

from __future__ import annotations

from typing import Any, Literal

from exactmate.actions.fields import writable_fields
from exactmate.actions.picker import IDENTIFYING_FIELDS, field_row
from exactmate.actions.references import REFERENCES
from exactmate.actions.timerules import HOUR_STATUS_LABELS, TIME_TRANSACTIONS, WRITABLE_HOUR_STATUSES
from exactmate.catalogue import Endpoint, Field
from exactmate.odata.edm import INT_RANGES, NUMBER_TYPES

ActionName = Literal["create", "update", "delete", "get"]
ACTIONS: tuple[ActionName, ...] = ("create", "update", "delete", "get")

# Time entries: what people fill in every day, in the order they think of it.
_USUAL_TIME_CREATE = ("Employee", "Date", "Item", "Quantity", "Project", "Account", "Notes", "HourStatus")
_USUAL_TIME_UPDATE = ("Date", "Quantity", "Notes", "HourStatus", "Item", "Project")
_USUAL_TIME_SELECT = ("ID", "Date", "Employee", "Item", "Quantity", "Project", "Notes", "HourStatus")
_MAX_USUAL = 8


def input_for(endpoint: Endpoint, field: Field) -> dict[str, Any]:
    """How to ask for ``field``'s value: ``kind`` (guid, int, number, bool, date, datetime, choice,
    text), plus ``min``/``max`` for whole numbers and ``choices`` (value, label) where only some
    values may be written."""
    if endpoint.path == TIME_TRANSACTIONS and field.name == "HourStatus":
        choices = [[str(v), f"{v} {HOUR_STATUS_LABELS[v]}"] for v in WRITABLE_HOUR_STATUSES]
        return {"kind": "choice", "choices": choices}
    kind = field.type
    if kind == "Edm.Guid" and endpoint.path == TIME_TRANSACTIONS and field.name in REFERENCES:
        return {"kind": "guid", "lookup": True}  # searchable by code and name (/api/references)
    if kind == "Edm.Guid":
        return {"kind": "guid"}
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        return {"kind": "int", "min": low, "max": high}
    if kind in NUMBER_TYPES:
        return {"kind": "number"}
    if kind == "Edm.Boolean":
        return {"kind": "bool", "choices": [["true", "Yes"], ["false", "No"]]}
    if kind in ("Edm.DateTime", "Edm.DateTimeOffset"):
        # A day is what most date fields hold (Date, StartDate); times are named so (StartTime).
        return {"kind": "datetime" if "time" in field.name.lower() else "date"}
    return {"kind": "text"}


def usual_fields(endpoint: Endpoint, action: ActionName) -> list[str]:
    """The fields shown before the searchable list: the everyday ones for time entries; elsewhere the
    key, the mandatory fields and the descriptive ones (code, name, description)."""
    if endpoint.path == TIME_TRANSACTIONS:
        wanted = {"create": _USUAL_TIME_CREATE, "update": _USUAL_TIME_UPDATE}.get(action, _USUAL_TIME_SELECT)
        return [name for name in wanted if name in endpoint.fields]
    names: list[str] = []
    candidates: list[str] = []
    if action == "get":
        candidates += list(endpoint.keys)
    candidates += [n for n, f in endpoint.fields.items() if f.mandatory and n not in endpoint.keys]
    candidates += [n for n in IDENTIFYING_FIELDS if n in endpoint.fields and n not in endpoint.keys]
    allowed = _pickable(endpoint, action)
    for name in candidates:
        if name in allowed and name not in names:
            names.append(name)
    return names[:_MAX_USUAL]


def _pickable(endpoint: Endpoint, action: ActionName) -> set[str]:
    if action in ("create", "update"):
        return {f.name for f in writable_fields(endpoint, creating=action == "create")}
    return {n for n, f in endpoint.fields.items() if not f.is_collection}


def describe(endpoint: Endpoint, action: ActionName) -> dict[str, Any]:
    """Everything the form needs about ``endpoint`` for ``action``: methods, key, every field with its
    marks and input, and the usual fields. Fields that cannot be picked for this action (read-only
    ones when writing, collections) are listed too, marked ``pickable: false``, so users see why."""
    pickable = _pickable(endpoint, action)
    fields = [
        {
            **field_row(endpoint, f),
            "mandatory": f.mandatory and f.name not in endpoint.keys,
            "pickable": f.name in pickable,
            "input": input_for(endpoint, f),
        }
        for f in endpoint.fields.values()
    ]
    return {
        "path": endpoint.path,
        "methods": sorted(endpoint.methods),
        "key": endpoint.key,
        "key_type": endpoint.key_type,
        "keys": list(endpoint.keys),
        "page_size": endpoint.page_size,
        "fields": fields,
        "usual": usual_fields(endpoint, action),
    }


def method_for(action: ActionName) -> str:
    """The HTTP method an action needs the endpoint to allow."""
    return {"create": "POST", "update": "PUT", "delete": "DELETE", "get": "GET"}[action]


def parse_action(value: str) -> ActionName:
    """The action named in a form, or ValueError."""
    for action in ACTIONS:
        if value == action:
            return action
    raise ValueError(f"unknown action {value!r}; choose one of {', '.join(ACTIONS)}")
