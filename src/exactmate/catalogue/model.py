"""What the catalogue knows about one endpoint (``Endpoint``), its fields (``Field``) and twins."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from exactmate.catalogue.twins import RowTwin
from exactmate.errors import CatalogueError, ValidationError

EdmType = str
"""An Edm type name as the catalogue spells it: ``Edm.Guid``, ``Edm.DateTime``, ``Collection``, ..."""

Kind = Literal["rest", "bulk", "sync", "read", "me"]
KeyType = Literal["guid", "int", "string"]

HTTP_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE")

MAX_DIVISION = 2**31 - 1
"""Division codes are Edm.Int32 at Exact (``system/Divisions``' Code): a larger number is no division,
and sending it would cost a failed call (and overflow the store's integer columns)."""


@dataclass(frozen=True)
class Field:
    """One property of an endpoint's records. Flags absent from the source read as ``False``."""

    name: str
    type: EdmType
    mandatory: bool = False
    read_only: bool = False
    insert_only: bool = False
    obsolete: bool = False
    type_guess: str | None = None  # "sibling" or "name": the type was inferred, not documented
    collection_of: str | None = None  # navigation collection (e.g. invoice lines) and its entity

    @property
    def is_collection(self) -> bool:
        """A navigation collection (e.g. invoice lines): its contents come only with ``$expand``."""
        return self.collection_of is not None or self.type.startswith("Collection")


@dataclass(frozen=True)
class Endpoint:
    """One endpoint, addressed by its canonical ``path`` (``project/TimeTransactions``).

    ``keys`` holds every key field (one for most endpoints, several for composite keys, none when
    records cannot be addressed one by one). On ``sync/`` endpoints ``key`` is ``Timestamp`` (the
    paging key) and ``record_id`` names the record's own ID field.
    """

    path: str
    service: str
    name: str
    kind: Kind
    methods: frozenset[str]
    key: str | None = None
    key_type: KeyType | None = None
    keys: tuple[str, ...] = ()
    record_id: str | None = None
    page_size: int | None = None
    beta: bool = False
    scope: str | None = None
    webhook: bool = False
    status: str = "current"
    function_params: tuple[str, ...] = ()
    doc: str | None = None
    fields: Mapping[str, Field] = field(default_factory=lambda: MappingProxyType({}), repr=False, hash=False)
    _by_lower: Mapping[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        object.__setattr__(self, "_by_lower", {name.lower(): name for name in self.fields})

    @property
    def date_fields(self) -> tuple[str, ...]:
        """Names of the ``Edm.DateTime`` fields, in catalogue order (the ones dates are converted in)."""
        return tuple(name for name, f in self.fields.items() if f.type == "Edm.DateTime")

    def field(self, name: str) -> Field:
        """The field called ``name`` (case-insensitive); ``CatalogueError`` with suggestions otherwise."""
        found = self.fields.get(name) or self.fields.get(self._by_lower.get(name.lower(), ""))
        if found is not None:
            return found
        raise CatalogueError(self._unknown_field_message(name))

    def resolve_fields(self, names: Iterable[str]) -> tuple[str, ...]:
        """Canonical spellings of ``names``; one error listing every unknown field at once.

        A navigation path (``SalesInvoiceLines/Quantity``) is checked on its first segment only: the
        catalogue does not know the child entity's fields. Endpoints with no known field list (a few
        read/ functions) accept every name as given.
        """
        if not self.fields:
            return tuple(names)
        resolved: list[str] = []
        problems: list[str] = []
        for name in names:
            head, sep, rest = name.partition("/")
            canonical = self._by_lower.get(head.lower())
            if canonical is None:
                problems.append(self._unknown_field_message(head))
            else:
                resolved.append(canonical + sep + rest)
        if problems:
            raise CatalogueError(f"Unknown field(s) for {self.path}", problems=problems)
        return tuple(resolved)

    def allows(self, method: str) -> bool:
        """Whether the endpoint supports the HTTP ``method`` (any case)."""
        return method.upper() in self.methods

    def require_method(self, method: str) -> None:
        """Raise ``CatalogueError`` naming the allowed methods when ``method`` is not one of them."""
        if not self.allows(method):
            allowed = ", ".join(m for m in HTTP_METHODS if m in self.methods)
            raise CatalogueError(f"{self.path} does not support {method.upper()}; it allows {allowed}.")

    def url_path(self, division: int | str | None = None) -> str:
        """The URL path below the host: ``/api/v1/{division}/{path}``, ``/api/v1/beta/{division}/…``
        for beta endpoints, and ``/api/v1/current/Me`` (no division) for ``current/Me``."""
        if self.kind == "me":
            return f"/api/v1/{self.path}"
        number = _division_number(division, self.path)
        prefix = "/api/v1/beta" if self.beta else "/api/v1"
        return f"{prefix}/{number}/{self.path}"

    def _unknown_field_message(self, name: str) -> str:
        if not self.fields:
            return f"{self.path} has no known field list, so {name!r} cannot be checked"
        near = difflib.get_close_matches(name.lower(), list(self._by_lower), n=3, cutoff=0.6)
        text = f"Unknown field {name!r} on {self.path}."
        if near:
            text += " Did you mean: " + ", ".join(self._by_lower[n] for n in near) + "?"
        return text


def _division_number(division: int | str | None, path: str) -> int:
    if isinstance(division, str) and division.strip().isdigit():
        division = int(division.strip())
    if isinstance(division, int) and not isinstance(division, bool) and division > 0:
        return division
    raise ValidationError(
        f"{path} needs a division number (a positive whole number), got {division!r}",
        hint="divisions are numbers like 123456: see system/Divisions or current/Me's CurrentDivision",
    )


@dataclass(frozen=True)
class Twins:
    """A regular endpoint and the bulk/ and sync/ endpoints that carry the same records.

    A twin carries the base's key field under the same name (so records match across them), but not
    always every base field: ``twin_for`` says which twin can serve a given ``$select``.
    """

    base: Endpoint
    bulk: Endpoint | None = None
    sync: Endpoint | None = None
    rows: Endpoint | None = None
    """A sync endpoint carrying the base's records among others (``row_rule`` picks them out)."""
    row_rule: RowTwin | None = None

    def twin_for(self, fields: Iterable[str] | None = None) -> Endpoint | None:
        """The twin to read from, bulk preferred (1000 rows a page, keyed like the base), else sync,
        else the row twin.

        With ``fields`` only a twin that carries every one of them (and the base key) qualifies; with
        ``None`` the first twin available. ``None`` when there is no usable twin.
        """
        wanted = None if fields is None else {name.lower() for name in fields}
        for twin in (self.bulk, self.sync, self.rows):
            if twin is None:
                continue
            carried = {name.lower() for name in self.common_fields(twin)}
            if wanted is None or wanted | {(self.base.key or "").lower()} <= carried:
                return twin
        return None

    def common_fields(self, twin: Endpoint) -> tuple[str, ...]:
        """The base's plain (non-collection) fields that ``twin`` also carries, in base order."""
        rule = self.row_rule if twin is self.rows else None
        return tuple(
            name
            for name, f in self.base.fields.items()
            if not f.is_collection and (rule.twin_name(name) if rule else name) in twin.fields
        )
