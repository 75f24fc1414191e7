"""A record checked against the catalogue before a write: the one check behind ``Resource.create``
and ``Resource.update`` and the Data Manager's ``prepare_record`` (time create and update, custom
calls, restores).

Every check runs locally, so a typo in a field name, a read-only field or a missing mandatory
field costs no call to Exact (and none of the hourly error budget). Problems are collected, not
raised one by one, so a user fixes a whole record (or file) in one go.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from exactmate.catalogue import Endpoint, Field
from exactmate.errors import ValidationError
from exactmate.odata.values import CoercionError, coerce, value_problem

_EMPTY: tuple[object, ...] = (None, "", [])
"""What counts as no value for a mandatory field (as Exact counts it)."""


class FieldRule(Protocol):
    """A rule the catalogue cannot express: one field among several required, or allowed values."""

    def check(self, record: Mapping[str, Any], *, creating: bool) -> list[str]: ...


class CheckedRecord(NamedTuple):
    """The body to send (canonical field names) and every problem found (empty: send it)."""

    body: dict[str, Any]
    problems: list[str]


def check_record(
    endpoint: Endpoint,
    record: Mapping[str, Any],
    *,
    creating: bool,
    coerce_text: bool = False,
    extra_rules: Sequence[FieldRule] = (),
) -> CheckedRecord:
    """``record`` with field names resolved to the catalogue's spelling (any case, blanks around
    them ignored), and every problem: unknown fields (with the closest names), a field given twice,
    read-only fields, fields settable only on create (when updating), values of the wrong type,
    an empty update, missing mandatory fields (when ``creating``) and ``extra_rules``.

    ``coerce_text``: values are parsed from what users type (``"7,5"``, ``"yes"``, ``"2026-03-29"``,
    ``guid'…'``; ``odata.values.coerce``) and the body holds the parsed values; a collection field
    is refused (its records go through their own endpoint). Without it values are checked as they
    are and sent unchanged (``odata.values.value_problem``).

    The key rule: a GUID key is never mandatory on create, because Exact generates it; giving one
    is allowed where the catalogue does not mark it read-only (the read-only check refuses it
    elsewhere). A key of another type (a code, a number) is mandatory exactly when the catalogue
    says so, like any field, since Exact cannot invent it. A mandatory field counts as missing
    when it is absent, null, empty text or an empty list.

    An endpoint whose fields the catalogue does not know (a few functions) takes any record as given.
    """
    if not isinstance(record, Mapping):
        return CheckedRecord({}, [f"A record for {endpoint.path} must be a mapping of field names to values"])
    if not creating and not record:
        return CheckedRecord({}, [f"Nothing to update on {endpoint.path}: no fields given"])
    if not endpoint.fields:
        return CheckedRecord(dict(record), [])
    lower = {name.lower(): name for name in endpoint.fields}
    body: dict[str, Any] = {}
    given: dict[str, str] = {}
    problems: list[str] = []
    for raw_name, value in record.items():
        name = lower.get(str(raw_name).strip().lower())
        if name is None:
            problems.append(_unknown(endpoint, str(raw_name)))
            continue
        if name in given:
            problems.append(f"{name} is given twice (as {given[name]!r} and {str(raw_name)!r})")
            continue
        given[name] = str(raw_name)
        problem = _field_problem(endpoint, endpoint.fields[name], creating=creating)
        if problem is None:
            problem, value = _value(endpoint.fields[name], value, coerce_text)
        if problem is not None:
            problems.append(problem)
        else:
            body[name] = value
    if creating:
        problems += _missing(endpoint, body, given)
    for rule in extra_rules:
        problems.extend(rule.check(body, creating=creating))
    return CheckedRecord(body, problems)


def checked_body(endpoint: Endpoint, record: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The body to send as given (no coercion); one ``ValidationError`` listing every problem."""
    body, problems = check_record(endpoint, record, creating=creating)
    if problems:
        verb = "create" if creating else "update"
        raise ValidationError(f"Cannot {verb} a record on {endpoint.path}", problems=problems)
    return body


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


def _field_problem(endpoint: Endpoint, field: Field, *, creating: bool) -> str | None:
    """Why ``field`` may not be written at all in this write, or None."""
    if field.read_only:
        return f"{field.name} is read-only on {endpoint.path}: Exact fills it in; leave it out"
    if field.insert_only and not creating:
        return f"{field.name} can only be set when the record is created, not when it is updated"
    return None


def _value(field: Field, value: Any, coerce_text: bool) -> tuple[str | None, Any]:
    """(problem, value to send): the value coerced or checked by the field's Edm type."""
    label = f"{field.name} ({field.type.removeprefix('Edm.')})"
    if not coerce_text:
        problem = value_problem(field.type, value)
        return (None if problem is None else f"{label}: {problem}"), value
    try:
        return None, coerce_field(field, value)
    except CoercionError as exc:
        return f"{label}: {exc}", None


def coerce_field(field: Field, value: Any) -> Any:
    """``value`` parsed for ``field`` (``odata.values.coerce``); a collection field takes no value
    from text: its records go through their own endpoint."""
    blank = value is None or (isinstance(value, str) and not value.strip())
    if field.is_collection and not blank:
        raise CoercionError(
            f"{field.name} is a collection of {field.collection_of or 'records'}; "
            "write those through their own endpoint"
        )
    return coerce(field.type, value)


def _missing(endpoint: Endpoint, body: Mapping[str, Any], given: Mapping[str, str]) -> list[str]:
    """The mandatory fields without a value on create (see ``check_record`` for the key rule); a
    field already named in a problem (a bad value) is not named again."""
    generated = set(endpoint.keys) if endpoint.key_type == "guid" else set()
    missing: list[str] = []
    for name, field in endpoint.fields.items():
        if not field.mandatory or name in generated or body.get(name) not in _EMPTY:
            continue
        if name in body:
            missing.append(f"{name} is mandatory on {endpoint.path} and cannot be empty")
        elif name not in given:
            missing.append(f"{name} is mandatory on {endpoint.path}")
    return missing
