"""``kill -9`` of ``exactmate flow run`` in the middle of a 200-row booking, then a restart of the
engine: DBOS recovers the run from its last checkpoint and runs the create step again; the create
journal, scoped to the flow, skips the rows booked before the kill and holds back the few that were
in flight (their answer may still commit at Exact) until the settle time has passed; one ``flow
rerun`` after it settles them by lookup. Every row ends booked exactly once (counted in the emulator)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from exactmate.actions import list_records, open_connection
from exactmate.actions.context import SETTLE_MARGIN
from exactmate.clock import SystemClock
from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from exactmate.flows.engine import FlowEngine
from exactmate.flows.history import RunHistory
from exactmate.flows.interpreter import FlowRunFailed
from tests.proofs.harness import CREDENTIAL, MASTER_KEY, Home, booking_flow, connect_to

ROWS = 200
CRASH_EMULATOR = EmulatorConfig(
    port=0, records=60, divisions=1, latency_ms=40.0, minutely_limit=1_000_000, daily_limit=1_000_000
)
"""The emulator the crash proofs book against: 40 ms a call, so a kill lands mid-run; no rate limit."""


FLOW = booking_flow("crash-hours")


class Later(SystemClock):
    """The system's clock, moved ``offset`` seconds on (the settle time passes without waiting)."""

    offset = 0.0

    def now(self) -> float:
        return super().now() + self.offset


def booking_rows(settings: Settings, notes: str, count: int = ROWS) -> list[dict[str, Any]]:
    """``count`` rows for ``booking_flow`` on the current division's first project, their Notes
    ``<notes> <n>``."""
    with open_connection(CREDENTIAL, settings=settings) as conn:
        division = conn.client.current_division()
        found = list_records(conn, "project/Projects", division=division, select="ID", top=1)
        project = next(iter(found))["ID"]
    return [
        {"project": project, "hours": 1 + n % 7, "date": f"2026-11-{1 + n % 28:02d}", "notes": f"{notes} {n}"}
        for n in range(count)
    ]


def booked(settings: Settings, prefix: str = "crash row") -> list[str]:
    """The Notes of the entries in the current division whose Notes start with ``prefix``."""
    with open_connection(CREDENTIAL, settings=settings) as conn:
        division = conn.client.current_division()
        listing = list_records(
            conn,
            "project/TimeTransactions",
            division=division,
            select="ID,Notes",
            filter=f"startswith(Notes, '{prefix}') eq true",
            all=True,
        )
        return [str(r["Notes"]) for r in listing]


def test_a_killed_run_resumes_and_books_every_row_once(tmp_path: Path) -> None:
    config = CRASH_EMULATOR
    with BackgroundServer(config) as server:
        home = Home(str(tmp_path / "home"))
        connect_to(home, config, server.base_url)
        settings = home.settings()
        rows = tmp_path / "rows.csv"
        lines = ["project,hours,date,notes"] + [
            f"{r['project']},{r['hours']},{r['date']},{r['notes']}"
            for r in booking_rows(settings, "crash row")
        ]
        rows.write_text("\n".join(lines) + "\n", encoding="utf-8")
        flow = tmp_path / "crash.yaml"
        flow.write_text(FLOW, encoding="utf-8")
        env = {**os.environ, "EXACTMATE_HOME": home.path, "EXACTMATE_MASTER_KEY": MASTER_KEY}
        exe = Path(sys.executable).with_name("exactmate")
        child = subprocess.Popen(
            [str(exe), "flow", "run", str(flow), "--input-file", f"rows={rows}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while len(booked(settings)) < ROWS // 4 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        at_kill = len(booked(settings))
        assert 0 < at_kill < ROWS, at_kill  # killed in the middle of the booking
        (run,) = RunHistory(settings).runs("crash-hours")
        assert run.status == "running"
        clock = Later()
        with FlowEngine(settings, clock=clock) as engine:  # the next engine to start recovers the run
            try:
                engine.wait(run.run_id, timeout=180)
                reran = None
            except FlowRunFailed as failed:  # rows in flight at the kill: pending until they settle
                assert "pending" in str(failed)
                detail = RunHistory(settings).show(run.run_id)
                pending = detail.steps[0]["output"]["pending"]
                assert 1 <= pending <= 8, pending  # at most the rows in flight
                clock.offset = settings.timeout + SETTLE_MARGIN + 1  # the settle time has passed
                reran = engine.fork(run.run_id, detail.restart_at or 1)
                engine.wait(reran, timeout=180)
        notes = booked(settings)
        assert len(notes) == len(set(notes)) == ROWS  # every row once: none lost, none twice
        final = RunHistory(settings).show(reran or run.run_id)
        assert final.summary.status == "succeeded"
