"""Output rendering: the four formats, streaming record by record, progress only on a terminal."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from exactmate.cli import output, session
from exactmate.cli.output import Format, write_record, write_records
from exactmate.cli.progress import progress
from exactmate.errors import ValidationError

WHEN = datetime(2026, 3, 2, 9, 30)
RECORDS = [
    {"ID": UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301"), "Date": WHEN, "Quantity": 7.5, "Notes": None},
    {"ID": UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3302"), "Date": None, "Quantity": 2.0, "Notes": "a, \"b\""},
]


def test_ndjson_and_json_carry_dates_and_guids_as_text() -> None:
    out = io.StringIO()
    assert write_records(RECORDS, Format.ndjson, out) == 2
    first = json.loads(out.getvalue().splitlines()[0])
    assert first == {"ID": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "Date": "2026-03-02T09:30:00",
                     "Quantity": 7.5, "Notes": None}
    out = io.StringIO()
    write_records(RECORDS, Format.json, out)
    assert [r["Quantity"] for r in json.loads(out.getvalue())] == [7.5, 2.0]
    empty = io.StringIO()
    write_records([], Format.json, empty)
    assert json.loads(empty.getvalue()) == []


def test_csv_quotes_and_leaves_empty_cells() -> None:
    out = io.StringIO()
    write_records(RECORDS, Format.csv, out, columns=["Notes", "Quantity"])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["Notes", "Quantity"], ["", "7.5"], ['a, "b"', "2.0"]]


FORMULAS = [
    {"Name": "=HYPERLINK(\"http://x\",\"y\")", "Code": "+31 20 1234", "Notes": "-2+3", "City": "@SUM(A1)",
     "Quantity": -7.5, "Text": "-7.5", "Tab": "\tcmd", "Plain": "A-1"},
]  # fmt: skip


def test_csv_neutralises_formulas_unless_raw_is_asked_for() -> None:
    out = io.StringIO()
    write_records(FORMULAS, Format.csv, out)
    [header, row] = list(csv.reader(io.StringIO(out.getvalue())))
    cells = dict(zip(header, row, strict=True))
    assert cells["Name"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert (cells["Code"], cells["Notes"], cells["City"]) == ("'+31 20 1234", "'-2+3", "'@SUM(A1)")
    assert cells["Tab"] == "'\tcmd"
    assert (cells["Quantity"], cells["Text"], cells["Plain"]) == ("-7.5", "-7.5", "A-1")  # numbers stay
    raw = io.StringIO()
    write_records(FORMULAS, Format.csv, raw, raw_csv=True)
    assert list(csv.reader(io.StringIO(raw.getvalue())))[1][0] == "=HYPERLINK(\"http://x\",\"y\")"
    single = io.StringIO()
    write_record(FORMULAS[0], Format.csv, single)
    assert "'=HYPERLINK" in single.getvalue()


def test_division_tags_lead_csv_and_tables() -> None:
    tagged = [{"Division": 100001, "Code": "A"}]
    out = io.StringIO()
    write_records(tagged, Format.csv, out, columns=["Code"])
    assert out.getvalue().splitlines() == ["Division,Code", "100001,A"]


def test_records_are_written_as_they_arrive() -> None:
    """Nothing is collected: each record is on the stream before the next one is asked for."""
    out = io.StringIO()

    def produce() -> Iterator[dict[str, Any]]:
        for n in range(3):
            if n:
                assert out.getvalue().count("\n") == n  # the previous record is already written
            yield {"n": n}

    assert write_records(produce(), Format.ndjson, out) == 3


def test_wide_tables_show_the_first_columns_and_say_how_to_see_more() -> None:
    record = {f"Field{n}": n for n in range(12)}
    out = io.StringIO()
    write_records([record], Format.table, out)
    text = out.getvalue()
    assert "Field7" in text and "Field8" not in text.split("more field")[0]
    assert "4 more field(s) not shown" in text and "--select" in text


TIME_ENTRIES = [
    {
        "Account": None,
        "Activity": UUID("00000000-0000-4000-8000-00000000a001"),
        "Created": datetime(2026, 11, 20, 8, 1, 2),
        "Date": datetime(2026, 11, 20),
        "Employee": UUID("00000000-0000-4000-8000-00000000e001"),
        "HourStatus": 1,
        "ID": UUID(f"3f2504e0-4f89-11d3-9a0c-0305e82c33{n:02}"),
        "Item": UUID("00000000-0000-4000-8000-00000000c001"),
        "Notes": "Workshop with the customer about the new invoicing flow " * 2,
        "Project": UUID("00000000-0000-4000-8000-00000000b001"),
        "Quantity": 7.5,
    }
    for n in range(3)
]


def test_at_80_columns_ids_and_dates_stay_whole_and_identifying_fields_lead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = Stream(True)
    write_records(TIME_ENTRIES, Format.table, out)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # a terminal gets colours
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for entry in TIME_ENTRIES:
        assert str(entry["ID"]) in text  # never cut, never wrapped
    assert "2026-11-20T00:00:00" in text
    header = next(line for line in lines if "ID" in line)
    assert header.index("ID") < header.index("Date") < header.index("Quantity")  # which entry first
    assert "not shown (" in text and "--select" in text  # what did not fit is named


def test_tables_are_printed_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "TABLE_BATCH", 2)
    out = io.StringIO()
    assert write_records(({"n": n} for n in range(5)), Format.table, out) == 5
    assert out.getvalue().count("┏") == 3


def test_one_record_as_a_field_value_table() -> None:
    out = io.StringIO()
    write_record(RECORDS[0], Format.table, out)
    assert "Field" in out.getvalue() and "2026-03-02T09:30:00" in out.getvalue()


def test_output_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="Cannot write"), output.destination(tmp_path / "no" / "x.csv"):
        pass


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdout", Stream(False))
    assert session.show_progress(Stream(True)) is True
    assert session.show_progress(Stream(False)) is False
    monkeypatch.setattr("sys.stdout", Stream(True))
    assert session.show_progress(Stream(True), data_on_screen=True) is False  # would interleave
    assert session.show_progress(Stream(True), data_on_screen=False) is True
    with progress("x", 3, enabled=False) as advance:
        advance(1)


def test_the_progress_bar_draws_on_standard_error(monkeypatch: pytest.MonkeyPatch) -> None:
    err = Stream(True)
    monkeypatch.setattr("sys.stderr", err)
    with progress("Reading crm/Accounts", None, enabled=True) as advance:
        advance(1000)
        advance(500)
    assert "Reading crm/Accounts" in err.getvalue()


def test_file_formats_are_pinned_byte_for_byte() -> None:
    """NDJSON lines are compact JSON, ``--format json`` keeps ``json``'s spacing, CSV is
    comma-separated with ``\\n`` ends: the exact text, so a change of format is a decision."""
    texts = {}
    for fmt in (Format.ndjson, Format.json, Format.csv):
        out = io.StringIO()
        write_records(RECORDS, fmt, out)
        texts[fmt] = out.getvalue()
    assert texts[Format.ndjson] == (
        '{"ID":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","Date":"2026-03-02T09:30:00","Quantity":7.5,"Notes":null}\n'
        '{"ID":"3f2504e0-4f89-11d3-9a0c-0305e82c3302","Date":null,"Quantity":2.0,"Notes":"a, \\"b\\""}\n'
    )
    assert texts[Format.json] == (
        '[\n  {"ID": "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "Date": "2026-03-02T09:30:00", "Quantity": 7.5, '
        '"Notes": null},\n  {"ID": "3f2504e0-4f89-11d3-9a0c-0305e82c3302", "Date": null, "Quantity": 2.0, '
        '"Notes": "a, \\"b\\""}\n]\n'
    )
    assert texts[Format.csv] == (
        "ID,Date,Quantity,Notes\n"
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301,2026-03-02T09:30:00,7.5,\n"
        '3f2504e0-4f89-11d3-9a0c-0305e82c3302,,2.0,"a, ""b"""\n'
    )
