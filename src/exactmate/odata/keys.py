"""Record keys on the wire: the one encoder of a key into ``Entity(…)``, used by every request and
every dry run, so what a dry run shows is the URL the real request uses.

A GUID key becomes ``(guid'…')`` (braces, case and a ``guid'…'`` wrapper accepted on input), a whole
number ``(123)``, text ``('…')`` with quotes doubled and spaces kept. An endpoint keyed by several
fields takes a mapping of them, or the text ``Field=value,Field=value`` as users type it; each value
is written by its own field's Edm type (``odata.edm.key_kind``). The value formatting itself is
``literals.format_key``; this module decides which value goes with which key field.

The functions take anything shaped like ``catalogue.Endpoint`` (``KeyedEndpoint``): the odata layer
does not import the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from exactmate.errors import CatalogueError, ValidationError
from exactmate.odata._show import shorten
from exactmate.odata.edm import key_kind
from exactmate.odata.literals import format_key

_PATH_SAFE = "'=,:-"
"""Characters kept as they are in the URL path: quotes, ``=`` and ``,`` of composite keys, ``guid'…'``."""


class TypedField(Protocol):
    """What the encoder reads of a key field: its Edm type."""

    @property
    def type(self) -> str: ...


class KeyedEndpoint(Protocol):
    """What the encoder reads of an endpoint (``catalogue.Endpoint`` is one)."""

    @property
    def path(self) -> str: ...
    @property
    def keys(self) -> tuple[str, ...]: ...
    @property
    def key_type(self) -> str | None: ...
    @property
    def fields(self) -> Mapping[str, TypedField]: ...


def parse_key(endpoint: KeyedEndpoint, key: object) -> object:
    """The key in the form ``key_text`` takes: unchanged, except that a composite key typed as
    ``A=1,B=x`` becomes the mapping ``{"A": "1", "B": "x"}`` (names and values stripped)."""
    if not endpoint.keys:
        raise CatalogueError(
            f"{endpoint.path} has no key: its records cannot be addressed one by one",
            hint=f"list them instead: exactmate get {endpoint.path}",
        )
    if len(endpoint.keys) == 1 or isinstance(key, Mapping):
        return key
    if not isinstance(key, str):
        raise ValidationError(
            f"{endpoint.path} has a composite key; pass a mapping of {', '.join(endpoint.keys)}",
            hint="e.g. {" + ", ".join(f"'{k}': …" for k in endpoint.keys) + "}",
        )
    pairs: dict[str, str] = {}
    for part in key.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValidationError(
                f"{endpoint.path} has a composite key; {shorten(key)} is not Field=value,Field=value",
                hint="e.g. " + ",".join(f"{k}=…" for k in endpoint.keys),
            )
        pairs[name.strip()] = value.strip()
    return pairs


def key_text(endpoint: KeyedEndpoint, key: object) -> str:
    """The key between the parentheses of ``Entity(…)``, checked, not yet percent-encoded (for
    messages and logs): ``guid'…'``, ``123``, ``'text'`` or ``A=…,B=…``. ``ValidationError`` (or
    ``CatalogueError`` for an endpoint without a key) before any call."""
    key = parse_key(endpoint, key)
    if len(endpoint.keys) == 1:
        if isinstance(key, Mapping):
            key = _single_key_value(endpoint, key)
        return format_key(key, endpoint.key_type)
    assert isinstance(key, Mapping)  # parse_key made it one
    given = {str(name).lower(): value for name, value in key.items()}
    missing = [name for name in endpoint.keys if name.lower() not in given]
    extra = sorted(set(given) - {name.lower() for name in endpoint.keys})
    if missing or extra:
        problems = [f"missing key field {name}" for name in missing]
        problems += [f"{name!r} is not one of the key fields ({', '.join(endpoint.keys)})" for name in extra]
        raise ValidationError(f"Bad composite key for {endpoint.path}", problems=problems)
    parts = []
    for name in endpoint.keys:
        field = endpoint.fields.get(name)
        parts.append(f"{name}={format_key(given[name.lower()], key_kind(field.type if field else None))}")
    return ",".join(parts)


def key_suffix(endpoint: KeyedEndpoint, key: object) -> str:
    """``(guid'…')``, ``(123)``, ``('text')`` or ``(A=…,B=…)``, percent-encoded as it goes into the
    URL path: the one suffix both a request and its dry run append to the endpoint's URL."""
    return "(" + quote(key_text(endpoint, key), safe=_PATH_SAFE) + ")"


def record_key(endpoint: KeyedEndpoint, key: object) -> str:
    """The key as the audit log and the journal store it: the bare value of a GUID key, else the
    key text (``123``, ``'text'``, ``A=…,B=…``)."""
    text = key_text(endpoint, key)
    if len(endpoint.keys) == 1 and endpoint.key_type == "guid":
        return text[5:-1]
    return text


def _single_key_value(endpoint: KeyedEndpoint, key: Mapping[object, object]) -> object:
    """The value of a one-entry mapping naming the endpoint's key field (any case)."""
    names = {str(name).lower(): name for name in key}
    wanted = endpoint.keys[0]
    if set(names) != {wanted.lower()}:
        raise ValidationError(
            f"{endpoint.path} is keyed by {wanted} alone, got {sorted(str(name) for name in key)}"
        )
    return key[names[wanted.lower()]]
