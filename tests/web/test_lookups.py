"""What the action form looks up as the user types: endpoints (filtered by the method an action
needs), one endpoint's fields for the Data Manager, key checks, and divisions."""

from __future__ import annotations

from tests.web.conftest import csrf

from exactmate.catalogue import Catalogue
from exactmate.web.datamanager import describe, input_for, usual_fields


def test_the_endpoint_list_for_delete_holds_only_endpoints_that_allow_delete(ui) -> None:
    found = ui.get("/api/endpoints", params={"method": "DELETE"}).json()["endpoints"]
    paths = {e["path"] for e in found}
    assert "project/TimeTransactions" in paths and "crm/Accounts" in paths
    assert all("DELETE" in e["methods"] for e in found)
    assert "read/project/HourCostTypes" not in paths
    every = ui.get("/api/endpoints").json()["endpoints"]
    assert len(every) > len(found)
    searched = ui.get("/api/endpoints", params={"q": "timetrans"}).json()["endpoints"]
    assert {e["path"] for e in searched} >= {"project/TimeTransactions"}
    assert ui.get("/api/endpoints", params={"method": "FETCH"}).status_code == 400


def test_one_endpoint_for_the_data_manager(ui) -> None:
    info = ui.get("/api/endpoint", params={"path": "PROJECT/timetransactions", "action": "create"}).json()
    assert info["path"] == "project/TimeTransactions" and info["key_type"] == "guid"
    assert info["usual"] == [
        "Employee",
        "Date",
        "Item",
        "Quantity",
        "Project",
        "Account",
        "Notes",
        "HourStatus",
    ]
    fields = {f["name"]: f for f in info["fields"]}
    assert fields["Item"]["mandatory"] and fields["Item"]["input"] == {"kind": "guid", "lookup": True}
    assert fields["Created"]["read_only"] and not fields["Created"]["pickable"]
    assert fields["Quantity"]["input"] == {"kind": "number"}
    assert fields["Date"]["input"] == {"kind": "date"}
    assert fields["StartTime"]["input"] == {"kind": "datetime"}
    assert fields["HourStatus"]["input"]["choices"] == [
        ["1", "1 Draft"],
        ["2", "2 Rejected"],
        ["10", "10 Submitted"],
    ]
    assert "problem" not in info


def test_an_unknown_endpoint_gets_suggestions_and_a_wrong_method_a_problem(ui) -> None:
    unknown = ui.get("/api/endpoint", params={"path": "crm/Acounts"})
    assert unknown.status_code == 404 and "crm/Accounts" in unknown.json()["error"]
    read_only = ui.get(
        "/api/endpoint", params={"path": "read/project/HourCostTypes", "action": "delete"}
    ).json()
    assert "does not allow DELETE" in read_only["problem"]
    assert ui.get("/api/endpoint", params={"path": "crm/Accounts", "action": "zap"}).status_code == 400


def test_keys_are_checked_as_typed(ui) -> None:
    good = ui.get(
        "/api/key-check", params={"path": "crm/Accounts", "key": "3F2504E0-4F89-11D3-9A0C-0305E82C3301"}
    )
    assert good.json() == {"ok": True, "message": "crm/Accounts(guid'3f2504e0-4f89-11d3-9a0c-0305e82c3301')"}
    bad = ui.get("/api/key-check", params={"path": "crm/Accounts", "key": "12"}).json()
    assert bad["ok"] is False and "GUID" in bad["message"]
    numeric = ui.get("/api/key-check", params={"path": "system/Divisions", "key": "100001"}).json()
    assert numeric == {"ok": True, "message": "system/Divisions(100001)"}
    words = ui.get("/api/key-check", params={"path": "system/Divisions", "key": "abc"}).json()
    assert words["ok"] is False and "whole number" in words["message"]


def test_divisions_without_any_credential_say_how_to_add_one(ui) -> None:
    token = {"X-CSRF-Token": csrf(ui, "/actions")}
    answer = ui.get("/api/divisions", headers=token)
    assert answer.status_code == 400 and "holds no credential" in answer.json()["error"]
    unknown = ui.get("/api/divisions", params={"credential": "Nobody"}, headers=token)
    assert unknown.status_code == 400 and "No credential named" in unknown.json()["error"]


def test_inputs_suit_each_type() -> None:
    accounts = Catalogue.load().endpoint("crm/Accounts")
    kinds = {name: input_for(accounts, field)["kind"] for name, field in accounts.fields.items()}
    assert kinds["ID"] == "guid" and kinds["Name"] == "text"
    boolean = next(f for f in accounts.fields.values() if f.type == "Edm.Boolean")
    assert input_for(accounts, boolean) == {"kind": "bool", "choices": [["true", "Yes"], ["false", "No"]]}
    byte = next(f for e in Catalogue.load() for f in e.fields.values() if f.type == "Edm.Byte")
    assert input_for(accounts, byte) == {"kind": "int", "min": 0, "max": 255}


def test_usual_fields_elsewhere_are_key_mandatory_and_descriptive() -> None:
    projects = Catalogue.load().endpoint("project/Projects")
    listing = usual_fields(projects, "get")
    assert listing[0] == "ID" and "Code" in listing and "Description" in listing
    creating = usual_fields(projects, "create")
    assert "ID" not in creating and {"Code", "Description", "Type"} <= set(creating)
    assert len(listing) <= 8
    described = describe(projects, "update")
    assert all(not f["pickable"] for f in described["fields"] if f["read_only"])
