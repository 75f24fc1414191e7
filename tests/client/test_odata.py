"""OData: literals, the filter builder, keys, query options, envelopes, dates and error bodies."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from exactmate import odata
from exactmate.catalogue import Catalogue
from exactmate.errors import ExactmateError, ValidationError
from exactmate.odata import (
    AMSTERDAM,
    F,
    Filter,
    Query,
    build_query,
    convert_dates,
    date_converter,
    error_message,
    format_date_ms,
    format_datetime,
    format_key,
    literal,
    parse_date,
    strip_metadata,
    unwrap,
)

GUID = "c5d3a5f2-1b2c-4d5e-8f90-0a1b2c3d4e5f"

# --- literals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-17, "-17"),
        (1.5, "1.5"),
        (2.0, "2.0"),
        (1e-07, "0.0000001"),
        (1e16, "10000000000000000"),
        (Decimal("1E+2"), "100"),
        (Decimal("-0.000001"), "-0.000001"),
        ("plain", "'plain'"),
        ("O'Brien", "'O''Brien'"),
        ("", "''"),
        (uuid.UUID(GUID), f"guid'{GUID}'"),
        (date(2024, 1, 1), "datetime'2024-01-01T00:00:00'"),
        (datetime(2024, 5, 1, 9, 30), "datetime'2024-05-01T09:30:00'"),
        (datetime(2024, 5, 1, 9, 30, 0, 123000), "datetime'2024-05-01T09:30:00.123'"),
        (datetime(2024, 1, 1, 12, 0, tzinfo=UTC), "datetime'2024-01-01T13:00:00'"),  # CET = UTC+1
        (datetime(2024, 7, 1, 12, 0, tzinfo=UTC), "datetime'2024-07-01T14:00:00'"),  # CEST = UTC+2
    ],
)
def test_untyped_literals(value: object, expected: str) -> None:
    assert literal(value) == expected


@pytest.mark.parametrize(
    ("value", "edm_type", "expected"),
    [
        (GUID.upper(), "Edm.Guid", f"guid'{GUID}'"),
        ("{" + GUID + "}", "Edm.Guid", f"guid'{GUID}'"),
        (GUID.replace("-", ""), "Edm.Guid", f"guid'{GUID}'"),
        (f"guid'{GUID}'", "Edm.Guid", f"guid'{GUID}'"),
        (uuid.UUID(GUID), "Edm.Guid", f"guid'{GUID}'"),
        (123, "Edm.Int64", "123L"),
        (123, "Edm.Int32", "123"),
        (255, "Edm.Byte", "255"),
        (-5, "Edm.Int16", "-5"),
        (3, "Edm.Double", "3"),
        (0.25, "Edm.Decimal", "0.25"),
        ("x'y", "Edm.String", "'x''y'"),
        (False, "Edm.Boolean", "false"),
        ("2024-03-31T02:30:00", "Edm.DateTime", "datetime'2024-03-31T02:30:00'"),
        ("2024-05-01T07:00:00Z", "Edm.DateTime", "datetime'2024-05-01T09:00:00'"),
        (date(2024, 10, 27), "Edm.DateTime", "datetime'2024-10-27T00:00:00'"),
        (None, "Edm.Guid", "null"),
    ],
)
def test_typed_literals(value: object, edm_type: str, expected: str) -> None:
    assert literal(value, edm_type) == expected


@pytest.mark.parametrize(
    ("value", "edm_type", "message"),
    [
        ("not-a-guid", "Edm.Guid", "Expected a GUID"),
        (GUID + "0", "Edm.Guid", "Expected a GUID"),
        ("1-2-3", "Edm.Guid", "Expected a GUID"),
        (12, "Edm.Guid", "Expected a GUID"),
        ("12", "Edm.Int32", "Expected a whole number"),
        (True, "Edm.Int32", "Expected a whole number"),
        (1.5, "Edm.Int64", "Expected a whole number"),
        (256, "Edm.Byte", "does not fit Edm.Byte"),
        (2**31, "Edm.Int32", "does not fit Edm.Int32"),
        ("1.5", "Edm.Double", "Expected a number"),
        (True, "Edm.Double", "Expected a number"),
        (5, "Edm.String", "Expected text"),
        ("true", "Edm.Boolean", "Expected true or false"),
        ("yesterday", "Edm.DateTime", "Expected a date or datetime"),
        (b"bytes", "Edm.Binary", "Cannot compare a field of type Edm.Binary"),
        ([1], "Collection", "Cannot compare a field of type Collection"),
    ],
)
def test_typed_literals_refuse_values_of_the_wrong_kind(value: object, edm_type: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        literal(value, edm_type)


@pytest.mark.parametrize(
    "value", [object(), [1, 2], {"a": 1}, b"x", float("nan"), float("inf"), Decimal("NaN")]
)
def test_untyped_literals_refuse_other_values(value: object) -> None:
    with pytest.raises(ValidationError):
        literal(value)


def test_error_messages_shorten_huge_values() -> None:
    with pytest.raises(ValidationError) as caught:
        literal("x" * 10_000, "Edm.Guid")
    assert len(str(caught.value)) < 200


# --- filters -----------------------------------------------------------------------------------------


def test_comparisons() -> None:
    assert str(F("Name") == "O'Brien") == "Name eq 'O''Brien'"
    assert str(F("Name") != None) == "Name ne null"  # noqa: E711
    assert str(F("Quantity") > 1) == "Quantity gt 1"
    assert str(F("Quantity") >= 1.5) == "Quantity ge 1.5"
    assert str(F("Date") < date(2024, 1, 1)) == "Date lt datetime'2024-01-01T00:00:00'"
    assert str(F("Timestamp", "Edm.Int64") <= 10) == "Timestamp le 10L"
    assert str(F("Account", "Edm.Guid") == GUID.upper()) == f"Account eq guid'{GUID}'"
    assert str(F("Account/Name") == "x") == "Account/Name eq 'x'"
    assert (F("Name") == "x") == Filter("Name eq 'x'", _op="cmp")


def test_functions() -> None:
    assert str(F("Name").startswith("Ab'")) == "startswith(Name,'Ab''') eq true"
    assert str(F("Name").endswith("BV")) == "endswith(Name,'BV') eq true"
    assert str(F("Name").contains("it's")) == "substringof('it''s',Name) eq true"
    assert str(F("Code").trim() == "25") == "trim(Code) eq '25'"
    assert str(F("Name").lower() == "abc") == "tolower(Name) eq 'abc'"
    assert str(F("Name").upper().startswith("A")) == "startswith(toupper(Name),'A') eq true"
    assert str(F("Status").in_([20, 50])) == "Status eq 20 or Status eq 50"
    with pytest.raises(ValidationError, match="No values"):
        F("Status").in_([])
    with pytest.raises(ValidationError, match="Expected text"):
        F("Name").startswith(5)  # type: ignore[arg-type]


def test_combining_keeps_precedence() -> None:
    a, b, c = F("A") == 1, F("B") == 2, F("C") == 3
    assert str(a & b) == "A eq 1 and B eq 2"
    assert str(a | b) == "A eq 1 or B eq 2"
    assert str((a | b) & c) == "(A eq 1 or B eq 2) and C eq 3"
    assert str(c & (a | b)) == "C eq 3 and (A eq 1 or B eq 2)"
    assert str((a & b) | c) == "A eq 1 and B eq 2 or C eq 3"
    assert str(a & b & c) == "A eq 1 and B eq 2 and C eq 3"
    assert str(~a) == "not (A eq 1)"
    assert str(~(a | b) & c) == "not (A eq 1 or B eq 2) and C eq 3"
    assert str(a & "Raw eq 1 or Other eq 2") == "A eq 1 and (Raw eq 1 or Other eq 2)"
    assert str("Raw eq 1" | a) == "(Raw eq 1) or A eq 1"


def test_injection_attempts_stay_strings() -> None:
    attacks = ["') or 1 eq 1", "x' or Name ne 'y", "'; DROP", "a'b''c", "' or ''='"]
    for attack in attacks:
        text = str(F("Name") == attack)
        assert text == "Name eq '" + attack.replace("'", "''") + "'"
        quoted = text[len("Name eq ") :]
        # Inside the literal every quote is doubled: stripping the outer quotes leaves only pairs.
        assert quoted[0] == quoted[-1] == "'" and quoted[1:-1].replace("''", "").count("'") == 0
    for attack in attacks:
        with pytest.raises(ValidationError, match="Expected a GUID"):
            F("ID", "Edm.Guid") == attack  # noqa: B015


@pytest.mark.parametrize(
    "name", ["Name eq 'x'", "Name)", "1Name", "", "Na me", "A//B", "A/", "tolower(Name)", 5]
)
def test_field_names_are_validated(name: object) -> None:
    with pytest.raises(ValidationError, match="is not a field name"):
        F(name)  # type: ignore[arg-type]


def test_filters_refuse_truth_tests_and_null_ordering() -> None:
    with pytest.raises(TypeError, match="combine filters with & and |"):
        bool(F("A") == 1)
    with pytest.raises(TypeError):
        1 < F("A") < 3  # noqa: B015
    with pytest.raises(ValidationError, match="Cannot compare A with None"):
        F("A") > None  # noqa: B015
    with pytest.raises(ValidationError, match="empty"):
        Filter("  ")


def test_filter_equality_and_repr() -> None:
    assert Filter("A eq 1") == Filter("A eq 1")
    assert Filter("A eq 1") != Filter("A eq 2")
    assert len({Filter("A eq 1"), Filter("A eq 1")}) == 1
    assert repr(F("A") == 1) == "Filter('A eq 1')"
    assert repr(F("A")) == "F('A')"


# --- keys --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key_type", "expected"),
    [
        (GUID, "guid", f"guid'{GUID}'"),
        (GUID.upper(), "guid", f"guid'{GUID}'"),
        (uuid.UUID(GUID), "guid", f"guid'{GUID}'"),
        (123456, "int", "123456"),
        (" 42 ", "int", "42"),
        ("-1", "int", "-1"),
        ("EUR", "string", "'EUR'"),
        ("it's", "string", "'it''s'"),
    ],
)
def test_format_key(value: object, key_type: str, expected: str) -> None:
    assert format_key(value, key_type) == expected


@pytest.mark.parametrize(
    ("value", "key_type", "message"),
    [
        ("123", "guid", "Expected a GUID for this key"),
        (GUID + "') or ('1", "guid", "Expected a GUID"),
        ("12a", "int", "Expected a whole number for this key"),
        (True, "int", "Expected a whole number"),
        (1.0, "int", "Expected a whole number"),
        (5, "string", "Expected non-empty text"),
        ("", "string", "Expected non-empty text"),
        ("x", None, "has no key"),
        ("x", "Edm.Guid", "Unknown key type"),
    ],
)
def test_format_key_refuses_malformed_keys(value: object, key_type: str | None, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        format_key(value, key_type)


# --- query options -----------------------------------------------------------------------------------


def test_build_query_params_in_stable_order() -> None:
    query = build_query(
        select=["ID", "Name", "ID"],
        filter=F("Name") == "x",
        top=5,
        order_by=["Name desc", "ID"],
        expand="SalesInvoiceLines",
        skip=10,
        inline_count=True,
    )
    assert query.params() == [
        ("$select", "ID,Name"),
        ("$filter", "Name eq 'x'"),
        ("$expand", "SalesInvoiceLines"),
        ("$orderby", "Name desc,ID"),
        ("$top", "5"),
        ("$skip", "10"),
        ("$inlinecount", "allpages"),
    ]
    assert build_query().params() == []
    assert build_query(select="ID, Name") == Query(select=("ID", "Name"))
    assert build_query(top=0).params() == [("$top", "0")]


def test_build_query_filter_forms() -> None:
    assert build_query(filter="Timestamp gt 1").filter == "Timestamp gt 1"
    assert build_query(filter="  ").filter is None
    assert build_query(filter={}).filter is None
    mapped = build_query(filter={"Name": "O'Brien", "Status": [20, 50], "Blocked": False})
    assert mapped.filter == "Name eq 'O''Brien' and (Status eq 20 or Status eq 50) and Blocked eq false"
    typed = build_query(
        filter={"account": GUID, "Timestamp": 5},
        field_types={"Account": "Edm.Guid", "TimeStamp": "Edm.Int64"},
    )
    assert typed.filter == f"account eq guid'{GUID}' and Timestamp eq 5L"


def test_build_query_reports_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        build_query(
            select=["ID", "*", "Bad Name"],
            filter={"ID": "nope", "Na'me": 1},
            top=-1,
            order_by=["Name sideways"],
            expand=["x)"],
            skip=True,
            field_types={"ID": "Edm.Guid"},
        )
    problems = caught.value.problems
    assert len(problems) == 8
    assert any("'*' is not a field name (list the fields you need)" in p for p in problems)
    assert any(p.startswith("$filter: ID: Expected a GUID") for p in problems)
    assert any(p.startswith("$top:") for p in problems) and any(p.startswith("$skip:") for p in problems)
    assert any(p.startswith("$orderby:") for p in problems) and any(
        p.startswith("$expand:") for p in problems
    )


# --- envelopes ---------------------------------------------------------------------------------------


def test_unwrap_collection_with_next_and_count() -> None:
    page = unwrap({"d": {"results": [{"ID": 1}, {"ID": 2}], "__next": "https://x/next", "__count": "120"}})
    assert page.records == [{"ID": 1}, {"ID": 2}]
    assert (page.next_url, page.count) == ("https://x/next", 120)
    records, next_url, count = page
    assert records is page.records and next_url == "https://x/next" and count == 120


@pytest.mark.parametrize(
    ("payload", "records"),
    [
        ({"d": {"results": []}}, []),
        ({"d": {"__metadata": {"uri": "u"}, "ID": 1}}, [{"__metadata": {"uri": "u"}, "ID": 1}]),
        ({"d": [{"ID": 1}]}, [{"ID": 1}]),
        ({"d": {"": [{"ID": 1}, {"ID": 2}]}}, [{"ID": 1}, {"ID": 2}]),
        ({"d": {"results": {"ID": 3}}}, [{"ID": 3}]),
        ({"d": {"UserHasRights": True}}, [{"UserHasRights": True}]),
        ({"d": None}, []),
    ],
)
def test_unwrap_shapes(payload: object, records: list[dict[str, object]]) -> None:
    page = unwrap(payload)
    assert page.records == records and page.next_url is None and page.count is None


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"results": []},
        {"d": 5},
        {"d": [1, 2]},
        {"d": {"results": [1]}},
        {"d": {"results": [], "__count": "x"}},
    ],
)
def test_unwrap_refuses_other_shapes(payload: object) -> None:
    with pytest.raises(ExactmateError, match="Unexpected"):
        unwrap(payload)


def test_strip_metadata() -> None:
    record = {
        "__metadata": {"uri": "u", "type": "t"},
        "ID": 1,
        "BankAccounts": {"__deferred": {"uri": "u2"}},
        "Lines": {"results": [{"__metadata": {}, "Q": 1, "Item": {"__deferred": {}}}]},
        "Other": {"Complex": 1},
    }
    clean = strip_metadata(record)
    assert clean == {"ID": 1, "Lines": [{"Q": 1}], "Other": {"Complex": 1}}
    assert "__metadata" in record  # a copy: the input is untouched
    plain = {"__metadata": {}, "A": 1}
    assert odata.envelope.strip_in_place(plain) is plain and plain == {"A": 1}


def _page(*records: dict[str, object]) -> tuple[bytes, object, list[dict[str, object]]]:
    content = json.dumps({"d": {"results": list(records), "__next": "n"}}).encode()
    payload = json.loads(content)
    return content, payload, unwrap(payload).records


def test_flat_page_is_proved_from_the_bytes_only_when_no_other_object_can_be_there() -> None:
    meta = {"uri": "u", "type": "t"}
    assert odata.flat_page(*_page({"__metadata": meta, "A": 1}, {"__metadata": meta, "A": 2}))
    assert odata.flat_page(*_page())  # an empty page: the envelope's two objects
    assert not odata.flat_page(*_page({"__metadata": meta, "Nav": {"__deferred": {"uri": "x"}}}))
    assert not odata.flat_page(*_page({"__metadata": meta, "Lines": {"results": []}}))
    # A brace inside a string only adds to the count: the page is then scanned, never skipped.
    assert not odata.flat_page(*_page({"__metadata": meta, "Notes": "{not an object}"}))
    single = b'{"d": {"__metadata": {"uri": "u"}, "A": 1}}'
    payload = json.loads(single)
    assert odata.flat_page(single, payload, unwrap(payload).records)
    bare = b'{"d": [{"__metadata": {"uri": "u"}, "Nav": {"x": 1}}]}'  # no "results" level
    payload = json.loads(bare)
    assert not odata.flat_page(bare, payload, unwrap(payload).records)


def test_converter_page_scans_every_record_when_the_proof_does_not_hold() -> None:
    # One record lacks __metadata and another has an expansion: the brace count matches a flat
    # page, but the converter sees the missing __metadata and strips every record after all.
    content, payload, records = _page({"A": 1}, {"__metadata": {"uri": "u"}, "Lines": {"results": []}})
    flat = odata.flat_page(content, payload, records)
    assert flat
    converted = date_converter({"A": "Edm.Int32"}, strip=True).page(records, flat=flat)
    assert converted == [{"A": 1}, {"Lines": []}]
    stubs = [{"__metadata": {}, "Nav": {"__deferred": {}}, "When": "/Date(0)/"}]
    assert date_converter({"When": "Edm.DateTime"}, strip=True).page(stubs) == [
        {"When": datetime(1970, 1, 1, tzinfo=AMSTERDAM)}
    ]


# --- dates -------------------------------------------------------------------------------------------


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


# --- error bodies ------------------------------------------------------------------------------------

XML_ERROR = (
    '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
    '<error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
    '<code></code><message xml:lang="en-US">'
    "Verplicht: Factuur voor\r\nVerplicht: Besteld door"
    "</message></error>"
)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            b'{"error":{"code":"","message":{"lang":"","value":"Error in query syntax."}}}',
            "application/json",
            "Error in query syntax.",
        ),
        ('{"error":{"code":"","message":{"lang":"","value":"A\\r\\nB"}}}', None, "A\nB"),
        ({"error": {"message": {"value": "Already parsed"}}}, None, "Already parsed"),
        ({"error": {"message": "Plain message"}}, None, "Plain message"),
        (XML_ERROR.encode(), "application/xml", "Verplicht: Factuur voor\nVerplicht: Besteld door"),
        (
            b'{"error":"unauthorized_client","error_description":"Old refresh token used."}',
            "application/json",
            "Old refresh token used. (unauthorized_client)",
        ),
        (b'{"error":"invalid_request"}', "application/json", "invalid_request"),
        (b'{"Message":"No HTTP resource was found"}', "application/json", "No HTTP resource was found"),
        (b"Too many requests", "text/plain; charset=utf-8", "Too many requests"),
        (b"Too many requests", None, None),
        (b"<html><body>Oops</body></html>", "text/html", None),
        (b"", "application/json", None),
        (b"{not json", "application/json", None),
        (b"[1, 2]", "application/json", None),
        ('{"error":{"message":{"value":"   "}}}', None, None),
        (42, None, None),
        (b"<error><message>bad <</message></error>", None, None),
    ],
)
def test_error_message(body: object, content_type: str | None, expected: str | None) -> None:
    assert error_message(body, content_type) == expected


def test_error_message_refuses_entities_and_caps_length() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaa">]><error><message>&a;</message></error>'
    assert error_message(bomb, "application/xml") is None
    long = json.dumps({"error": {"message": {"value": "x" * 10_000}}})
    text = error_message(long)
    assert text is not None and len(text) == 2000 and text.endswith("...")
