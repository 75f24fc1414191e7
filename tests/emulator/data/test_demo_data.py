"""The seeded demo data, current/Me, and reset."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.emulator.config import DEMO_FULL_NAME, DEMO_USER_ID, DEMO_USERNAME, EmulatorConfig
from exactmate.emulator.rest import RestApi
from tests.emulator.data.support import (
    FIRST,
    FORBIDDEN,
    SECOND,
    START,
    Session,
    all_pages,
    error_text,
    http_client,
    results,
)

ACCOUNTS = f"/api/v1/{FIRST}/crm/Accounts"


def _ids(api: httpx.Client, url: str) -> list[str]:
    return [r["ID"] for page in all_pages(api, url, {"$select": "ID"}) for r in page]


def test_divisions_lists_the_accessible_divisions_and_all_divisions_the_forbidden_one(
    api: httpx.Client,
) -> None:
    divisions = results(api.get(f"/api/v1/{FIRST}/system/Divisions"))
    assert [(d["Code"], d["Current"]) for d in divisions] == [(FIRST, True), (SECOND, False)]
    assert divisions[0]["Description"] == "Demo Consultancy B.V."
    everything = results(
        api.get(f"/api/v1/{FIRST}/system/AllDivisions", params={"$select": "Code,Description"})
    )
    assert [d["Code"] for d in everything] == [FIRST, SECOND, FORBIDDEN]
    assert everything[-1]["Description"] == "Restricted Holding B.V."
    assert [d["Code"] for d in results(api.get(f"/api/v1/{SECOND}/hrm/Divisions"))] == [FIRST, SECOND]


def test_division_description_for_the_consent_page(rest_api: RestApi) -> None:
    assert rest_api.division_description(FIRST) == "Demo Consultancy B.V."
    assert rest_api.division_description(SECOND) == "Demo Engineering B.V."
    assert rest_api.division_description(FORBIDDEN) == "Restricted Holding B.V."


def test_records_scale_the_first_division_and_cap_the_others(api: httpx.Client) -> None:
    assert api.get(f"{ACCOUNTS}/$count").text == "150"
    assert api.get(f"/api/v1/{FIRST}/project/TimeTransactions/$count").text == "150"
    assert api.get(f"/api/v1/{SECOND}/crm/Accounts/$count").text == "150"


@pytest.mark.parametrize("records", [400])
def test_other_divisions_hold_at_most_250_of_each(api: httpx.Client) -> None:
    assert api.get(f"{ACCOUNTS}/$count").text == "400"
    assert api.get(f"/api/v1/{SECOND}/project/TimeTransactions/$count").text == "250"


def test_account_codes_are_18_character_left_padded_strings(api: httpx.Client) -> None:
    rows = results(api.get(ACCOUNTS, params={"$select": "Code,Name", "$top": "60"}))
    assert all(len(r["Code"]) == 18 and r["Code"].strip().isdigit() for r in rows)
    first = results(api.get(ACCOUNTS, params={"$select": "Code", "$filter": "trim(Code) eq '1'"}))
    assert [r["Code"] for r in first] == [" " * 17 + "1"]


def test_items_mix_hour_types_and_other_items(api: httpx.Client) -> None:
    items = results(api.get(f"/api/v1/{FIRST}/logistics/Items", params={"$select": "Code,IsTime"}))
    assert {i["IsTime"] for i in items} == {0, 1}


def test_one_employee_is_the_demo_user_and_me_points_to_it(api: httpx.Client) -> None:
    employees = results(api.get(f"/api/v1/{FIRST}/payroll/Employees", params={"$select": "ID,User,FullName"}))
    mine = [e for e in employees if e["User"] == DEMO_USER_ID]
    assert len(mine) == 1 and mine[0]["FullName"] == DEMO_FULL_NAME
    me = results(api.get("/api/v1/current/Me"))
    assert len(me) == 1
    assert me[0]["EmployeeID"] == mine[0]["ID"]
    assert me[0]["UserID"] == DEMO_USER_ID and me[0]["CurrentDivision"] == FIRST
    assert me[0]["UserName"] == DEMO_USERNAME
    assert me[0]["__metadata"]["type"] == "Exact.Web.Api.System.Me"


def test_me_takes_select_and_speaks_atom(api: httpx.Client) -> None:
    body = api.get("/api/v1/current/Me", params={"$select": "CurrentDivision"}).json()
    assert list(body["d"]) == ["results"]
    assert list(body["d"]["results"][0]) == ["__metadata", "CurrentDivision"]
    feed = ET.fromstring(api.get("/api/v1/current/Me", headers={"Accept": "application/xml"}).content)
    ns = {
        "a": "http://www.w3.org/2005/Atom",
        "m": "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata",
        "d": "http://schemas.microsoft.com/ado/2007/08/dataservices",
    }
    assert feed.findtext("a:entry/a:content/m:properties/d:CurrentDivision", namespaces=ns) == str(FIRST)
    bad = api.get("/api/v1/current/Me", params={"$select": "Nope"})
    assert bad.status_code == 400 and "'Nope'" in error_text(bad)


def test_the_same_seed_and_start_give_the_same_records(config: EmulatorConfig) -> None:
    def first_ids(cfg: EmulatorConfig) -> list[str]:
        with http_client(RestApi(cfg, FakeClock(START).now), Session()) as client:
            return [r["ID"] for r in results(client.get(ACCOUNTS, params={"$select": "ID", "$top": "5"}))]

    assert first_ids(config) == first_ids(config)
    assert first_ids(config) != first_ids(EmulatorConfig(records=config.records, seed=config.seed + 1))


def test_reset_restores_the_seeded_records(api: httpx.Client, rest_api: RestApi) -> None:
    before = _ids(api, ACCOUNTS)
    created = api.post(ACCOUNTS, json={"Name": "Temporary"}).json()["d"]["ID"]
    assert api.delete(f"{ACCOUNTS}(guid'{before[0]}')").status_code == 204
    rest_api.reset()
    after = _ids(api, ACCOUNTS)
    assert after == before
    assert created not in after
    assert results(api.get(f"/api/v1/{FIRST}/sync/Deleted")) == []
