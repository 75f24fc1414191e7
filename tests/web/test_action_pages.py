"""The action forms through the page: each of the four actions against the emulator, dry runs,
results with JSON and CSV downloads, and every bad input refused before any call to Exact."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.web.conftest import Live, create_credential, csrf

D1 = 100001


@pytest.fixture
def world(ui, serve: Callable[..., Live]) -> Live:
    live = serve(records=40, minutely_limit=100_000, daily_limit=1_000_000)
    create_credential(ui, live)
    return live


def run(ui, **fields: Any) -> httpx.Response:
    form: dict[str, Any] = {"credential": "Demo NL", "division": str(D1), "mode": "run"}
    form.update(fields)
    return ui.post("/actions/run", data=form, headers={"X-CSRF-Token": csrf(ui, "/actions")})


def download(ui, answer: httpx.Response, fmt: str) -> httpx.Response:
    match = re.search(rf'href="(/actions/results/[^"]+\.{fmt})"', answer.text)
    assert match, answer.text[:500]
    return ui.get(match.group(1))


def rows(ui, answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text[:800]
    data: list[dict[str, Any]] = download(ui, answer, "json").json()
    return data


def rest_calls(live: Live) -> int:
    stats = live.stats()["by_endpoint"]
    return sum(sum(per.values()) for name, per in stats.items() if not name.startswith("oauth2/"))


def first_id(ui, endpoint: str, filter: str = "") -> str:
    found = rows(ui, run(ui, action="get", endpoint=endpoint, select="ID", filter=filter, top="1"))
    return str(found[0]["ID"])


def new_entry(ui, notes: str) -> httpx.Response:
    return run(
        ui,
        action="create",
        endpoint="project/TimeTransactions",
        **{
            "field:Item": first_id(ui, "logistics/Items", "IsTime eq 1"),
            "field:Project": first_id(ui, "project/Projects"),
            "field:Quantity": "7.5",
            "field:Date": "2026-05-04",
            "field:Notes": notes,
            "field:HourStatus": "1",
            "field:Employee": "",  # empty inputs are not sent
        },
    )


def test_the_page_offers_credentials_divisions_and_the_four_actions(ui, world: Live) -> None:
    page = ui.get("/actions").text
    assert '<option value="Demo NL" selected>' in page
    for label in (
        "Create Project Time Transactions",
        "Update Project Time Transaction",
        "Delete Endpoint with ID",
        "List or Get Endpoint",
        "Service And Endpoint",
        "Data Manager",
        "Dry run",
    ):
        assert label in page
    calls = rest_calls(world)
    cross_site = ui.get("/api/divisions", params={"credential": "Demo NL"})  # no CSRF token: refused
    assert cross_site.status_code == 403 and rest_calls(world) == calls
    token = {"X-CSRF-Token": csrf(ui, "/actions")}
    divisions = ui.get("/api/divisions", params={"credential": "Demo NL"}, headers=token).json()
    assert divisions["current"] == D1
    assert [d["code"] for d in divisions["divisions"]] == [100001, 100002]
    calls = rest_calls(world)
    assert ui.get("/api/divisions", params={"credential": "demo nl"}, headers=token).json() == divisions
    assert rest_calls(world) == calls  # cached: no second call


def test_reference_fields_are_searched_by_code_and_name_and_a_code_books(ui, world: Live) -> None:
    calls = rest_calls(world)
    cross_site = ui.get("/api/references", params={"field": "Item", "q": "cons", "credential": "Demo NL"})
    assert cross_site.status_code == 403 and rest_calls(world) == calls  # costs a call: CSRF-guarded
    token = {"X-CSRF-Token": csrf(ui, "/actions")}
    params = {"field": "Item", "q": "cons", "credential": "Demo NL", "division": str(D1)}
    found = ui.get("/api/references", params=params, headers=token).json()
    assert found["division"] == D1
    assert [(r["code"], r["name"]) for r in found["records"]] == [("CONSULT", "Consultancy")]
    assert found["records"][0]["ID"] == first_id(ui, "logistics/Items", "Code eq 'CONSULT'")
    bad = ui.get("/api/references", params={**params, "field": "Notes"}, headers=token)
    assert bad.status_code == 400 and "not looked up" in bad.json()["error"]
    everywhere = ui.get("/api/references", params={**params, "division": "all"}, headers=token)
    assert everywhere.status_code == 400 and "one division" in everywhere.json()["error"]
    info = ui.get("/api/endpoint", params={"path": "project/TimeTransactions", "action": "create"}).json()
    inputs = {f["name"]: f["input"] for f in info["fields"]}
    assert inputs["Project"] == {"kind": "guid", "lookup": True}
    assert inputs["Subscription"] == {"kind": "guid"}  # not looked up: a GUID


def test_create_dry_run_then_run_then_the_same_form_again_books_once(ui, world: Live) -> None:
    item = first_id(ui, "logistics/Items", "IsTime eq 1")
    project = first_id(ui, "project/Projects")
    values = {
        "field:Item": item,
        "field:Project": project,
        "field:Quantity": "7.5",
        "field:Date": "2026-05-04",
        "field:Notes": "web booking",
    }
    before = world.stats()["by_endpoint"].get("project/TimeTransactions", {})
    dry = run(ui, action="create", endpoint="project/TimeTransactions", mode="dry_run", **values)
    assert dry.status_code == 200 and "Dry run: nothing was sent" in dry.text
    assert f"POST {world.base_url}/api/v1/{D1}/project/TimeTransactions" in dry.text
    assert "&#34;Notes&#34;: &#34;web booking&#34;" in dry.text
    assert world.stats()["by_endpoint"].get("project/TimeTransactions", {}) == before

    created = run(ui, action="create", endpoint="project/TimeTransactions", **values)
    assert "Time transaction created" in created.text
    [outcome] = rows(ui, created)
    assert outcome["status"] == "created" and outcome["division"] == D1
    again = run(ui, action="create", endpoint="project/TimeTransactions", **values)
    assert "Already created" in again.text
    assert rows(ui, again)[0]["ID"] == outcome["ID"]
    listed = rows(
        ui,
        run(ui, action="get", endpoint="project/TimeTransactions", filter="Notes eq 'web booking'", top="10"),
    )
    assert len(listed) == 1

    reloaded = ui.get("/actions")  # the page opened anew: the same entry is still the same entry
    assert reloaded.status_code == 200
    again = run(ui, action="create", endpoint="project/TimeTransactions", **values)
    assert "Already created" in again.text
    tt = "project/TimeTransactions"
    edited = run(ui, action="create", endpoint=tt, **{**values, "field:Quantity": "8"})
    assert "Booked earlier with other values" in edited.text
    assert f"exactmate time update {outcome['ID']}" in edited.text
    other = run(ui, action="create", endpoint=tt, **{**values, "field:Notes": "web 2"})
    assert "Time transaction created" in other.text


def test_update_shows_before_and_after(ui, world: Live) -> None:
    [outcome] = rows(ui, new_entry(ui, "to change"))
    entry_id = outcome["ID"]
    dry = run(
        ui,
        action="update",
        endpoint="project/TimeTransactions",
        key=entry_id,
        mode="dry_run",
        **{"field:Quantity": "3"},
    )
    assert (
        "Dry run" in dry.text
        and f"PUT {world.base_url}/api/v1/{D1}/project/TimeTransactions(guid" in dry.text
    )
    done = run(
        ui,
        action="update",
        endpoint="project/TimeTransactions",
        key=entry_id,
        **{"field:Quantity": "3", "field:Notes": "changed"},
    )
    assert "Time transaction updated" in done.text
    changes = {row["Field"]: (row["Before"], row["After"]) for row in rows(ui, done)}
    assert changes == {"Quantity": (7.5, 3.0), "Notes": ("to change", "changed")}
    got = rows(ui, run(ui, action="get", endpoint="project/TimeTransactions", key=entry_id))
    assert got[0]["Quantity"] == 3.0 and got[0]["Notes"] == "changed"


def test_delete_needs_confirmation_and_shows_the_record(ui, world: Live) -> None:
    [outcome] = rows(ui, new_entry(ui, "to delete"))
    entry_id = outcome["ID"]
    base = {"action": "delete", "endpoint": "project/TimeTransactions", "key": entry_id}
    dry = run(ui, mode="dry_run", **base)
    assert "Dry run" in dry.text and "DELETE " in dry.text and "to delete" in dry.text
    unconfirmed = run(ui, **base)
    assert unconfirmed.status_code == 400 and "not confirmed" in unconfirmed.text
    done = run(ui, confirm="yes", **base)
    assert "Record deleted" in done.text and "to delete" in done.text
    assert "<th>Field</th><th>Value</th>" in done.text  # one wide record: field / value lines
    missing = run(ui, action="get", endpoint="project/TimeTransactions", key=entry_id)
    assert missing.status_code == 502
    assert "Exact Online answered HTTP 404" in missing.text


def test_list_results_download_as_json_and_csv(ui, world: Live) -> None:
    answer = run(ui, action="get", endpoint="project/Projects", select=["ID", "Code", "Description"], top="5")
    assert answer.status_code == 200 and 'id="result-table"' in answer.text
    data = rows(ui, answer)
    assert len(data) == 5 and set(data[0]) == {"ID", "Code", "Description"}
    as_csv = download(ui, answer, "csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    parsed = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["Code"] for r in parsed] == [str(r["Code"]) for r in data]
    assert json.loads(download(ui, answer, "json").text) == data
    assert ui.get("/actions/results/nope.json").status_code == 404


def test_list_all_divisions_tags_each_record(ui, world: Live) -> None:
    data = rows(
        ui, run(ui, action="get", endpoint="project/Projects", division="all", select="Code", top="2")
    )
    assert {r["Division"] for r in data} == {100001, 100002}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"action": "get", "endpoint": "project/Projects", "division": "first"}, "is not a division"),
        ({"action": "get", "endpoint": "crm/Acounts"}, "Did you mean"),
        ({"action": "get", "endpoint": "project/Projects", "select": "Nmae"}, "Unknown field"),
        ({"action": "get", "endpoint": "project/Projects", "key": "not-a-guid"}, "GUID"),
        ({"action": "get", "endpoint": "project/Projects", "top": "0"}, "Limit must be"),
        (
            {"action": "delete", "endpoint": "read/project/HourCostTypes", "key": "x", "confirm": "yes"},
            "does not support DELETE",
        ),
        (
            {"action": "update", "endpoint": "project/TimeTransactions", "key": "123", "field:Notes": "x"},
            "GUID",
        ),
        (
            {
                "action": "create",
                "endpoint": "project/TimeTransactions",
                "field:Quantity": "lots",
                "field:Created": "2026-01-01",
                "field:Bogus": "1",
            },
            "nothing was sent",
        ),
        ({"action": "create", "endpoint": "project/TimeTransactions", "division": "all"}, "one division"),
        ({"action": "teleport"}, "Choose one of the four actions"),
        ({"action": "get", "credential": "Nobody"}, "No credential named"),
    ],
)
def test_bad_input_is_refused_before_any_call(ui, world: Live, fields: dict[str, Any], expected: str) -> None:
    calls = rest_calls(world)
    answer = run(ui, **fields)
    assert answer.status_code == 400, answer.text[:500]
    assert expected in answer.text, answer.text[:1000]
    assert 'role="alert"' in answer.text
    assert rest_calls(world) == calls


def test_create_names_every_field_problem_at_once(ui, world: Live) -> None:
    answer = run(
        ui,
        action="create",
        endpoint="project/TimeTransactions",
        **{
            "field:Quantity": "lots",
            "field:Created": "2026-01-01",
            "field:Bogus": "1",
            "field:HourStatus": "20",
        },
    )
    text = answer.text
    assert "Quantity" in text and "not a number" in text
    assert "Created is read-only" in text
    assert "Bogus" in text and "no such field" in text
    assert "HourStatus cannot be written as 20" in text
    assert "Item is mandatory" in text


def test_exacts_own_message_is_shown_when_exact_refuses(ui, world: Live) -> None:
    final = first_id(ui, "project/TimeTransactions", "HourStatus eq 20")
    answer = run(ui, action="update", endpoint="project/TimeTransactions", key=final, **{"field:Notes": "x"})
    assert answer.status_code == 400 and "is final" in answer.text
    unknown = run(ui, action="get", endpoint="project/Projects", key="00000000-0000-0000-0000-000000000001")
    assert unknown.status_code == 502 and "HTTP 404" in unknown.text


def _export_form(answer: httpx.Response) -> dict[str, list[str]]:
    """The page's "download all" form, as its fields (a name may repeat)."""
    form = re.search(r'<form method="post" action="/actions/export".*?</form>', answer.text, re.S)
    assert form, answer.text[:800]
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(0)):
        fields.setdefault(name, []).append(value)
    return fields


def test_a_listing_cut_off_says_so_and_exports_every_record(ui, serve, monkeypatch) -> None:
    live = serve(records=250, minutely_limit=100_000, daily_limit=1_000_000)
    create_credential(ui, live)
    listing = {"action": "get", "endpoint": "project/TimeTransactions", "all": "1"}
    start = rest_calls(live)
    everything = rows(ui, run(ui, **listing))
    read_all = rest_calls(live) - start
    assert len(everything) > 100
    monkeypatch.setattr("exactmate.web.action_pages.MAX_ROWS", 100)

    cut = run(ui, **listing)
    assert len(rows(ui, cut)) == 100
    assert "The first 100 records of project/TimeTransactions are shown; there are more." in cut.text
    assert "100 records shown; more exist." in cut.text and "Download all as CSV" in cut.text
    fields = _export_form(cut)
    assert fields["all"] == ["1"] and fields["endpoint"] == ["project/TimeTransactions"]
    assert fields["csrf_token"]  # the form carries the page's CSRF token

    before = rest_calls(live)
    with ui.stream("POST", "/actions/export", data={**fields, "format": "csv"}) as answer:
        assert answer.status_code == 200, answer.read()[:500]
        assert answer.headers["content-type"].startswith("text/csv")
        assert 'filename="exactmate-project-TimeTransactions.csv"' in answer.headers["content-disposition"]
        text = "".join(answer.iter_text())
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [r["ID"] for r in exported] == [r["ID"] for r in everything]
    assert rest_calls(live) - before == read_all  # the same pages as the page's own read

    ndjson = ui.post("/actions/export", data={**fields, "format": "ndjson"})
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [r["ID"] for r in lines] == [r["ID"] for r in everything]


def test_an_ndjson_export_writes_pages_from_their_bytes_as_the_general_path_would(
    ui, serve, monkeypatch
) -> None:
    """A filtered whole read goes 60 a call: from the second page on its lines are made straight
    from the bytes (``Listing.ndjson``), the same bytes as with every page left to the general path."""
    from exactmate.odata import LineShape

    live = serve(records=150, minutely_limit=100_000, daily_limit=1_000_000)
    create_credential(ui, live)
    form = {"credential": "Demo NL", "division": "all", "action": "get", "endpoint": "crm/Accounts"}
    form.update({"filter": "Blocked eq false", "all": "1", "format": "ndjson"})
    form["csrf_token"] = csrf(ui, "/actions")
    made = LineShape.page
    lined: list[Any] = []

    def watched(shape: LineShape, content: bytes) -> Any:
        page = made(shape, content)
        lined.extend([page] if page is not None else [])
        return page

    monkeypatch.setattr(LineShape, "page", watched)
    fast = ui.post("/actions/export", data=form)
    monkeypatch.setattr(LineShape, "page", lambda shape, content: None)
    general = ui.post("/actions/export", data=form)
    assert fast.status_code == general.status_code == 200, fast.text[:500]
    assert fast.content == general.content and fast.content.count(b"\n") == 2 * 150
    assert len(lined) == 4  # two pages after the first in each of the two divisions


def test_the_export_is_guarded_and_refuses_what_is_not_a_listing(ui, world: Live) -> None:
    base = {"credential": "Demo NL", "division": str(D1), "action": "get", "endpoint": "crm/Accounts"}
    base["all"] = "1"
    refused = ui.post("/actions/export", data={**base, "format": "csv"})
    assert refused.status_code == 403  # no CSRF token
    token = csrf(ui, "/actions")
    calls = rest_calls(world)
    for extra, expected in (
        ({"format": "xlsx"}, "An export is written as csv or ndjson, not &#39;xlsx&#39;"),
        ({"format": "csv", "key": "6e0e2f4a-1111-4222-8333-944455556666"}, "Only a listing can be exported"),
        ({"format": "csv", "action": "delete"}, "Only a listing can be exported"),
        ({"format": "csv", "filter": "Name = 'x'"}, "Cannot list crm/Accounts"),
    ):
        answer = ui.post("/actions/export", data={**base, **extra, "csrf_token": token})
        assert answer.status_code == 400 and expected in answer.text, answer.text[:800]
        assert "Nothing was exported" in answer.text
    assert rest_calls(world) == calls


def test_an_export_with_a_failed_division_is_broken_off_not_shortened(
    ui, world: Live, monkeypatch
) -> None:
    """With division ``all`` a division that fails is skipped by the listing; the export then ends
    in an error (the browser marks the download failed) instead of a file that looks whole."""
    from exactmate.errors import ExactmateError
    from exactmate.web import action_pages

    real = action_pages.list_records

    def one_division_fails(*args: Any, **kwargs: Any) -> Any:
        listing = real(*args, **kwargs)
        listing.errors.append((100002, ExactmateError("HTTP 500 from Exact")))
        return listing

    monkeypatch.setattr(action_pages, "list_records", one_division_fails)
    form = {"credential": "Demo NL", "division": "all", "action": "get", "endpoint": "crm/Accounts"}
    form.update({"all": "1", "format": "ndjson", "csrf_token": csrf(ui, "/actions")})
    with pytest.raises(Exception) as raised:  # under a server: the connection is cut mid-answer
        ui.post("/actions/export", data=form)
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    assert any("incomplete: division 100002 failed" in str(e) for e in chain if e is not None), chain
