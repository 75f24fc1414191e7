"""Automation → Flows: the flow files of the home, each with its trigger, next scheduled time,
validity (the problems of an invalid one, with their lines) and last run."""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime

from tests.web.conftest import csrf

from exactmate.config import Settings
from exactmate.flows.history import RunHistory, RunSummary
from exactmate.web.flow_pages import flow_rows

NIGHTLY = """\
name: nightly
description: Every night at two
timezone: Europe/Amsterdam
trigger: {schedule: "0 2 * * *"}
steps:
  - {id: say, action: log, with: {message: night}}
"""


def test_the_flow_files_with_their_next_run_and_their_problems(ui, settings: Settings) -> None:
    assert "No flow files yet" in ui.get("/flows").text
    folder = settings.home / "flows"
    folder.mkdir(parents=True)
    (folder / "nightly.yaml").write_text(NIGHTLY, encoding="utf-8")
    (folder / "broken.yaml").write_text(
        "name: broken\ntrigger: {manual: {}}\nsteps:\n  - {id: a, action: nope}\n"
    )
    page = html.unescape(ui.get("/flows").text)
    assert "nightly" in page and "Every night at two" in page and "0 2 * * *" in page
    assert 'data-valid="no"' in page and "line 4: action: 'nope' is not one of" in page
    rows = {
        r["file"]: r for r in flow_rows(folder, RunHistory(settings), datetime(2026, 12, 4, 12, tzinfo=UTC))
    }
    assert (
        rows["nightly.yaml"]["next"] == datetime(2026, 12, 5, 1, tzinfo=UTC).timestamp()
    )  # 02:00 in Amsterdam
    assert rows["broken.yaml"]["problems"] and rows["nightly.yaml"]["last"] is None


ASK = """\
name: ask
description: Says what it was given
trigger:
  manual:
    inputs:
      who: {type: string}
      times: {type: number}
      sheet: {type: file}
      note: {type: string, required: false}
steps:
  - id: say
    action: log
    with:
      message: >-
        {{ trigger.inputs.who }} x{{ trigger.inputs.times * 2 }}:
        {{ trigger.rows | length }} rows, first {{ trigger.rows[0].hours }}
"""


def _run_now(ui, file: str, data: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None):
    return ui.post(
        f"/flows/{file}/run",
        data={"csrf_token": csrf(ui, f"/flows/{file}/run"), **data},
        files={f"input.{k}": v for k, v in (files or {}).items()} or {"_": ("", b"")},
    )


def _ended(settings: Settings, run_id: str) -> RunSummary:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        summary = RunHistory(settings).show(run_id).summary
        if summary.status not in ("queued", "running"):
            return summary
        time.sleep(0.05)  # waiting on the run's own thread, not standing in for time passing
    raise AssertionError(f"run {run_id} did not end")


def test_run_now_checks_the_inputs_then_starts_the_run_and_opens_its_timeline(ui, settings: Settings) -> None:
    folder = settings.home / "flows"
    folder.mkdir(parents=True)
    (folder / "ask.yaml").write_text(ASK, encoding="utf-8")
    listing = ui.get("/flows").text
    assert 'href="/flows/ask.yaml/run"' in listing
    form = ui.get("/flows/ask.yaml/run").text
    assert 'name="input.sheet"' in form and 'type="file"' in form and 'name="input.times"' in form

    refused = _run_now(ui, "ask.yaml", {"input.times": "many"})
    page = html.unescape(refused.text)
    assert refused.status_code == 422
    assert "input 'times' is a number, not 'many'" in page
    assert "input 'who' is missing: the who field (string)" in page
    assert "input 'sheet' is missing: the sheet field (a CSV, JSON or NDJSON file)" in page
    assert 'value="many"' in refused.text  # what was typed stays in the form
    assert RunHistory(settings).runs("ask") == []  # nothing started

    bad_file = _run_now(
        ui, "ask.yaml", {"input.who": "Ann", "input.times": "2"}, {"sheet": ("s.json", b"{no")}
    )
    assert bad_file.status_code == 422 and "input 'sheet':" in html.unescape(bad_file.text)

    sheet = b"date,hours\n2026-12-01,7.5\n2026-12-02,8\n"
    started = _run_now(
        ui, "ask.yaml", {"input.who": "Ann", "input.times": "2.5"}, {"sheet": ("week.csv", sheet)}
    )
    assert started.status_code == 303, started.text
    run_id = started.headers["location"].removeprefix("/runs/")
    assert run_id.startswith("ask:manual:")
    summary = _ended(settings, run_id)
    assert summary.status == "succeeded", summary
    step = RunHistory(settings).show(run_id).steps[0]
    assert step["output"]["message"] == "Ann x5.0: 2 rows, first 7.5"
    timeline = html.unescape(ui.get(f"/runs/{run_id}").text)
    assert f"Run {run_id} of ask started." in timeline and "Ann x5.0" in timeline
    assert 'http-equiv="refresh"' not in timeline  # an ended run's page stops refreshing


def test_run_now_refuses_what_it_cannot_run(ui, settings: Settings) -> None:
    folder = settings.home / "flows"
    folder.mkdir(parents=True)
    (folder / "hook.yaml").write_text(
        "name: hook\ntrigger: {http: {}}\nsteps:\n  - {id: a, action: log, with: {message: hi}}\n"
    )
    (folder / "broken.yaml").write_text(
        "name: broken\ntrigger: {manual: {}}\nsteps:\n  - {id: a, action: nope}\n"
    )
    (folder / "talks.yaml").write_text(
        "name: talks\ncredential: Nobody\ntrigger: {manual: {}}\n"
        "steps:\n  - {id: a, action: list_or_get, with: {endpoint: project/Projects}}\n"
    )
    assert 'href="/flows/hook.yaml/run"' not in ui.get("/flows").text
    hook = ui.get("/flows/hook.yaml/run")
    assert hook.status_code == 409 and "runs on its http trigger" in hook.text
    assert ui.get("/flows/broken.yaml/run").status_code == 422
    assert ui.get("/flows/..%2Fexactmate.db/run").status_code == 404
    assert ui.get("/flows/missing.yaml/run").status_code == 404
    talks = _run_now(ui, "talks.yaml", {})
    assert talks.status_code == 422 and "the flow&#39;s credential cannot be used" in talks.text
    assert RunHistory(settings).runs() == []
