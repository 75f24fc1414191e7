"""A page's records written as NDJSON lines straight from its bytes, for whole reads that only write
their records out (``exactmate get --all --format ndjson``).

The general path parses a page into a dict per record, converts its dates to datetimes, and then
writes each dict as a line: three passes over every value. ``LineShape`` decodes the page into
``msgspec`` structs made from the read's fields (a record's ``__metadata`` is skipped, not built),
turns its date strings into the ISO text the general path writes, and encodes all its lines in one
call: two fifths of the time on a 1,000-record page of every account field (docs/benchmarks.md).

The lines are those the general path writes (``actions.presentation.json_line``): the same fields
in the same order (the order of the first record the read brought, which is how the shape is made),
dates as ``datetime.isoformat`` text in Amsterdam time, absent fields absent, ``Division`` first
when the read asked for it. Two spellings differ, the values never: a float of 1e16 or more is
written ``1e16``, not ``1e+16``, and a line holding an integer beyond 64 bits keeps its other text
as UTF-8 where ``json_line`` (falling back to ``json.dumps``) escapes it. A page the shape cannot
carry exactly (a field the first record did not have, an object as a value, a record without its
``__metadata``, anything ``msgspec`` refuses) is not written here: ``LineShape.page`` returns None
and the caller reads that page the general way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import msgspec

from exactmate.odata.dates import IsoDates
from exactmate.odata.envelope import inline_count

_METADATA = "__metadata"
_VALUE = str | int | float | bool | None | list[Any]
"""A field's value in a line: anything JSON holds but an object, which (a navigation stub, an
expansion) the general path would strip or flatten: a page with one is left to it."""


class _Metadata(msgspec.Struct):
    """A record's ``__metadata``: required to be an object, its content skipped."""


class _Link(msgspec.Struct, forbid_unknown_fields=True):
    """A navigation property not expanded: ``{"__deferred": {"uri": …}}``, its content skipped."""

    deferred: _Metadata = msgspec.field(name="__deferred")


@dataclass(frozen=True)
class LinedPage:
    """One page as NDJSON: its lines (each record's, newline included), how many, and the page's
    ``__next`` link and ``__count`` as ``envelope.unwrap`` reads them."""

    lines: bytes
    size: int
    next_url: str | None
    count: int | None


class LineShape:
    """The lines of one read's pages, each record with the fields ``names`` in that order.

    ``dates``: which of them are ``Edm.DateTime`` (written as ISO text). ``links``: navigation
    properties a record may bring as ``{"__deferred": …}`` (a read without ``$select``), left out
    as the general path leaves them out. ``division``: a ``Division`` field first in every line,
    this number when the record has none of its own (as ``exactmate get --division all`` tags its
    records); None: no such field added."""

    __slots__ = ("_dates", "_decoder", "_encoder", "_links", "_text")

    def __init__(
        self,
        names: Sequence[str],
        dates: Collection[str],
        *,
        links: Collection[str] = (),
        division: int | None = None,
    ) -> None:
        if _METADATA in names:
            raise ValueError("a record's fields do not include its __metadata")
        links = [name for name in links if name not in names]
        order = list(names)
        if division is not None:
            order = ["Division", *(name for name in order if name != "Division")]
        # Struct attributes are f0, f1, … (any field name is then a valid one), renamed to the names.
        spec: list[tuple[str, Any, Any]] = [
            (f"f{index}", _VALUE, division if division is not None and index == 0 else msgspec.UNSET)
            for index in range(len(order))
        ]
        spec += [(f"l{index}", _Link, msgspec.UNSET) for index in range(len(links))]
        spec.append(("metadata", _Metadata, msgspec.NODEFAULT))
        rename = {f"f{index}": name for index, name in enumerate(order)} | {"metadata": _METADATA}
        rename |= {f"l{index}": name for index, name in enumerate(links)}
        row = msgspec.defstruct("Row", spec, rename=rename, forbid_unknown_fields=True, kw_only=True)
        body = msgspec.defstruct(
            "Body",
            [("results", list[row]), ("next", Any, None), ("count", Any, None)],  # type: ignore[valid-type]
            rename={"next": "__next", "count": "__count"},
        )
        envelope = msgspec.defstruct("Envelope", [("d", body)])
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(envelope)
        self._encoder = msgspec.json.Encoder()
        wanted = set(dates)
        self._dates = tuple(f"f{index}" for index, name in enumerate(order) if name in wanted)
        self._links = tuple(f"l{index}" for index in range(len(links)))
        self._text = IsoDates()

    def page(self, content: bytes) -> LinedPage | None:
        """The page's lines, or None when this shape cannot write them exactly (see the module)."""
        try:
            body = self._decoder.decode(content).d
        except msgspec.DecodeError:  # a field not in the shape, an object as a value, NaN, …
            return None
        rows = body.results
        unset = msgspec.UNSET
        for row in rows:
            row.metadata = unset
        for name in self._links:
            for row in rows:
                setattr(row, name, unset)
        text = self._text
        for name in self._dates:
            values = list(map(attrgetter(name), rows))
            if values.count(None) == len(values):  # a field nobody filled in: common, and skipped at C speed
                continue
            for row, value in zip(rows, values, strict=True):
                if value.__class__ is str and value[:6] == "/Date(":  # other values are written as they came
                    setattr(row, name, text(value))
        next_url = body.next if isinstance(body.next, str) and body.next else None
        return LinedPage(self._encoder.encode_lines(rows), len(rows), next_url, inline_count(body.count))
