"""Record keys as users type them, checked and formatted by the endpoint's key type before any call.

A GUID key becomes ``(guid'…')``, a whole number ``(123)``, text ``('…')`` with quotes doubled. For
the few endpoints with a composite key the key is typed as ``Field=value,Field=value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from exactmate import odata
from exactmate.catalogue import Endpoint
from exactmate.errors import CatalogueError, ValidationError
from exactmate.odata.edm import key_kind


def parse_key(endpoint: Endpoint, key: object) -> object:
    """The key in the form the client takes: a mapping for composite keys (from ``A=1,B=x`` text)."""
    if not endpoint.keys:
        raise CatalogueError(
            f"{endpoint.path} has no key: its records cannot be addressed one by one",
            hint=f"list them instead: exactmate get {endpoint.path}",
        )
    if len(endpoint.keys) == 1 or isinstance(key, Mapping):
        return key
    text = str(key)
    pairs: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValidationError(
                f"{endpoint.path} has a composite key; {text!r} is not Field=value,Field=value",
                hint="e.g. " + ",".join(f"{k}=…" for k in endpoint.keys),
            )
        pairs[name.strip()] = value.strip()
    return pairs


def key_text(endpoint: Endpoint, key: object) -> str:
    """The key between the parentheses of ``Entity(…)``, validated (unencoded, for messages and logs)."""
    if not endpoint.keys:
        parse_key(endpoint, key)
    if len(endpoint.keys) == 1:
        if isinstance(key, Mapping):
            values = {str(k).lower(): v for k, v in key.items()}
            if set(values) != {endpoint.keys[0].lower()}:
                raise ValidationError(
                    f"{endpoint.path} is keyed by {endpoint.keys[0]} alone, got {sorted(key)}"
                )
            key = values[endpoint.keys[0].lower()]
        return odata.format_key(_clean(key, endpoint.key_type), endpoint.key_type)
    mapping = parse_key(endpoint, key)
    assert isinstance(mapping, Mapping)
    given = {str(k).lower(): v for k, v in mapping.items()}
    missing = [k for k in endpoint.keys if k.lower() not in given]
    extra = sorted(set(given) - {k.lower() for k in endpoint.keys})
    if missing or extra:
        problems = [f"missing key field {k}" for k in missing] + [f"{k!r} is not a key field" for k in extra]
        raise ValidationError(f"Bad composite key for {endpoint.path}", problems=problems)
    parts = []
    for name in endpoint.keys:
        field = endpoint.fields.get(name)
        kind = key_kind(field.type if field else None)
        parts.append(f"{name}={odata.format_key(_clean(given[name.lower()], kind), kind)}")
    return ",".join(parts)


def key_suffix(endpoint: Endpoint, key: object) -> str:
    """``(guid'…')`` etc., percent-encoded as it goes into the URL path."""
    return "(" + quote(key_text(endpoint, key), safe="'=,:-") + ")"


def record_key(endpoint: Endpoint, key: object) -> str:
    """The key as the audit log and the journal store it: the bare value (``A=…,B=…`` if composite)."""
    text = key_text(endpoint, key)
    if len(endpoint.keys) == 1 and endpoint.key_type == "guid":
        return text[5:-1]
    return text


def _clean(value: object, kind: str | None) -> object:
    """Surrounding blanks dropped from typed GUIDs and numbers; text keys are kept exactly (Exact pads
    some codes with spaces)."""
    return value.strip() if isinstance(value, str) and kind in ("guid", "int") else value
