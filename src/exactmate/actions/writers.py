"""Records as JSON, NDJSON or CSV text, produced one record at a time so that any number of records
is written in flat memory.

The one home of these file formats: ``exactmate get -f csv`` (and every other command's output), the
web page's downloads and its export of all rows all write through here. ``chunks`` yields the text
piece by piece (a web response streams it as it comes); ``write`` puts it on an open file. Values
are made plain first (dates as ISO text, GUIDs as text, see ``actions.presentation``); CSV cells that a
spreadsheet would run as formulas are neutralised unless ``raw_csv`` (see ``actions.presentation.csv_cell``).
NDJSON and CSV lines are made by orjson (``presentation.json_line``, compact JSON, and
``presentation.csv_line``, the same text as before), several times faster than ``json`` and
``csv.DictWriter`` (see docs/benchmarks.md); a JSON file keeps ``json``'s spacing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Literal, get_args

from exactmate.actions.presentation import csv_line, json_default, json_line

FileFormat = Literal["json", "ndjson", "csv"]
FILE_FORMATS: tuple[FileFormat, ...] = get_args(FileFormat)
MEDIA_TYPES: dict[FileFormat, str] = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
}
CHUNK = 64 * 1024
"""CSV rows are handed out in pieces of about this many characters."""


def to_json(value: Any, *, indent: int | None = None) -> str:
    """JSON text of any result (records, summaries, requests)."""
    return json.dumps(value, default=json_default, ensure_ascii=False, indent=indent)


def chunks(
    records: Iterable[Mapping[str, Any]],
    fmt: FileFormat,
    *,
    columns: Sequence[str] | None = None,
    raw_csv: bool = False,
) -> Iterator[str]:
    """The text of ``records`` in ``fmt``, piece by piece, each record read only when needed.

    CSV columns are ``columns`` when given, else the first record's fields (with ``Division`` first
    when the records carry it)."""
    if fmt == "csv":
        return _csv(iter(records), columns, raw_csv)
    if fmt == "ndjson":
        return map(json_line, records)
    return _json(iter(records))


def write(
    records: Iterable[Mapping[str, Any]],
    fmt: FileFormat,
    out: IO[str],
    *,
    columns: Sequence[str] | None = None,
    raw_csv: bool = False,
) -> int:
    """Write ``records`` to ``out`` as they come; returns how many were written."""
    counted = _Counted(records)
    for piece in chunks(counted, fmt, columns=columns, raw_csv=raw_csv):
        out.write(piece)
    out.flush()
    return counted.count


class _Counted:
    def __init__(self, records: Iterable[Mapping[str, Any]]) -> None:
        self._records = records
        self.count = 0

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        for record in self._records:
            self.count += 1
            yield record


def _json(records: Iterator[Mapping[str, Any]]) -> Iterator[str]:
    yield "["
    first = True
    for record in records:
        yield ("\n  " if first else ",\n  ") + to_json(record)
        first = False
    yield "]\n" if first else "\n]\n"


def _csv(records: Iterator[Mapping[str, Any]], columns: Sequence[str] | None, raw: bool) -> Iterator[str]:
    buffer = io.StringIO()
    first = next(records, None)
    if first is None:
        if columns:
            csv.writer(buffer, lineterminator="\n").writerow(columns)
            yield buffer.getvalue()
        return
    names = list(columns) if columns else list(first)
    if "Division" in first and "Division" not in names:
        names.insert(0, "Division")
    csv.writer(buffer, lineterminator="\n").writerow(names)
    buffer.write(csv_line(first, names, raw=raw))
    for record in records:
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        buffer.write(csv_line(record, names, raw=raw))
    yield buffer.getvalue()
