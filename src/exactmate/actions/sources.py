"""Entries from a file: CSV, JSON or NDJSON rows with their row numbers and the file's content hash.

Rows are numbered from 1 in the order they appear (for CSV: data rows, the header not counted), and
every message about a row uses that number. Which entry a row *is* does not depend on the file (see
``exactmate.actions.identity``); the content hash only names the file, as the journal of exactmate
before the row identity rule did.

Empty CSV cells mean "not set": the field is left out rather than sent empty.

Files come from spreadsheets as often as from programs, so CSV is read the way Excel writes it in
each country: the separator (comma, semicolon or tab) is detected from the header row unless given,
and text is UTF-8 (with or without a byte-order mark) or, failing that, Windows-1252. Whatever is
wrong with a file (a cell larger than any entry needs, JSON nested past reason, a number of thousands
of digits) is a ``ValidationError`` naming the row, never a traceback.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from exactmate.errors import ValidationError

FileFormat = Literal["csv", "json", "ndjson"]
_SUFFIXES: Mapping[str, FileFormat] = {
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
MAX_FILE_BYTES = 200 * 1024 * 1024
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_FIELD_LIMIT = csv.field_size_limit()


@dataclass(frozen=True)
class Row:
    """One entry as written in the file: its number (from 1) and its field values."""

    number: int
    values: Mapping[str, Any]


@dataclass(frozen=True)
class EntrySource:
    """The rows of one file, and the name the create journal knows the file by."""

    source_id: str
    name: str
    rows: tuple[Row, ...]
    delimiter: str | None = None  # the CSV separator used, given or detected

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def content_source_id(data: bytes) -> str:
    """``sha256:<hex>`` of the bytes: the journal's name for a file, independent of its path."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def detect_format(name: str, explicit: str | None = None) -> FileFormat:
    """The format named explicitly, else the one the file name's suffix says."""
    if explicit is not None:
        lowered = explicit.strip().lower()
        if lowered in ("csv", "json", "ndjson"):
            return lowered  # type: ignore[return-value]
        if lowered == "jsonl":
            return "ndjson"
        raise ValidationError(f"Unknown file format {explicit!r}", hint="use csv, json or ndjson")
    suffix = Path(name).suffix.lower()
    found = _SUFFIXES.get(suffix)
    if found is None:
        raise ValidationError(
            f"Cannot tell the format of {name!r} from its name",
            hint="name it .csv, .json or .ndjson, or pass --file-format csv|json|ndjson",
        )
    return found


def read_entries(
    path: str | Path, *, file_format: str | None = None, delimiter: str | None = None
) -> EntrySource:
    """The rows of a CSV, JSON (a list of objects) or NDJSON (one object a line) file; ``-`` is stdin.

    ``delimiter``: the CSV separator (``,``, ``;`` or a tab; ``None`` detects it from the header).
    Every malformed row is reported at once, each with its number, in one ``ValidationError``.
    """
    name = str(path)
    if name == "-":
        data = _read_stream(sys.stdin.buffer, "standard input")
        fmt = detect_format("stdin", file_format or "ndjson")
    else:
        fmt = detect_format(name, file_format)
        file = Path(name).expanduser()
        if not file.is_file():
            raise ValidationError(f"No such file: {name}", hint="check the path given to --file")
        with file.open("rb") as handle:
            data = _read_stream(handle, name)
    return parse_entries(data, fmt, name=name, delimiter=delimiter)


def parse_entries(
    data: bytes, file_format: FileFormat, *, name: str = "entries", delimiter: str | None = None
) -> EntrySource:
    """Rows from the bytes of a file in ``file_format``; see ``read_entries``."""
    text = _decode(data, name, file_format)
    used: str | None = None
    if file_format == "csv":
        used = check_delimiter(delimiter) if delimiter is not None else detect_delimiter(text)
        rows, problems = _csv_rows(text, used)
        if problems and delimiter is None:
            problems.append(_delimiter_note(used))
    else:
        rows, problems = (_json_rows if file_format == "json" else _ndjson_rows)(text)
    if problems:
        raise ValidationError(f"{name} cannot be read", problems=problems)
    if not rows:
        raise ValidationError(f"{name} holds no entries", hint="add at least one row")
    return EntrySource(source_id=content_source_id(data), name=name, rows=tuple(rows), delimiter=used)


def _decode(data: bytes, name: str, file_format: FileFormat) -> str:
    """UTF-8 (a byte-order mark is dropped); a CSV that is not UTF-8 is read as Windows-1252, what
    Excel on Windows saves by default ("CSV (delimited)")."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if file_format == "csv":
            try:
                return data.decode("cp1252")
            except UnicodeDecodeError:
                pass
        raise ValidationError(
            f"{name} is not UTF-8 text (byte {exc.start} cannot be read)", hint="save the file as UTF-8"
        ) from None


def check_delimiter(delimiter: str) -> str:
    """A CSV separator as a user gives it: ``,`` ``;`` a tab, ``\\t``, or ``comma`` ``semicolon`` ``tab``."""
    named = {word: sign for sign, word in DELIMITERS.items()}
    given = delimiter if delimiter in DELIMITERS else named.get(delimiter.strip().lower(), "")
    given = "\t" if delimiter == "\\t" else given
    if not given:
        raise ValidationError(
            f"{delimiter!r} is not a CSV separator exactmate reads",
            hint="use --delimiter ',' or --delimiter ';' or --delimiter tab",
        )
    return given


def detect_delimiter(text: str) -> str:
    """The separator of a CSV file: of comma, semicolon and tab, the one its header row uses most
    (outside quotes); a comma when the header has none (a file of one column)."""
    line = text.split("\n", 1)[0]
    counts = {sign: _unquoted(line).count(sign) for sign in DELIMITERS}
    best = max(counts, key=lambda sign: counts[sign])
    return best if counts[best] > 0 else ","


def _unquoted(line: str) -> str:
    """``line`` without its quoted parts: a separator inside quotes separates nothing."""
    return "".join(part for index, part in enumerate(line.split('"')) if index % 2 == 0)


def _delimiter_note(used: str) -> str:
    others = " or ".join(f"--delimiter {_shell_sign(sign)}" for sign in DELIMITERS if sign != used)
    return (
        f"the file was read as {DELIMITERS[used]}-separated (detected from the header); "
        f"if that is wrong, pass {others}"
    )


def _shell_sign(sign: str) -> str:
    return "tab" if sign == "\t" else f"'{sign}'"


def _read_stream(stream: BinaryIO, name: str) -> bytes:
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValidationError(
            f"{name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB", hint="split it into smaller files"
        )
    return data


def _csv_rows(text: str, delimiter: str) -> tuple[list[Row], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _csv_table(reader)
    except csv.Error as exc:
        where = f"line {reader.line_num}"
        if "field larger than field limit" in str(exc):
            limit = f"{_FIELD_LIMIT:,} characters"
            return [], [f"{where}: a cell is longer than {limit}, far more than any entry needs"]
        return [], [f"{where}: {exc}"]


def _csv_table(reader: Iterator[list[str]]) -> tuple[list[Row], list[str]]:
    header = next(reader, None)
    if header is None:
        return [], []
    names = [h.strip() for h in header]
    problems: list[str] = []
    if any(not n for n in names):
        problems.append("the header row has an empty column name")
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        problems.append(f"the header row names {', '.join(dupes)} more than once")
    if problems:
        return [], problems
    rows: list[Row] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines carry no entry and get no number
        number = len(rows) + 1
        if len(cells) != len(names):
            problems.append(f"row {number}: {len(cells)} cells, but the header has {len(names)} columns")
            rows.append(Row(number, {}))
            continue
        rows.append(Row(number, {n: c for n, c in zip(names, cells, strict=True) if c.strip() != ""}))
    return rows, problems


def _json_rows(text: str) -> tuple[list[Row], list[str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
    except (RecursionError, ValueError) as exc:
        return [], [_json_limit(exc)]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        return [], ["expected a JSON list of objects (one per entry)"]
    return _objects(list(enumerate(data, start=1)))


def _ndjson_rows(text: str) -> tuple[list[Row], list[str]]:
    items: list[tuple[int, Any]] = []
    problems: list[str] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        number = len(items) + 1
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"row {number} (line {line_number}): not valid JSON: {exc.msg}")
            items.append((number, {}))
        except (RecursionError, ValueError) as exc:
            problems.append(f"row {number} (line {line_number}): {_json_limit(exc)}")
            items.append((number, {}))
    rows, more = _objects(items)
    return rows, problems + more


def _json_limit(exc: RecursionError | ValueError) -> str:
    """What a JSON document too large to hold in Python says: nesting or a number beyond reason."""
    if isinstance(exc, RecursionError):
        return "the JSON is nested too deeply to be an entry (objects or lists inside each other)"
    return "a number in the JSON has more digits than any field can hold"


def _objects(items: list[tuple[int, Any]]) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    problems: list[str] = []
    for number, item in items:
        if not isinstance(item, Mapping):
            problems.append(f"row {number}: expected an object of Field: value, got {type(item).__name__}")
            item = {}
        rows.append(Row(number, dict(item)))
    return rows, problems
