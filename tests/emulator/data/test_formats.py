"""Response formats (JSON only with Accept: application/json, otherwise Atom) and Exact's dates."""

from __future__ import annotations

import calendar
import xml.etree.ElementTree as ET
from datetime import datetime

import httpx
import pytest

from exactmate.clock import FakeClock
from tests.emulator.data.support import FIRST, START, error_text, results

ACCOUNTS = f"/api/v1/{FIRST}/crm/Accounts"
NS = {
    "a": "http://www.w3.org/2005/Atom",
    "m": "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata",
    "d": "http://schemas.microsoft.com/ado/2007/08/dataservices",
}
XML = {"Accept": "application/atom+xml"}


def _wall_ms(text: str) -> int:
    """Milliseconds of a zone-less wall-clock time read as UTC: how Exact writes /Date(ms)/."""
    return calendar.timegm(datetime.fromisoformat(text).timetuple()) * 1000


def _created(api: httpx.Client, **fields: object) -> dict[str, object]:
    response = api.post(
        ACCOUNTS, json={"Name": "Date test", **fields}, headers={"Prefer": "return=representation"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["d"])


def test_json_collection_envelope(api: httpx.Client) -> None:
    response = api.get(ACCOUNTS, params={"$select": "ID,Name", "$top": "2"})
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["d"]
    assert list(body["d"]) == ["results"]
    row = body["d"]["results"][0]
    assert row["__metadata"] == {
        "uri": f"http://127.0.0.1:8555/api/v1/{FIRST}/crm/Accounts(guid'{row['ID']}')",
        "type": "Exact.Web.Api.Models.Account",
    }


@pytest.mark.parametrize(
    "sent, wall",
    [
        ("2026-07-01T09:30:00", "2026-07-01T09:30:00"),  # zone-less: already CET/CEST wall clock
        ("2026-07-01T07:30:00Z", "2026-07-01T09:30:00"),  # summer: UTC+2
        ("2026-01-15T08:00:00Z", "2026-01-15T09:00:00"),  # winter: UTC+1
        ("2026-01-15T09:00:00+01:00", "2026-01-15T09:00:00"),
        ("2026-03-29T01:30:00Z", "2026-03-29T03:30:00"),  # just after the spring change
        ("2026-10-25T00:30:00Z", "2026-10-25T02:30:00"),  # still summer time
        ("2026-10-25T01:30:00Z", "2026-10-25T02:30:00"),  # an hour later: winter time again
        ("2026-05-01", "2026-05-01T00:00:00"),
        ("/Date(1767225600000)/", "2026-01-01T00:00:00"),
    ],
)
def test_dates_in_bodies_come_back_as_cet_wall_clock(api: httpx.Client, sent: str, wall: str) -> None:
    row = _created(api, StartDate=sent)
    assert row["StartDate"] == f"/Date({_wall_ms(wall)})/"


def test_created_is_the_emulators_now_in_cet(api: httpx.Client, clock: FakeClock) -> None:
    assert _created(api)["Created"] == f"/Date({int(START * 1000) + 3_600_000})/"
    clock.advance(181 * 86_400)  # 2026-07-01T00:00:00Z: summer time
    assert _created(api)["Created"] == f"/Date({_wall_ms('2026-07-01T02:00:00')})/"


def test_an_invalid_date_is_400(api: httpx.Client) -> None:
    response = api.post(ACCOUNTS, json={"Name": "x", "StartDate": "yesterday"})
    assert response.status_code == 400
    assert "for property 'StartDate' to type 'System.DateTime'" in error_text(response)


def test_atom_feed_without_accept_json(api: httpx.Client) -> None:
    json_body = api.get(
        ACCOUNTS, params={"$select": "ID,Name,Fax,IsSupplier,Created", "$inlinecount": "allpages"}
    )
    response = api.get(
        ACCOUNTS,
        params={"$select": "ID,Name,Fax,IsSupplier,Created", "$inlinecount": "allpages"},
        headers=XML,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml;type=feed")
    feed = ET.fromstring(response.content)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    assert feed.findtext("m:count", namespaces=NS) == "150"
    entries = feed.findall("a:entry", NS)
    assert len(entries) == 60
    expected = results(json_body)
    props = entries[0].find("a:content/m:properties", NS)
    assert props is not None
    guid = props.find("d:ID", NS)
    assert guid is not None and guid.text == expected[0]["ID"]
    assert guid.get(f"{{{NS['m']}}}type") == "Edm.Guid"
    name = props.find("d:Name", NS)
    assert name is not None and name.text == expected[0]["Name"] and name.get(f"{{{NS['m']}}}type") is None
    fax = props.find("d:Fax", NS)
    assert fax is not None and fax.get(f"{{{NS['m']}}}null") == "true"
    assert props.findtext("d:IsSupplier", namespaces=NS) in ("true", "false")
    created_ms = int(str(expected[0]["Created"])[6:-2])
    created = props.findtext("d:Created", namespaces=NS)
    assert created is not None and _wall_ms(created) == created_ms
    next_link = feed.find("a:link[@rel='next']", NS)
    assert next_link is not None and next_link.get("href") == json_body.json()["d"]["__next"]


def test_atom_single_entry_and_created_entry(api: httpx.Client) -> None:
    created = api.post(
        ACCOUNTS, json={"Name": "Atom B.V."}, headers={**XML, "Prefer": "return=representation"}
    )
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/atom+xml;type=entry")
    entry = ET.fromstring(created.content)
    assert entry.tag == "{http://www.w3.org/2005/Atom}entry"
    assert entry.findtext("a:content/m:properties/d:Name", namespaces=NS) == "Atom B.V."
    key = entry.findtext("a:content/m:properties/d:ID", namespaces=NS)
    one = ET.fromstring(api.get(f"{ACCOUNTS}(guid'{key}')", headers=XML).content)
    assert (
        one.findtext("a:id", namespaces=NS)
        == f"http://127.0.0.1:8555/api/v1/{FIRST}/crm/Accounts(guid'{key}')"
    )
    category = one.find("a:category", NS)
    assert category is not None and category.get("term") == "Exact.Web.Api.Models.Account"


def test_text_with_markup_is_escaped_in_atom(api: httpx.Client) -> None:
    _created(api, Remarks="<b>&</b>")
    feed = ET.fromstring(
        api.get(ACCOUNTS, params={"$filter": "Remarks ne null", "$select": "Remarks"}, headers=XML).content
    )
    assert feed.findtext("a:entry/a:content/m:properties/d:Remarks", namespaces=NS) == "<b>&</b>"


def test_json_is_compact_utf8_with_every_selected_field_in_order(api: httpx.Client) -> None:
    """Exact's JSON: no spaces between tokens, text in UTF-8 rather than \\u escapes, the fields in
    the order asked for, dates as /Date(ms)/ and navigation properties deferred."""
    created = _created(api, Name="Café Ünïcode 東京", City="Zürich", Blocked=True)
    fields = "Name,City,ID,Created,BankAccounts,Blocked"
    response = api.get(f"{ACCOUNTS}(guid'{created['ID']}')", params={"$select": fields})
    text = response.content.decode("utf-8")
    assert "Café Ünïcode 東京" in text and "\\u" not in text
    assert ", " not in text.replace("Café Ünïcode 東京", "") and '": ' not in text
    row = response.json()["d"]
    assert list(row) == ["__metadata", *fields.split(",")]
    assert str(row["Created"]).startswith("/Date(") and row["Blocked"] is True
    assert row["BankAccounts"] == {"__deferred": {"uri": f"{row['__metadata']['uri']}/BankAccounts"}}
