"""A 200-row booking flow under the emulator's faults: server errors (500 on every kind of call, 10%),
connections dropped before a request is handled (5%) and, for creates, answers lost after Exact
stored the entry (5%). The create step retries (DBOS runs it again; the create journal, scoped to the
flow, skips what is booked and re-sends what failed). A create answered by a server error or by a
dropped connection cannot be told from one Exact stored, so its row stays pending until the settle
time has passed (a moved clock, not a wait), and one ``flow rerun`` settles it by lookup. During the
rerun the server errors go on for reads (the settling lookups retry them); writes are no longer
faulted, since an ambiguous answer in the rerun would make a new pending row that only a later
rerun, after its own settle time, may settle. Every row ends booked exactly once, counted in the
emulator."""

from __future__ import annotations

from pathlib import Path

import httpx

from exactmate.actions.context import SETTLE_MARGIN
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from exactmate.flows import load_flow
from exactmate.flows.engine import FlowEngine
from exactmate.flows.history import RunHistory
from exactmate.flows.interpreter import FlowRunFailed
from tests.proofs.harness import Home, booking_flow, connect
from tests.proofs.test_flow_crash import Later, booked, booking_rows

ROWS = 200
FLOW = booking_flow("faulty-hours", on_error="{retry: {times: 3}}")
FAULTS = [
    {"kind": "500", "rate": 0.1},
    {"kind": "drop_before", "rate": 0.05},
    {"kind": "drop_after_commit", "rate": 0.05, "method": "POST"},
]


def _fired(http: httpx.Client) -> dict[str, int]:
    return {f["kind"]: int(f["fired"]) for f in http.get("/_emulator/faults").json()["faults"]}


def test_every_row_is_booked_once_under_5xx_and_lost_answers_after_at_most_one_rerun(tmp_path: Path) -> None:
    limits = {"minutely_limit": 1_000_000, "daily_limit": 1_000_000}
    config = EmulatorConfig(port=0, records=60, divisions=1, **limits)
    with BackgroundServer(config) as server, httpx.Client(base_url=server.base_url) as http:
        home = Home(str(tmp_path / "home"))
        connect(home, config, http, base_url=server.base_url)
        settings = home.settings()
        rows = booking_rows(settings, "fault row")
        for fault in FAULTS:
            assert http.post("/_emulator/faults", json=fault).status_code in (200, 201)
        clock = Later()
        reran = None
        with FlowEngine(settings, clock=clock, retry_interval=0.05) as engine:
            run = engine.start(load_flow(FLOW), {"kind": "manual", "inputs": {}, "rows": rows})
            try:
                engine.wait(run.run_id, timeout=300)
            except FlowRunFailed:
                detail = RunHistory(settings).show(run.run_id)
                output = detail.steps[0]["output"]
                assert output["pending"] >= 1 or output["failed"] >= 1, output
                clock.offset = settings.timeout + SETTLE_MARGIN + 1  # the settle time has passed
                fired = _fired(http)
                http.post("/_emulator/faults/reset")
                reads = {**FAULTS[0], "method": "GET"}
                assert http.post("/_emulator/faults", json=reads).status_code in (200, 201)
                reran = engine.fork(run.run_id, detail.restart_at or 1)
                engine.wait(reran, timeout=300)  # raises if the one rerun did not finish the booking
        if reran is None:
            fired = _fired(http)
        http.post("/_emulator/faults/reset")
        assert fired["500"] > 0 and fired["drop_after_commit"] > 0 and fired["drop_before"] > 0, fired
        notes = booked(settings, "fault row")
        assert len(notes) == len(set(notes)) == ROWS  # every row once: none lost, none twice
        final = RunHistory(settings).show(reran or run.run_id)
        assert final.summary.status == "succeeded"
        assert final.steps[-1]["output"]["message"].endswith("booked")
