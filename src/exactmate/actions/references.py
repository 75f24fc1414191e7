"""Reference fields filled by code or name instead of a pasted GUID: ``Project=code:P100``.

A time entry points at a project, an hour type (an item), an employee, an account and an activity
by their GUIDs, which nobody knows by heart. In ``--set`` values, file cells and the web form, such a
field also takes ``code:VALUE`` (the record's code) or ``name:VALUE`` (its name or description). The
lookup is one filtered, two-row read of the referenced endpoint in the entry's division; the answer
is cached for the run, so a 500-row file costs one call per distinct value, not per row. A lookup
that finds nothing says so with the nearest candidates (one more read), one that finds several
names them, and either stops the run before anything is created.

Codes are compared as Exact stores them, except account codes, which Exact pads to 18 characters
with leading spaces and which are compared trimmed. Names compare without regard to case, as Exact's
own filters do.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from exactmate.actions.context import ActionContext
from exactmate.catalogue import Endpoint
from exactmate.errors import CatalogueError, ValidationError
from exactmate.odata import literal

How = Literal["code", "name"]
CANDIDATES = 5


@dataclass(frozen=True)
class Reference:
    """Where a reference field's records live and which of their fields hold the code and the name."""

    endpoint: str
    code: str | None
    name: str
    padded_code: bool = False


REFERENCES: Mapping[str, Reference] = MappingProxyType(
    {
        "Project": Reference("project/Projects", "Code", "Description"),
        "Item": Reference("logistics/Items", "Code", "Description"),
        "Employee": Reference("payroll/Employees", "Code", "FullName"),
        "Account": Reference("crm/Accounts", "Code", "Name", padded_code=True),
        "Activity": Reference("project/WBSActivities", None, "Description"),
    }
)
"""The time entry's reference fields (``Item`` is the hour type) and how each is looked up."""


@dataclass(frozen=True)
class Lookup:
    """A value to look up: ``field`` (canonical), ``how`` (code or name) and the text."""

    field: str
    how: How
    text: str

    def __str__(self) -> str:
        return f"{self.field}={self.how}:{self.text}"


def lookup_of(field: str, value: Any, edm_type: str = "Edm.Guid") -> Lookup | None:
    """The lookup a value asks for (``code:…`` / ``name:…`` in a reference field), or None for any
    other value (a text field may well hold "code: 5"). ``ValidationError`` for a lookup in a GUID
    field that cannot be looked up, or without a code or name after the colon."""
    if not isinstance(value, str):
        return None
    head, sep, text = value.partition(":")
    how = head.strip().lower()
    if not sep or how not in ("code", "name"):
        return None
    reference = REFERENCES.get(field)
    if reference is None and edm_type != "Edm.Guid":
        return None
    if reference is None:
        fields = ", ".join(REFERENCES)
        raise ValidationError(
            f"{field}={value!r}: only {fields} are looked up by code or name",
            hint=f"give {field} its value itself",
        )
    text = text.strip()
    if not text:
        raise ValidationError(f"{field}={value!r} names no {how}", hint=f"e.g. {field}={how}:P100")
    if how == "code" and reference.code is None:
        raise ValidationError(
            f"{field} has no code in Exact: look it up by name", hint=f"e.g. {field}=name:{text}"
        )
    return Lookup(field, "code" if how == "code" else "name", text)


class Resolver:
    """Looks lookups up in Exact, each (lookup, division) once per resolver (one run). Thread-safe."""

    def __init__(self, conn: ActionContext) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._found: dict[tuple[str, str, str, int], str | ValidationError] = {}
        self.calls = 0

    def resolve(self, lookup: Lookup, division: int) -> str:
        """The GUID ``lookup`` names in ``division``; ``ValidationError`` (with the candidates) when it
        names none or several."""
        cache_key = (lookup.field, lookup.how, lookup.text.lower(), division)
        with self._lock:
            known = self._found.get(cache_key)
        if known is None:
            known = self._look_up(lookup, division)
            with self._lock:
                self._found[cache_key] = known
        if isinstance(known, ValidationError):
            raise known
        return known

    def _look_up(self, lookup: Lookup, division: int) -> str | ValidationError:
        reference = REFERENCES[lookup.field]
        field = reference.code if lookup.how == "code" else reference.name
        assert field is not None
        subject = f"trim({field})" if lookup.how == "code" and reference.padded_code else field
        rows = self._read(reference, division, f"{subject} eq {literal(lookup.text, 'Edm.String')}", 2)
        if len(rows) == 1:
            return str(rows[0]["ID"])
        what = f"{reference.endpoint} in division {division}"
        if rows:
            shown = "; ".join(_describe(reference, row) for row in rows)
            return ValidationError(
                f"{lookup}: several records of {what} match ({shown})",
                hint=f"give {lookup.field} the GUID of the one you mean, or a code that only it has",
            )
        near = self._read(reference, division, _near(subject, lookup.text), CANDIDATES)
        candidates = "; ".join(_describe(reference, row) for row in near)
        fields = ",".join(n for n in ("ID", reference.code, reference.name) if n)
        return ValidationError(
            f"{lookup}: no record of {what} has that {lookup.how}"
            + (f" (similar: {candidates})" if candidates else "")
            + f"; list them with: exactmate get {reference.endpoint} --select {fields} --division {division}"
        )

    def _read(self, reference: Reference, division: int, filter: str, top: int) -> list[dict[str, Any]]:
        select = ["ID", *(n for n in (reference.code, reference.name) if n)]
        with self._lock:
            self.calls += 1
        resource = self._conn.client.resource(reference.endpoint, division)
        return list(resource.list(select=select, filter=filter, top=top))


def _near(subject: str, text: str) -> str:
    """Records whose code or name contains the first three characters given: a typo further on
    still finds the record meant."""
    return f"substringof({literal(text[:3], 'Edm.String')},{subject}) eq true"


def _describe(reference: Reference, row: Mapping[str, Any]) -> str:
    parts = [str(row.get(n) or "").strip() for n in (reference.code, reference.name) if n]
    return " ".join(p for p in parts if p) + f" ({row.get('ID')})"


PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
"""Stands in for a looked-up GUID while the rest of a record is checked, before any lookup call."""


def lookups_in(values: Mapping[str, Any], endpoint: Endpoint) -> tuple[dict[str, Lookup], list[str]]:
    """The lookups among ``values`` (field name as written -> Lookup), and the problems of those that
    cannot be looked up. Names the endpoint does not know are left to the record check."""
    found: dict[str, Lookup] = {}
    problems: list[str] = []
    for name, value in values.items():
        try:
            field = endpoint.field(str(name).strip())
        except CatalogueError:
            continue
        try:
            lookup = lookup_of(field.name, value, field.type)
        except ValidationError as exc:
            problems.append(exc.message)
            continue
        if lookup is not None:
            found[str(name)] = lookup
    return found, problems


def with_placeholders(values: Mapping[str, Any], lookups: Mapping[str, Lookup]) -> dict[str, Any]:
    """``values`` with each looked-up value replaced by a placeholder GUID, for the local checks."""
    return {name: (PLACEHOLDER if name in lookups else value) for name, value in values.items()}


def resolved(
    values: Mapping[str, Any], lookups: Mapping[str, Lookup], resolver: Resolver, division: int
) -> tuple[dict[str, Any], list[str]]:
    """``values`` with every lookup replaced by the GUID it names in ``division``; the problems of
    those that name none or several."""
    out = dict(values)
    problems: list[str] = []
    for name, lookup in lookups.items():
        try:
            out[name] = resolver.resolve(lookup, division)
        except ValidationError as exc:
            problems.append(exc.message)
    return out, problems


def search_references(
    conn: ActionContext, field: str, text: str, division: int, *, limit: int = 10
) -> list[dict[str, Any]]:
    """Records ``field`` may point at whose code or name contains ``text`` (any case), as
    ``{"ID", "code", "name"}``: what a searchable picker shows while the user types. One call."""
    reference = REFERENCES.get(field)
    if reference is None:
        raise ValidationError(
            f"{field} is not looked up by code or name", hint=f"one of {', '.join(REFERENCES)}"
        )
    wanted = literal(text.strip(), "Edm.String")
    subjects = [n for n in (reference.code, reference.name) if n]
    filter = " or ".join(f"substringof({wanted},{n}) eq true" for n in subjects) if text.strip() else None
    select = ["ID", *subjects]
    rows = conn.client.resource(reference.endpoint, division).list(select=select, filter=filter, top=limit)
    return [
        {
            "ID": str(row["ID"]),
            "code": str(row.get(reference.code) or "").strip() if reference.code else None,
            "name": row.get(reference.name),
        }
        for row in rows
    ]
