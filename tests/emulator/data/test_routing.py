"""Paths, keys, methods, scopes, beta and Exact's error envelopes."""

from __future__ import annotations

import httpx
import pytest

from exactmate.emulator.rest import RestApi
from tests.emulator.data.support import FIRST, Session, error_text, first_key, results


def test_service_and_endpoint_are_case_insensitive(api: httpx.Client) -> None:
    lower = results(api.get(f"/api/v1/{FIRST}/crm/accounts", params={"$select": "ID"}))
    mixed = results(api.get(f"/api/v1/{FIRST}/CRM/Accounts", params={"$select": "ID"}))
    assert [r["ID"] for r in lower] == [r["ID"] for r in mixed]
    assert len(lower) == 60


@pytest.mark.parametrize(
    "path, segment",
    [
        ("crm/Acounts", "Acounts"),
        ("nosuchservice/Things", "Things"),
        ("crm", "crm"),
    ],
)
def test_unknown_endpoint_is_404_in_exacts_envelope(api: httpx.Client, path: str, segment: str) -> None:
    response = api.get(f"/api/v1/{FIRST}/{path}")
    assert response.status_code == 404
    assert error_text(response) == f"Resource not found for the segment '{segment}'."


def test_current_me_is_not_an_endpoint_under_a_division(api: httpx.Client) -> None:
    assert api.get(f"/api/v1/{FIRST}/current/Me").status_code == 404


def test_guid_key_returns_a_single_entity(api: httpx.Client) -> None:
    key = first_key(api, f"/api/v1/{FIRST}/crm/Accounts")
    response = api.get(f"/api/v1/{FIRST}/crm/Accounts(guid'{key.upper()}')")
    assert response.status_code == 200
    entity = response.json()["d"]
    assert entity["ID"] == key
    assert entity["__metadata"]["uri"] == f"http://127.0.0.1:8555/api/v1/{FIRST}/crm/Accounts(guid'{key}')"
    assert entity["__metadata"]["type"] == "Exact.Web.Api.Models.Account"


def test_integer_key(api: httpx.Client) -> None:
    response = api.get(f"/api/v1/{FIRST}/system/Divisions({FIRST})")
    assert response.status_code == 200
    assert response.json()["d"]["Code"] == FIRST


def test_string_key_and_named_key(api: httpx.Client) -> None:
    assert api.get(f"/api/v1/{FIRST}/general/Currencies('EUR')").json()["d"]["Description"] == "Euro"
    named = api.get(f"/api/v1/{FIRST}/system/Divisions(Code={FIRST})")
    assert named.json()["d"]["Code"] == FIRST


def test_unknown_key_is_404(api: httpx.Client) -> None:
    response = api.get(f"/api/v1/{FIRST}/crm/Accounts(guid'00000000-0000-4000-8000-000000000000')")
    assert response.status_code == 404
    assert error_text(response) == "Resource not found for the segment 'Accounts'."


@pytest.mark.parametrize(
    "key", ["'not-a-guid'", "guid'xyz'", "12", "guid'00000000-0000-4000-8000-000000000000"]
)
def test_key_of_the_wrong_type_or_malformed_is_a_syntax_error(api: httpx.Client, key: str) -> None:
    response = api.get(f"/api/v1/{FIRST}/crm/Accounts({key})")
    assert response.status_code == 400
    assert error_text(response) == "Error in query syntax."


def test_navigation_after_a_key_is_not_found(api: httpx.Client) -> None:
    key = first_key(api, f"/api/v1/{FIRST}/crm/Accounts")
    response = api.get(f"/api/v1/{FIRST}/crm/Accounts(guid'{key}')/BankAccounts")
    assert response.status_code == 404


def test_count_is_a_bare_integer_in_plain_text(api: httpx.Client) -> None:
    response = api.get(f"/api/v1/{FIRST}/crm/Accounts/$count")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "150"
    filtered = api.get(f"/api/v1/{FIRST}/crm/Accounts/$count", params={"$filter": "IsSupplier eq true"})
    assert filtered.text == "15"


def test_method_outside_the_catalogue_is_405_with_allow(api: httpx.Client) -> None:
    response = api.post(f"/api/v1/{FIRST}/payroll/Employees", json={"FirstName": "X"})
    assert response.status_code == 405
    assert error_text(response) == "The requested resource does not support http method 'POST'."
    assert response.headers["Allow"] == "GET"


def test_unsupported_http_method_is_405(api: httpx.Client) -> None:
    response = api.request("PATCH", f"/api/v1/{FIRST}/crm/Accounts")
    assert response.status_code == 405
    assert error_text(response) == "The requested resource does not support http method 'PATCH'."
    assert response.headers["Allow"] == "GET, POST"


def test_put_on_a_collection_and_post_on_a_key_are_405(api: httpx.Client) -> None:
    key = first_key(api, f"/api/v1/{FIRST}/crm/Accounts")
    put = api.put(f"/api/v1/{FIRST}/crm/Accounts", json={"Name": "x"})
    assert put.status_code == 405
    assert put.headers["Allow"] == "GET, POST"
    post = api.post(f"/api/v1/{FIRST}/crm/Accounts(guid'{key}')", json={"Name": "x"})
    assert post.status_code == 405
    assert post.headers["Allow"] == "GET, PUT, DELETE"


def test_beta_endpoints_only_through_beta(api: httpx.Client) -> None:
    assert api.get(f"/api/v1/beta/{FIRST}/budget/BudgetScenarios").status_code == 200
    assert api.get(f"/api/v1/{FIRST}/budget/BudgetScenarios").status_code == 404
    assert api.get(f"/api/v1/beta/{FIRST}/crm/Accounts").status_code == 404


@pytest.mark.parametrize(
    "method, verb",
    [("GET", "read"), ("POST", "write"), ("DELETE", "delete")],
)
def test_scope_violation_is_403(api: httpx.Client, session: Session, method: str, verb: str) -> None:
    key = first_key(api, f"/api/v1/{FIRST}/crm/Accounts")
    session.scopes = frozenset({"Projects billing"})
    url = f"/api/v1/{FIRST}/crm/Accounts" + (f"(guid'{key}')" if method == "DELETE" else "")
    response = api.request(method, url, json={"Name": "x"} if method == "POST" else None)
    assert response.status_code == 403
    assert error_text(response) == f"Forbidden - Application Scope Violated. Cannot {verb}"


def test_granted_scope_and_unscoped_endpoints_pass(api: httpx.Client, session: Session) -> None:
    session.scopes = frozenset({"Projects billing"})
    assert api.get(f"/api/v1/{FIRST}/project/TimeTransactions").status_code == 200
    assert api.get(f"/api/v1/{FIRST}/general/Currencies").status_code == 403  # "Financial currencies"
    assert api.get(f"/api/v1/{FIRST}/activities/Tasks").status_code == 200  # no scope in the catalogue


def test_bulk_and_sync_twins_carry_their_base_endpoints_scope(api: httpx.Client, session: Session) -> None:
    session.scopes = frozenset({"Projects billing"})
    response = api.get(f"/api/v1/{FIRST}/bulk/CRM/Accounts", params={"$select": "ID"})
    assert response.status_code == 403
    assert api.get(f"/api/v1/{FIRST}/sync/Project/TimeCostTransactions").status_code == 200


def test_errors_are_xml_without_accept_json(api: httpx.Client) -> None:
    response = api.get(f"/api/v1/{FIRST}/crm/Acounts", headers={"Accept": "application/xml"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/xml")
    assert "<message xml:lang=\"\">Resource not found for the segment 'Acounts'.</message>" in response.text


def test_an_internal_error_is_exacts_500_and_the_api_keeps_working(
    api: httpx.Client, rest_api: RestApi, monkeypatch: pytest.MonkeyPatch, expect_problem: None
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    with monkeypatch.context() as patch:
        patch.setattr(rest_api, "_get", broken)
        response = api.get(f"/api/v1/{FIRST}/crm/Accounts")
        assert response.status_code == 500
        assert error_text(response) == (
            "A problem has occurred. The cause of this issue will be investigated as soon as possible."
        )
    assert api.get(f"/api/v1/{FIRST}/crm/Accounts").status_code == 200
