"""``kill -9`` of ``exactmate flow serve`` in the middle of a 200-row booking that its http trigger
started, then a restart of ``flow serve`` on the same home: the restarted process gets the killed
one's executor id back (its slot on this machine), DBOS recovers the run there, and the create step
runs again from its checkpoint; the create journal skips the rows booked before the kill and holds
back the few in flight until the settle time has passed, when one rerun settles them by lookup (a
moved clock, not a wait). Every row ends booked exactly once, counted in the emulator."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from exactmate.actions.context import SETTLE_MARGIN
from exactmate.emulator.server import BackgroundServer
from exactmate.flows.engine import FlowEngine
from exactmate.flows.history import RunHistory
from exactmate.flows.hooks import HookTokens
from exactmate.flows.interpreter import FlowRunFailed
from tests.proofs.harness import MASTER_KEY, Home, booking_flow, connect_to
from tests.proofs.test_flow_crash import CRASH_EMULATOR, Later, booked, booking_rows

ROWS = 200
FLOW = booking_flow("serve-hours", trigger="{http: {}}", rows="trigger.body.rows", tell=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(folder: Path, port: int, env: dict[str, str], *more: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("exactmate")
    command = [str(exe), "flow", "serve", "--flows", str(folder), "--port", str(port), *more]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return child
        except httpx.TransportError:
            time.sleep(0.1)  # not listening yet
    child.kill()
    child.communicate()
    raise AssertionError("flow serve did not start")


def _ended(settings, run_id: str) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = RunHistory(settings).show(run_id).summary.status
        if status not in ("queued", "running"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end")


def test_a_killed_serve_restarted_resumes_the_run_and_books_every_row_once(tmp_path: Path) -> None:
    _stopped_mid_run_then_restarted(tmp_path, signal.SIGKILL)


def test_sigterm_hands_the_run_back_and_the_next_serve_finishes_it_once(tmp_path: Path) -> None:
    """SIGTERM: no new step starts, the step in progress gets --grace-seconds, then the run goes back
    to the queue (said on the way out, exit 0), and the next process serving the queue runs it on."""
    said = _stopped_mid_run_then_restarted(tmp_path, signal.SIGTERM, "--grace-seconds", "0.5")
    assert "flow serve: stopping: no new runs" in said and "handed back to the queue: serve-hours:" in said


def _stopped_mid_run_then_restarted(tmp_path: Path, how: signal.Signals, *more: str) -> str:
    config = CRASH_EMULATOR
    with BackgroundServer(config) as server:
        home = Home(str(tmp_path / "home"))
        connect_to(home, config, server.base_url)
        settings = home.settings()
        rows = booking_rows(settings, "serve row")
        folder = Path(home.path) / "flows"
        folder.mkdir(parents=True)
        (folder / "serve-hours.yaml").write_text(FLOW, encoding="utf-8")
        token = HookTokens(Path(home.path)).issue("serve-hours")
        env = {**os.environ, "EXACTMATE_HOME": home.path, "EXACTMATE_MASTER_KEY": MASTER_KEY}
        port = _free_port()

        first = _serve(folder, port, env, *more)
        try:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/hooks/serve-hours",
                json={"rows": rows},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert answer.status_code in (200, 202), answer.text
            run_id = answer.json()["run"]
            deadline = time.monotonic() + 120
            while len(booked(settings, "serve row")) < ROWS // 4 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            first.send_signal(how)
            out, _ = first.communicate(timeout=60)
        at_kill = len(booked(settings, "serve row"))
        assert 0 < at_kill < ROWS, at_kill  # stopped in the middle of the booking
        if how is signal.SIGTERM:
            assert first.returncode == 0
            assert RunHistory(settings).show(run_id).summary.status == "queued"  # handed back
        else:
            assert RunHistory(settings).show(run_id).summary.status == "running"  # held by the dead

        second = _serve(folder, port, env)  # the restart recovers the run it held
        try:
            status = _ended(settings, run_id)
        finally:
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=60)
        reran = None
        if status == "failed":  # rows in flight at the kill: pending until they settle
            detail = RunHistory(settings).show(run_id)
            assert 1 <= detail.steps[0]["output"]["pending"] <= 8, detail.steps[0]["output"]
            clock = Later()
            clock.offset = settings.timeout + SETTLE_MARGIN + 1  # the settle time has passed
            with FlowEngine(settings, clock=clock) as engine:
                reran = engine.fork(run_id, detail.restart_at or 1)
                try:
                    engine.wait(reran, timeout=180)
                except FlowRunFailed as failed:
                    raise AssertionError(f"the rerun did not settle the pending rows: {failed}") from None
        notes = booked(settings, "serve row")
        assert len(notes) == len(set(notes)) == ROWS  # every row once: none lost, none twice
        assert RunHistory(settings).show(reran or run_id).summary.status == "succeeded"
        return out.decode()
