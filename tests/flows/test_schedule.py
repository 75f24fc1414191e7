"""Schedule triggers: the ticks of a cron expression in the flow's time zone (across daylight-saving
changes), what a start catches up on, run ids per tick; and two ``flow serve`` processes on one home
firing each tick of a seconds-level schedule once (DBOS's real clock: kept short)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exactmate.config import Settings
from exactmate.flows.history import RunHistory
from exactmate.flows.schedule import MAX_CATCH_UP, missed_ticks, tick_of, tick_run_id, ticks_between

AMS = "Europe/Amsterdam"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_five_oclock_schedule_stays_at_five_across_both_dst_changes() -> None:
    spring = ticks_between("0 17 * * *", AMS, utc("2026-03-27T12:00"), utc("2026-03-30T18:00"))
    assert spring == [
        utc("2026-03-27T16:00"),
        utc("2026-03-28T16:00"),
        utc("2026-03-29T15:00"),
        utc("2026-03-30T15:00"),
    ]
    autumn = ticks_between("0 17 * * *", AMS, utc("2026-10-24T12:00"), utc("2026-10-26T18:00"))
    assert autumn == [utc("2026-10-24T15:00"), utc("2026-10-25T16:00"), utc("2026-10-26T16:00")]
    fridays = ticks_between("0 17 * * FRI", AMS, utc("2026-11-30T00:00"), utc("2026-12-14T00:00"))
    assert fridays == [utc("2026-12-04T16:00"), utc("2026-12-11T16:00")]


def test_what_a_start_catches_up_on() -> None:
    last, now = utc("2026-12-01T16:00"), utc("2026-12-04T09:00")
    every_day = "0 17 * * *"
    assert missed_ticks(every_day, AMS, "none", last_tick=last, now=now) == []
    assert missed_ticks(every_day, AMS, "last", last_tick=last, now=now) == [utc("2026-12-03T16:00")]
    assert missed_ticks(every_day, AMS, "all", last_tick=last, now=now) == [
        utc("2026-12-02T16:00"),
        utc("2026-12-03T16:00"),
    ]
    assert missed_ticks(every_day, AMS, "all", last_tick=None, now=now) == []  # never ran: nothing missed
    minutely = missed_ticks("* * * * *", AMS, "all", last_tick=utc("2026-11-01T00:00"), now=now)
    assert len(minutely) == MAX_CATCH_UP and minutely[-1] == utc("2026-12-04T09:00")


def test_a_tick_is_its_run_id() -> None:
    tick = datetime(2026, 12, 4, 17, 0, tzinfo=__import__("zoneinfo").ZoneInfo(AMS))
    run_id = tick_run_id("friday-hours", tick)
    assert run_id == "friday-hours:tick:2026-12-04T16:00:00Z"
    assert tick_of(run_id) == utc("2026-12-04T16:00") and tick_of("friday-hours:manual:ab12") is None


def every_second_flow(folder: Path) -> Path:
    """A ``flows`` directory in ``folder`` with one flow that logs every second's tick."""
    flows = folder / "flows"
    flows.mkdir()
    (flows / "tick.yaml").write_text(
        "name: every-second\ntrigger: {schedule: {cron: '* * * * * *', catch_up: none}}\n"
        "steps:\n  - {id: say, action: log, with: {message: 'tick {{ trigger.tick }}'}}\n",
        encoding="utf-8",
    )
    return flows


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_serve_processes_fire_each_tick_once(
    tmp_path: Path, database: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database == "postgresql":  # one server shared by both: the store and DBOS's <db>_flows
        monkeypatch.setenv("EXACTMATE_DB", request.getfixturevalue("pg_database"))
    flows = every_second_flow(tmp_path)
    exe = Path(sys.executable).with_name("exactmate")
    env = dict(os.environ)
    outs = [tmp_path / f"serve{n}.out" for n in range(2)]
    servers = []
    for out in outs:
        with out.open("wb") as sink:
            command = [str(exe), "flow", "serve", "--flows", str(flows), "--port", "0"]
            servers.append(subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT))
    try:
        history = RunHistory(Settings.from_env())
        deadline = time.monotonic() + 60  # DBOS's scheduler owns this clock: wait for three ticks' runs
        while time.monotonic() < deadline and not all("serving" in out.read_text() for out in outs):
            time.sleep(0.1)
        while time.monotonic() < deadline and len(history.runs("every-second", status="succeeded")) < 3:
            time.sleep(0.2)
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
                server.wait()
    outputs = [out.read_text() for out in outs]
    assert all("stopping" in out for out in outputs), outputs
    runs = history.runs("every-second", limit=100)
    ticks = sorted(tick_of(r.run_id) for r in runs)
    assert len(ticks) >= 3 and len(ticks) == len(set(ticks))
    # The newest tick may still be queued or running at the stop (it goes on at the next start).
    assert all(r.status == "succeeded" for r in runs[1:]), [(r.run_id, r.status) for r in runs]
    seconds = [(b - a).total_seconds() for a, b in zip(ticks, ticks[1:], strict=False)]  # type: ignore[operator]
    assert all(s == 1.0 for s in seconds), ticks  # every second once: none twice, none skipped
