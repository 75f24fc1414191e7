"""ExactClient and Resource against a small fake Exact (httpx.MockTransport): twins, paging, validation."""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
import pytest

from exactmate.actions.presentation import json_line
from exactmate.auth import TokenSet
from exactmate.client import ExactClient
from exactmate.clock import FakeClock
from exactmate.config import Settings
from exactmate.errors import (
    CatalogueError,
    ExactmateError,
    NotFoundError,
    ReauthorizationRequired,
    ValidationError,
    VaultError,
)
from exactmate.odata import F
from exactmate.resource import Page, Resource, check_read
from exactmate.secretbox import SecretBox
from exactmate.store import SecretBinding, Store, new_id
from exactmate.vault import CredentialTokens

SERVER = "https://start.exactonline.nl"
DIVISION = 100001
GUID = "deadbeef-0000-4000-8000-00000000000{}"  # never one of the fake accounts' IDs
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


class FakeTokens:
    def access_token(self) -> str:
        return "token"

    def refresh_after_401(self, rejected: str) -> str:
        return "token"


def account(n: int) -> dict[str, Any]:
    return {
        "ID": f"c0ffee00-0000-4000-8000-{n:012d}",
        "Name": f"Account {n}",
        "Code": f"{n:>18}",
        "Created": "/Date(1767261600000)/",  # 2026-01-01T10:00 Amsterdam wall clock
        "Remarks": "/Date(1)/ is not a date here",
        "Timestamp": 1000 + n,
    }


class FakeExact:
    """Just enough of Exact for the client: current/Me, paged collections with absolute ``__next``,
    single records, ``/$count``, POST/PUT/DELETE. Records keep only the ``$select``ed fields, except
    ``Timestamp``, which the sync endpoints always send (as the real ones may)."""

    def __init__(self, records: int = 0) -> None:
        self.accounts = [account(n) for n in range(records)]
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()
        self.fail_divisions: set[int] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        path = request.url.path
        if path == "/api/v1/current/Me":
            return httpx.Response(200, json={"d": {"results": [self.me()]}})
        division = int(path.split("/")[3])
        if division in self.fail_divisions:
            body = {"error": {"code": "", "message": {"lang": "", "value": "No access"}}}
            return httpx.Response(403, json=body, headers={"Reason": "NoDivisionAccess"})
        rest = path.split("/", 4)[4]
        if request.method == "POST":
            created = {"__metadata": {"uri": "x"}, "ID": GUID.format(9), **json.loads(request.content)}
            created["Created"] = "/Date(1767261600000)/"
            return httpx.Response(201, json={"d": created})
        if request.method in ("PUT", "DELETE"):
            return httpx.Response(204)
        if rest.endswith("/$count"):
            return httpx.Response(200, text=str(len(self.accounts)), headers={"Content-Type": "text/plain"})
        if rest.endswith(")"):
            return self.single(rest)
        return self.page(request, rest)

    def me(self) -> dict[str, Any]:
        return {
            "__metadata": {"type": "Exact.Web.Api.System.Me"},
            "CurrentDivision": DIVISION,
            "FullName": "Dana Demo",
            "UserID": GUID.format(1),
        }

    def single(self, rest: str) -> httpx.Response:
        for record in self.accounts:
            if f"guid'{record['ID']}'" in rest:
                return httpx.Response(200, json={"d": {"__metadata": {"uri": rest}, **record}})
        body = {"error": {"code": "", "message": {"lang": "", "value": "Record not found"}}}
        return httpx.Response(404, json=body)

    def page(self, request: httpx.Request, rest: str) -> httpx.Response:
        params = dict(parse_qsl(request.url.query.decode()))
        size = 1000 if rest.startswith(("bulk/", "sync/")) else 60
        start = int(params.get("$skiptoken", "0"))
        if "$top" in params:
            size = min(size, int(params["$top"]))
        chosen = self.accounts[start : start + size]
        select = params.get("$select", "").split(",") if "$select" in params else None
        keep_timestamp = rest.startswith("sync/")
        results = [
            {"__metadata": {"uri": "x"}}
            | {
                k: v
                for k, v in r.items()
                if select is None or k in select or (keep_timestamp and k == "Timestamp")
            }
            for r in chosen
        ]
        body: dict[str, Any] = {"results": results}
        if start + size < len(self.accounts) and "$top" not in params:
            body["__next"] = str(request.url.copy_merge_params({"$skiptoken": str(start + size)}))
        return httpx.Response(200, json={"d": body})

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


@pytest.fixture
def exact() -> FakeExact:
    return FakeExact(records=150)


@pytest.fixture
def client(exact: FakeExact) -> Iterator[ExactClient]:
    with ExactClient(
        server_url=SERVER,
        client_id="client-1",
        tokens=FakeTokens(),
        clock=FakeClock(),
        transport=httpx.MockTransport(exact),
    ) as made:
        yield made


def query_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query.decode()))


# -- me, divisions ----------------------------------------------------------------------------------------


def test_me_is_unwrapped_and_the_current_division_cached(client: ExactClient, exact: FakeExact) -> None:
    me = client.me()
    assert me["FullName"] == "Dana Demo" and "__metadata" not in me
    assert client.current_division() == DIVISION
    client.resource("crm/Accounts").get(exact.accounts[0]["ID"])
    client.resource("crm/Contacts").count()
    assert exact.paths().count("/api/v1/current/Me") == 1


def test_current_division_is_looked_up_once_and_only_when_first_needed(
    client: ExactClient, exact: FakeExact
) -> None:
    resource = client.resource("crm/Accounts")
    assert exact.requests == []
    assert resource.count() == 150
    assert resource.division == DIVISION
    assert exact.paths() == ["/api/v1/current/Me", f"/api/v1/{DIVISION}/crm/Accounts/$count"]


def test_divisions_reads_system_divisions_in_the_current_division(
    client: ExactClient, exact: FakeExact
) -> None:
    client.divisions()
    assert exact.paths()[-1] == f"/api/v1/{DIVISION}/system/Divisions"


# -- bad input costs no call ----------------------------------------------------------------------------


def test_unknown_endpoint_is_refused_with_a_suggestion(client: ExactClient, exact: FakeExact) -> None:
    with pytest.raises(CatalogueError, match="Did you mean: crm/Accounts"):
        client.resource("crm/Acounts")
    assert exact.requests == []


def test_method_the_endpoint_lacks_is_refused(client: ExactClient, exact: FakeExact) -> None:
    divisions = client.resource("system/Divisions", division=DIVISION)
    with pytest.raises(CatalogueError, match="does not support POST; it allows GET, DELETE"):
        divisions.create({"Description": "x"})
    with pytest.raises(CatalogueError, match="does not support PUT"):
        client.resource("bulk/CRM/Accounts").update(GUID.format(1), {"Name": "x"})
    with pytest.raises(CatalogueError, match="does not support DELETE"):
        client.request("DELETE", "current/Me")
    assert exact.requests == []


@pytest.mark.parametrize(
    ("path", "key", "message"),
    [
        ("crm/Accounts", "not-a-guid", "GUID"),
        ("crm/Accounts", 42, "GUID"),
        ("system/Divisions", "abc", "whole number"),
        ("system/Divisions", 1.5, "whole number"),
        ("openingbalance/CurrentYear/AfterEntry", 3, "composite key"),
        (
            "openingbalance/CurrentYear/AfterEntry",
            {"Division": 1, "GLAccount": GUID.format(1)},
            "ReportingYear",
        ),
        ("crm/Accounts", {"Code": "x"}, "keyed by ID"),
    ],
)
def test_malformed_keys_are_refused(
    client: ExactClient, exact: FakeExact, path: str, key: object, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        client.resource(path).get(key)
    assert message in str(caught.value)
    assert exact.requests == []


def test_unknown_select_fields_are_all_listed_with_suggestions(client: ExactClient, exact: FakeExact) -> None:
    with pytest.raises(CatalogueError) as caught:
        client.resource("crm/Accounts").list(select=["ID", "Nmae", "Bogus"])
    text = str(caught.value)
    assert "'Nmae'" in text and "Did you mean: Name" in text and "'Bogus'" in text
    assert exact.requests == []


def test_unknown_order_by_and_expand_fields_are_refused(client: ExactClient, exact: FakeExact) -> None:
    with pytest.raises(CatalogueError):
        client.resource("crm/Accounts").pages(order_by=["Nmae desc"])
    with pytest.raises(CatalogueError):
        client.resource("salesinvoice/SalesInvoices").pages(expand=["Lines"])
    assert exact.requests == []


def test_filter_values_can_never_inject_odata(client: ExactClient, exact: FakeExact) -> None:
    accounts = client.resource("crm/Accounts", division=DIVISION)
    next(accounts.list(filter={"Name": "O'Brien') or (1 eq 1"}))
    next(accounts.list(filter=F("Name") == "x' or 'a' eq 'a"))
    filters = [query_of(r)["$filter"] for r in exact.requests]
    assert filters == ["Name eq 'O''Brien'') or (1 eq 1'", "Name eq 'x'' or ''a'' eq ''a'"]


def test_filter_values_of_the_wrong_type_are_refused(client: ExactClient, exact: FakeExact) -> None:
    with pytest.raises(ValidationError):
        list(client.resource("crm/Accounts", division=DIVISION).list(filter={"ID": "' or 1 eq 1"}))
    with pytest.raises(ValidationError):
        client.resource("crm/Accounts", division=DIVISION).count(filter={"Created": "yesterday"})
    assert exact.requests == []


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"Name": "x", "Nmae": "y"}, "Did you mean: Name"),
        ({"Name": "x", "Created": "2026-01-01"}, "Created is read-only"),
        ({"Code": "x"}, "Name is mandatory"),
        ({"Name": None}, "Name is mandatory"),
        ({"Name": 12}, "Name (String): expected text, got int 12"),
        ({"Name": "x", "Blocked": "no"}, "Blocked (Boolean): expected true or false"),
        ({"Name": "x", "AccountManager": "bob"}, "expected a GUID"),
        ({"Name": "x", "CreditLinePurchase": "many"}, "expected a number"),
        ({"Name": "x", "Status": "C", "StartDate": "next week"}, "ISO date-time"),
        ({"Name": "x", "name": "y"}, "given twice"),
    ],
)
def test_bad_records_are_refused_before_a_create(
    client: ExactClient, exact: FakeExact, record: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        client.resource("crm/Accounts").create(record)
    assert problem in str(caught.value)
    assert exact.requests == []


def test_update_refuses_nothing_to_update_and_insert_only_fields(
    client: ExactClient, exact: FakeExact
) -> None:
    with pytest.raises(ValidationError, match="Nothing to update"):
        client.resource("crm/Accounts").update(GUID.format(1), {})
    with pytest.raises(ValidationError, match="only be set when the record is created"):
        client.resource("crm/Quotations").update(GUID.format(1), {"InvoiceAccount": GUID.format(2)})
    assert exact.requests == []


def test_bad_divisions_are_refused(client: ExactClient, exact: FakeExact) -> None:
    for bad in (0, -3, True, "100001", 10**30, 2**31):
        with pytest.raises(ValidationError, match="whole number from 1 to 2147483647"):
            client.resource("crm/Accounts", division=bad)  # type: ignore[arg-type]
    assert exact.requests == []


# -- twins ----------------------------------------------------------------------------------------------


def test_whole_endpoint_read_uses_the_bulk_twin_with_an_explicit_select(exact: FakeExact) -> None:
    exact.accounts = [account(n) for n in range(2500)]
    client = ExactClient(
        server_url=SERVER, client_id="c", tokens=FakeTokens(), transport=httpx.MockTransport(exact)
    )
    records = list(client.resource("crm/Accounts").list())
    assert len(records) == 2500
    assert len({r["ID"] for r in records}) == 2500
    calls = [r for r in exact.requests if r.url.path != "/api/v1/current/Me"]
    assert len(calls) == math.ceil(2500 / 1000)
    assert len(exact.requests) <= math.ceil(2500 / 1000) + 2
    assert calls[0].url.path == f"/api/v1/{DIVISION}/bulk/CRM/Accounts"
    select = query_of(calls[0])["$select"].split(",")
    base = client.catalogue.endpoint("crm/Accounts")
    # every plain base field, in base order; navigation collections (BankAccounts) need $expand
    assert select == [name for name, field in base.fields.items() if not field.is_collection]
    assert "BankAccounts" not in select
    assert "$filter" not in query_of(calls[0])
    for later in calls[1:]:  # __next is followed verbatim
        assert "$skiptoken" in query_of(later)


def test_twin_read_returns_the_callers_fields_only(client: ExactClient, exact: FakeExact) -> None:
    records = list(client.resource("crm/Accounts").list(select=["ID", "Name"]))
    assert records[0] == {"ID": exact.accounts[0]["ID"], "Name": "Account 0"}
    call = exact.requests[-1]
    assert call.url.path.endswith("/bulk/CRM/Accounts")
    assert query_of(call)["$select"] == "ID,Name"


def test_only_answers_that_may_carry_more_than_asked_are_kept_to_it(client: ExactClient) -> None:
    """A bulk twin asked for the base's own fields answers just those (no check: 4 ms a page); a sync
    twin also sends Timestamp, so its answers are kept to the fields asked."""
    catalogue = client.catalogue
    bulk = check_read(catalogue, catalogue.endpoint("crm/Accounts"))
    assert bulk.source.path == "bulk/CRM/Accounts" and bulk.keep is None
    chosen = check_read(catalogue, catalogue.endpoint("crm/Accounts"), select=["ID", "Name"])
    assert chosen.source.kind == "bulk" and chosen.keep is None
    synced = check_read(catalogue, catalogue.endpoint("project/Projects"), select=["ID", "Code"])
    assert synced.source.kind == "sync" and synced.keep == {"ID", "Code"}


def test_sync_only_twin_pages_by_timestamp_and_drops_it(client: ExactClient, exact: FakeExact) -> None:
    records = list(client.resource("project/Projects", division=DIVISION).list(select=["ID", "Code"]))
    call = exact.requests[0]
    assert call.url.path == f"/api/v1/{DIVISION}/sync/Project/Projects"
    assert query_of(call) == {"$select": "ID,Code", "$filter": "Timestamp gt 1"}
    assert all("Timestamp" not in r for r in records)


def test_a_field_not_asked_for_is_dropped_from_every_record_of_a_page_that_has_it(
    client: ExactClient, exact: FakeExact
) -> None:
    """The page is checked as a whole: records without the twin-only field come first, so a check of
    the first record alone would let the others' ``Timestamp`` through."""
    for record in exact.accounts[:3]:
        del record["Timestamp"]
    records = list(client.resource("project/Projects", division=DIVISION).list(select=["ID", "Code"]))
    assert len(records) == 150
    assert all(set(r) == {"ID", "Code"} for r in records)


def test_sync_twin_without_select_sends_every_shared_plain_field_never_a_star(
    client: ExactClient, exact: FakeExact
) -> None:
    list(client.resource("project/Projects", division=DIVISION).list())
    select = query_of(exact.requests[0])["$select"].split(",")
    assert "*" not in select and "Timestamp" not in select
    assert "InvoiceTerms" not in select  # a navigation collection the sync twin lacks
    assert {"ID", "Code", "Description"} <= set(select)


def test_asking_for_a_field_only_sync_has_picks_sync_and_one_neither_has_stays_on_base(
    client: ExactClient, exact: FakeExact
) -> None:
    lines = client.resource("salesorder/SalesOrderLines", division=DIVISION)
    next(lines.list(select=["ID", "Margin"]))
    next(lines.list(select=["ID", "OrderStatus"]))
    assert [r.url.path.split("/", 4)[4] for r in exact.requests] == [
        "sync/SalesOrder/SalesOrderLines",
        "salesorder/SalesOrderLines",
    ]


@pytest.mark.parametrize(
    "options",
    [{"filter": {"Name": "x"}}, {"top": 5}, {"order_by": ["Name"]}, {"page_size_hint": 10}],
    ids=["filter", "top", "order_by", "small-page-hint"],
)
def test_reads_that_are_not_whole_endpoint_reads_stay_on_the_base(
    client: ExactClient, exact: FakeExact, options: dict[str, Any]
) -> None:
    next(iter(client.resource("crm/Accounts", division=DIVISION).list(**options)))
    assert exact.requests[0].url.path == f"/api/v1/{DIVISION}/crm/Accounts"


def test_endpoints_without_twins_page_at_60(client: ExactClient, exact: FakeExact) -> None:
    pages = list(client.resource("project/CostTransactions", division=DIVISION).pages())
    assert [len(p.records) for p in pages] == [60, 60, 30]
    assert [p.number for p in pages] == [1, 2, 3]
    assert pages[-1].next_url is None
    assert "$select" not in query_of(exact.requests[0])


def test_reading_a_bulk_endpoint_directly_still_names_every_field(
    client: ExactClient, exact: FakeExact
) -> None:
    list(client.resource("bulk/CRM/Accounts", division=DIVISION).list())
    bulk = client.catalogue.endpoint("bulk/CRM/Accounts")
    plain = [name for name, field in bulk.fields.items() if not field.is_collection]
    assert query_of(exact.requests[0])["$select"].split(",") == plain


# -- paging ---------------------------------------------------------------------------------------------


def test_listing_is_lazy(client: ExactClient, exact: FakeExact) -> None:
    records = client.resource("project/CostTransactions", division=DIVISION).list()
    assert exact.requests == []
    first = next(records)
    assert first["ID"] == exact.accounts[0]["ID"]
    assert len(exact.requests) == 1
    for _ in range(60):
        next(records)
    assert len(exact.requests) == 2


def test_pages_follow_next_verbatim(client: ExactClient, exact: FakeExact) -> None:
    pages = client.resource("crm/Accounts", division=DIVISION).pages(filter={"Name": "x"}, select=["ID"])
    first = next(pages)
    assert isinstance(first, Page) and first.next_url is not None
    next(pages)
    assert str(exact.requests[1].url) == first.next_url


def test_relative_next_links_are_resolved_against_the_request(exact: FakeExact) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        exact.requests.append(request)
        if "$skiptoken" in request.url.query.decode():
            return httpx.Response(200, json={"d": {"results": [{"ID": GUID.format(2)}]}})
        nxt = f"/api/v1/{DIVISION}/crm/Contacts?$skiptoken=guid'{GUID.format(1)}'"  # host-relative
        return httpx.Response(200, json={"d": {"results": [{"ID": GUID.format(1)}], "__next": nxt}})

    client = ExactClient(
        server_url=SERVER, client_id="c", tokens=FakeTokens(), transport=httpx.MockTransport(handler)
    )
    assert len(list(client.resource("crm/Contacts", division=DIVISION).list(top=2))) == 2
    assert str(exact.requests[1].url).startswith(f"{SERVER}/api/v1/{DIVISION}/crm/Contacts?$skiptoken=")


def test_a_repeated_next_link_stops_the_listing(exact: FakeExact) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        nxt = f"{SERVER}/api/v1/{DIVISION}/crm/Contacts?$skiptoken=1"
        return httpx.Response(200, json={"d": {"results": [{"ID": GUID.format(1)}], "__next": nxt}})

    client = ExactClient(
        server_url=SERVER, client_id="c", tokens=FakeTokens(), transport=httpx.MockTransport(handler)
    )
    with pytest.raises(ExactmateError, match="same next-page link twice"):
        list(client.resource("crm/Contacts", division=DIVISION).list(top=5))


def test_dates_become_aware_amsterdam_datetimes_only_in_datetime_fields(client: ExactClient) -> None:
    record = next(
        client.resource("crm/Accounts", division=DIVISION).list(select=["ID", "Created", "Remarks"])
    )
    assert record["Created"] == datetime(2026, 1, 1, 10, 0, tzinfo=AMSTERDAM)
    assert record["Created"].utcoffset().total_seconds() == 3600
    assert record["Remarks"] == "/Date(1)/ is not a date here"
    assert "__metadata" not in record


# -- single records and writes ------------------------------------------------------------------------------


def test_get_formats_the_key_and_converts_the_record(client: ExactClient, exact: FakeExact) -> None:
    target = exact.accounts[3]
    record = client.resource("crm/Accounts", division=DIVISION).get(target["ID"].upper())
    assert record["Name"] == "Account 3" and isinstance(record["Created"], datetime)
    assert exact.requests[0].url.raw_path.decode().endswith(f"/crm/Accounts(guid'{target['ID']}')")


def test_get_of_a_missing_record_is_not_found(client: ExactClient) -> None:
    with pytest.raises(NotFoundError, match="Record not found"):
        client.resource("crm/Accounts", division=DIVISION).get(GUID.format(8))


def test_integer_and_composite_keys(client: ExactClient, exact: FakeExact) -> None:
    with pytest.raises(NotFoundError):
        client.resource("system/Divisions", division=DIVISION).get("7095")
    with pytest.raises(NotFoundError):
        client.resource("openingbalance/CurrentYear/AfterEntry", division=DIVISION).get(
            {"reportingyear": 2026, "Division": 7095, "GLAccount": GUID.format(1)}
        )
    paths = [r.url.raw_path.decode() for r in exact.requests]
    assert paths[0].endswith("/system/Divisions(7095)")
    assert paths[1].endswith(
        f"/AfterEntry(Division=7095,GLAccount=guid'{GUID.format(1)}',ReportingYear=2026)"
    )


def test_count_asks_for_plain_text(client: ExactClient, exact: FakeExact) -> None:
    assert client.resource("crm/Accounts", division=DIVISION).count(filter=F("Blocked") == False) == 150  # noqa: E712
    request = exact.requests[0]
    assert request.headers["Accept"] == "text/plain"
    assert query_of(request) == {"$filter": "Blocked eq false"}


def test_create_posts_canonical_fields_with_prefer_and_returns_the_stored_record(
    client: ExactClient, exact: FakeExact
) -> None:
    created = client.resource("crm/Accounts", division=DIVISION).create({"name": "ACME", "Blocked": False})
    request = exact.requests[0]
    assert request.method == "POST" and request.headers["Prefer"] == "return=representation"
    assert json.loads(request.content) == {"Name": "ACME", "Blocked": False}
    assert created["ID"] == GUID.format(9) and isinstance(created["Created"], datetime)


def test_update_puts_only_the_given_fields_and_delete_deletes(client: ExactClient, exact: FakeExact) -> None:
    accounts = client.resource("crm/Accounts", division=DIVISION)
    accounts.update(GUID.format(1), {"Remarks": "hello"})
    accounts.delete(GUID.format(1))
    put, delete = exact.requests
    assert put.method == "PUT" and json.loads(put.content) == {"Remarks": "hello"}
    assert put.url.raw_path.decode().endswith(f"(guid'{GUID.format(1)}')")
    assert delete.method == "DELETE" and delete.content == b""


# -- request() ------------------------------------------------------------------------------------------


def test_request_returns_every_record_of_a_collection_with_dates(
    client: ExactClient, exact: FakeExact
) -> None:
    records = client.request("GET", "crm/Accounts", division=DIVISION, params={"$select": "ID,Created"})
    assert len(records) == 150 and isinstance(records[0]["Created"], datetime)
    assert len(exact.requests) == 3


def test_request_returns_a_single_entity_as_a_dict_and_text_as_text(
    client: ExactClient, exact: FakeExact
) -> None:
    target = exact.accounts[0]
    one = client.request("GET", f"crm/Accounts(guid'{target['ID']}')", division=DIVISION)
    assert one["Name"] == "Account 0"
    assert client.request("GET", "crm/Accounts/$count", division=DIVISION) == 150
    assert client.request("DELETE", f"crm/Accounts(guid'{target['ID']}')", division=DIVISION) is None


def test_request_of_current_me_needs_no_division(client: ExactClient, exact: FakeExact) -> None:
    me = client.request("GET", "current/Me")
    assert me == [{"CurrentDivision": DIVISION, "FullName": "Dana Demo", "UserID": GUID.format(1)}]
    assert exact.paths() == ["/api/v1/current/Me"]


# -- fan-out --------------------------------------------------------------------------------------------


def test_fan_out_runs_each_division_and_reports_errors_per_division(
    client: ExactClient, exact: FakeExact
) -> None:
    exact.fail_divisions = {100003}
    results = dict(client.fan_out([100001, 100002, 100003], lambda r: r.count(), path="crm/Accounts"))
    assert results[100001] == 150 and results[100002] == 150
    error = results[100003]
    assert isinstance(error, ExactmateError) and "NoDivisionAccess" in str(error)


def test_fan_out_with_plain_division_numbers_shares_one_http_client(exact: FakeExact) -> None:
    transports: list[httpx.MockTransport] = []
    transport = httpx.MockTransport(exact)
    client = ExactClient(
        server_url=SERVER, client_id="c", tokens=FakeTokens(), transport=transport, max_workers=3
    )

    def work(division: int) -> int:
        transports.append(transport)
        return sum(1 for _ in client.resource("crm/Accounts", division=division).list(filter={"Name": "x"}))

    results = dict(client.fan_out(range(100001, 100007), work))
    assert results == {d: 150 for d in range(100001, 100007)}
    assert {r.url.path.split("/")[3] for r in exact.requests} == {str(d) for d in range(100001, 100007)}


def test_fan_out_checks_its_arguments_before_any_call(client: ExactClient, exact: FakeExact) -> None:
    with pytest.raises(ValidationError):
        client.fan_out([100001, 0], lambda d: d)
    with pytest.raises(CatalogueError):
        client.fan_out([100001], lambda r: r, path="crm/Acounts")
    assert exact.requests == []


# -- lifecycle ------------------------------------------------------------------------------------------


def test_close_closes_the_own_http_client_but_not_a_given_one(exact: FakeExact) -> None:
    given = httpx.Client(transport=httpx.MockTransport(exact))
    with ExactClient(server_url=SERVER, client_id="c", tokens=FakeTokens(), http_client=given) as client:
        client.me()
    assert not given.is_closed
    given.close()


def test_constructor_checks_its_settings() -> None:
    with pytest.raises(ValidationError, match="server_url"):
        ExactClient(server_url="start.exactonline.nl", client_id="c", tokens=FakeTokens())
    with pytest.raises(ValidationError, match="max_workers"):
        ExactClient(server_url=SERVER, client_id="c", tokens=FakeTokens(), max_workers=0)


def test_resource_repr_says_which_division(client: ExactClient) -> None:
    assert repr(client.resource("crm/Accounts")) == "Resource('crm/Accounts', division=current)"
    assert repr(client.resource("crm/accounts", division=5)) == "Resource('crm/Accounts', division=5)"
    assert isinstance(client.resource("crm/Accounts"), Resource)


# -- from_credential: the vault's row, its tokens and the governor ------------------------------------


@pytest.fixture
def vault(tmp_path: Any) -> Iterator[tuple[Settings, Store, SecretBox]]:
    settings = Settings.from_env(home=tmp_path, master_key=base64.b64encode(bytes(range(32))).decode())
    store = Store.from_settings(settings)
    box = SecretBox.from_settings(settings)
    credential_id = new_id()
    store.insert_credential(
        id=credential_id,
        name="ACME Books",
        server_url=SERVER,
        client_id="client-acme",
        client_secret=box.encrypt(
            "app-secret-value",
            SecretBinding(credential_id, SERVER, "client-acme", "http://127.0.0.1:8765/callback").aad("client_secret"),
        ),
        redirect_uri="http://127.0.0.1:8765/callback",
        status="connected",
    )
    yield settings, store, box
    store.close()


def store_tokens(store: Store, box: SecretBox, clock: FakeClock, access: str) -> None:
    row = store.credential_by_name("acme books")
    assert row is not None
    now = clock.now()
    CredentialTokens(store, box, row.id).save(
        TokenSet(access_token=access, refresh_token="r-1", expires_at=now + 600, issued_at=now)
    )


def test_from_credential_uses_the_stored_tokens_and_feeds_the_governor(
    vault: tuple[Settings, Store, SecretBox], exact: FakeExact
) -> None:
    settings, store, box = vault
    clock = FakeClock()
    store_tokens(store, box, clock, access="stored-access-token")
    reset_ms = str(int((clock.now() + 30) * 1000))

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer stored-access-token"
        assert "Cookie" not in request.headers  # the Set-Cookie below is never sent back
        response = exact(request)
        response.headers["Set-Cookie"] = "affinity=node-7; Path=/"
        if request.url.path != "/api/v1/current/Me":
            response.headers.update(
                {
                    "X-RateLimit-Minutely-Limit": "60",
                    "X-RateLimit-Minutely-Remaining": "41",
                    "X-RateLimit-Minutely-Reset": reset_ms,
                }
            )
        return response

    client = ExactClient.from_credential(
        "  acme BOOKS ",
        settings=settings,
        store=store,
        box=box,
        clock=clock,
        transport=httpx.MockTransport(handler),
    )
    with client:
        assert client.resource("crm/Accounts").count() == 150
    ledger = store.ledger("client-acme", DIVISION)
    assert ledger is not None and ledger.minutely_remaining == 41


def test_from_credential_refuses_unknown_names_and_credentials_needing_reauthorisation(
    vault: tuple[Settings, Store, SecretBox], exact: FakeExact
) -> None:
    settings, store, box = vault
    with pytest.raises(VaultError, match="No credential named 'nope'"):
        ExactClient.from_credential("nope", settings=settings, store=store, box=box)
    row = store.credential_by_name("ACME Books")
    assert row is not None
    store.set_credential_status(row.id, "needs_reauthorization", "Old refresh token used.")
    with pytest.raises(ReauthorizationRequired, match="Old refresh token used") as caught:
        ExactClient.from_credential("ACME Books", settings=settings, store=store, box=box)
    assert "exactmate vault connect 'ACME Books'" in str(caught.value)  # quoted: works when pasted
    assert exact.requests == []


def test_from_credential_opens_and_closes_its_own_store(
    vault: tuple[Settings, Store, SecretBox], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store, box = vault
    clock = FakeClock()
    store_tokens(store, box, clock, access="stored-access-token")
    closed: list[Store] = []
    original_close = Store.close

    def recording_close(self: Store) -> None:
        closed.append(self)
        original_close(self)

    monkeypatch.setattr(Store, "close", recording_close)
    transport = httpx.MockTransport(FakeExact(records=1))
    with ExactClient.from_credential(
        "ACME Books", settings=settings, clock=clock, transport=transport
    ) as client:
        assert client.me()["CurrentDivision"] == DIVISION
        assert closed == []
    assert len(closed) == 1 and closed[0] is not store
    assert "app-secret-value" not in repr(vars(client))


def test_a_read_ahead_gives_the_pages_a_plain_read_gives_with_the_calls_in_a_worker(
    exact: FakeExact,
) -> None:
    exact.accounts = [account(n) for n in range(2500)]
    threads: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        threads.append(threading.current_thread().name)
        return exact(request)

    with ExactClient(
        server_url=SERVER, client_id="c", tokens=FakeTokens(), transport=httpx.MockTransport(handler)
    ) as made:
        resource = made.resource("crm/Accounts", division=DIVISION)
        query = resource.query()
        plain = [(p.number, p.next_url, p.records) for p in resource.read(query)]
        threads.clear()
        ahead = [(p.number, p.next_url, p.records) for p in resource.read(query, ahead=True)]
    assert ahead == plain and [n for n, _, _ in ahead] == [1, 2, 3]  # bulk twin, 1000 a call
    assert sum(len(records) for _, _, records in ahead) == 2500
    assert threads == ["exactmate-read-ahead"] * 3


def _as_lines(pages: Iterator[Page], tag: bool = False) -> tuple[bytes, list[str]]:
    """A read's NDJSON as ``Listing.ndjson`` writes it, and how each page came (records or lines)."""
    out, kinds = b"", []
    for page in pages:
        kinds.append("lines" if page.lines is not None else "records")
        records = [{"Division": DIVISION, **record} for record in page.records] if tag else page.records
        out += page.lines if page.lines is not None else "".join(map(json_line, records)).encode()
    return out, kinds


@pytest.mark.parametrize("tag", [False, True])
def test_a_read_for_lines_gives_from_its_second_page_the_lines_of_the_same_records(
    exact: FakeExact, tag: bool
) -> None:
    exact.accounts = [account(n) for n in range(2500)]
    with ExactClient(
        server_url=SERVER, client_id="c", tokens=FakeTokens(), transport=httpx.MockTransport(exact)
    ) as made:
        resource = made.resource("crm/Accounts", division=DIVISION)
        query = resource.query()
        plain = [p.records for p in resource.read(query)]
        lined, kinds = _as_lines(resource.read(query, ahead=True, lines=True, tag=tag), tag)
    records = [record for page in plain for record in page]
    tagged = [{"Division": DIVISION, **record} for record in records] if tag else records
    assert lined == "".join(map(json_line, tagged)).encode()
    assert kinds == ["records", "lines", "lines"]
    assert b'"Remarks":"/Date(1)/ is not a date here"' in lined  # only date fields are converted


def test_after_a_page_the_lines_cannot_carry_the_rest_of_the_read_comes_as_records(exact: FakeExact) -> None:
    """Page 2 brings a field the first record did not have: it and every page after are records."""
    exact.accounts = [account(n) for n in range(3500)]
    exact.accounts[1500]["Email"] = "new@example.com"  # the fake sends the fields a record has

    with ExactClient(
        server_url=SERVER, client_id="c", tokens=FakeTokens(), transport=httpx.MockTransport(exact)
    ) as made:
        resource = made.resource("crm/Accounts", division=DIVISION)
        query = resource.query(select=["ID", "Name", "Created", "Email"])
        plain = [p.records for p in resource.read(query)]
        lined, kinds = _as_lines(resource.read(query, ahead=True, lines=True))
    assert lined == "".join(json_line(record) for page in plain for record in page).encode()
    assert kinds == ["records", "records", "records", "records"]
    assert b'"Email":"new@example.com"' in lined


def test_a_read_ahead_stops_when_the_bytes_and_the_parsed_page_name_different_next_pages() -> None:
    requests: list[httpx.Request] = []
    first = f"{SERVER}/api/v1/{DIVISION}/crm/Contacts?$skiptoken=1"
    other = f"{SERVER}/api/v1/{DIVISION}/crm/Contacts?$skiptoken=2"

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        record = {"ID": GUID.format(1)}
        if "$skiptoken" in request.url.query.decode():
            return httpx.Response(200, json={"d": {"results": [record]}})
        # a nested object after the envelope's link: the last "__next" in the bytes is not the envelope's
        body = {"d": {"results": [record], "__next": first, "Extra": {"__next": other}}}
        return httpx.Response(200, json=body)

    with ExactClient(
        server_url=SERVER, client_id="c", tokens=FakeTokens(), transport=httpx.MockTransport(handler)
    ) as made:
        resource = made.resource("crm/Contacts", division=DIVISION)
        with pytest.raises(ExactmateError, match="names its next page ambiguously"):
            list(resource.read(resource.query(select=["ID"]), ahead=True))
        plain = list(resource.read(resource.query(select=["ID"])))  # without ahead the page is parsed first
    assert str(requests[-1].url) == first  # the envelope's link, not the nested one
    assert [page.number for page in plain] == [1, 2]
