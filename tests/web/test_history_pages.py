"""The Audit log and Create journal pages: lists, one entry with its snapshots, and the restore of a
deleted record through its confirmation page (a POST form carrying the CSRF token)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
import pytest
from tests.web.conftest import Live, create_credential, csrf
from tests.web.test_action_pages import D1, first_id, rest_calls, rows, run

TT = "project/TimeTransactions"


@pytest.fixture
def world(ui, serve: Callable[..., Live]) -> Live:
    live = serve(records=40, minutely_limit=100_000, daily_limit=1_000_000)
    create_credential(ui, live)
    return live


def deleted(ui, notes: str) -> tuple[str, int]:
    """A time transaction booked and deleted through the action form: its ID and its audit entry."""
    created = run(
        ui,
        action="create",
        endpoint=TT,
        **{
            "field:Item": first_id(ui, "logistics/Items", "IsTime eq 1"),
            "field:Project": first_id(ui, "project/Projects"),
            "field:Quantity": "2.5",
            "field:Date": "2026-05-04",
            "field:Notes": notes,
        },
    )
    [outcome] = rows(ui, created)
    record_id = str(outcome["ID"])
    done = run(ui, action="delete", endpoint=TT, key=record_id, confirm="yes")
    assert "Record deleted" in done.text
    listed = ui.get("/audit", params={"key": record_id})
    [entry_id] = re.findall(r'data-entry="(\d+)"', listed.text)
    return record_id, int(entry_id)


def text(answer: httpx.Response) -> str:
    return html.unescape(answer.text)


def test_the_nav_links_both_pages_and_their_forms_carry_the_csrf_token(ui) -> None:
    token = csrf(ui)
    for path in ("/audit", "/journal"):
        page = ui.get(path)
        assert page.status_code == 200
        assert '<a href="/audit"' in page.text and '<a href="/journal"' in page.text
        assert f'<meta name="csrf-token" content="{token}">' in page.text
    assert "No audit log entries." in ui.get("/audit").text
    assert "No journal entries." in ui.get("/journal").text
    assert ui.get("/audit/42").status_code == 404


def test_the_audit_page_lists_shows_and_restores_a_delete_once(ui, world: Live) -> None:
    record_id, entry_id = deleted(ui, "web restore")
    listed = text(ui.get("/audit"))
    assert record_id in listed and "delete" in listed and "Demo NL" in listed and TT in listed
    assert record_id not in text(ui.get("/audit", params={"action": "update"}))
    assert record_id not in text(ui.get("/audit", params={"credential": "someone else"}))
    bad = ui.get("/audit", params={"action": "create"})
    assert bad.status_code == 200 and "is not an audit action" in text(bad)

    entry = text(ui.get(f"/audit/{entry_id}"))
    assert "web restore" in entry and 'id="audit-before"' in entry and "No record." in entry
    assert f'href="/audit/{entry_id}/restore"' in entry

    calls = rest_calls(world)
    confirm = ui.get(f"/audit/{entry_id}/restore")
    page = text(confirm)
    assert confirm.status_code == 200 and "web restore" in page
    assert f"POST {world.base_url}/api/v1/{D1}/{TT}" in page and '"ID"' not in page
    assert rest_calls(world) == calls  # the confirmation page sends nothing

    forged = ui.post(f"/audit/{entry_id}/restore", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and rest_calls(world) == calls
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text)
    assert token is not None
    done = ui.post(f"/audit/{entry_id}/restore", data={"csrf_token": token.group(1)})
    assert done.status_code == 303
    restore_page = text(ui.get(done.headers["location"]))
    match = re.search(rf"Restored entry {entry_id} as {TT} ([0-9a-f-]+) in division {D1}", restore_page)
    assert match, restore_page[:2000]
    new_id = match.group(1)
    [again] = rows(ui, run(ui, action="get", endpoint=TT, key=new_id))
    assert again["Notes"] == "web restore" and again["Quantity"] == 2.5

    assert "Restored at" in text(ui.get(f"/audit/{entry_id}"))  # no Restore button any more
    calls = rest_calls(world)
    twice = ui.post(f"/audit/{entry_id}/restore", data={"csrf_token": token.group(1)})
    assert twice.status_code == 303 and rest_calls(world) == calls
    assert "restored already" in text(ui.get(twice.headers["location"]))


def test_an_update_entry_shows_its_changes_and_is_not_restored(ui, world: Live) -> None:
    created = run(
        ui,
        action="create",
        endpoint=TT,
        **{
            "field:Item": first_id(ui, "logistics/Items", "IsTime eq 1"),
            "field:Project": first_id(ui, "project/Projects"),
            "field:Quantity": "4",
            "field:Notes": "before",
        },
    )
    [outcome] = rows(ui, created)
    run(ui, action="update", endpoint=TT, key=outcome["ID"], **{"field:Notes": "after"})
    listed = ui.get("/audit", params={"action": "update"})
    [entry_id] = re.findall(r'data-entry="(\d+)"', listed.text)
    page = text(ui.get(f"/audit/{entry_id}"))
    assert 'id="audit-changes"' in page and "<tr><td>Notes</td><td>before</td><td>after</td></tr>" in page
    assert "/restore" not in page
    token = csrf(ui, "/audit")
    refused = ui.post(f"/audit/{entry_id}/restore", data={"csrf_token": token})
    assert refused.status_code == 303
    assert "is an update" in text(ui.get(refused.headers["location"]))


def test_the_journal_page_lists_created_entries(ui, world: Live) -> None:
    record_id, _ = deleted(ui, "journaled")
    page = text(ui.get("/journal"))
    assert record_id in page and "created" in page and "Demo NL" in page
    assert record_id in text(ui.get("/journal", params={"state": "created", "source": "entries"}))
    assert record_id not in text(ui.get("/journal", params={"state": "failed"}))
    bad = ui.get("/journal", params={"state": "done"})
    assert bad.status_code == 200 and "is not a journal state" in text(bad)
