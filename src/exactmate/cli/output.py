"""Records out: a table, JSON, NDJSON or CSV, streamed so that any number of records runs in flat
memory.

JSON, NDJSON and CSV are written by ``actions.writers`` (shared with the web UI's downloads), each
record as it arrives. A table needs its column widths, so it is
printed in batches of ``TABLE_BATCH`` rows; a table of records with many fields shows the identifying
ones first (``actions.picker.IDENTIFYING_FIELDS``), at most ``TABLE_COLUMNS``, and says how to see
the rest. An ID, a GUID, a date or a number is never cut or wrapped: text columns wrap first, and
when the terminal is too narrow even so, the last columns are left out with a hint. Values are
written as JSON would carry them: dates as ISO text, GUIDs as text; in tables and CSV an empty value
is an empty cell.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from uuid import UUID

from exactmate.actions import writers
from exactmate.actions.picker import identifying_first
from exactmate.actions.presentation import cell
from exactmate.actions.writers import to_json
from exactmate.cli.formats import Format as Format  # re-exported: the commands import it from here
from exactmate.errors import ValidationError

if TYPE_CHECKING:  # Rich is imported when a table is printed: records to a file need none
    from rich.console import Console

TABLE_BATCH = 500
TABLE_COLUMNS = 8
PIPE_WIDTH = 200
"""Tables written to a file or a pipe are this wide: no terminal tells how wide to be."""
WRITE_BUFFER = 1 << 20
"""An ``--output`` file takes the records a mebibyte at a time. With Python's 8 KiB, a 20,000-record
read made 10,000 writes, and at each the read-ahead thread took the interpreter for up to 5 ms: a
tenth of the command's time (docs/benchmarks.md, "Output speed")."""
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


_FILE_FORMATS: dict[Format, writers.FileFormat] = {
    Format.json: "json",
    Format.ndjson: "ndjson",
    Format.csv: "csv",
}


def check_output(path: Path | None, *, overwrite: bool) -> None:
    """Refuse, before anything is read, an ``--output`` file that exists (unless ``overwrite``)."""
    if path is not None and path.expanduser().exists() and not overwrite:
        hint = "pass --overwrite to replace it, or choose another --output"
        raise ValidationError(f"{path} exists already; nothing was read", hint=hint)


@contextmanager
def destination(path: Path | None, *, overwrite: bool = False) -> Iterator[IO[str]]:
    """The file ``--output`` names, else standard output.

    The records go to a temporary file beside it, moved into place only once everything is written:
    an interrupted or failed run never leaves a half-written file, nor destroys the one it would
    have replaced. An existing file is replaced only with ``overwrite``."""
    if path is None:
        yield sys.stdout
        return
    target = path.expanduser()
    check_output(path, overwrite=overwrite)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent or None)
    except OSError as exc:
        raise ValidationError(f"Cannot write {path}: {exc.strerror}", hint="check --output") from None
    partial = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=WRITE_BUFFER) as handle:
            yield handle
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        print(f"{path} was not written: the run did not finish, and half a file misleads", file=sys.stderr)
        raise


def write_records(
    records: Iterable[Mapping[str, Any]],
    fmt: Format,
    out: IO[str],
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    raw_csv: bool = False,
) -> int:
    """Write ``records`` as they come; returns how many were written. CSV cells a spreadsheet would
    run as formulas are neutralised unless ``raw_csv`` (see ``actions.presentation.csv_cell``)."""
    if fmt is Format.table:
        return _write_table(iter(records), out, columns, title)
    return writers.write(records, _FILE_FORMATS[fmt], out, columns=columns, raw_csv=raw_csv)


def write_encoded(pieces: Iterable[bytes], out: IO[str]) -> None:
    """Write text already encoded as UTF-8 (``Listing.ndjson``) onto the bytes under ``out``: a
    text stream would decode it and encode it again, two thirds of the time a 4 MB page takes to
    write. A stream without bytes under it (a test's) gets the text."""
    out.flush()
    raw: IO[bytes] | None = getattr(out, "buffer", None)
    for piece in pieces:
        if raw is None:
            out.write(piece.decode())
        else:
            raw.write(piece)
    (out if raw is None else raw).flush()


def _write_table(
    records: Iterator[Mapping[str, Any]], out: IO[str], columns: Sequence[str] | None, title: str | None
) -> int:
    console = table_console(out)
    first = next(records, None)
    if first is None:
        console.print("(no records)")
        return 0
    names = list(columns) if columns else identifying_first(list(first))
    if "Division" in first and "Division" not in names:
        names.insert(0, "Division")
    hidden = names[TABLE_COLUMNS:] if not columns else []
    shown = names[:TABLE_COLUMNS] if not columns else names
    count = 0
    batch: list[Mapping[str, Any]] = []
    for record in _chain(first, records):
        batch.append(record)
        if len(batch) == TABLE_BATCH:
            count += _print_batch(console, shown, batch, title if count == 0 else None, hidden)
            batch = []
    if batch:
        count += _print_batch(console, shown, batch, title if count == 0 else None, hidden)
    if hidden:
        console.print(
            f"[dim]{len(hidden)} more field(s) not shown ({', '.join(hidden[:6])}"
            f"{', …' if len(hidden) > 6 else ''}): choose with --select, or use --format json[/dim]"
        )
    return count


_CELL_FRAME = 3  # a column's border and padding
_NARROWEST_TEXT = 8  # a text column is not squeezed below this (it wraps instead)


def _print_batch(
    console: Console,
    names: list[str],
    rows: Sequence[Mapping[str, Any]],
    title: str | None,
    hidden: list[str],
) -> int:
    """Print one batch; columns the width cannot hold whole (after wrapping the text ones) go to
    ``hidden``, and stay there for the batches after."""
    whole = {name: _whole_width(name, rows) for name in names}
    fitted = list(names)

    def needed() -> int:
        return 1 + sum((whole[n] or min(len(n), _NARROWEST_TEXT)) + _CELL_FRAME for n in fitted)

    while len(fitted) > 1 and needed() > console.width:
        dropped = fitted.pop()
        if dropped not in hidden:
            hidden.insert(0, dropped)
    names[:] = fitted
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name in fitted:
        if whole[name]:
            table.add_column(name, no_wrap=True, min_width=whole[name])
        else:
            table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(name)) for name in fitted))
    console.print(table)
    return len(rows)


def _whole_width(name: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """The width a column needs when its values must stay whole (IDs, GUIDs, dates, numbers), else 0."""
    values = [row.get(name) for row in rows if row.get(name) not in (None, "")]
    if not values or not all(_kept_whole(name, value) for value in values):
        return 0
    return max(len(name), *(len(cell(value)) for value in values))


def _kept_whole(name: str, value: Any) -> bool:
    if isinstance(value, bool | int | float | Decimal | date | UUID):
        return True
    text = str(value)
    return name == "ID" or name.endswith("ID") and len(text) <= 40 or bool(_GUID.fullmatch(text))


def write_record(
    record: Mapping[str, Any], fmt: Format, out: IO[str], *, title: str | None = None, raw_csv: bool = False
) -> None:
    """One record: a Field/Value table, an object, one NDJSON line or a one-row CSV."""
    if fmt is Format.table:
        from rich.table import Table

        console = table_console(out)
        table = Table("Field", "Value", title=title)
        for name, value in record.items():
            table.add_row(name, cell(value))
        console.print(table)
    elif fmt is Format.json:
        out.write(to_json(record, indent=2) + "\n")
    else:
        write_records([record], fmt, out, raw_csv=raw_csv)


def table_console(out: IO[str]) -> Console:
    """A console for tables on ``out``: the terminal's width, or ``PIPE_WIDTH`` off a terminal."""
    from rich.console import Console

    try:
        terminal = out.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return Console(file=out, soft_wrap=False, highlight=False, width=None if terminal else PIPE_WIDTH)


def _chain(first: Mapping[str, Any], rest: Iterator[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    yield first
    yield from rest
