"""History → Flow runs: the runs of the flows, filtered, and one run's steps as a timeline (a failed
run names its failed step, its error and the command that goes on from it)."""

from __future__ import annotations

import contextlib
import html

from exactmate.config import Settings
from exactmate.flows import load_flow
from exactmate.flows.engine import FlowEngine
from exactmate.flows.interpreter import FlowRunFailed

FLOW = """\
name: page-demo
trigger: {manual: {}}
steps:
  - {id: greet, action: set, with: {who: "{{ trigger.inputs.who }}"}}
  - {id: say, action: log, with: {message: "hello {{ vars.who }}"}}
"""


def test_the_runs_and_a_runs_steps(ui, settings: Settings) -> None:
    assert "No runs." in ui.get("/runs").text  # before any run: no engine needed to say so
    flow = load_flow(FLOW)
    with FlowEngine(settings, retry_interval=0.005) as engine:
        good = engine.start(flow, {"inputs": {"who": "Dana"}})
        engine.wait(good.run_id)
        bad = engine.start(flow, {"inputs": {}})
        with contextlib.suppress(FlowRunFailed):  # the run fails: no input 'who'
            engine.wait(bad.run_id)
    page = ui.get("/runs")
    assert page.status_code == 200
    assert good.run_id in page.text and bad.run_id in page.text
    assert 'data-status="succeeded"' in page.text and 'data-status="failed"' in page.text
    failed_only = ui.get("/runs", params={"status": "failed"}).text
    assert bad.run_id in failed_only and good.run_id not in failed_only
    shown = html.unescape(ui.get(f"/runs/{good.run_id}").text)
    assert 'id="run-status">succeeded' in shown and "hello Dana" in shown
    broken = html.unescape(ui.get(f"/runs/{bad.run_id}").text)
    assert "ExpressionError" in broken and "exactmate flow rerun " + bad.run_id in broken
    assert broken.count('data-status="failed"') == 1
    missing = ui.get("/runs/page-demo:manual:nothing")
    assert missing.status_code == 404 and "exactmate flow runs" in missing.text
    refused = ui.get("/runs", params={"status": "done"})
    assert "Unknown run status" in html.unescape(refused.text)
