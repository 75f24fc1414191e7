"""Create from a file on the action page: the upload's preview with each row's check, booking with
progress, the create journal's rule (a rerun or an edited file books nothing twice), and the
upload's limits and clean-up."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.web.conftest import Live, create_credential, csrf
from tests.web.test_action_pages import D1, first_id, rows

from exactmate.web import security

NOTES = "file booking"


@pytest.fixture
def world(ui, serve: Callable[..., Live]) -> Live:
    live = serve(records=40, minutely_limit=100_000, daily_limit=1_000_000)
    create_credential(ui, live)
    return live


def entries_csv(ui, count: int, *, delimiter: str = ",", quantity: dict[int, str] | None = None) -> bytes:
    item = first_id(ui, "logistics/Items", "IsTime eq 1")
    project = first_id(ui, "project/Projects")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["Date", "Item", "Project", "Quantity", "Notes"])
    for n in range(1, count + 1):
        hours = (quantity or {}).get(n, "7,5" if delimiter == ";" else "7.5")
        writer.writerow([f"2026-05-{n:02d}", item, project, hours, f"{NOTES} {n}"])
    return out.getvalue().encode()


def upload(ui, data: bytes, name: str = "hours.csv", **fields: str) -> httpx.Response:
    form = {"credential": "Demo NL", "division": str(D1), **fields}
    headers = {"X-CSRF-Token": csrf(ui, "/actions")}
    return ui.post("/actions/upload", data=form, files={"file": (name, data, "text/csv")}, headers=headers)


def book(ui, upload_id: str) -> dict[str, Any]:
    """Press Book and wait for the run (on its future: no sleeping) then answer the final poll."""
    started = ui.post(f"/actions/upload/{upload_id}/book", headers={"X-CSRF-Token": csrf(ui, "/actions")})
    assert started.status_code == 200, started.text
    booking = ui.app.state.ui.uploads.get(upload_id, ui.cookies["exactmate_csrf"]).booking
    booking.future.result(timeout=60)
    final: dict[str, Any] = ui.get(f"/actions/upload/{upload_id}").json()
    assert final["status"] == "finished", final
    return final


def tt_calls(live: Live) -> int:
    """Time transactions created at the emulator (its 201 answers)."""
    return int(live.stats()["by_endpoint"].get("project/timetransactions", {}).get("201", 0))


def test_a_file_is_previewed_row_by_row_then_booked_once(ui, world: Live) -> None:
    data = entries_csv(ui, 3, delimiter=";")  # a Dutch Excel CSV: semicolons, decimal commas
    before = tt_calls(world)
    preview = upload(ui, data)
    body = preview.json()
    assert preview.status_code == 200 and body["ok"] and body["upload_id"]
    assert "hours.csv: 3 entries" in body["html"] and "3 ready" in body["html"]
    assert "Read as CSV separated by semicolons" in body["html"] and "Book 3 entries" in body["html"]
    assert body["html"].count('data-check="planned"') == 3
    assert tt_calls(world) == before  # the preview creates nothing

    final = book(ui, body["upload_id"])
    assert final["done"] == final["total"] == 3 and final["ok"] is True
    assert "Entries booked" in final["html"] and "3 entries, 3 created" in final["html"]
    assert tt_calls(world) == before + 3

    again = upload(ui, data).json()  # the same file again: every row is known
    assert again["ok"] and again["upload_id"] is None
    assert "3 booked earlier" in again["html"] and "Nothing to book" in again["html"]

    edited = entries_csv(ui, 4, delimiter=";", quantity={2: "8"})  # one row edited, one appended
    preview = upload(ui, edited).json()
    assert "1 ready, 2 booked earlier, 1 changed since booked" in " ".join(preview["html"].split())
    assert 'data-row="2" data-check="changed"' in preview["html"] and "with other values" in preview["html"]
    final = book(ui, preview["upload_id"])
    for said in ("1 created", "2 booked earlier", "1 changed"):
        assert said in final["html"]
    assert "row 2:" in final["html"] and "exactmate time update" in final["html"]
    assert tt_calls(world) == before + 4
    listed = rows(ui, ui.post("/actions/run", data={
        "credential": "Demo NL", "division": str(D1), "action": "get", "mode": "run",
        "endpoint": "project/TimeTransactions", "filter": f"startswith(Notes, '{NOTES}')", "top": "100",
    }, headers={"X-CSRF-Token": csrf(ui, "/actions")}))
    assert sorted(r["Notes"] for r in listed) == [f"{NOTES} {n}" for n in range(1, 5)]


def test_each_bad_row_is_marked_and_nothing_can_be_booked(ui, world: Live) -> None:
    item = first_id(ui, "logistics/Items", "IsTime eq 1")
    project = first_id(ui, "project/Projects")
    lines = [
        {"Date": "2026-05-04", "Item": item, "Project": project, "Quantity": 2, "Notes": "fine"},
        {"Date": "04-05-2026", "Item": item, "Project": project, "Quantity": 2, "Notes": "bad date"},
        {"Date": "2026-05-05", "Item": "not-a-guid", "Project": project, "Notes": "no quantity"},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    before = tt_calls(world)
    answer = upload(ui, data, "hours.ndjson")
    body = answer.json()
    assert answer.status_code == 400 and body["ok"] is False and body.get("upload_id") is None
    html = body["html"]
    assert html.count('data-check="invalid"') == 2 and 'data-row="1" data-check="planned"' in html
    assert "is not a date" in html and "Quantity is mandatory" in html
    assert "Fix the rows marked below" in html and "book-upload" not in html
    assert tt_calls(world) == before


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("hours.txt", b"Date,Notes\n2026-05-04,x\n", "Cannot tell the format of"),
        ("hours.csv", b"", "Choose a CSV, JSON or NDJSON file"),
        ("hours.json", b"[{\"Notes\": ", "hours.json cannot be read"),
        ("hours.csv", b"Date,Notes\n", "holds no entries"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(ui, world: Live, name: str, data: bytes, expected: str) -> None:
    answer = upload(ui, data, name)
    assert answer.status_code == 400 and expected in answer.json()["html"], answer.text[:600]


def test_uploads_are_guarded_limited_private_and_cleaned_up(ui, world: Live, monkeypatch) -> None:
    refused = ui.post("/actions/upload", files={"file": ("hours.csv", b"x", "text/csv")})
    assert refused.status_code == 403  # no CSRF token

    monkeypatch.setattr(security, "MAX_UPLOAD_BYTES", 1000)
    big = upload(ui, b"Date,Notes\n" + b"2026-05-04,x\n" * 200)
    assert big.status_code == 413 and "larger than the" in big.json()["html"]
    assert "exactmate time create --file FILE" in big.json()["html"]
    monkeypatch.undo()

    body = upload(ui, entries_csv(ui, 1)).json()
    store = ui.app.state.ui.uploads
    stored = store.get(body["upload_id"], ui.cookies["exactmate_csrf"])
    assert stored.path.exists() and stored.path.stat().st_mode & 0o077 == 0
    assert store.get(body["upload_id"], "another browser") is None
    guarded = {"X-CSRF-Token": csrf(ui, "/actions")}
    other = ui.post(f"/actions/upload/{body['upload_id']}x/book", headers=guarded)
    assert other.status_code == 404 and "choose the file again" in other.json()["error"]

    for _ in range(10):  # newer uploads push the oldest file out, and it is removed
        upload(ui, entries_csv(ui, 1))
    assert store.get(body["upload_id"], ui.cookies["exactmate_csrf"]) is None and not stored.path.exists()
    folder = stored.path.parent
    store.close()
    assert not folder.exists()


def test_pressing_book_while_it_books_is_refused(ui, world: Live) -> None:
    body = upload(ui, entries_csv(ui, 2)).json()
    store = ui.app.state.ui.uploads
    found = store.get(body["upload_id"], ui.cookies["exactmate_csrf"])
    gate = threading.Event()
    assert store.book(found, lambda progress: gate.wait(30)) is not None  # a run holding the upload
    guarded = {"X-CSRF-Token": csrf(ui, "/actions")}
    second = ui.post(f"/actions/upload/{body['upload_id']}/book", headers=guarded)
    assert second.status_code == 409 and "being booked already" in second.json()["error"]
    running = ui.get(f"/actions/upload/{body['upload_id']}").json()
    assert running["status"] == "running" and running["total"] == 2
    gate.set()
