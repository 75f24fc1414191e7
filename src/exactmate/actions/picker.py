"""The service and endpoint picker and the Data Manager's field list, as plain data.

Both answer from the catalogue alone (no call to Exact), for the ``exactmate endpoints`` and
``exactmate fields`` commands and for the web UI's pickers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exactmate.actions.fields import suggest_fields
from exactmate.catalogue import HTTP_METHODS, Catalogue, Endpoint, Field


def describe_endpoints(
    search: str = "",
    *,
    method: str | None = None,
    include_removed: bool = False,
    catalogue: Catalogue | None = None,
) -> list[dict[str, Any]]:
    """Endpoints whose path or scope contains ``search``: service, endpoint, methods, key, page size,
    status (and the path to pass to the other commands)."""
    found = (catalogue or Catalogue.load()).search(search, method=method, include_removed=include_removed)
    return [endpoint_row(e) for e in found]


def endpoint_row(endpoint: Endpoint) -> dict[str, Any]:
    """One endpoint as the picker shows it."""
    return {
        "path": endpoint.path,
        "service": endpoint.service,
        "endpoint": endpoint.name,
        "methods": ",".join(m for m in HTTP_METHODS if m in endpoint.methods),
        "key": ",".join(endpoint.keys) if endpoint.keys else None,
        "key_type": endpoint.key_type if len(endpoint.keys) <= 1 else "composite",
        "page_size": endpoint.page_size,
        "status": endpoint.status,
    }


def describe_fields(
    endpoint: str,
    search: str = "",
    *,
    writable: bool = False,
    catalogue: Catalogue | None = None,
) -> list[dict[str, Any]]:
    """The fields of ``endpoint`` whose name contains ``search``: name, type, mandatory, read-only.
    ``writable`` keeps only the fields a create may set (the Data Manager's list)."""
    target = (catalogue or Catalogue.load()).endpoint(endpoint)
    needle = search.strip().lower()
    rows: list[dict[str, Any]] = []
    for field in target.fields.values():
        if needle and needle not in field.name.lower():
            continue
        if writable and (field.read_only or field.is_collection or field.name in target.keys):
            continue
        rows.append(field_row(target, field))
    return rows


def field_row(endpoint: Endpoint, field: Field) -> dict[str, Any]:
    """One field as the Data Manager shows it."""
    return {
        "name": field.name,
        "type": field.type.removeprefix("Edm."),
        "mandatory": field.mandatory,
        "read_only": field.read_only,
        "key": field.name in endpoint.keys,
        "insert_only": field.insert_only,
        "obsolete": field.obsolete,
    }


def field_suggestions(endpoint: str, search: str, *, catalogue: Catalogue | None = None) -> list[str]:
    """Field names close to ``search`` (for "no field matches; did you mean …")."""
    return suggest_fields((catalogue or Catalogue.load()).endpoint(endpoint), search)


IDENTIFYING_FIELDS = ("ID", "Code", "Name", "Description", "FullName", "Date", "Quantity", "Status")
"""The fields that say *which* record a row is, in the order people look for them: what a table
shows first and what the Data Manager offers first."""


def identifying_first(names: Sequence[str]) -> list[str]:
    """``names`` with the identifying fields (a division tag first of all) moved to the front."""
    front = [name for name in ("Division", *IDENTIFYING_FIELDS) if name in names]
    return front + [name for name in names if name not in front]
