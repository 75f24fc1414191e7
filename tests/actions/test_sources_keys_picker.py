"""Entry files, record keys, the endpoint and field pickers, dry-run bodies: all local, no emulator."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from exactmate.actions import describe_endpoints, describe_fields
from exactmate.actions.dryrun import body_text, plan
from exactmate.actions.filtercheck import check_filter_text, filter_field_names
from exactmate.actions.keys import key_suffix, parse_key, record_key
from exactmate.actions.sources import content_source_id, detect_format, parse_entries, read_entries
from exactmate.actions.timerules import DEFAULT_MATCH_FIELDS, match_fields
from exactmate.catalogue import Catalogue
from exactmate.errors import CatalogueError, ValidationError

CAT = Catalogue.load()
GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_csv_rows_are_numbered_and_empty_cells_left_out() -> None:
    data = b'\xef\xbb\xbfItem,Quantity,Notes\nA,1,first\n\n,2,\nC,3,"with, comma"\n'
    source = parse_entries(data, "csv", name="hours.csv")
    assert [r.number for r in source] == [1, 2, 3]
    assert source.rows[1].values == {"Quantity": "2"}
    assert source.rows[2].values["Notes"] == "with, comma"
    assert source.source_id == content_source_id(data) and source.source_id.startswith("sha256:")


def test_json_and_ndjson_rows() -> None:
    rows = parse_entries(json.dumps([{"Quantity": 1}, {"Quantity": 2}]).encode(), "json")
    assert [r.values["Quantity"] for r in rows] == [1, 2]
    single = parse_entries(b'{"Quantity": 3}', "json")
    assert len(single) == 1
    nd = parse_entries(b'{"Quantity": 1}\n\n{"Quantity": 2}\n', "ndjson")
    assert [r.number for r in nd] == [1, 2]


@pytest.mark.parametrize(
    ("data", "fmt", "fragment"),
    [
        (b"Item,Item\nA,B\n", "csv", "names Item more than once"),
        (b"Item,Quantity\nA\n", "csv", "row 1: 1 cells, but the header has 2 columns"),
        (b"[1, {}]", "json", "row 1: expected an object"),
        (b"{broken", "json", "not valid JSON at line 1"),
        (b'{"a": 1}\nnope\n', "ndjson", "row 2 (line 2): not valid JSON"),
        (b"Item\n", "csv", "holds no entries"),
        (b"\xff\xfe", "json", "not UTF-8"),
        (b"Item\n\x81\n", "csv", "not UTF-8"),  # neither UTF-8 nor Windows-1252
    ],
)
def test_malformed_files_are_reported_with_row_numbers(data: bytes, fmt: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_entries(data, fmt, name="f")  # type: ignore[arg-type]
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("data", "delimiter"),
    [
        (b"Item;Quantity;Notes\r\nA;7,5;Workshop, day 1\r\n", ";"),  # Dutch Excel: ; and decimal commas
        (b"Item\tQuantity\tNotes\nA\t7,5\tWorkshop, day 1\n", "\t"),
        (b'Item,Quantity,Notes\nA,"7,5","Workshop, day 1"\n', ","),
        (b'"Item;x",Quantity,Notes\nA,"7,5","Workshop, day 1"\n', ","),  # a ; inside quotes separates nothing
    ],
)
def test_the_csv_separator_is_detected_from_the_header(data: bytes, delimiter: str) -> None:
    source = parse_entries(data, "csv", name="hours.csv")
    assert source.delimiter == delimiter
    assert source.rows[0].values["Quantity"] == "7,5"
    assert source.rows[0].values["Notes"] == "Workshop, day 1"


def test_a_given_separator_wins_and_a_wrong_guess_says_how_to_override() -> None:
    data = b"Item;Notes\nA;one, two\n"
    assert parse_entries(data, "csv", delimiter=";").rows[0].values == {"Item": "A", "Notes": "one, two"}
    assert parse_entries(data, "csv", delimiter="semicolon").delimiter == ";"
    assert parse_entries(b"A\tB\n1\t2\n", "csv", delimiter="tab").rows[0].values == {"A": "1", "B": "2"}
    with pytest.raises(ValidationError) as info:
        parse_entries(b"Item;Notes\nA,B;C;D\n", "csv", name="hours.csv")
    text = str(info.value)
    assert "semicolon-separated (detected from the header)" in text
    assert "--delimiter ','" in text and "--delimiter tab" in text
    with pytest.raises(ValidationError, match="--delimiter ';'"):
        parse_entries(data, "csv", delimiter="|")


def test_windows_1252_csv_is_read() -> None:
    data = "Item;Notes\nA;Caf\u00e9 \u20ac5\n".encode("cp1252")
    assert parse_entries(data, "csv").rows[0].values["Notes"] == "Caf\u00e9 \u20ac5"


@pytest.mark.parametrize(
    ("data", "fmt", "fragment"),
    [
        (b"Notes\n" + b"x" * 200_000 + b"\n", "csv", "line 2: a cell is longer than 131,072 characters"),
        (b"[" * 100_000 + b"]" * 100_000, "json", "nested too deeply"),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "ndjson", "row 1 (line 1): the JSON is nested"),
        (b'{"Quantity": ' + b"9" * 5000 + b"}", "json", "more digits than any field can hold"),
        (b'{"Quantity": ' + b"9" * 5000 + b"}\n", "ndjson", "more digits than any field can hold"),
    ],
)
def test_inputs_past_any_reason_are_clear_errors_not_tracebacks(data: bytes, fmt: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_entries(data, fmt, name="f")  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_read_entries_by_suffix_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "hours.ndjson"
    path.write_text('{"Quantity": 1}\n', encoding="utf-8")
    assert len(read_entries(path)) == 1
    assert detect_format("x.JSONL") == "ndjson"
    with pytest.raises(ValidationError, match="Cannot tell the format") as info:
        read_entries(tmp_path / "hours.txt")
    assert "--file-format csv" in str(info.value)
    with pytest.raises(ValidationError, match="No such file"):
        read_entries(tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="Unknown file format"):
        detect_format("x.csv", "xml")


def test_keys_are_checked_and_formatted_by_type() -> None:
    tt = CAT.endpoint("project/TimeTransactions")
    assert key_suffix(tt, f" {GUID.upper()} ") == f"(guid'{GUID}')"
    assert record_key(tt, f"guid'{GUID}'") == GUID
    divisions = CAT.endpoint("system/Divisions")
    assert key_suffix(divisions, "100001") == "(100001)"
    with pytest.raises(ValidationError, match="whole number"):
        key_suffix(divisions, "1e5")
    with pytest.raises(ValidationError, match="Expected a GUID"):
        key_suffix(tt, "12")


def test_composite_and_missing_keys() -> None:
    composite = next(e for e in CAT if len(e.keys) > 1)
    text = ",".join(f"{k}=1" for k in composite.keys)
    parsed = parse_key(composite, text)
    assert isinstance(parsed, dict) and list(parsed) == list(composite.keys)
    with pytest.raises(ValidationError, match="composite key"):
        parse_key(composite, "just-one")
    keyless = next(e for e in CAT if not e.keys and e.allows("GET"))
    with pytest.raises(CatalogueError, match="has no key"):
        parse_key(keyless, "x")


def test_text_keys_keep_their_spaces_and_double_quotes() -> None:
    text_keyed = next(e for e in CAT if e.key_type == "string" and len(e.keys) == 1)
    assert key_suffix(text_keyed, " O'B ") == "('%20O''B%20')"


def test_dry_run_bodies_match_what_http_sends() -> None:
    tt = CAT.endpoint("project/TimeTransactions")
    body = {"Date": datetime(2026, 3, 29, 2, 30), "Quantity": 7.5}
    request = plan("https://start.exactonline.nl/", "post", tt, 100001, body=body)
    assert request.url == "https://start.exactonline.nl/api/v1/100001/project/TimeTransactions"
    assert request.body == body_text(body) == '{"Date": "2026-03-29T02:30:00", "Quantity": 7.5}'
    assert str(request).startswith(
        "POST https://start.exactonline.nl/api/v1/100001/project/TimeTransactions\n{"
    )


def test_match_fields_resolve_the_party_slot() -> None:
    entry = {"Date": "d", "Item": "i", "Quantity": 1, "Account": "a"}
    assert match_fields(DEFAULT_MATCH_FIELDS, entry) == ("Date", "Item", "Quantity", "Account")
    assert match_fields(DEFAULT_MATCH_FIELDS, {**entry, "Project": "p"}) == (
        "Date",
        "Item",
        "Quantity",
        "Project",
    )
    assert match_fields(("Notes", "Account"), {"Notes": "n", "Account": "a"}) == ("Notes", "Account")


def test_endpoint_picker() -> None:
    rows = describe_endpoints("timetransactions")
    tt = next(r for r in rows if r["path"] == "project/TimeTransactions")
    assert tt == {
        "path": "project/TimeTransactions",
        "service": "project",
        "endpoint": "TimeTransactions",
        "methods": "GET,POST,PUT,DELETE",
        "key": "ID",
        "key_type": "guid",
        "page_size": 60,
        "status": "current",
    }
    deletable = describe_endpoints("crm/", method="DELETE")
    assert deletable and all("DELETE" in r["methods"] for r in deletable)


def test_field_picker() -> None:
    rows = describe_fields("project/TimeTransactions", "quant")
    assert rows == [
        {
            "name": "Quantity",
            "type": "Double",
            "mandatory": True,
            "read_only": False,
            "key": False,
            "insert_only": False,
            "obsolete": False,
        }
    ]
    writable = {r["name"] for r in describe_fields("project/TimeTransactions", writable=True)}
    assert {"Item", "Quantity", "Notes"} <= writable and not {"ID", "AccountName"} & writable
    with pytest.raises(CatalogueError):
        describe_fields("project/TimeTransaction")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Code eq 'A1'", ["Code"]),
        ("startswith(Notes,'it''s Name eq') eq true and Quantity gt 7.5", ["Notes", "Quantity"]),
        (
            "ID eq guid'3f2504e0-4f89-11d3-9a0c-0305e82c3301' or Date ge datetime'2026-01-01T00:00:00'",
            ["ID", "Date"],
        ),
        ("trim(Code) eq '25' and not (HourStatus eq 20)", ["Code", "HourStatus"]),
        ("Account/Name eq null and Timestamp gt 12L", ["Account/Name", "Timestamp"]),
    ],
)
def test_filter_text_field_names(text: str, names: list[str]) -> None:
    assert filter_field_names(text) == names


def test_a_misspelt_field_in_filter_text_is_caught() -> None:
    accounts = CAT.endpoint("crm/Accounts")
    check_filter_text(accounts, "Code eq 'x' and startswith(Name,'A') eq true")
    with pytest.raises(CatalogueError, match="Unknown field 'Cdoe' on crm/Accounts. Did you mean: Code"):
        check_filter_text(accounts, "Cdoe eq 'x'")
