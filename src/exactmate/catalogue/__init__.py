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
import re
from collections.abc import Iterable, Iterator, Mapping
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


_Made = dict[tuple[str, tuple[tuple[str, Any], ...]], Field]
# A twin group as lower-case paths: base, bulk, sync, row twin, and the row twin's rule.
_TwinSpec = tuple[str, str | None, str | None, str | None, RowTwin | None]
_HINT = "paths look like 'crm/Accounts': service/Endpoint"


class Catalogue:
    """Every endpoint, looked up case-insensitively by path; iterates in catalogue order.

    A catalogue read from data (``from_data``, ``load``) keeps each endpoint's raw entry and makes
    its ``Endpoint`` (and fields) the first time it is asked for, and a twin group the first time
    ``twins`` is asked for one of its members: a command uses a handful of the 455 endpoints, and
    making them all was most of loading. What the catalogue checks (methods, key types, duplicate
    paths, that every path the twin tables name exists) is still checked when it is made.

    One catalogue is shared by threads (fan-out over divisions, read-ahead). Two threads asking for
    the same endpoint or group at once may both make it; the first stored is kept (``setdefault``)
    and both get it, so an endpoint is one object however it was first asked for. Only the dicts of
    made objects change after construction, one ``setdefault`` at a time; iteration walks the
    unchanging path index, never those dicts."""

    def __init__(
        self,
        endpoints: Iterable[Endpoint],
        twins: Mapping[str, tuple[str | None, str | None]] = TWINS,
    ) -> None:
        """``twins`` maps base paths to (bulk, sync) paths; the default, the reviewed ``TWINS``
        table, names endpoints of the packaged catalogue (pass ``{}`` for a partial catalogue)."""
        self._start()
        for endpoint in endpoints:
            self._add(endpoint.path, endpoint.name, endpoint.kind)
            self._endpoints[endpoint.path.lower()] = endpoint
        self._finish(twins)

    def _start(self) -> None:
        # Lower-case path -> the path as the catalogue spells it, in catalogue order: every endpoint.
        self._paths: dict[str, str] = {}
        # Lower-case path -> its raw entry (catalogues read from data), and -> its Endpoint once made.
        self._entries: dict[str, Mapping[str, Any]] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._made: _Made = {}  # the fields made so far, shared between endpoints
        self._named: list[tuple[str, str, bool]] = []  # (lower path, name, is a bulk/sync twin)

    def _add(self, path: str, name: str, kind: Kind) -> None:
        lower = path.lower()
        if lower in self._paths:
            raise CatalogueError(f"Endpoint {path} appears twice in the catalogue")
        self._paths[lower] = path
        self._named.append((lower, name, kind in ("bulk", "sync")))

    def _finish(self, twins: Mapping[str, tuple[str | None, str | None]]) -> None:
        # Lower-case endpoint name -> lower-case paths, regular endpoints before bulk/sync ones.
        self._by_name: dict[str, list[str]] = {}
        for lower, name, _ in sorted(self._named, key=lambda named: named[2]):
            self._by_name.setdefault(name.lower(), []).append(lower)
        del self._named
        # The twin tables as lower-case paths, each checked now (an unknown path fails here, as an
        # unknown endpoint); a group's Twins is made on first use. Members of one group share one
        # spec (and so one Twins); a row twin gives its base a spec of its own, as it always has.
        self._twin_specs: list[_TwinSpec] = []
        self._twin_of: dict[str, int] = {}  # lower-case member path -> index in _twin_specs
        self._groups: dict[int, Twins] = {}
        for base_path, (bulk_path, sync_path) in twins.items():
            base = self._lower(base_path)
            bulk = self._lower(bulk_path) if bulk_path else None
            sync = self._lower(sync_path) if sync_path else None
            self._twin_specs.append((base, bulk, sync, None, None))
            for member in (base, bulk, sync):
                if member is not None:
                    self._twin_of[member] = len(self._twin_specs) - 1
        for base_path, rule in (ROW_TWINS if twins is TWINS else {}).items():
            index = self._twin_of.get(base_path.lower())
            group = self._twin_specs[index][:3] if index is not None else (self._lower(base_path), None, None)
            self._twin_specs.append((*group, self._lower(rule.path), rule))
            self._twin_of[base_path.lower()] = len(self._twin_specs) - 1

    @classmethod
    def load(cls) -> Catalogue:
        """The catalogue shipped as package data (parsed once per process)."""
        return _load_packaged()

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Catalogue:
        """A catalogue from the JSON document's structure (``{"endpoints": {path: entry}}``).

        Each entry's methods and key type are checked now; its ``Endpoint`` is made on first use.
        A field described alike on several endpoints (``ID``, ``Created``, ``Division``: 11,863
        fields, 3,386 unlike) is one ``Field``, shared: fields are frozen, and making each anew was
        half of making every endpoint."""
        entries = cast(Mapping[str, Mapping[str, Any]], data["endpoints"])
        catalogue = cls.__new__(cls)
        catalogue._start()
        for path, entry in entries.items():
            _checked_methods(path, entry)
            kind = _kind(str(entry["service"]), path)
            entry["fields"]  # an entry without fields fails here (KeyError), as it always has
            catalogue._add(path, path.rsplit("/", 1)[-1], kind)
            catalogue._entries[path.lower()] = entry
        catalogue._finish(TWINS)
        return catalogue

    def endpoint(self, path: str) -> Endpoint:
        """The endpoint at ``path``: any case, with or without slashes, host, ``api/v1/{division}/``."""
        return self._endpoint(self._lower(path))

    def _lower(self, path: str) -> str:
        """The lower-case catalogue path ``path`` names; ``CatalogueError`` as ``endpoint`` otherwise."""
        wanted = normalise_path(path)
        if not wanted:
            raise CatalogueError("No endpoint given", hint=_HINT)
        if wanted.lower() in self._paths:
            return wanted.lower()
        near = self.suggest(path)
        text = f"Unknown endpoint {path!r}."
        if near:
            text += " Did you mean: " + ", ".join(near) + "?"
        raise CatalogueError(text, hint=_HINT)

    def _endpoint(self, lower: str) -> Endpoint:
        """The endpoint at the lower-case catalogue path ``lower``, made from its entry on first use."""
        found = self._endpoints.get(lower)
        if found is None:
            made = _endpoint_from_entry(self._paths[lower], self._entries[lower], self._made)
            found = self._endpoints.setdefault(lower, made)  # a racing thread's, if it stored first
        return found

    def suggest(self, path: str, n: int = 3) -> list[str]:
        """Up to ``n`` endpoint paths close to ``path`` (for "did you mean")."""
        wanted = normalise_path(path).lower()
        if not wanted:
            return []
        by_path = difflib.get_close_matches(wanted, list(self._paths), n=n, cutoff=0.6)
        # A near miss on the endpoint name alone ("Acounts") should find every service's one.
        by_name = self._by_name
        names = difflib.get_close_matches(wanted.rsplit("/", 1)[-1], list(by_name), n=n, cutoff=0.7)
        named = [p for name in names for p in by_name[name]]
        picks: list[str] = []
        for lower in (named + by_path) if "/" not in wanted else (by_path + named):
            if lower not in picks:
                picks.append(lower)
        return [self._paths[p] for p in picks[:n]]

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
        lower = self._lower(path)
        index = self._twin_of.get(lower)
        if index is None:
            return Twins(base=self._endpoint(lower))
        group = self._groups.get(index)
        if group is None:
            base, bulk, sync, rows, rule = self._twin_specs[index]
            group = Twins(
                base=self._endpoint(base),
                bulk=self._endpoint(bulk) if bulk else None,
                sync=self._endpoint(sync) if sync else None,
                rows=self._endpoint(rows) if rows else None,
                row_rule=rule,
            )
            group = self._groups.setdefault(index, group)  # a racing thread's, if it stored first
        return group

    def __iter__(self) -> Iterator[Endpoint]:
        return (self._endpoint(lower) for lower in self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and normalise_path(path).lower() in self._paths


def normalise_path(path: str) -> str:
    """``path`` without host, ``api/v1/``, ``beta/``, division, surrounding slashes or doubled slashes."""
    stripped = _PATH_PREFIX.sub("", path.strip(), count=1)
    return "/".join(part for part in stripped.split("/") if part)


def _endpoint_from_entry(path: str, entry: Mapping[str, Any], made: _Made) -> Endpoint:
    methods = _checked_methods(path, entry)
    key = entry.get("key")
    key_type = entry.get("key_type")
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


def _checked_methods(path: str, entry: Mapping[str, Any]) -> frozenset[str]:
    """The entry's methods, upper-case; ``CatalogueError`` for bad methods or a bad key type."""
    methods = frozenset(str(m).upper() for m in entry["methods"])
    if not methods or not methods <= set(HTTP_METHODS):
        raise CatalogueError(f"Catalogue entry {path}: bad methods {sorted(methods)}")
    key_type = entry.get("key_type")
    if key_type is not None and key_type not in _KEY_TYPES:
        raise CatalogueError(f"Catalogue entry {path}: bad key_type {key_type!r}")
    return methods


def _shared_field(name: str, raw: Mapping[str, Any], made: _Made) -> Field:
    """The ``Field`` for ``name`` described by ``raw``: the one made before for the same description
    (by any thread: the first stored is kept)."""
    described = (name, tuple(raw.items()))
    try:
        found = made.get(described)
    except TypeError:  # a value that is not text, a number or a flag: made apart
        return _field_from_entry(name, raw)
    if found is None:
        found = made.setdefault(described, _field_from_entry(name, raw))
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
    import msgspec.json  # here: every command that loads the catalogue imports it anyway (odata)

    data = resources.files("exactmate.data").joinpath("catalogue.json").read_bytes()
    return Catalogue.from_data(msgspec.json.decode(data))


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
