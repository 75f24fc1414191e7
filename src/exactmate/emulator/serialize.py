"""How records leave and enter the emulator: Exact's JSON (``d`` / ``results`` / ``__next`` /
``__count`` / ``__metadata``) and Atom XML, OData literals, and dates.

Dates are stored as Exact writes them: milliseconds since 1970 of the *CET/CEST wall clock* read as
if it were UTC (Exact's FAQ: "This is in the CET time and not GMT"). Storing that number directly
makes ``/Date(ms)/`` output a string format, and makes comparisons with zone-less
``datetime'…'`` literals (also wall-clock times) plain integer comparisons.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

import orjson
from orjson import Fragment

from exactmate.emulator.catalogue import Endpoint

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_EPOCH = datetime(1970, 1, 1)
_DATE_RE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
JSON_TYPE = "application/json; charset=utf-8"
FEED_TYPE = "application/atom+xml;type=feed;charset=utf-8"
ENTRY_TYPE = "application/atom+xml;type=entry;charset=utf-8"
TEXT_TYPE = "text/plain;charset=utf-8"

Row = dict[str, Any]


# ----------------------------------------------------------------------------------------- dates
def wall_ms(epoch_seconds: float) -> int:
    """The Exact ``/Date(ms)/`` number for an instant: Amsterdam wall-clock time read as UTC."""
    offset = datetime.fromtimestamp(epoch_seconds, AMSTERDAM).utcoffset() or timedelta(0)
    return math.floor(epoch_seconds * 1000) + int(offset.total_seconds()) * 1000


def wall_ms_of_naive(value: datetime) -> int:
    """Milliseconds of a zone-less (wall-clock) datetime."""
    return (value - _EPOCH) // timedelta(milliseconds=1)


def naive_of_wall_ms(ms: int) -> datetime:
    """The zone-less wall-clock datetime of a stored date."""
    return _EPOCH + timedelta(milliseconds=ms)


def iso_of_wall_ms(ms: int) -> str:
    """``2024-05-01T09:30:00`` (with ``.123`` when there are milliseconds), zone-less like Exact."""
    value = naive_of_wall_ms(ms)
    if value.microsecond:
        return value.isoformat(timespec="milliseconds")
    return value.isoformat(timespec="seconds")


def parse_datetime_text(text: str) -> int:
    """A date from a request body or literal, as stored wall-clock milliseconds.

    Accepts ``/Date(ms)/`` (already Exact's wall clock), zone-less ISO 8601 (read as CET/CEST wall
    clock, as Exact does) and ISO 8601 with ``Z`` or an offset (converted to Amsterdam time).
    Raises ValueError for anything else.
    """
    match = _DATE_RE.match(text)
    if match:
        return int(match.group(1))
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is not None:
        value = value.astimezone(AMSTERDAM).replace(tzinfo=None)
    return wall_ms_of_naive(value)


def today_wall_ms(epoch_seconds: float) -> int:
    """Midnight of today's date in Amsterdam, as stored wall-clock milliseconds."""
    ms = wall_ms(epoch_seconds)
    return ms - ms % 86_400_000


def utc_iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -------------------------------------------------------------------------------------- literals
def literal(value: Any, kind: str, edm_type: str = "") -> str:
    """The OData URI literal of a value: ``guid'…'``, ``123L`` (Int64), ``'it''s'``, ``datetime'…'``."""
    if value is None:
        return "null"
    if kind == "guid":
        return f"guid'{value}'"
    if kind == "datetime":
        return f"datetime'{iso_of_wall_ms(int(value))}'"
    if kind == "bool":
        return "true" if value else "false"
    if kind == "int":
        return f"{value}L" if edm_type == "Edm.Int64" else str(int(value))
    if kind == "double":
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def key_literal(endpoint: Endpoint, key: Any) -> str:
    """The key as it appears in an entity URI: ``guid'…'``, ``123``, ``'EUR'``."""
    field = endpoint.key_field
    if field is None:
        return quote(str(key), safe="")
    text = literal(key, field.kind, field.type)
    return quote(text, safe="'") if field.kind == "string" else text


# ------------------------------------------------------------------------------------------ JSON
@dataclass(frozen=True)
class Shape:
    """Which fields go out, in which order, and how. Shapes are cached: a request for the same
    endpoint and ``$select`` reuses one (working out 165 field kinds costs more than a key lookup).
    """

    entity_type: str
    columns: tuple[tuple[str, str], ...]  # (name, kind)
    expand: frozenset[str] = frozenset()
    types: Mapping[str, str] = field(default_factory=dict)  # Edm type by name, for Atom

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The columns' names, in order."""
        return tuple(name for name, _ in self.columns)

    @cached_property
    def dates(self) -> tuple[str, ...]:
        """The date columns, whose JSON is ``/Date(ms)/`` rather than the stored number."""
        return tuple(name for name, kind in self.columns if kind == "datetime")

    @cached_property
    def links(self) -> tuple[str, ...]:
        """The navigation columns: a deferred link, or the rows themselves when expanded."""
        return tuple(name for name, kind in self.columns if kind == "complex")

    @cached_property
    def skeleton(self) -> Row:
        """An output row with every column null, ``__metadata`` first: copying it gives a row its
        keys in order at C speed, so filling it costs the stored fields, not all the columns."""
        return {"__metadata": None} | dict.fromkeys(self.names)

    @cached_property
    def type_tail(self) -> bytes:
        """What follows the URI in a row's ``__metadata``: ``,"type":"…"}``."""
        return b',"type":' + orjson.dumps(self.entity_type) + b"}"

    @cached_property
    def name_set(self) -> frozenset[str]:
        return frozenset(self.names)

    @classmethod
    def of(cls, endpoint: Endpoint, names: Sequence[str] | None, expand: Iterable[str] = ()) -> Shape:
        key = (endpoint.path, None if names is None else tuple(names), frozenset(expand))
        found = _SHAPES.get(key)
        if found is None:
            if len(_SHAPES) >= _SHAPE_CACHE_SIZE:
                _SHAPES.clear()
            chosen = key[1] if key[1] is not None else tuple(endpoint.fields)
            columns = tuple((name, endpoint.fields[name].kind) for name in chosen)
            types = {name: endpoint.fields[name].type for name in chosen}
            found = _SHAPES[key] = cls(endpoint.entity_type, columns, key[2], types)
        return found


_SHAPE_CACHE_SIZE = 2048
_SHAPES: dict[tuple[str, tuple[str, ...] | None, frozenset[str]], Shape] = {}


def json_row(row: Row, shape: Shape, uri: str) -> Row:
    """One row in Exact's JSON (see ``json_rows``)."""
    return json_rows([row], [uri], shape)[0]


def json_rows(rows: Sequence[Row], uris: Sequence[str], shape: Shape) -> list[Row]:
    """Rows in Exact's JSON: ``__metadata`` first, then the selected fields in ``$select`` order,
    null where the record has no value; dates as ``/Date(ms)/``, navigation properties as a deferred
    link (or their rows, when ``$expand``-ed). ``__metadata`` and the deferred links are already JSON
    text (``orjson.Fragment``): the rows are for ``orjson.dumps``, which writes them as objects.
    """
    skeleton, width, names, wanted = shape.skeleton, len(shape.skeleton), shape.names, shape.name_set
    dates, links, expand, type_tail = shape.dates, shape.links, shape.expand, shape.type_tail
    dumps = orjson.dumps
    rendered: list[Row] = []
    for row, uri in zip(rows, uris, strict=True):
        out = skeleton.copy()
        if len(row) <= width:  # the stored fields, less those not selected
            out.update(row)
            surplus = len(out) - width
            if surplus:
                for name in reversed(row):  # what a record has beyond its fields (Timestamp) comes last
                    if name not in wanted:
                        del out[name]
                        surplus -= 1
                        if not surplus:
                            break
        else:  # a narrow $select of a wide record: look up the selected fields only
            get = row.get
            for name in names:
                out[name] = get(name)
        # Written as JSON text (a Fragment), not a dict: a row holding no container stays out of the
        # garbage collector's sight, which otherwise walks every row of a page on each collection
        # (3-5 ms of a 1,000-row page of all fields).
        quoted = dumps(uri)
        out["__metadata"] = Fragment(b'{"uri":' + quoted + type_tail)
        for name in dates:  # replacing a value keeps its place in the row
            value = out[name]
            if value is not None:
                out[name] = f"/Date({value})/"
        for name in links:
            value = out[name]
            if value is None or isinstance(value, list):
                out[name] = (
                    {"results": list(value or [])}
                    if name in expand
                    else Fragment(b'{"__deferred":{"uri":' + quoted[:-1] + dumps(f"/{name}")[1:] + b"}}")
                )
        rendered.append(out)
    return rendered


def _dumps(payload: Any) -> bytes:
    # orjson writes the same compact UTF-8 text as json.dumps(ensure_ascii=False) four to six times
    # faster, which keeps a 1000-row page of all fields far below what a client benchmark measures.
    return orjson.dumps(payload)


def json_collection(rows: Sequence[Row], *, next_url: str | None, count: int | None) -> bytes:
    """``{"d": {"results": [...], "__count": "N", "__next": "…"}}`` (rows already rendered).
    ``__count`` is a string, as OData v2 JSON writes it.
    """
    body: Row = {"results": list(rows)}
    if count is not None:
        body["__count"] = str(count)
    if next_url is not None:
        body["__next"] = next_url
    return _dumps({"d": body})


def json_entity(row: Row) -> bytes:
    """``{"d": {...}}``: a single entity (GET by key, POST)."""
    return _dumps({"d": row})


# ------------------------------------------------------------------------------------------- XML
_NS = (
    'xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)
_SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"
_RELATED = "http://schemas.microsoft.com/ado/2007/08/dataservices/related/"


def _xml_text(value: Any, kind: str) -> str:
    if kind == "datetime":
        return iso_of_wall_ms(int(value))
    if kind == "bool":
        return "true" if value else "false"
    return escape(str(value))


def _xml_properties(row: Mapping[str, Any], shape: Shape) -> str:
    parts = ["<m:properties>"]
    for name, kind in shape.columns:
        if kind == "complex":
            continue
        value = row.get(name)
        edm = shape.types.get(name, "Edm.String")
        type_attr = "" if edm == "Edm.String" else f' m:type="{edm}"'
        if value is None:
            parts.append(f'<d:{name}{type_attr} m:null="true" />')
        else:
            parts.append(f"<d:{name}{type_attr}>{_xml_text(value, kind)}</d:{name}>")
    parts.append("</m:properties>")
    return "".join(parts)


def _xml_entry(row: Mapping[str, Any], shape: Shape, uri: str, updated: str) -> str:
    links = "".join(
        f'<link rel="{_RELATED}{name}" type="application/atom+xml;type=feed" title="{name}" '
        f"href={quoteattr(uri + '/' + name)} />"
        for name, kind in shape.columns
        if kind == "complex"
    )
    return (
        f"<entry><id>{escape(uri)}</id>"
        f'<category term="{shape.entity_type}" scheme="{_SCHEME}" />'
        f'<link rel="edit" href={quoteattr(uri)} />{links}'
        f"<title /><updated>{updated}</updated><author><name /></author>"
        f'<content type="application/xml">{_xml_properties(row, shape)}</content></entry>'
    )


def xml_feed(
    rows: Sequence[tuple[Mapping[str, Any], str]],
    shape: Shape,
    *,
    feed_uri: str,
    title: str,
    updated: str,
    next_url: str | None,
    count: int | None,
) -> bytes:
    """An Atom feed: ``feed/entry/content/m:properties/d:Field``, ``m:count``, ``link rel="next"``."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f"<feed {_NS}><id>{escape(feed_uri)}</id>",
        f'<title type="text">{escape(title)}</title><updated>{updated}</updated>',
        f'<link rel="self" title={quoteattr(title)} href={quoteattr(feed_uri)} />',
    ]
    if count is not None:
        parts.append(f"<m:count>{count}</m:count>")
    parts.extend(_xml_entry(row, shape, uri, updated) for row, uri in rows)
    if next_url is not None:
        parts.append(f'<link rel="next" href={quoteattr(next_url)} />')
    parts.append("</feed>")
    return "".join(parts).encode("utf-8")


def xml_entity(row: Mapping[str, Any], shape: Shape, uri: str, updated: str) -> bytes:
    """A single Atom entry document (GET by key, POST without ``Accept: application/json``)."""
    entry = _xml_entry(row, shape, uri, updated)
    return ('<?xml version="1.0" encoding="utf-8"?>' + entry.replace("<entry>", f"<entry {_NS}>", 1)).encode(
        "utf-8"
    )


# ------------------------------------------------------------------------------------ rendering
def render_collection(
    rows: Sequence[Row],
    uris: Sequence[str],
    shape: Shape,
    *,
    as_json: bool,
    feed_uri: str,
    title: str,
    updated: str,
    next_url: str | None = None,
    count: int | None = None,
) -> tuple[bytes, str]:
    """A collection as JSON or as an Atom feed: the body and its content type."""
    if as_json:
        return json_collection(json_rows(rows, uris, shape), next_url=next_url, count=count), JSON_TYPE
    pairs = list(zip(rows, uris, strict=True))
    body = xml_feed(
        pairs, shape, feed_uri=feed_uri, title=title, updated=updated, next_url=next_url, count=count
    )
    return body, FEED_TYPE


def render_entity(row: Row, uri: str, shape: Shape, *, as_json: bool, updated: str) -> tuple[bytes, str]:
    """A single entity as JSON or as an Atom entry: the body and its content type."""
    if as_json:
        return json_entity(json_row(row, shape, uri)), JSON_TYPE
    return xml_entity(row, shape, uri, updated), ENTRY_TYPE
