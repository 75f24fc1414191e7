"""Exact's response envelopes and error bodies (odata/envelope.py)."""

from __future__ import annotations

import json
from datetime import datetime

import orjson
import pytest

from exactmate import odata
from exactmate.errors import ExactmateError
from exactmate.odata import (
    AMSTERDAM,
    date_converter,
    error_message,
    strip_metadata,
    unwrap,
)


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


def test_parse_json_reads_what_json_reads() -> None:
    parse_json = odata.parse_json
    page = '{"d":{"results":[{"Name":"Café Zoë","Amount":1.5,"ID":"3f2504e0-4f89-11d3-9a0c-0305e82c3301"}]}}'
    assert parse_json(page.encode()) == json.loads(page)
    # Whole numbers beyond 64 bits stay exact (not floats), on the fast path and the fallback.
    big = '{"d":{"results":[{"Big":123456789012345678901234567890,"Small":-9223372036854775809}]}}'
    assert parse_json(big.encode())["d"]["results"][0] == {
        "Big": 123456789012345678901234567890,
        "Small": -9223372036854775809,
    }
    # What the fast parser refuses and json takes is still read: NaN, a number beyond a float's
    # range, a lone surrogate, a byte-order mark, UTF-16.
    odd = '{"d":{"results":[{"Amount":NaN,"Big":123456789012345678901234567890}]}}'
    parsed = parse_json(odd.encode())
    assert parsed["d"]["results"][0]["Big"] == 123456789012345678901234567890
    assert parsed["d"]["results"][0]["Amount"] != parsed["d"]["results"][0]["Amount"]  # NaN
    assert parse_json(b'{"Huge": 1e400}') == {"Huge": float("inf")}
    assert parse_json(b'{"Lone": "\\ud800"}') == {"Lone": "\ud800"}
    assert parse_json("\ufeff".encode() + page.encode()) == json.loads(page)
    assert parse_json(page.encode("utf-16")) == json.loads(page)
    with pytest.raises(ValueError):
        parse_json(b"<html>not json</html>")


def test_next_link_is_found_in_the_bytes_as_unwrap_finds_it() -> None:
    from exactmate.odata import next_link, parse_json

    link = "https://start.exactonline.nl/api/v1/1/crm/Accounts?$select=ID,Name&$skiptoken=guid'a-b'"
    text = 'a text holding "__next": "https://elsewhere" is no key'  # JSON escapes its quotes
    pages = [
        orjson.dumps({"d": {"results": [{"Name": text}], "__next": link}}),
        json.dumps({"d": {"results": [{"Name": text}], "__next": link}}, indent=1).encode(),  # spaces, \/
        json.dumps({"d": {"results": [{"Name": text}], "__next": link.replace("/", "\\/")}}).encode(),
        orjson.dumps({"d": {"results": [{"Name": text}]}}),  # the last page
        orjson.dumps({"d": {"results": [], "__next": ""}}),
    ]
    for content in pages:
        assert next_link(content) == unwrap(parse_json(content)).next_url, content
    assert next_link(pages[0]) == link
