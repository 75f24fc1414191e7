"""A page's NDJSON lines made straight from its bytes (odata/lines.py), against the general path:
parse the page, convert its dates, write each record with ``presentation.json_line``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exactmate.actions.presentation import json_line
from exactmate.errors import ValidationError
from exactmate.odata import LineShape, date_converter, flat_page, parse_date, parse_json, unwrap
from exactmate.odata.dates import IsoDates

FIELDS = {
    "ID": "Edm.Guid",
    "Name": "Edm.String",
    "Created": "Edm.DateTime",
    "Amount": "Edm.Double",
    "Count": "Edm.Int64",
    "Blocked": "Edm.Boolean",
    "StartDate": "Edm.DateTime",
    "Division": "Edm.Int32",
}
DATES = [name for name, kind in FIELDS.items() if kind == "Edm.DateTime"]
LAST_MS = 253402214400000  # 9999-12-31


def envelope(records: list[dict[str, Any]], **extra: Any) -> bytes:
    """A page as Exact writes it: each record with its ``__metadata``, every slash escaped."""
    rows = [{"__metadata": {"uri": f"https://x/A({n})", "type": "A"}, **r} for n, r in enumerate(records)]
    text = json.dumps({"d": {"results": rows, **extra}}, ensure_ascii=False)
    return text.replace("/", "\\/").encode()  # only strings hold slashes


def general(content: bytes, division: int | None = None) -> bytes:
    """The lines the general path writes for this page (``Resource`` and ``Listing`` without lines)."""
    payload = parse_json(content)
    raw = unwrap(payload).records
    records = date_converter(FIELDS, strip=True).page(raw, flat=flat_page(content, payload, raw))
    if division is not None:
        records = [{"Division": division, **record} for record in records]
    return "".join(map(json_line, records)).encode()


def dates() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=0, max_value=LAST_MS).map(lambda ms: f"/Date({ms})/"),
        st.integers(min_value=-2_000_000_000_000, max_value=94_694_400_000).map(lambda ms: f"/Date({ms})/"),
        st.integers(min_value=0, max_value=2_000_000_000_000).map(lambda ms: f"/Date({ms}+0060)/"),
        st.sampled_from(["/Date(1382667872203)/", "/Date(1711846800000)/", "/Date(1729990800000)/"]),
        st.text(max_size=5),  # not a date: written as it came
    )


VALUES: dict[str, st.SearchStrategy[Any]] = {
    "ID": st.uuids().map(str),
    "Name": st.text(alphabet=st.characters(exclude_categories=("Cs",))),
    "Created": dates(),
    "StartDate": dates(),
    # floats below 1e16: above it the lines write 1e16 where json_line writes 1e+16 (see below)
    "Amount": st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    "Count": st.integers(min_value=-(2**70), max_value=2**70),
    "Blocked": st.booleans(),
    "Division": st.integers(min_value=1, max_value=999_999),
}


def records() -> st.SearchStrategy[list[dict[str, Any]]]:
    def record(present: list[bool]) -> st.SearchStrategy[dict[str, Any]]:
        kept = [name for name, keep in zip(FIELDS, present, strict=True) if keep]
        chosen = {name: st.one_of(st.none(), VALUES[name]) for name in kept}
        # a server writes every record's fields in one order: the shape's is the first record's
        return st.fixed_dictionaries(chosen).map(lambda r: {name: r[name] for name in FIELDS if name in r})

    first = st.fixed_dictionaries({name: st.one_of(st.none(), VALUES[name]) for name in FIELDS}).map(
        lambda r: {name: r[name] for name in FIELDS}
    )
    later = st.lists(st.booleans(), min_size=len(FIELDS), max_size=len(FIELDS)).flatmap(record)
    return st.tuples(first, st.lists(later, max_size=8)).map(lambda pair: [pair[0], *pair[1]])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records(), st.sampled_from([None, 100001]))
def test_the_lines_are_those_the_general_path_writes(
    page: list[dict[str, Any]], division: int | None
) -> None:
    """Every value type, dates from 1900 to 9999 and their other forms, absent fields, big integers,
    any text, with and without the Division tag: the same bytes."""
    content = envelope(page)
    shape = LineShape(list(page[0]), DATES, division=division)
    made = shape.page(content)
    assert made is not None and made.size == len(page)
    expected = general(content, division)
    for line, written in zip(made.lines.splitlines(), expected.splitlines(), strict=True):
        if line != written:  # json_line writes a line with an integer beyond 64 bits by json.dumps,
            assert json.loads(line) == json.loads(written)  # its other text then escaped: the same JSON
            assert any(isinstance(v, int) and not -(2**63) <= v < 2**64 for v in json.loads(line).values())
    again = shape.page(content)  # the dates' text now comes from the shape's cache
    assert again is not None and again.lines == made.lines


def test_a_float_of_sixteen_digits_and_more_is_spelled_without_the_plus() -> None:
    content = envelope([{"ID": "a", "Amount": 1.2e16}])
    made = LineShape(["ID", "Amount"], []).page(content)
    assert made is not None and made.lines == b'{"ID":"a","Amount":1.2e16}\n'
    assert json.loads(made.lines) == json.loads(general(content))  # the same number


def test_the_tag_goes_first_and_gives_way_to_the_record_s_own_division() -> None:
    content = envelope([{"Name": "a", "Division": 7}, {"Name": "b"}])
    made = LineShape(["Name", "Division"], [], division=100001).page(content)
    assert made is not None
    assert made.lines == b'{"Division":7,"Name":"a"}\n{"Division":100001,"Name":"b"}\n'
    untagged = LineShape(["Name"], []).page(envelope([{"Name": "a"}]))
    assert untagged is not None and untagged.lines == b'{"Name":"a"}\n'


def test_navigation_links_not_expanded_are_left_out_as_the_general_path_leaves_them_out() -> None:
    stub = {"__deferred": {"uri": "https://x/Accounts(1)/BankAccounts"}}
    content = envelope([{"Name": "a", "BankAccounts": stub}, {"Name": "b"}])
    made = LineShape(["Name"], [], links=["BankAccounts"]).page(content)
    assert made is not None and made.lines == general(content) == b'{"Name":"a"}\n{"Name":"b"}\n'
    expanded = envelope([{"Name": "a", "BankAccounts": {"results": [{"__metadata": {}, "ID": 1}]}}])
    assert LineShape(["Name"], [], links=["BankAccounts"]).page(expanded) is None  # flattened there
    other = envelope([{"Name": "a", "BankAccounts": {"__deferred": {"uri": "x"}, "more": 1}}])
    assert LineShape(["Name"], [], links=["BankAccounts"]).page(other) is None


def test_the_next_link_and_the_count_are_read_as_unwrap_reads_them() -> None:
    shape = LineShape(["Name"], [])
    made = shape.page(envelope([{"Name": "a"}], __next="https://x/next?$skiptoken=1", __count="41"))
    assert made is not None and (made.next_url, made.count) == ("https://x/next?$skiptoken=1", 41)
    last = shape.page(envelope([{"Name": "a"}], __next=""))
    assert last is not None and (last.next_url, last.count) == (None, None)
    empty = shape.page(envelope([]))
    assert empty is not None and (empty.lines, empty.size) == (b"", 0)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(envelope([{"Name": "a"}, {"Name": "b", "Code": "B"}]), id="a field the shape lacks"),
        pytest.param(envelope([{"Name": "a"}, {"Name": {"__deferred": {"uri": "x"}}}]), id="an object value"),
        pytest.param(b'{"d":{"results":[{"Name":"a"}]}}', id="a record without its __metadata"),
        pytest.param(b'{"d":{"results":[{"__metadata":null,"Name":"a"}]}}', id="__metadata not an object"),
        pytest.param(b'{"d":{"results":[{"__metadata":{},"Name":NaN}]}}', id="what msgspec refuses"),
        pytest.param(b'{"d":{"results":[{"__metadata":{},"Name":"\\ud800"}]}}', id="a lone surrogate"),
        pytest.param(b'{"d":[{"__metadata":{},"Name":"a"}]}', id="another envelope"),
    ],
)
def test_a_page_the_shape_cannot_write_exactly_is_left_to_the_general_path(content: bytes) -> None:
    assert LineShape(["Name"], ["Created"]).page(content) is None


def test_text_holding_braces_and_lists_holding_objects_are_written_as_the_general_path_writes() -> None:
    page = [{"Name": "{not: an object}", "Count": [{"__metadata": {}, "a": {"b": 1}}]}, {"Name": "}{"}]
    content = envelope(page)
    made = LineShape(["Name", "Count"], []).page(content)
    assert made is not None and made.lines == general(content)


def test_a_malformed_date_is_refused_as_the_general_path_refuses_it() -> None:
    content = envelope([{"Created": "/Date(12x)/"}])
    with pytest.raises(ValidationError, match="Not an OData date"):
        general(content)
    with pytest.raises(ValidationError, match="Not an OData date"):
        LineShape(["Created"], ["Created"]).page(content)


def _wall_ms(year: int, month: int, day: int, quarter: int) -> int:
    from datetime import datetime, timedelta

    return (datetime(year, month, day) - datetime(1970, 1, 1) + timedelta(minutes=15 * quarter)) // timedelta(
        milliseconds=1
    ) + 7


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=-(10**13), max_value=LAST_MS),
        # every quarter hour around the clock changes of 1973-2100, where the offset moves
        st.builds(_wall_ms, st.integers(1973, 2100), st.sampled_from([3, 10]), st.integers(24, 31),
                  st.integers(0, 24 * 4)),
    )
)
def test_iso_dates_are_parse_date_s_isoformat(millis: int) -> None:
    value = f"/Date({millis})/"
    texts = IsoDates()
    assert texts(value) == parse_date(value).isoformat()
    assert texts(value) == parse_date(value).isoformat()  # from its cache


def test_iso_dates_refuse_what_parse_date_refuses() -> None:
    texts = IsoDates()
    for value in ("/Date(abc)/", "/Date(99999999999999999)/", "Date(1)"):
        with pytest.raises(ValidationError):
            texts(value)
