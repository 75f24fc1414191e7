"""Action results as JSON carries them, and as table or CSV cells: shared by every way out
(command output, web pages, downloads).

A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to a
spreadsheet, and a record's text comes from whoever typed it into Exact: such a cell is neutralised
with a leading ``'`` (numbers, which cannot be formulas, are left alone), unless the caller asks for
raw CSV.

Records are written many thousands at a time, so the two per-record paths are built for speed:
``json_line`` encodes with orjson (dates, datetimes and GUIDs natively, to the same ISO text as
``plain``), and ``csv_row`` converts each value by its exact type, falling back to ``csv_cell`` for
any other type, so a row is always what ``csv_cell`` would make of each value.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson


def plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``: dates as ISO text, GUIDs as text, an enumeration's member as
    its value, decimals as floats."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as one table or CSV cell: None empty, booleans as true/false, whole floats as such,
    dates ISO, and nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(value)
    value = plain(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def csv_cell(value: Any, *, raw: bool = False) -> str:
    """``cell(value)`` for a CSV file, a text that a spreadsheet would run as a formula neutralised."""
    text = cell(value)
    if raw or not text.startswith(_FORMULA_STARTS) or _is_number(value, text):
        return text
    return "'" + text


def _is_number(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | Decimal):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and "n" not in text.lower()  # not "-inf" / "-nan" spelled as text


def local_moment(epoch: float) -> datetime:
    """Epoch seconds as an aware datetime in the machine's local zone."""
    return datetime.fromtimestamp(epoch).astimezone()


def local_text(epoch: float) -> str:
    """Epoch seconds as a user reads them: local ``YYYY-MM-DD HH:MM:SS``."""
    return local_moment(epoch).strftime("%Y-%m-%d %H:%M:%S")


def local_iso(epoch: float) -> str:
    """Epoch seconds as local ISO 8601 text with its offset, to the second (for JSON and CSV)."""
    return local_moment(epoch).isoformat(timespec="seconds")


# Dates and datetimes go through ``_orjson_default``: orjson's own text of a datetime rounds its UTC
# offset to the minute, and Amsterdam before 1937 was 19 minutes 32 seconds ahead. No IANA zone has
# had an offset of odd seconds since 1972, so from 1973 on (naive, UTC or a ZoneInfo zone) orjson's
# text is ``isoformat``'s, at half the cost; any other datetime is written by ``isoformat`` itself.
_WHOLE_MINUTES_FROM = 1973
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_LINE_OPTIONS = _JSON_OPTIONS | orjson.OPT_APPEND_NEWLINE


def json_default(value: Any) -> Any:
    """What JSON carries for a value it has no type for: ``plain``'s copy, else its text."""
    converted = plain(value)
    if converted is value:
        return str(value)
    return converted


def _orjson_default(value: Any) -> Any:
    """``json_default`` for orjson, a datetime's text made by orjson where it is ``isoformat``'s."""
    if type(value) is datetime:
        zone = value.tzinfo
        if value.year >= _WHOLE_MINUTES_FROM and (zone is None or zone is UTC or type(zone) is ZoneInfo):
            return orjson.Fragment(orjson.dumps(value))
        return value.isoformat()
    return json_default(value)


def json_line(value: Any) -> str:
    """``value`` as one line of compact JSON, newline included (an NDJSON line).

    Values are carried as ``plain`` makes them (dates and datetimes as ISO text, GUIDs as text,
    decimals as numbers, anything else as its text). What orjson cannot write (an integer beyond 64
    bits, text that is not valid Unicode) is written by ``json`` instead, non-ASCII escaped: the
    same values, never lost."""
    try:
        return orjson.dumps(value, _orjson_default, _LINE_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, default=json_default, separators=(",", ":")) + "\n"


# In compact JSON a text value starts right after its opening quote: these bytes show a text that
# may start like a formula (a false alarm, e.g. an escaped quote inside a text, only costs time).
_MAYBE_FORMULA = tuple(f'"{start}'.encode() for start in ("=", "+", "-", "@", "\\t", "\\r"))


_CELL_OPTIONS = _JSON_OPTIONS | orjson.OPT_PASSTHROUGH_SUBCLASS
# In compact JSON a text that starts like a formula shows as a quote and that character (or a tab's
# or a carriage return's escape); a text's own quotes are escaped, so a match preceded by the comma
# or bracket that starts each value of a list is the start of a text.
_FORMULA_START = re.compile(rb'"(?:[=+\-@]|\\[tr])')
_JSON_TEXT = re.compile(rb'"(?:[^"\\]|\\.)*"')
_VALUE_STARTS = b",["


def _truth(value: bool) -> str:
    return "true" if value else "false"


def csv_row(record: Mapping[str, Any], names: Sequence[str], *, raw: bool = False) -> list[Any]:
    """The CSV cells of ``record``'s ``names`` (an absent field is an empty cell): what
    ``[csv_cell(record.get(name), raw=raw) for name in names]`` writes, in a fraction of the time.

    The values go through orjson and back, which turns dates, datetimes, GUIDs and decimals into
    what ``plain`` makes of them in one C call; the cells are then texts, numbers (which ``csv``
    writes as ``str`` does) and ``None`` (an empty cell). Texts that start like a formula are found
    in the JSON and neutralised there, booleans are spelled afterwards. A row with a nested value,
    a number JSON cannot carry (NaN, infinities, an integer beyond 64 bits) or text that is not
    valid Unicode is made value by value by ``csv_cell`` itself."""
    values = list(map(record.get, names))
    return _cells(values, _row_json(values, raw), raw)


def _row_json(values: list[Any], raw: bool) -> bytes | None:
    """The values as a JSON list, formula texts neutralised (unless ``raw``); ``None`` when orjson
    cannot write them or one is nested."""
    try:
        data = orjson.dumps(values, _orjson_default, _CELL_OPTIONS)
    except orjson.JSONEncodeError:
        return None
    if data.find(b"{") != -1 or data.find(b"[", 1) != -1:
        return None
    if not raw and (found := _FORMULA_START.search(data)) is not None:
        data = _neutralised(data, found.start())
    return data


def _cells(values: list[Any], data: bytes | None, raw: bool) -> list[Any]:
    if data is None:
        return [csv_cell(value, raw=raw) for value in values]
    cells: list[Any] = orjson.loads(data)
    if cells.count(None) != values.count(None):  # a number that is not finite became null
        return [csv_cell(value, raw=raw) for value in values]
    if b"true" in data or b"false" in data:
        _spell_booleans(cells)
    return cells


# A number ``str`` writes in exponent form (below 1e-4 or from 1e16 on) or orjson does, once the row
# is known to hold no comma but its separators (a GUID's hex digits, such as "3e8", sit inside
# quotes and do not match). Other floats have the same shortest digits in both.
_EXPONENT = re.compile(rb"[,\[]-?(?:[0-9.]+[eE]|0\.0000|[0-9]{17,}\.)")
_NEVER_EXPONENT = frozenset({str, type(None), bool, int, datetime, date, UUID})
"""Values whose JSON is never a number in exponent form (texts, dates and GUIDs are quoted, an int is
its digits): a row of only these skips the search, which costs more than the rest of the line."""
_FLOATS_TOO = _NEVER_EXPONENT | {float}
_PLAIN_FLOATS = (1e-4, 1e16)
"""Floats from this (included) to that (excluded), and zero, are written with the same digits by
orjson and ``str``, neither in exponent form."""


def _no_exponent(values: list[Any], data: bytes) -> bool:
    """Whether no value of the row is written in exponent form (by ``str`` or orjson): found from the
    values' types, or from each float's size when the others are of ``_NEVER_EXPONENT``'s types (a
    quarter of the time of searching the JSON), else by searching the JSON."""
    kinds = set(map(type, values))
    if kinds <= _NEVER_EXPONENT:
        return True
    if kinds <= _FLOATS_TOO:
        low, high = _PLAIN_FLOATS
        for value in values:
            if value.__class__ is float and value and not low <= abs(value) < high:
                return False
        return True
    return _EXPONENT.search(data) is None


def csv_line(record: Mapping[str, Any], names: Sequence[str], *, raw: bool = False) -> str:
    """``csv_row``'s cells as one line of CSV (``csv.writer``'s, ``\\n`` ended), built straight from
    the JSON when no cell needs quoting: no escape in it (so no quote, line break or control
    character in a text), no comma but the separators, no number in exponent form (written
    differently by orjson and ``str``). Any other row is written by ``csv.writer``."""
    values = list(map(record.get, names))
    data = _row_json(values, raw)
    if (
        data is not None
        and len(values) > 1
        and (
            data.find(b"\\") == -1
            and data.count(b",") == len(values) - 1
            and data.count(b"null") == values.count(None)
            and _no_exponent(values, data)
        )
    ):
        body = (b"," + data[1:-1] + b",").replace(b",null,", b",,").replace(b",null,", b",,")
        return body[1:-1].replace(b'"', b"").decode() + "\n"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(_cells(values, data, raw))
    return buffer.getvalue()


def _neutralised(data: bytes, start: int) -> bytes:
    """``data`` (a JSON list of plain values) with a ``'`` put before each text that starts like a
    formula and is not a number (``csv_cell``'s rule), looking from ``start`` on."""
    pieces: list[bytes] = []
    done = 0
    for found in _FORMULA_START.finditer(data, start):
        at = found.start()
        if data[at - 1] not in _VALUE_STARTS:
            continue  # an escaped quote inside a text
        token = _JSON_TEXT.match(data, at)
        text = orjson.loads(token.group()) if token is not None else ""
        if _is_number(text, text):
            continue
        pieces += (data[done : at + 1], b"'")
        done = at + 1
    pieces.append(data[done:])
    return b"".join(pieces)


def _spell_booleans(cells: list[Any]) -> None:
    kinds = list(map(type, cells))
    at = -1
    for _ in range(kinds.count(bool)):
        at = kinds.index(bool, at + 1)
        cells[at] = _truth(cells[at])
