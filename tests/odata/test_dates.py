"""Dates in Amsterdam wall-clock time, read and written (odata/dates.py)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from exactmate.catalogue import Catalogue
from exactmate.errors import ValidationError
from exactmate.odata import (
    AMSTERDAM,
    convert_dates,
    date_converter,
    format_date_ms,
    format_datetime,
    parse_date,
    unwrap,
)

GUID = "c5d3a5f2-1b2c-4d5e-8f90-0a1b2c3d4e5f"



def test_parse_date_reads_wall_clock_in_amsterdam() -> None:
    # 1382667872203 ms read as UTC is 2013-10-25 02:24:32.203: that IS the Dutch wall clock (CEST).
    parsed = parse_date("/Date(1382667872203)/")
    assert parsed.tzinfo is AMSTERDAM
    assert parsed.replace(tzinfo=None) == datetime(2013, 10, 25, 2, 24, 32, 203000)
    assert parsed.utcoffset() == timedelta(hours=2)
    assert parsed.astimezone(UTC) == datetime(2013, 10, 25, 0, 24, 32, 203000, tzinfo=UTC)
    winter = parse_date("/Date(1704067200000)/")  # 2024-01-01T00:00 wall clock, CET
    assert winter.astimezone(UTC) == datetime(2023, 12, 31, 23, 0, tzinfo=UTC)
    assert parse_date("/Date(-86400000)/").replace(tzinfo=None) == datetime(1969, 12, 31)


def test_parse_date_offset_form_is_an_instant() -> None:
    parsed = parse_date("/Date(1704067200000+0060)/")
    assert parsed.tzinfo is AMSTERDAM
    assert parsed.astimezone(UTC) == datetime(2024, 1, 1, tzinfo=UTC)
    assert parsed.replace(tzinfo=None) == datetime(2024, 1, 1, 1, 0)


@pytest.mark.parametrize(
    "value", ["2024-01-01", "/Date(abc)/", "/Date(123)", "Date(1)", "/Date(1e5)/", 5, None]
)
def test_parse_date_refuses_other_text(value: object) -> None:
    with pytest.raises(ValidationError, match="Not an OData date"):
        parse_date(value)  # type: ignore[arg-type]


def test_parse_date_out_of_range() -> None:
    with pytest.raises(ValidationError, match="out of range"):
        parse_date("/Date(999999999999999)/")


# Last Sundays of March (02:00 -> 03:00) and October (03:00 -> 02:00) in 2024.
DST_INSTANTS = [
    datetime(2024, 3, 31, 0, 59, tzinfo=UTC),  # 01:59 CET, just before the jump
    datetime(2024, 3, 31, 1, 0, tzinfo=UTC),  # 03:00 CEST, just after
    datetime(2024, 3, 30, 23, 0, tzinfo=UTC),  # midnight before the jump
    datetime(2024, 10, 27, 0, 30, tzinfo=UTC),  # 02:30 CEST, first pass through 02:30
    datetime(2024, 10, 27, 2, 0, tzinfo=UTC),  # 03:00 CET, after the repeat
    datetime(2024, 10, 26, 22, 0, tzinfo=UTC),  # midnight before the fall-back
    datetime(2024, 6, 15, 10, 0, 0, 5000, tzinfo=UTC),
]


@pytest.mark.parametrize("instant", DST_INSTANTS)
def test_dates_round_trip_across_dst(instant: datetime) -> None:
    wire = format_date_ms(instant)
    back = parse_date(wire)
    # The same instant (compared in UTC: PEP 495 makes an ambiguous time unequal across zones) ...
    assert back.astimezone(UTC) == instant
    assert back.replace(tzinfo=None) == instant.astimezone(AMSTERDAM).replace(
        tzinfo=None
    )  # ... and wall clock
    body = format_datetime(instant)
    assert "+" not in body and "Z" not in body
    assert datetime.fromisoformat(body).replace(tzinfo=AMSTERDAM).astimezone(UTC) == instant


def test_repeated_autumn_hour_reads_as_summer_time() -> None:
    # 02:30 on 2024-10-27 happens twice; /Date(ms)/ cannot say which, so the first (CEST) is chosen.
    second_pass = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET
    back = parse_date(format_date_ms(second_pass))
    assert back.replace(tzinfo=None) == datetime(2024, 10, 27, 2, 30)
    assert back.utcoffset() == timedelta(hours=2)


def test_format_datetime_forms() -> None:
    assert format_datetime(date(2024, 5, 1)) == "2024-05-01T00:00:00"
    assert format_datetime(datetime(2024, 5, 1, 9, 0)) == "2024-05-01T09:00:00"  # naive: already Dutch
    assert (
        format_datetime(datetime(2024, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=-4))))
        == "2024-05-01T15:00:00"
    )
    assert format_datetime(datetime(2024, 5, 1, 9, 0, 0, 250000)) == "2024-05-01T09:00:00.250"
    with pytest.raises(ValidationError, match="Expected a date or datetime"):
        format_datetime("2024-05-01")  # type: ignore[arg-type]


def test_convert_dates_in_place_and_idempotent() -> None:
    record = {"Date": "/Date(1704067200000)/", "Modified": None, "Name": "/Date(1)/", "Other": "2024-01-01"}
    out = convert_dates(record, ["Date", "Modified", "Other", "Missing"])
    assert out is record
    assert record["Date"] == datetime(2024, 1, 1, tzinfo=AMSTERDAM)
    assert record["Modified"] is None and record["Name"] == "/Date(1)/" and record["Other"] == "2024-01-01"
    assert convert_dates(record, ["Date"])["Date"] == datetime(2024, 1, 1, tzinfo=AMSTERDAM)


def test_date_converter_touches_only_datetime_fields() -> None:
    endpoint = Catalogue.load().endpoint("project/TimeTransactions")
    convert = date_converter(endpoint.fields)
    record = {"Date": "/Date(1704067200000)/", "Notes": "/Date(1704067200000)/", "Created": None}
    assert convert(record) is record
    assert isinstance(record["Date"], datetime) and record["Notes"] == "/Date(1704067200000)/"
    by_type = date_converter({"When": "Edm.DateTime", "What": "Edm.String"})
    assert by_type({"When": "/Date(0)/", "What": "/Date(0)/"}) == {
        "When": datetime(1970, 1, 1, tzinfo=AMSTERDAM),
        "What": "/Date(0)/",
    }


def test_date_converter_cache_and_fallbacks() -> None:
    convert = date_converter({"When": "Edm.DateTime"})
    first = convert({"When": "/Date(1704067200000)/"})["When"]
    assert convert({"When": "/Date(1704067200000)/"})["When"] is first  # cached
    for n in range(5000):  # more distinct dates than the cache holds: it starts afresh, stays right
        assert convert({"When": f"/Date({n * 1000})/"})["When"] == datetime(
            1970, 1, 1, tzinfo=AMSTERDAM
        ) + timedelta(seconds=n)
    assert convert({"When": "/Date(1704067200000+0060)/"})["When"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert convert({"When": "2024-01-01T00:00:00"})["When"] == "2024-01-01T00:00:00"
    with pytest.raises(ValidationError, match="Not an OData date"):
        convert({"When": "/Date(12x)/"})
    # str.isdigit and re's \d accept these digits; Exact never sends them.
    for odd_digits in ("/Date(²)/", "/Date(٣)/"):
        with pytest.raises(ValidationError, match="Not an OData date"):
            convert({"When": odd_digits})


def test_date_converter_with_strip_in_one_pass() -> None:
    convert = date_converter({"When": "Edm.DateTime"}, strip=True)
    record = {"__metadata": {"uri": "u"}, "When": "/Date(0)/", "Nav": {"__deferred": {}}}
    assert convert(record) == {"When": datetime(1970, 1, 1, tzinfo=AMSTERDAM)}


def test_converter_on_a_json_page() -> None:
    body = json.dumps(
        {"d": {"results": [{"__metadata": {"uri": "u"}, "ID": GUID, "Date": "/Date(1711846800000)/"}]}}
    )
    convert = date_converter({"ID": "Edm.Guid", "Date": "Edm.DateTime"}, strip=True)
    records = [convert(r) for r in unwrap(json.loads(body)).records]
    assert records == [{"ID": GUID, "Date": datetime(2024, 3, 31, 1, 0, tzinfo=AMSTERDAM)}]


def test_a_page_is_converted_as_each_record_alone_would_be() -> None:
    """A page gives what converting each record alone gives: a record without a date field keeps it
    absent, a column of None is left alone, odd values stay as they came."""
    convert = date_converter({"When": "Edm.DateTime", "Until": "Edm.DateTime", "Note": "Edm.String"})

    def page() -> list[dict[str, Any]]:
        return [
            {"When": "/Date(0)/", "Until": None, "Note": "/Date(0)/"},
            {"When": "/Date(86400000)/", "Until": None, "Note": None},
            {"Until": None, "Note": "no When at all"},  # the When column is read record by record
            {"When": {"nested": 1}, "Until": None},  # a value no dict can key
            {"When": "2024-01-01T00:00:00", "Until": None},
            {"When": datetime(2020, 1, 1, tzinfo=AMSTERDAM), "Until": None},  # converted already
        ]

    expected = [convert_dates(record, ["When", "Until"]) for record in page()]
    got = convert.page(page())
    assert got == expected
    assert [list(record) for record in got] == [list(record) for record in expected]  # no key added
    assert got[0]["Note"] == "/Date(0)/" and got[1]["When"] == datetime(1970, 1, 2, tzinfo=AMSTERDAM)
