"""POST, PUT and DELETE on the generic store: validation from the catalogue, twins, sync/Deleted,
and the changes handed to webhook delivery."""

from __future__ import annotations

import httpx
import pytest

from exactmate.emulator.config import DEMO_USER_ID
from exactmate.emulator.exchange import Change
from tests.emulator.data.support import FIRST, SECOND, Session, all_pages, error_text, results

ACCOUNTS = f"/api/v1/{FIRST}/crm/Accounts"
FULL = {"Prefer": "return=representation"}
STREAM_ERROR = "Error processing request stream. The request should be a valid top-level resource object."


def _create(api: httpx.Client, url: str = ACCOUNTS, **fields: object) -> dict[str, object]:
    response = api.post(url, json=fields, headers=FULL)
    assert response.status_code == 201, response.text
    return dict(response.json()["d"])


def test_post_returns_201_with_the_key_and_nulls_without_prefer(api: httpx.Client) -> None:
    response = api.post(ACCOUNTS, json={"Name": "Plain B.V.", "City": "Delft"})
    assert response.status_code == 201
    entity = response.json()["d"]
    assert entity["ID"]
    assert entity["Name"] is None and entity["City"] is None
    assert (
        response.headers["Location"]
        == f"http://127.0.0.1:8555/api/v1/{FIRST}/crm/Accounts(guid'{entity['ID']}')"
    )
    stored = api.get(f"{ACCOUNTS}(guid'{entity['ID']}')").json()["d"]
    assert stored["Name"] == "Plain B.V." and stored["City"] == "Delft"


def test_post_with_prefer_returns_the_populated_entity(api: httpx.Client) -> None:
    entity = _create(api, Name="Full B.V.", CreditLineSales=1500)
    assert entity["Name"] == "Full B.V."
    assert entity["CreditLineSales"] == 1500.0
    assert entity["Division"] == FIRST
    assert entity["Creator"] == DEMO_USER_ID
    assert entity["Created"] == entity["Modified"]


def test_account_codes_are_right_aligned_in_18_characters(api: httpx.Client) -> None:
    assert _create(api, Name="A", Code="4711")["Code"] == " " * 14 + "4711"
    numbered = _create(api, Name="B")["Code"]
    assert isinstance(numbered, str) and len(numbered) == 18 and numbered.strip().isdigit()


def test_put_merges_only_the_sent_fields_and_returns_204(api: httpx.Client) -> None:
    entity = _create(api, Name="Before", City="Delft", Email="a@b.example")
    url = f"{ACCOUNTS}(guid'{entity['ID']}')"
    response = api.put(url, json={"City": "Leiden", "Email": None})
    assert response.status_code == 204
    assert response.content == b""
    after = api.get(url).json()["d"]
    assert (after["Name"], after["City"], after["Email"]) == ("Before", "Leiden", None)


def test_read_only_fields_are_ignored_on_post_and_put(api: httpx.Client) -> None:
    entity = _create(api, Name="RO", Division=999, Created="/Date(0)/", IsSales=False)
    assert entity["Division"] == FIRST and entity["Created"] != "/Date(0)/"
    url = f"{ACCOUNTS}(guid'{entity['ID']}')"
    assert (
        api.put(url, json={"ID": "11111111-1111-4111-8111-111111111111", "Modifier": None}).status_code == 204
    )
    assert api.get(url).json()["d"]["ID"] == entity["ID"]


def test_delete_returns_204_and_the_record_is_gone(api: httpx.Client) -> None:
    entity = _create(api, Name="Doomed")
    url = f"{ACCOUNTS}(guid'{entity['ID']}')"
    response = api.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404


def test_put_to_an_unknown_key_is_404(api: httpx.Client) -> None:
    response = api.put(f"{ACCOUNTS}(guid'00000000-0000-4000-8000-000000000000')", json={"Name": "x"})
    assert response.status_code == 404
    assert error_text(response) == "Resource not found for the segment 'Accounts'."


def test_missing_mandatory_fields_are_listed_together(api: httpx.Client) -> None:
    response = api.post(f"/api/v1/{FIRST}/crm/Contacts", json={"Notes": "no names"})
    assert response.status_code == 400
    assert error_text(response) == "Mandatory: Account\r\nMandatory: FirstName\r\nMandatory: LastName"
    assert api.post(ACCOUNTS, json={"Name": ""}).status_code == 400


def test_unknown_field_is_400(api: httpx.Client) -> None:
    response = api.post(ACCOUNTS, json={"Name": "x", "Nmae": "y"})
    assert response.status_code == 400
    assert error_text(response) == (
        "The property 'Nmae' does not exist on type 'Exact.Web.Api.Models.Account'. "
        "Make sure to only use property names that are defined by the type."
    )


@pytest.mark.parametrize(
    "field, value, system_type",
    [
        ("CreditLineSales", "1500", "System.Double"),
        ("CreditLineSales", True, "System.Double"),
        ("AccountManager", "not-a-guid", "System.Guid"),
        ("Blocked", "yes", "System.Boolean"),
        ("ShippingLeadDays", 1.5, "System.Int32"),
        ("ShippingLeadDays", 2**40, "System.Int32"),
        ("IsAccountant", 300, "System.Byte"),
        ("City", 12, "System.String"),
        ("Logo", "***", "System.Binary"),
    ],
)
def test_values_of_the_wrong_type_are_400(
    api: httpx.Client, field: str, value: object, system_type: str
) -> None:
    response = api.post(ACCOUNTS, json={"Name": "x", field: value})
    assert response.status_code == 400
    text = error_text(response)
    assert text.startswith(
        "Error processing request stream. Error encountered in converting the value from request payload "
        f"for property '{field}' to type '{system_type}', which is the property's type. Expected "
    )


@pytest.mark.parametrize("body", [b"{broken", b"[1, 2]", b'"text"', b"", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_the_request_stream_error(api: httpx.Client, body: bytes) -> None:
    response = api.post(ACCOUNTS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_text(response) == STREAM_ERROR


def test_generic_endpoint_with_an_integer_key(api: httpx.Client) -> None:
    url = f"/api/v1/{FIRST}/financial/Journals"
    assert results(api.get(url)) == []
    first = api.post(url, json={"Code": "90", "Description": "Memorial", "Type": 90})
    assert first.status_code == 201, first.text
    assert "ID" in first.json()["d"]


def test_generic_store_is_per_division(api: httpx.Client) -> None:
    url = "/api/v1/{}/activities/Tasks"
    task = _create(api, url.format(FIRST), Description="Call back")
    assert [r["ID"] for r in results(api.get(url.format(FIRST)))] == [task["ID"]]
    assert results(api.get(url.format(SECOND))) == []


def test_a_duplicate_key_is_refused(api: httpx.Client) -> None:
    entity = _create(api, Name="Once")
    response = api.post(ACCOUNTS, json={"ID": entity["ID"], "Name": "Twice"})
    assert response.status_code == 400
    assert str(entity["ID"]) in error_text(response)


def test_writes_show_in_the_bulk_and_sync_twins_with_a_new_timestamp(api: httpx.Client) -> None:
    sync = f"/api/v1/{FIRST}/sync/CRM/Accounts"
    before = results(api.get(sync, params={"$select": "Timestamp", "$filter": "Timestamp gt 0"}))
    high = max(r["Timestamp"] for r in before)
    entity = _create(api, Name="Twin B.V.")
    bulk = results(
        api.get(
            f"/api/v1/{FIRST}/bulk/CRM/Accounts",
            params={"$select": "ID,Name", "$filter": "Name eq 'Twin B.V.'"},
        )
    )
    assert [r["ID"] for r in bulk] == [entity["ID"]]
    new = results(api.get(sync, params={"$select": "Timestamp,ID,Name", "$filter": f"Timestamp gt {high}L"}))
    assert [(r["ID"], r["Name"]) for r in new] == [(entity["ID"], "Twin B.V.")]
    api.put(f"{ACCOUNTS}(guid'{entity['ID']}')", json={"Name": "Renamed B.V."})
    newer = results(
        api.get(sync, params={"$select": "Timestamp,Name", "$filter": f"Timestamp gt {new[0]['Timestamp']}L"})
    )
    assert [r["Name"] for r in newer] == ["Renamed B.V."]


def test_updating_a_demo_record_moves_it_to_the_end_of_the_sync_order(api: httpx.Client) -> None:
    sync = f"/api/v1/{FIRST}/sync/CRM/Accounts"
    oldest = results(api.get(sync, params={"$select": "Timestamp,ID", "$top": "1"}))[0]
    assert api.put(f"{ACCOUNTS}(guid'{oldest['ID']}')", json={"Phone": "+31 70 0000000"}).status_code == 204
    rows = [r for page in all_pages(api, sync, {"$select": "Timestamp,ID"}) for r in page]
    assert rows[-1]["ID"] == oldest["ID"] and rows[-1]["Timestamp"] > oldest["Timestamp"]
    assert sum(1 for r in rows if r["ID"] == oldest["ID"]) == 1


def test_deletions_are_recorded_in_sync_deleted(api: httpx.Client) -> None:
    entity = _create(api, Name="Gone B.V.")
    assert api.delete(f"{ACCOUNTS}(guid'{entity['ID']}')").status_code == 204
    rows = results(
        api.get(
            f"/api/v1/{FIRST}/sync/Deleted",
            params={"$select": "Timestamp,EntityKey,EntityType,DeletedBy,Division"},
        )
    )
    assert [(r["EntityKey"], r["EntityType"], r["DeletedBy"], r["Division"]) for r in rows] == [
        (entity["ID"], 2, DEMO_USER_ID, FIRST)
    ]
    assert results(api.get(f"/api/v1/{SECOND}/sync/Deleted")) == []


def test_writes_on_webhook_topics_report_changes(api: httpx.Client, session: Session) -> None:
    entity = _create(api, Name="Hooked B.V.")
    url = f"{ACCOUNTS}(guid'{entity['ID']}')"
    api.put(url, json={"City": "Zwolle"})
    api.delete(url)
    uri = f"http://127.0.0.1:8555{url}"
    assert session.changes == [
        Change("Accounts", FIRST, "Create", str(entity["ID"]), uri),
        Change("Accounts", FIRST, "Update", str(entity["ID"]), uri),
        Change("Accounts", FIRST, "Delete", str(entity["ID"]), uri),
    ]


def test_refused_writes_and_endpoints_without_a_topic_report_nothing(
    api: httpx.Client, session: Session
) -> None:
    api.post(ACCOUNTS, json={"Nmae": "x"})
    _create(api, f"/api/v1/{FIRST}/activities/Tasks", Description="No topic")
    assert session.changes == []


def test_line_endpoints_report_their_headers_topic(api: httpx.Client, session: Session) -> None:
    url = f"/api/v1/{FIRST}/salesinvoice/SalesInvoiceLines"
    guid = "0ab6f2c4-1b7e-4c0e-9a51-3a2b1c0d9e8f"
    response = api.post(url, json={"Item": guid, "InvoiceID": guid, "GLAccount": guid})
    assert response.status_code == 201, response.text
    assert [c.topic for c in session.changes] == ["SalesInvoices"]


def test_put_may_not_clear_a_mandatory_field(api: httpx.Client) -> None:
    entity = _create(api, Name="Keeps a name")
    url = f"{ACCOUNTS}(guid'{entity['ID']}')"
    response = api.put(url, json={"Name": "", "City": "Delft"})
    assert response.status_code == 400
    assert error_text(response) == "Mandatory: Name"
    assert api.get(url).json()["d"]["City"] is None


@pytest.mark.parametrize(
    "body", [b'{"Name": "x", "Latitude": 1e400}', b'{"Name": "x", "Latitude": Infinity}']
)
def test_numbers_that_json_cannot_carry_are_refused(api: httpx.Client, body: bytes) -> None:
    response = api.post(ACCOUNTS, content=body)
    assert response.status_code == 400
    assert error_text(response).startswith("Error processing request stream.")
