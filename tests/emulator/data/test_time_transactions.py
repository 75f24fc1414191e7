"""project/TimeTransactions: Exact's creation rules, statuses and derived fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulator.data.support import FIRST, SECOND, START, Session, error_text, results

TIME = f"/api/v1/{FIRST}/project/TimeTransactions"
FULL = {"Prefer": "return=representation"}
MISSING = "00000000-0000-4000-8000-000000000001"


def _one(api: httpx.Client, url: str, filter_text: str, division: int = FIRST) -> dict[str, Any]:
    rows = results(api.get(f"/api/v1/{division}/{url}", params={"$filter": filter_text, "$top": "1"}))
    assert rows, filter_text
    return rows[0]


@pytest.fixture
def hour_type(api: httpx.Client) -> dict[str, Any]:
    return _one(api, "logistics/Items", "IsTime eq 1 and Code eq 'CONSULT'")


@pytest.fixture
def project(api: httpx.Client) -> dict[str, Any]:
    return _one(api, "project/Projects", "Code eq 'PRJ001'")


def _post(api: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return api.post(TIME, json=body, headers=FULL)


def test_demo_transactions_have_every_status(api: httpx.Client) -> None:
    for status in (1, 2, 10, 20):
        assert api.get(f"{TIME}/$count", params={"$filter": f"HourStatus eq {status}"}).text != "0"


def test_create_fills_defaults_and_derived_fields(
    api: httpx.Client, hour_type: dict[str, Any], project: dict[str, Any]
) -> None:
    response = _post(api, {"Item": hour_type["ID"], "Quantity": 2.5, "Project": project["ID"], "Notes": "x"})
    assert response.status_code == 201, response.text
    tt = response.json()["d"]
    me = results(api.get("/api/v1/current/Me"))[0]
    account = api.get(f"/api/v1/{FIRST}/crm/Accounts(guid'{project['Account']}')").json()["d"]
    assert tt["HourStatus"] == 1
    assert tt["Employee"] == me["EmployeeID"]
    today_cet = (int(START) + 3600) // 86_400 * 86_400_000
    assert tt["Date"] == f"/Date({today_cet})/"
    assert tt["Type"] == 1
    assert tt["Division"] == FIRST
    assert tt["ItemDescription"] == "Consultancy"
    assert tt["PriceFC"] == 95.0 and tt["AmountFC"] == 237.5
    assert tt["ProjectCode"] == "PRJ001" and tt["ProjectDescription"] == project["Description"]
    assert tt["Account"] == project["Account"] and tt["AccountName"] == account["Name"]
    assert tt["Currency"] == "EUR"
    assert tt["Creator"] == me["UserID"]


def test_account_alone_is_enough(api: httpx.Client, hour_type: dict[str, Any]) -> None:
    account = _one(api, "crm/Accounts", "trim(Code) eq '3'")
    response = _post(
        api, {"Item": hour_type["ID"], "Quantity": 1, "Account": account["ID"], "HourStatus": 10}
    )
    assert response.status_code == 201, response.text
    tt = response.json()["d"]
    assert tt["AccountName"] == account["Name"] and tt["Project"] is None and tt["HourStatus"] == 10


def test_item_and_quantity_and_a_target_are_required(api: httpx.Client) -> None:
    response = _post(api, {"Notes": "nothing else"})
    assert response.status_code == 400
    assert error_text(response) == (
        "Mandatory: Item\r\nMandatory: Quantity\r\nMandatory: Account, Project or Subscription"
    )


def test_the_item_must_be_an_hour_type(api: httpx.Client, project: dict[str, Any]) -> None:
    laptop = _one(api, "logistics/Items", "IsTime eq 0 and Code eq 'LAPTOP'")
    response = _post(api, {"Item": laptop["ID"], "Quantity": 1, "Project": project["ID"]})
    assert response.status_code == 400
    assert error_text(response).startswith("Item LAPTOP is not an hour type")


def test_references_must_exist_in_the_division(
    api: httpx.Client, hour_type: dict[str, Any], project: dict[str, Any]
) -> None:
    other_item = _one(api, "logistics/Items", "Code eq 'CONSULT'", division=SECOND)
    response = _post(api, {"Item": other_item["ID"], "Quantity": 1, "Project": MISSING, "Employee": MISSING})
    assert response.status_code == 400
    assert error_text(response) == (
        f"Item {other_item['ID']} does not exist in division {FIRST}.\r\n"
        f"Project {MISSING} does not exist in division {FIRST}.\r\n"
        f"Employee {MISSING} does not exist in division {FIRST}."
    )
    subscription = _post(api, {"Item": hour_type["ID"], "Quantity": 1, "Subscription": MISSING})
    assert error_text(subscription) == f"Subscription {MISSING} does not exist in division {FIRST}."


@pytest.mark.parametrize("status, allowed", [(1, True), (2, True), (10, True), (20, False), (11, False)])
def test_hour_status_is_writable_only_as_1_2_or_10(
    api: httpx.Client, hour_type: dict[str, Any], project: dict[str, Any], status: int, allowed: bool
) -> None:
    response = _post(
        api, {"Item": hour_type["ID"], "Quantity": 1, "Project": project["ID"], "HourStatus": status}
    )
    assert (response.status_code == 201) is allowed
    if not allowed:
        assert error_text(response) == (
            f"HourStatus {status} cannot be written: use 1 (draft), 2 (rejected) or 10 (submitted)."
        )


def test_final_entries_can_be_neither_changed_nor_deleted(api: httpx.Client) -> None:
    final = _one(api, "project/TimeTransactions", "HourStatus eq 20")
    url = f"{TIME}(guid'{final['ID']}')"
    for response in (api.put(url, json={"Notes": "changed"}), api.delete(url)):
        assert response.status_code == 400
        assert "status 20 (final)" in error_text(response)
    assert api.get(url).json()["d"]["Notes"] == final["Notes"]


def test_draft_entries_can_be_changed_and_deleted(api: httpx.Client, hour_type: dict[str, Any]) -> None:
    draft = _one(api, "project/TimeTransactions", "HourStatus eq 1")
    url = f"{TIME}(guid'{draft['ID']}')"
    assert api.put(url, json={"Quantity": 3.0, "HourStatus": 10, "Item": hour_type["ID"]}).status_code == 204
    after = api.get(url).json()["d"]
    assert (after["Quantity"], after["HourStatus"], after["AmountFC"]) == (3.0, 10, 285.0)
    assert api.put(url, json={"HourStatus": 20}).status_code == 400
    assert api.put(url, json={"Quantity": None}).status_code == 400
    assert api.delete(url).status_code == 204
    deleted = results(api.get(f"/api/v1/{FIRST}/sync/Deleted", params={"$select": "EntityKey,EntityType"}))
    assert deleted[-1] == {**deleted[-1], "EntityKey": draft["ID"], "EntityType": 14}


def test_time_and_cost_transactions_share_the_sync_endpoint(api: httpx.Client, session: Session) -> None:
    rows = results(
        api.get(
            f"/api/v1/{FIRST}/sync/Project/TimeCostTransactions", params={"$select": "ID,Type,WBS,Timestamp"}
        )
    )
    time_count = int(api.get(f"/api/v1/{FIRST}/project/TimeTransactions/$count").text)
    cost_ids = {r["ID"] for r in results(api.get(f"/api/v1/{FIRST}/project/CostTransactions"))}
    assert time_count == 150 and len(cost_ids) == 15
    time_rows = [r for r in rows if r["Type"] == 1]  # Type 1: the time entries
    assert len(time_rows) == 150
    one = api.get(f"/api/v1/{FIRST}/project/TimeTransactions(guid'{time_rows[7]['ID']}')")
    assert one.status_code == 200
    assert {r["ID"] for r in rows if r["Type"] == 2} == cost_ids  # Type 2: the costs, in the same feed
    assert len(rows) == 165 and {r["WBS"] for r in rows} == {None}
    stamps = [r["Timestamp"] for r in rows]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_writes_report_the_time_transactions_topic(
    api: httpx.Client, session: Session, hour_type: dict[str, Any], project: dict[str, Any]
) -> None:
    tt = _post(api, {"Item": hour_type["ID"], "Quantity": 1, "Project": project["ID"]}).json()["d"]
    assert [(c.topic, c.action, c.key) for c in session.changes] == [("TimeTransactions", "Create", tt["ID"])]
