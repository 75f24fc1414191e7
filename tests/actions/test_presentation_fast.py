"""The fast record paths of ``actions.presentation``: ``json_line`` (NDJSON) and ``csv_row`` (CSV).

Their text is pinned byte for byte, and ``csv_row`` is checked against ``csv_cell`` value by value
over generated rows, so the fast path can never write what the plain rule would not."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from exactmate.actions.presentation import csv_cell, csv_line, csv_row, json_line
from exactmate.odata.dates import AMSTERDAM

GUID = UUID("3f2504e0-4f89-11d3-9a0c-0305e82c3301")
SUMMER = datetime(2026, 7, 1, 9, 30, 15, 123000, tzinfo=AMSTERDAM)
OLD = datetime(1920, 1, 15, tzinfo=AMSTERDAM)  # Amsterdam was 19 min 32 s ahead of UTC until 1937


class Colour(Enum):
    RED = "red"


class Kind(StrEnum):
    HOURS = "hours"


def test_json_line_text_is_pinned() -> None:
    record = {
        "ID": GUID,
        "Created": SUMMER,
        "Born": OLD,
        "Day": date(2026, 1, 2),
        "Naive": datetime(2026, 3, 2, 9, 30),
        "Utc": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        "Price": Decimal("12.50"),
        "Quantity": 7.5,
        "Big": 1e16,
        "Count": 3,
        "Blocked": False,
        "Notes": None,
        "Name": 'Café "Het Hoekje", Zoë',
        "Nested": {"Sub": [1, GUID]},
        "Colour": Colour.RED,
        "Kind": Kind.HOURS,
    }
    assert json_line(record) == (
        '{"ID":"3f2504e0-4f89-11d3-9a0c-0305e82c3301","Created":"2026-07-01T09:30:15.123000+02:00",'
        '"Born":"1920-01-15T00:00:00+00:19:32","Day":"2026-01-02","Naive":"2026-03-02T09:30:00",'
        '"Utc":"2026-03-02T09:30:00+00:00","Price":12.5,"Quantity":7.5,"Big":1e+16,"Count":3,'
        '"Blocked":false,"Notes":null,"Name":"Café \\"Het Hoekje\\", Zoë",'
        '"Nested":{"Sub":[1,"3f2504e0-4f89-11d3-9a0c-0305e82c3301"]},"Colour":"red","Kind":"hours"}\n'
    )


def test_dates_are_written_as_isoformat_writes_them() -> None:
    for moment in (SUMMER, OLD, datetime(2026, 10, 25, 2, 30, tzinfo=AMSTERDAM, fold=1)):
        assert json.loads(json_line({"At": moment})) == {"At": moment.isoformat()}


def test_what_orjson_cannot_write_is_still_written_whole() -> None:
    line = json_line({"Big": 2**70, "Odd": "a\ud800b", "Name": "Zoë"})
    assert line.endswith("}\n") and "\n" not in line[:-1]
    assert json.loads(line) == {"Big": 2**70, "Odd": "a\ud800b", "Name": "Zoë"}
    line.encode("utf-8")  # a file takes it as it is


@given(st.datetimes(timezones=st.sampled_from([None, UTC, AMSTERDAM, ZoneInfo("Africa/Monrovia")])))
def test_any_datetime_is_written_as_isoformat_writes_it(moment: datetime) -> None:
    assert json_line([moment]) == f'["{moment.isoformat()}"]\n'


def _line(cells: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def _by_csv_cell(record: dict[str, Any], names: list[str], raw: bool) -> str:
    return _line([csv_cell(record.get(name), raw=raw) for name in names])


def test_csv_row_text_is_pinned() -> None:
    record = {
        "ID": GUID, "Created": SUMMER, "Born": OLD, "Quantity": -7.5, "Text": "-7.5", "Phone": "+31 20 555",
        "Formula": '=HYPERLINK("x")', "Tab": "\tcmd", "Blocked": True, "Notes": None, "Name": 'a, "b"',
        "Price": Decimal("1.10"), "Count": 1, "Nested": {"a": 1},
    }
    names = [*record, "Absent"]
    assert _line(csv_row(record, names)) == (
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301,2026-07-01T09:30:15.123000+02:00,"
        "1920-01-15T00:00:00+00:19:32,-7.5,-7.5,'+31 20 555,\"'=HYPERLINK(\"\"x\"\")\",'\tcmd,true,,"
        '"a, ""b""",1.1,1,"{""a"": 1}",\n'
    )
    assert _line(csv_row(record, names, raw=True)).split(",")[5:7] == ["+31 20 555", '"=HYPERLINK(""x"")"']


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.text(alphabet=st.sampled_from(list('=+-@\t\r\\",.0123456789eE aZë\n[]{}\'')), max_size=8),
    st.text(max_size=6),
    st.sampled_from(["null", "a null", "true", "false", "1e-07", "", " ", "'x"]),
    st.datetimes(timezones=st.sampled_from([None, UTC, AMSTERDAM])),
    st.dates(),
    st.uuids(),
    st.sampled_from([Colour.RED, Kind.HOURS]),
)
VALUES = st.one_of(
    SCALARS, st.lists(SCALARS, max_size=2), st.dictionaries(st.text(max_size=3), SCALARS, max_size=2)
)


@settings(max_examples=400)
@given(st.lists(VALUES, min_size=1, max_size=8), st.booleans())
def test_csv_row_writes_what_csv_cell_writes(values: list[Any], raw: bool) -> None:
    record = {f"F{n}": value for n, value in enumerate(values)}
    names = [*record, "Missing"]
    assert _line(csv_row(record, names, raw=raw)) == _by_csv_cell(record, names, raw)
    assert csv_line(record, names, raw=raw) == _by_csv_cell(record, names, raw)
    assert csv_line(record, names[:1], raw=raw) == _by_csv_cell(record, names[:1], raw)


@given(st.text(alphabet=st.sampled_from(list('=+-@\t\r\\",x1 ')), min_size=1, max_size=10))
def test_every_text_that_starts_like_a_formula_is_neutralised(text: str) -> None:
    [cell] = csv_row({"T": text}, ["T"])
    starts_like_formula = text[0] in "=+-@\t\r"
    try:
        float(text)
        number = text.strip() == text and "n" not in text.lower()
    except ValueError:
        number = False
    assert cell == ("'" + text if starts_like_formula and not number else text)


def test_records_of_a_real_shape_agree() -> None:
    """Many rows of one shape (as ``get`` writes them): every row's text is ``csv_cell``'s."""
    names = ["ID", "Code", "Name", "Phone", "Created", "Blocked", "Credit", "Notes"]
    rows = [
        {"ID": GUID, "Code": f"{n:>6}", "Name": f"Klant {n}", "Phone": "+31 6 1234" if n % 2 else "06-1234",
         "Created": SUMMER + timedelta(minutes=n), "Blocked": n % 3 == 0, "Credit": n * 1.25 - 10,
         "Notes": None if n % 4 else "=SUM(A1)"}
        for n in range(200)
    ]
    for row in rows:
        for raw in (False, True):
            assert _line(csv_row(row, names, raw=raw)) == _by_csv_cell(row, names, raw)
            assert csv_line(row, names, raw=raw) == _by_csv_cell(row, names, raw)


def test_floats_keep_the_text_str_gives_them() -> None:
    floats = [1e-4, 9.99e-5, 1e-5, 1e16, 9999999999999998.0, 1e15, 0.1, 1 / 3, -0.0, 5e-324]
    floats += [1.7976931348623157e308, 123456789.125, -2.5e-7, 2.0**60]
    for value in floats:
        record = {"A": value, "B": "x"}
        assert csv_line(record, ["A", "B"]) == f"{value!s},x\n"


EDGE_FLOATS = [1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, -1e16, -1e-4, 0.0, -0.0, 5e-324]
PLAIN_ROW_VALUES = st.one_of(
    st.floats(),
    st.sampled_from(EDGE_FLOATS),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.none(),
    st.booleans(),
    st.text(alphabet=st.sampled_from(list("ab1e.,- ")), max_size=4),
    st.datetimes(timezones=st.sampled_from([None, AMSTERDAM])),
)


@settings(max_examples=300)
@given(st.lists(PLAIN_ROW_VALUES, min_size=2, max_size=8))
def test_rows_of_floats_and_plain_values_are_written_as_csv_cell_writes(values: list[Any]) -> None:
    """Rows whose only numbers-in-JSON are floats and integers are checked by each float's size
    rather than by searching the JSON; any float ``str`` writes in exponent form must still take the
    careful path."""
    record = {f"F{n}": value for n, value in enumerate(values)}
    assert csv_line(record, list(record)) == _by_csv_cell(record, list(record), False)


def test_summaries_written_by_json_carry_the_same_date_text() -> None:
    from exactmate.actions.writers import to_json

    for moment in (SUMMER, OLD, datetime(2026, 3, 2, 9, 30)):
        expected = {"At": moment.isoformat()}
        assert json.loads(to_json({"At": moment})) == json.loads(json_line({"At": moment})) == expected
