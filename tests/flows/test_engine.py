"""Flows run as DBOS workflows against the emulator: the steps in order with their outputs mapped into
later steps, a rerun that books nothing twice, a failed step that stops the run and a rerun that goes
on from it, retries, and one run per run id."""

from __future__ import annotations

from typing import Any

import pytest

from exactmate.config import Settings
from exactmate.flows import load_flow
from exactmate.flows.engine import FlowEngine
from exactmate.flows.history import RunHistory
from exactmate.flows.interpreter import FlowRunFailed
from tests.cli.conftest import D1, Emu, first_id

BOOK = """\
name: book
credential: emu
division: 100001
trigger: {manual: {inputs: {rows: {type: file}}}}
steps:
  - id: project
    action: list_or_get
    with: {endpoint: project/Projects, select: [ID, Code], top: 1}
  - id: book
    action: create_time_transactions
    for_each: "{{ trigger.rows }}"
    with:
      fields:
        Project: "{{ steps.project.record.ID }}"
        Item: "{{ item.item }}"
        Quantity: "{{ item.hours }}"
        Date: "{{ item.date }}"
        Notes: "{{ item.notes }}"
  - id: tell
    action: log
    with:
      message: "{{ steps.book.created }} of {{ steps.book.entries }} on {{ steps.project.record.Code }}"
"""


def _rows(emu: Emu, count: int, notes: str, item: str | None = None) -> list[dict[str, Any]]:
    item = item or first_id(emu, "logistics/Items", IsTime=1)
    return [
        {"item": item, "hours": 1 + i % 7, "date": f"2026-11-{1 + i % 28:02d}", "notes": f"{notes} {i}"}
        for i in range(count)
    ]


def _booked(emu: Emu, notes: str) -> int:
    from exactmate.actions import list_records, open_connection

    with open_connection("emu") as conn:
        listing = list_records(
            conn,
            "project/TimeTransactions",
            division=D1,
            select="ID",
            filter=f"startswith(Notes, '{notes}')",
            all=True,
        )
        return sum(1 for _ in listing)


def _steps(run_id: str) -> list[dict[str, Any]]:
    return RunHistory(Settings.from_env()).show(run_id).steps


def test_steps_run_in_order_and_a_second_run_books_nothing_twice(emu: Emu, engine: FlowEngine) -> None:
    flow = load_flow(BOOK)
    rows = _rows(emu, 12, "flow twice")
    calls = emu.rest_calls()
    first = engine.start(flow, {"inputs": {}, "rows": rows})
    result = engine.wait(first.run_id)
    made = emu.rest_calls() - calls
    assert result["outputs"]["book"]["created"] == 12
    assert result["outputs"]["tell"]["message"].startswith("12 of 12 on ")
    second = engine.start(flow, {"inputs": {}, "rows": rows})
    assert engine.wait(second.run_id)["outputs"]["book"]["skipped"] == 12
    assert _booked(emu, "flow twice") == 12
    steps = _steps(first.run_id)
    assert [(s["id"], s["status"]) for s in steps] == [
        ("project", "succeeded"),
        ("book", "succeeded"),
        ("tell", "succeeded"),
    ]
    assert steps[1]["items"] == {"done": 12, "failed": 0, "errors": []}
    assert steps[0]["inputs"] == {"endpoint": "project/Projects", "select": ["ID", "Code"], "top": 1}
    # each step that talks to Exact keeps its calls, which add up to what the emulator counted
    assert steps[0]["calls"] == 1 and steps[1]["calls"] >= 12 and "calls" not in steps[2]
    assert steps[0]["calls"] + steps[1]["calls"] == made


def test_one_run_id_starts_one_run(emu: Emu, engine: FlowEngine) -> None:
    flow = load_flow(BOOK)
    rows = _rows(emu, 3, "one id")
    for _ in range(3):
        handle = engine.start(flow, {"inputs": {}, "rows": rows}, run_id="book:tick:2026-12-04T17:00")
    engine.wait(handle.run_id)
    assert [r.run_id for r in RunHistory(Settings.from_env()).runs("book")] == ["book:tick:2026-12-04T17:00"]
    assert _booked(emu, "one id") == 3


def test_a_failed_step_stops_the_run_and_a_rerun_goes_on_from_it(emu: Emu, engine: FlowEngine) -> None:
    flow = load_flow(BOOK.replace('Item: "{{ item.item }}"', 'Item: "code:{{ item.item }}"'))
    rows = _rows(emu, 4, "rerun", item="NIGHTSHIFT")  # no item has that code yet
    handle = engine.start(flow, {"inputs": {}, "rows": rows})
    with pytest.raises(FlowRunFailed, match="step book"):
        engine.wait(handle.run_id)
    history = RunHistory(Settings.from_env())
    failed = history.show(handle.run_id)
    assert failed.summary.status == "failed" and [s["status"] for s in failed.steps] == [
        "succeeded",
        "failed",
    ]
    assert "NIGHTSHIFT" in str(failed.steps[1]["error"])
    from exactmate.actions import custom_call, open_connection

    with open_connection("emu") as conn:  # someone adds the missing hour type in Exact
        item = {"Code": "NIGHTSHIFT", "Description": "Night shift", "IsTime": 1}
        custom_call(conn, "POST", "logistics/Items", division=D1, data=item)
    projects_read = emu.stats()["by_endpoint"].get("project/Projects", {})
    again = engine.fork(handle.run_id, failed.restart_at or 0)
    result = engine.wait(again)
    assert result["outputs"]["book"]["created"] == 4 and _booked(emu, "rerun") == 4
    assert (
        emu.stats()["by_endpoint"].get("project/Projects", {}) == projects_read
    )  # step 1 was not sent again
    assert history.show(again).summary.status == "succeeded"


def test_a_step_with_retry_is_run_again_by_dbos(emu: Emu, engine: FlowEngine) -> None:
    text = """\
name: retried
credential: emu
division: 100001
trigger: {manual: {}}
steps:
  - id: read
    action: list_or_get
    with: {endpoint: crm/Accounts, select: [ID], top: 2}
    on_error: {retry: {times: 3}}
"""
    emu.control("POST", "faults", {"kind": "503", "count": 2, "path": "crm/Accounts"})
    handle = engine.start(load_flow(text), {"inputs": {}})
    assert engine.wait(handle.run_id)["outputs"]["read"]["count"] == 2  # third attempt: past the faults
    emu.control("POST", "faults", {"kind": "503", "count": 10, "path": "crm/Accounts"})
    failing = engine.start(load_flow(text), {"inputs": {}})
    with pytest.raises(FlowRunFailed, match="step read"):
        engine.wait(failing.run_id)
    (record,) = _steps(failing.run_id)
    assert record["attempts"] == 4 and record["error"]["class"] == "ServerError"


def test_continue_lets_later_steps_run_and_expressions_fail_the_step_not_the_process(
    emu: Emu, engine: FlowEngine
) -> None:
    text = """\
name: tolerant
credential: emu
division: 100001
trigger: {manual: {}}
steps:
  - id: none
    action: list_or_get
    with: {endpoint: project/Projects, filter: "Code eq 'NO-SUCH'", select: [ID]}
  - id: first
    action: log
    with: {message: "{{ steps.none.records[0].ID }}"}
    on_error: continue
  - id: after
    action: set
    with: {found: "{{ steps.none.count }}"}
  - id: last
    action: log
    with: {message: "found {{ vars.found }}"}
"""
    handle = engine.start(load_flow(text), {"inputs": {}})
    assert engine.wait(handle.run_id)["outputs"]["last"] == {"message": "found 0"}
    steps = _steps(handle.run_id)
    assert steps[1]["status"] == "failed" and steps[1]["error"]["class"] == "ExpressionError"
    assert [s["status"] for s in steps] == ["succeeded", "failed", "succeeded", "succeeded"]


def test_a_thousand_item_for_each_is_one_checkpointed_step(emu: Emu, engine: FlowEngine) -> None:
    text = """\
name: many
trigger: {manual: {}}
steps:
  - id: each
    action: log
    for_each: "{{ trigger.rows }}"
    with: {message: "row {{ item.n }}"}
"""
    handle = engine.start(load_flow(text), {"inputs": {}, "rows": [{"n": n} for n in range(1000)]})
    output = engine.wait(handle.run_id)["outputs"]["each"]
    assert output["count"] == 1000 and output["items"][999] == {"message": "row 999"}
    assert _steps(handle.run_id)[0]["items"]["done"] == 1000


def test_an_engine_at_a_time_and_a_clean_close(emu: Emu, engine: FlowEngine) -> None:
    from exactmate.flows.engine import FlowEngineError

    with pytest.raises(FlowEngineError, match="already open"):
        FlowEngine(Settings.from_env()).open()


def test_a_sync_step_brings_a_table_up_to_date(emu: Emu, engine: FlowEngine, tmp_path) -> None:
    target = f"sqlite:///{tmp_path / 'exact.db'}"
    text = f"""\
name: nightly-sync
credential: emu
division: 100001
trigger: {{manual: {{}}}}
steps:
  - id: copy
    action: sync
    with: {{endpoints: [crm/Accounts], to: "{target}"}}
  - id: tell
    action: log
    with: {{message: "{{{{ steps.copy.inserted }}}} new, {{{{ steps.copy.updated }}}} changed"}}
"""
    flow = load_flow(text)
    first = engine.wait(engine.start(flow, {"inputs": {}}).run_id)
    assert first["outputs"]["copy"]["inserted"] == 60 and first["outputs"]["copy"]["ok"] is True
    again = engine.wait(engine.start(flow, {"inputs": {}}).run_id)
    assert again["outputs"]["tell"]["message"] == "0 new, 0 changed"
    with pytest.raises(Exception, match="Unknown endpoint 'crm/Acounts'"):
        load_flow(text.replace("crm/Accounts", "crm/Acounts"))


def test_an_engine_that_cannot_start_never_shows_the_database_password() -> None:
    from exactmate.flows.engine import system_database_url, without_secrets

    settings = Settings.from_env(db_url="postgresql+psycopg://me:s3cret-pw@db.example/exact")
    url = system_database_url(settings)
    assert url.endswith("@db.example/exact_flows")
    said = without_secrets(ValueError(f"connection to {url} failed: password s3cret-pw refused"), url)
    assert "s3cret-pw" not in said and "db.example" in said
