"""OData query options, checked against the rows themselves: $select, $filter, $orderby, $top,
$skip, $inlinecount, $format, and the refusals Exact gives."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from exactmate.emulator import query
from exactmate.emulator.config import EmulatorConfig
from tests.emulator.data.support import FIRST, all_pages, error_text, results

ACCOUNTS = f"/api/v1/{FIRST}/crm/Accounts"
TIME = f"/api/v1/{FIRST}/project/TimeTransactions"
ACCOUNT_FIELDS = "ID,Code,Name,City,Status,IsSupplier,Email,Fax,Created"


def _ms(value: str) -> int:
    match = re.fullmatch(r"/Date\((-?\d+)\)/", value)
    assert match, value
    return int(match.group(1))


@pytest.fixture
def accounts(api: httpx.Client) -> list[dict[str, Any]]:
    """Every demo account of the first division (selected fields), fetched without a filter."""
    return [row for page in all_pages(api, ACCOUNTS, {"$select": ACCOUNT_FIELDS}) for row in page]


def _filtered(api: httpx.Client, url: str, text: str, select: str) -> list[str]:
    rows = [r for page in all_pages(api, url, {"$filter": text, "$select": select}) for r in page]
    return sorted(str(r["ID"]) for r in rows)


FILTERS: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("Name eq 'Blue Harbor B.V.'", lambda r: r["Name"] == "Blue Harbor B.V."),
    ("Name eq 'BLUE HARBOR b.v.'", lambda r: r["Name"] == "Blue Harbor B.V."),
    ("Name ne 'Blue Harbor B.V.'", lambda r: r["Name"] != "Blue Harbor B.V."),
    ("startswith(Name,'blue')", lambda r: r["Name"].lower().startswith("blue")),
    ("endswith(Name, 'holding') eq true", lambda r: r["Name"].endswith("Holding")),
    ("substringof('harbor', Name) eq true", lambda r: "harbor" in r["Name"].lower()),
    ("substringof('harbor', Name)", lambda r: "harbor" in r["Name"].lower()),
    ("tolower(Name) eq 'north canal holding'", lambda r: r["Name"].lower() == "north canal holding"),
    ("toupper(City) eq 'DELFT'", lambda r: r["City"] == "Delft"),
    ("trim(Code) eq '25'", lambda r: r["Code"].strip() == "25"),
    ("Code eq '                25'", lambda r: r["Code"] == "                25"),
    ("IsSupplier eq true and Status eq 'C'", lambda r: r["IsSupplier"] and r["Status"] == "C"),
    ("IsSupplier eq false or Status eq 'P'", lambda r: not r["IsSupplier"] or r["Status"] == "P"),
    ("not (Status eq 'C')", lambda r: r["Status"] != "C"),
    ("not IsSupplier", lambda r: not r["IsSupplier"]),
    (
        "(Status eq 'C' or Status eq 'P') and City eq 'Delft'",
        lambda r: r["Status"] in ("C", "P") and r["City"] == "Delft",
    ),
    ("Fax eq null", lambda r: r["Fax"] is None),
    (
        "Email ne null and length(trim(Code)) eq 2",
        lambda r: r["Email"] is not None and len(r["Code"].strip()) == 2,
    ),
    ("indexof(Name, 'Mill') ge 0", lambda r: "mill" in r["Name"].lower()),
    ("Status gt 'C'", lambda r: r["Status"] > "C"),
]


@pytest.mark.parametrize("text, expected", FILTERS, ids=[f[0] for f in FILTERS])
def test_filter_matches_the_rows_it_should(
    api: httpx.Client, accounts: list[dict[str, Any]], text: str, expected: Callable[[dict[str, Any]], bool]
) -> None:
    want = sorted(r["ID"] for r in accounts if expected(r))
    assert want, "a filter case should select something"
    assert _filtered(api, ACCOUNTS, text, ACCOUNT_FIELDS) == want


def test_filter_on_guid_and_datetime_literals(api: httpx.Client, accounts: list[dict[str, Any]]) -> None:
    target = accounts[7]
    assert _filtered(api, ACCOUNTS, f"ID eq guid'{target['ID'].upper()}'", "ID") == [target["ID"]]
    created = _ms(target["Created"])
    iso = datetime.fromtimestamp(created / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    want = sorted(r["ID"] for r in accounts if _ms(r["Created"]) > created)
    assert _filtered(api, ACCOUNTS, f"Created gt datetime'{iso}'", "ID") == want
    year = datetime.fromtimestamp(created / 1000, UTC).year
    same_year = sorted(
        r["ID"] for r in accounts if datetime.fromtimestamp(_ms(r["Created"]) / 1000, UTC).year == year
    )
    assert _filtered(api, ACCOUNTS, f"year(Created) eq {year}", "ID") == same_year


def test_filter_numbers_and_int64_literals(api: httpx.Client) -> None:
    rows = [r for page in all_pages(api, TIME, {"$select": "ID,Quantity,HourStatus"}) for r in page]
    cases: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        ("Quantity gt 2", lambda r: r["Quantity"] > 2),
        ("Quantity ge 2.5", lambda r: r["Quantity"] >= 2.5),
        ("Quantity le 1.5M", lambda r: r["Quantity"] <= 1.5),
        ("HourStatus eq 20L", lambda r: r["HourStatus"] == 20),
        ("HourStatus lt 10 and Quantity ne 8", lambda r: r["HourStatus"] < 10 and r["Quantity"] != 8),
    ]
    for text, check in cases:
        want = sorted(r["ID"] for r in rows if check(r))
        assert want, text
        assert _filtered(api, TIME, text, "ID,Quantity,HourStatus") == want, text


def test_byte_flags_accept_true_and_false_as_well_as_numbers(api: httpx.Client) -> None:
    # Exact's yes/no fields typed Edm.Byte (IsTime, IsWebshopItem, ...) accept `eq true` and `eq 1`.
    items = f"/api/v1/{FIRST}/logistics/Items"
    rows = [r for page in all_pages(api, items, {"$select": "ID,IsTime"}) for r in page]
    time_items = sorted(str(r["ID"]) for r in rows if r["IsTime"] == 1)
    others = sorted(str(r["ID"]) for r in rows if r["IsTime"] != 1)
    assert time_items and others
    assert _filtered(api, items, "IsTime eq true", "ID") == time_items
    assert _filtered(api, items, "true eq IsTime", "ID") == time_items
    assert _filtered(api, items, "IsTime eq 1", "ID") == time_items
    assert _filtered(api, items, "IsTime ne true", "ID") == others
    assert _filtered(api, items, "IsTime eq false", "ID") == sorted(
        str(r["ID"]) for r in rows if r["IsTime"] == 0
    )
    refused = api.get(items, params={"$filter": "Code eq true"})
    assert refused.status_code == 400  # only the flag fields are lenient


def test_filter_string_literal_with_a_doubled_quote(api: httpx.Client) -> None:
    created = api.post(
        ACCOUNTS, json={"Name": "O'Brien & Zonen"}, headers={"Prefer": "return=representation"}
    )
    assert created.status_code == 201
    assert _filtered(api, ACCOUNTS, "Name eq 'O''Brien & Zonen'", "ID") == [created.json()["d"]["ID"]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("Name eq", "Error in query syntax."),
        ("Name eq 'open", "Error in query syntax."),
        ("(Name eq 'x'", "Error in query syntax."),
        ("Name eq 'x' AND City eq 'y'", "Error in query syntax."),
        ("Name eq guid'nope'", "Error in query syntax."),
        ("", "Error in query syntax."),
        ("Nmae eq 'x'", "No property 'Nmae' exists in type 'Exact.Web.Api.Models.Account' at position 0."),
        (
            "ID eq 'abc'",
            "Operator 'eq' incompatible with operand types 'System.Guid' and 'System.String' at position 3.",
        ),
        (
            "Name",
            "Expression of type 'System.String' is not valid. "
            "Only Boolean expressions can be used in $filter.",
        ),
        ("frobnicate(Name) eq 1", "Unknown function 'frobnicate' at position 0."),
        ("(" * 150 + "true" + ")" * 150, "Recursion depth exceeded allowed limit."),
    ],
)
def test_invalid_filters_are_400(api: httpx.Client, text: str, message: str) -> None:
    response = api.get(ACCOUNTS, params={"$filter": text})
    assert response.status_code == 400
    assert error_text(response) == message


def test_select_returns_only_the_named_fields_plus_metadata(api: httpx.Client) -> None:
    rows = results(api.get(ACCOUNTS, params={"$select": "Name, ID"}))
    assert list(rows[0]) == ["__metadata", "Name", "ID"]


def test_without_select_or_with_star_every_field_comes_back(api: httpx.Client) -> None:
    plain = results(api.get(ACCOUNTS, params={"$top": "1"}))[0]
    star = results(api.get(ACCOUNTS, params={"$top": "1", "$select": "*"}))[0]
    assert set(plain) == set(star)
    assert len(plain) == 165  # 164 fields and __metadata
    assert plain["BankAccounts"] == {"__deferred": {"uri": plain["__metadata"]["uri"] + "/BankAccounts"}}


def test_select_of_an_unknown_field_is_400(api: httpx.Client) -> None:
    response = api.get(ACCOUNTS, params={"$select": "ID,Nmae"})
    assert response.status_code == 400
    assert error_text(response) == (
        "The property 'Nmae', used in a query expression, is not defined in type "
        "'Exact.Web.Api.Models.Account'."
    )


def test_orderby_several_fields_in_both_directions(api: httpx.Client, accounts: list[dict[str, Any]]) -> None:
    rows = [
        r
        for page in all_pages(api, ACCOUNTS, {"$select": "ID,City,Name", "$orderby": "City desc,Name"})
        for r in page
    ]
    assert len(rows) == len(accounts)
    by_id = {r["ID"]: r for r in accounts}
    expected = sorted(accounts, key=lambda r: (r["Name"].lower(), r["ID"]))
    expected.sort(key=lambda r: r["City"].lower(), reverse=True)
    assert [r["ID"] for r in rows] == [r["ID"] for r in expected]
    assert all(by_id[r["ID"]]["City"] == r["City"] for r in rows)


def test_orderby_pages_carry_the_sort_values_in_the_skiptoken(api: httpx.Client) -> None:
    response = api.get(TIME, params={"$select": "ID,Quantity", "$orderby": "Quantity desc"})
    next_url = response.json()["d"]["__next"]
    last = results(response)[-1]
    assert next_url.endswith(f"$skiptoken={last['Quantity']!r},guid'{last['ID']}'")


def test_an_ordered_listing_is_sorted_once_and_sorted_again_after_a_write(
    api: httpx.Client, accounts: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sorts: list[int] = []
    real = query._sorted_entries

    def counted(*args: Any) -> Any:
        sorts.append(1)
        return real(*args)

    monkeypatch.setattr(query, "_sorted_entries", counted)
    ordered = {"$select": "ID,Name", "$orderby": "Name"}
    pages = all_pages(api, ACCOUNTS, ordered)
    assert sum(map(len, pages)) == len(accounts) and len(pages) >= 3
    assert len(sorts) == 1  # every later page reused the first page's sort
    assert len(results(api.get(ACCOUNTS, params={**ordered, "$top": "1"}))) == 1
    assert len(sorts) == 1  # $top and $select do not change the order
    assert len(results(api.get(ACCOUNTS, params={**ordered, "$filter": "IsSupplier"}))) > 0
    assert len(sorts) == 2  # another filter is another listing

    first = api.get(ACCOUNTS, params=ordered)
    moved = results(first)[0]
    assert api.put(f"{ACCOUNTS}(guid'{moved['ID']}')", json={"Name": "zzz sorts last"}).status_code == 204
    rest: list[dict[str, Any]] = []
    response = api.get(first.json()["d"]["__next"])
    while True:
        rest += results(response)
        if "__next" not in response.json()["d"]:
            break
        response = api.get(response.json()["d"]["__next"])
    assert len(sorts) == 3  # the write changed the table: the next page sorted afresh
    assert rest[-1]["ID"] == moved["ID"] and rest[-1]["Name"] == "zzz sorts last"


def test_orderby_errors(api: httpx.Client) -> None:
    unknown = api.get(ACCOUNTS, params={"$orderby": "Nmae"})
    assert unknown.status_code == 400
    assert "No property 'Nmae'" in error_text(unknown)
    bad = api.get(ACCOUNTS, params={"$orderby": "Name sideways"})
    assert error_text(bad) == "Error in query syntax."


def test_top_and_skip(api: httpx.Client, accounts: list[dict[str, Any]]) -> None:
    rows = results(api.get(ACCOUNTS, params={"$select": "ID", "$skip": "5", "$top": "3"}))
    assert [r["ID"] for r in rows] == [r["ID"] for r in accounts[5:8]]
    assert results(api.get(ACCOUNTS, params={"$top": "0"})) == []
    filtered = results(api.get(ACCOUNTS, params={"$select": "ID", "$filter": "IsSupplier", "$skip": "2"}))
    assert [r["ID"] for r in filtered] == [r["ID"] for r in accounts if r["IsSupplier"]][2:]


@pytest.mark.parametrize("name, value", [("$top", "-1"), ("$top", "ten"), ("$skip", "1.5")])
def test_invalid_top_and_skip(api: httpx.Client, name: str, value: str) -> None:
    response = api.get(ACCOUNTS, params={name: value})
    assert response.status_code == 400
    assert error_text(response) == (
        f"Invalid value '{value}' for {name} query option found. "
        f"The {name} query option requires a non-negative integer value."
    )


def test_inlinecount_allpages(api: httpx.Client) -> None:
    body = api.get(ACCOUNTS, params={"$select": "ID", "$inlinecount": "allpages"}).json()["d"]
    assert body["__count"] == "150"
    second = api.get(body["__next"]).json()["d"]
    assert second["__count"] == "150"
    filtered = api.get(ACCOUNTS, params={"$filter": "IsSupplier", "$inlinecount": "allpages"}).json()["d"]
    assert filtered["__count"] == "15"
    assert "__count" not in api.get(ACCOUNTS, params={"$inlinecount": "none"}).json()["d"]
    bad = api.get(ACCOUNTS, params={"$inlinecount": "some"})
    assert error_text(bad) == 'Unknown $inlinecount option, only "allpages" and "none" are supported.'


def test_unknown_or_repeated_system_options_are_400(api: httpx.Client) -> None:
    unknown = api.get(ACCOUNTS, params={"$selct": "ID"})
    assert error_text(unknown) == (
        "The query parameter '$selct' begins with a system-reserved '$' character but is not recognized."
    )
    twice = api.get(f"{ACCOUNTS}?$select=ID&$select=Name")
    assert error_text(twice) == (
        "Query option '$select' was specified more than once, but it must be specified at most once."
    )
    assert api.get(ACCOUNTS, params={"custom": "ignored", "$top": "1"}).status_code == 200


def test_format_overrides_the_accept_header(api: httpx.Client) -> None:
    as_json = api.get(ACCOUNTS, params={"$top": "1", "$format": "json"}, headers={"Accept": "*/*"})
    assert as_json.json()["d"]["results"]
    as_atom = api.get(ACCOUNTS, params={"$top": "1", "$format": "atom"})
    assert as_atom.text.startswith("<?xml")
    assert api.get(ACCOUNTS, params={"$format": "csv"}).status_code == 400


def test_bulk_demands_select(api: httpx.Client) -> None:
    response = api.get(f"/api/v1/{FIRST}/bulk/CRM/Accounts")
    assert response.status_code == 400
    assert error_text(response).startswith("It is mandatory to provide the $select query option")


def test_sync_refuses_select_star_and_filters_other_than_timestamp(api: httpx.Client) -> None:
    url = f"/api/v1/{FIRST}/sync/CRM/Accounts"
    star = api.get(url, params={"$select": "*"})
    assert star.status_code == 400
    assert "does not support query { $select=* }" in error_text(star)
    by_name = api.get(url, params={"$select": "ID", "$filter": "Name eq 'x'"})
    assert error_text(by_name) == "Only the Timestamp property can be used in $filter on this endpoint."
    assert api.get(url, params={"$select": "ID", "$filter": "Timestamp gt 1L"}).status_code == 200


def test_skip_is_refused_on_newer_endpoints(api: httpx.Client) -> None:
    bulk = api.get(f"/api/v1/{FIRST}/bulk/CRM/Accounts", params={"$select": "ID", "$skip": "10"})
    assert bulk.status_code == 400
    assert error_text(bulk).startswith("$skip is not supported on this endpoint")
    sync = api.get(f"/api/v1/{FIRST}/sync/CRM/Accounts", params={"$select": "ID", "$skip": "10"})
    assert sync.status_code == 400
    assert api.get(TIME, params={"$skip": "10"}).status_code == 200


def test_select_or_top_is_demanded_by_general_journal_entries(api: httpx.Client) -> None:
    url = f"/api/v1/{FIRST}/generaljournalentry/GeneralJournalEntries"
    response = api.get(url)
    assert response.status_code == 400
    assert error_text(response) == "Please add a $select or a $top=1 statement to the query string."
    assert api.get(url, params={"$top": "1"}).status_code == 200
    assert api.get(url, params={"$select": "EntryID"}).status_code == 200
    assert api.get(url, params={"$top": "2"}).status_code == 400


def test_single_entity_takes_select_but_not_collection_options(api: httpx.Client) -> None:
    key = results(api.get(ACCOUNTS, params={"$select": "ID", "$top": "1"}))[0]["ID"]
    one = api.get(f"{ACCOUNTS}(guid'{key}')", params={"$select": "Name"}).json()["d"]
    assert list(one) == ["__metadata", "Name"]
    response = api.get(f"{ACCOUNTS}(guid'{key}')", params={"$filter": "Name eq 'x'"})
    assert response.status_code == 400


def test_expand_inlines_a_collection(api: httpx.Client) -> None:
    url = f"/api/v1/{FIRST}/generaljournalentry/GeneralJournalEntries"
    lines = [{"AmountFC": 10.0, "GLAccount": "0ab6f2c4-1b7e-4c0e-9a51-3a2b1c0d9e8f"}]
    created = api.post(url, json={"JournalCode": "90", "GeneralJournalEntryLines": lines})
    assert created.status_code == 201, created.text
    key = created.json()["d"]["EntryID"]
    expanded = api.get(f"{url}(guid'{key}')", params={"$expand": "GeneralJournalEntryLines"}).json()["d"]
    assert expanded["GeneralJournalEntryLines"] == {"results": lines}
    deferred = api.get(f"{url}(guid'{key}')").json()["d"]
    assert "__deferred" in deferred["GeneralJournalEntryLines"]
    assert api.get(url, params={"$top": "1", "$expand": "JournalCode"}).status_code == 400


class TestConfiguredRefusals:
    @pytest.fixture
    def config(self) -> EmulatorConfig:
        return EmulatorConfig(
            records=20,
            no_skip_endpoints=frozenset({"crm/accounts"}),
            select_or_top_endpoints=frozenset({"project/TimeTransactions"}),
        )

    def test_no_skip_endpoints_replace_the_default_set(self, api: httpx.Client) -> None:
        assert api.get(ACCOUNTS, params={"$skip": "1"}).status_code == 400
        bulk = api.get(f"/api/v1/{FIRST}/bulk/CRM/Accounts", params={"$select": "ID", "$skip": "1"})
        assert bulk.status_code == 200

    def test_select_or_top_endpoints_replace_the_default_set(self, api: httpx.Client) -> None:
        assert api.get(TIME).status_code == 400
        assert api.get(f"/api/v1/{FIRST}/generaljournalentry/GeneralJournalEntries").status_code == 200
