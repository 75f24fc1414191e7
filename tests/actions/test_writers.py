"""actions.writers: the JSON, NDJSON and CSV text the command line and the web UI both write, piece by
piece and reading each record only when it is needed."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

from exactmate.actions import writers

ID = UUID("6e0e2f4a-1111-4222-8333-944455556666")


def rows(n: int, read: list[int]) -> Iterator[dict[str, Any]]:
    for i in range(n):
        read.append(i)
        yield {"ID": ID, "Date": date(2026, 5, 4), "Notes": f"row {i}", "Quantity": 7.5}


def test_csv_json_and_ndjson_say_the_same_records() -> None:
    made = list(rows(3, []))
    as_csv = list(csv.DictReader(io.StringIO("".join(writers.chunks(made, "csv")))))
    as_json = json.loads("".join(writers.chunks(made, "json")))
    as_ndjson = [json.loads(line) for line in "".join(writers.chunks(made, "ndjson")).splitlines()]
    assert as_json == as_ndjson
    assert as_json[0] == {"ID": str(ID), "Date": "2026-05-04", "Notes": "row 0", "Quantity": 7.5}
    assert [r["Notes"] for r in as_csv] == ["row 0", "row 1", "row 2"]
    assert as_csv[2]["Date"] == "2026-05-04" and as_csv[2]["ID"] == str(ID)


def test_empty_inputs() -> None:
    assert "".join(writers.chunks([], "json")) == "[]\n"
    assert "".join(writers.chunks([], "ndjson")) == ""
    assert "".join(writers.chunks([], "csv")) == ""
    assert "".join(writers.chunks([], "csv", columns=["ID", "Date"])) == "ID,Date\n"


def test_csv_neutralises_formulas_unless_raw() -> None:
    record = [{"Notes": "=HYPERLINK(\"http://x\")", "Code": "+31"}]
    safe = "".join(writers.chunks(record, "csv")).splitlines()[1]
    raw = "".join(writers.chunks(record, "csv", raw_csv=True)).splitlines()[1]
    assert safe.startswith('"\'=HYPERLINK') and raw.startswith('"=HYPERLINK')


def test_division_is_kept_in_csv_when_columns_are_chosen() -> None:
    text = "".join(writers.chunks([{"ID": 1, "Division": 100001}], "csv", columns=["ID"]))
    assert text.splitlines()[0] == "Division,ID"


def test_records_are_read_as_the_text_is_taken_not_before() -> None:
    """A consumer that has taken the first piece has made the writer read only part of the
    records: 20,000 rows of CSV come in several pieces, each under twice the chunk size."""
    for fmt in writers.FILE_FORMATS:
        read: list[int] = []
        pieces = writers.chunks(rows(20_000, read), fmt)
        first = next(pieces)
        assert len(read) < 20_000, fmt
        rest = list(pieces)
        assert len(read) == 20_000
        if fmt == "csv":
            assert len(rest) >= 10 and max(len(p) for p in (first, *rest)) < 2 * writers.CHUNK


def test_write_counts_what_it_wrote() -> None:
    out = io.StringIO()
    assert writers.write(rows(5, []), "ndjson", out) == 5
    assert len(out.getvalue().splitlines()) == 5
