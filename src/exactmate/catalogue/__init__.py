"""The endpoint catalogue: what every Exact Online endpoint allows, and which endpoints are twins.

The facts come from the package data ``exactmate/data/catalogue.json`` (built by
``scripts/build_catalogue.py``): paths, methods, keys, page sizes and fields with their Edm types.
Everything here is answered locally, so a typo in an endpoint, a method the endpoint lacks or an
unknown field costs no call to Exact (and none of the hourly error budget).

Twins are the ``bulk/`` and ``sync/`` endpoints that carry the same records as a regular endpoint,
1000 rows a page instead of 60. Which endpoint is whose twin is a reviewed table (``TWINS``), not a
name heuristic: several sync endpoints share a name with a regular endpoint but carry other rows.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from importlib import resources
from typing import Any, cast

from exactmate.catalogue.model import (
    HTTP_METHODS,
    MAX_DIVISION,
    EdmType,
    Endpoint,
    Field,
    KeyType,
    Kind,
    Twins,
)
from exactmate.catalogue.twins import NO_BASE, ROW_TWINS, TWINS, RowTwin
from exactmate.errors import CatalogueError

REMOVED_STATUSES = frozenset({"probably_removed", "possibly_removed"})
_KEY_TYPES = frozenset({"guid", "int", "string"})
# Anything a user may paste in front of the catalogue path: a host, /api/v1/, beta/, a division.
_PATH_PREFIX = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://[^/]+)?/*(?:api/v1/+)?(?:beta/+)?(?:(?:\d+|\{division\})/+)?", re.IGNORECASE
)


class Catalogue:
    """Every endpoint, looked up case-insensitively by path; iterates in catalogue order."""

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        twins: Mapping[str, tuple[str | None, str | None]] = TWINS,
    ) -> None:
        """``twins`` maps base paths to (bulk, sync) paths; the default, the reviewed ``TWINS``
        table, names endpoints of the packaged catalogue (pass ``{}`` for a partial catalogue)."""
        self._endpoints: dict[str, Endpoint] = {}
        for endpoint in endpoints:
            if endpoint.path.lower() in self._endpoints:
                raise CatalogueError(f"Endpoint {endpoint.path} appears twice in the catalogue")
            self._endpoints[endpoint.path.lower()] = endpoint
        # Lower-case endpoint name -> lower-case paths, regular endpoints before bulk/sync ones.
        self._by_name: dict[str, list[str]] = {}
        for lower, endpoint in sorted(self._endpoints.items(), key=lambda i: i[1].kind in ("bulk", "sync")):
            self._by_name.setdefault(endpoint.name.lower(), []).append(lower)
        self._twins: dict[str, Twins] = {}
        for base_path, (bulk_path, sync_path) in twins.items():
            group = Twins(
                base=self.endpoint(base_path),
                bulk=self.endpoint(bulk_path) if bulk_path else None,
                sync=self.endpoint(sync_path) if sync_path else None,
            )
            for member in (group.base, group.bulk, group.sync):
                if member is not None:
                    self._twins[member.path.lower()] = group
        for base_path, rule in (ROW_TWINS if twins is TWINS else {}).items():
            current = self._twins.get(base_path.lower()) or Twins(base=self.endpoint(base_path))
            self._twins[base_path.lower()] = replace(current, rows=self.endpoint(rule.path), row_rule=rule)

    @classmethod
    def load(cls) -> Catalogue:
        """The catalogue shipped as package data (parsed once per process)."""
        return _load_packaged()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Catalogue:
        """A catalogue from the JSON document's structure (``{"endpoints": {path: entry}}``).

        A field described alike on several endpoints (``ID``, ``Created``, ``Division``: 11,863
        fields, 3,386 unlike) is one ``Field``, shared: fields are frozen, and making each anew was
        half of loading the catalogue, which every command that reads or writes does first."""
        entries = cast(Mapping[str, Mapping[str, Any]], data["endpoints"])
        made: dict[tuple[str, tuple[tuple[str, Any], ...]], Field] = {}
        return cls(_endpoint_from_entry(path, entry, made) for path, entry in entries.items())

    def endpoint(self, path: str) -> Endpoint:
        """The endpoint at ``path``: any case, with or without slashes, host, ``api/v1/{division}/``."""
        wanted = normalise_path(path)
        if not wanted:
            raise CatalogueError("No endpoint given", hint="paths look like 'crm/Accounts': service/Endpoint")
        found = self._endpoints.get(wanted.lower())
        if found is not None:
            return found
        near = self.suggest(path)
        text = f"Unknown endpoint {path!r}."
        if near:
            text += " Did you mean: " + ", ".join(near) + "?"
        raise CatalogueError(text, hint="paths look like 'crm/Accounts': service/Endpoint")

    def suggest(self, path: str, n: int = 3) -> list[str]:
        """Up to ``n`` endpoint paths close to ``path`` (for "did you mean")."""
        wanted = normalise_path(path).lower()
        if not wanted:
            return []
        by_path = difflib.get_close_matches(wanted, list(self._endpoints), n=n, cutoff=0.6)
        # A near miss on the endpoint name alone ("Acounts") should find every service's one.
        by_name = self._by_name
        names = difflib.get_close_matches(wanted.rsplit("/", 1)[-1], list(by_name), n=n, cutoff=0.7)
        named = [p for name in names for p in by_name[name]]
        picks: list[str] = []
        for lower in (named + by_path) if "/" not in wanted else (by_path + named):
            if lower not in picks:
                picks.append(lower)
        return [self._endpoints[p].path for p in picks[:n]]

    def search(
        self, text: str = "", *, method: str | None = None, include_removed: bool = False
    ) -> list[Endpoint]:
        """Endpoints whose path or scope contains ``text`` (any case), optionally allowing ``method``.

        Endpoints the sources mark as (probably or possibly) removed are left out unless
        ``include_removed`` is set or ``text`` names the endpoint exactly.
        """
        needle = text.strip().lower()
        exact = normalise_path(text).lower()
        if method is not None and method.upper() not in HTTP_METHODS:
            raise CatalogueError(f"Unknown HTTP method {method!r}; use one of {', '.join(HTTP_METHODS)}.")
        found: list[Endpoint] = []
        for endpoint in self:
            lower = endpoint.path.lower()
            if needle and needle not in lower and needle not in (endpoint.scope or "").lower():
                continue
            if method is not None and not endpoint.allows(method):
                continue
            if endpoint.status in REMOVED_STATUSES and not include_removed and lower != exact:
                continue
            found.append(endpoint)
        return found

    def twins(self, path: str) -> Twins:
        """The twin group ``path`` belongs to (as base or as twin); a lone endpoint is its own base."""
        endpoint = self.endpoint(path)
        return self._twins.get(endpoint.path.lower()) or Twins(base=endpoint)

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self._endpoints.values())

    def __len__(self) -> int:
        return len(self._endpoints)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and normalise_path(path).lower() in self._endpoints


def normalise_path(path: str) -> str:
    """``path`` without host, ``api/v1/``, ``beta/``, division, surrounding slashes or doubled slashes."""
    stripped = _PATH_PREFIX.sub("", path.strip(), count=1)
    return "/".join(part for part in stripped.split("/") if part)


def _endpoint_from_entry(
    path: str, entry: Mapping[str, Any], made: dict[tuple[str, tuple[tuple[str, Any], ...]], Field]
) -> Endpoint:
    methods = frozenset(str(m).upper() for m in entry["methods"])
    if not methods or not methods <= set(HTTP_METHODS):
        raise CatalogueError(f"Catalogue entry {path}: bad methods {sorted(methods)}")
    key = entry.get("key")
    key_type = entry.get("key_type")
    if key_type is not None and key_type not in _KEY_TYPES:
        raise CatalogueError(f"Catalogue entry {path}: bad key_type {key_type!r}")
    keys = tuple(entry.get("keys") or ([key] if key else []))
    service = str(entry["service"])
    return Endpoint(
        path=path,
        service=service,
        name=path.rsplit("/", 1)[-1],
        kind=_kind(service, path),
        methods=methods,
        key=key,
        key_type=cast("KeyType | None", key_type),
        keys=keys,
        record_id=entry.get("record_id"),
        page_size=entry.get("page_size"),
        beta=bool(entry.get("beta", False)),
        scope=entry.get("scope"),
        webhook=bool(entry.get("webhook", False)),
        status=str(entry.get("status", "current")),
        function_params=tuple(entry.get("function_params") or ()),
        doc=entry.get("doc"),
        fields={name: _shared_field(name, raw, made) for name, raw in entry["fields"].items()},
    )


def _shared_field(
    name: str, raw: Mapping[str, Any], made: dict[tuple[str, tuple[tuple[str, Any], ...]], Field]
) -> Field:
    """The ``Field`` for ``name`` described by ``raw``: the one made before for the same description."""
    described = (name, tuple(raw.items()))
    try:
        found = made.get(described)
    except TypeError:  # a value that is not text, a number or a flag: made apart
        return _field_from_entry(name, raw)
    if found is None:
        found = made[described] = _field_from_entry(name, raw)
    return found


def _field_from_entry(name: str, raw: Mapping[str, Any]) -> Field:
    return Field(
        name=name,
        type=str(raw["type"]),
        mandatory=bool(raw.get("mandatory", False)),
        read_only=bool(raw.get("readonly", False)),
        insert_only=bool(raw.get("insert_only", False)),
        obsolete=bool(raw.get("obsolete", False)),
        type_guess=raw.get("type_guess"),
        collection_of=raw.get("collection_of"),
    )


def _kind(service: str, path: str) -> Kind:
    if path.lower() == "current/me":
        return "me"
    if service in ("bulk", "sync", "read"):
        return cast(Kind, service)
    return "rest"


@functools.cache
def _load_packaged() -> Catalogue:
    text = resources.files("exactmate.data").joinpath("catalogue.json").read_text("utf-8")
    return Catalogue.from_data(json.loads(text))


__all__ = [
    "HTTP_METHODS",
    "MAX_DIVISION",
    "NO_BASE",
    "REMOVED_STATUSES",
    "ROW_TWINS",
    "TWINS",
    "Catalogue",
    "EdmType",
    "Endpoint",
    "Field",
    "KeyType",
    "Kind",
    "RowTwin",
    "Twins",
    "normalise_path",
]
