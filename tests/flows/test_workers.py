"""Flow runs on PostgreSQL, run by ``exactmate worker`` processes: handed over by ``flow run``, shared
by two workers across divisions, recovered after ``kill -9`` (the same executor id, or ``--recover``),
handed back on SIGTERM, and the health check. Real PostgreSQL, a real emulator on 127.0.0.1, real
child processes; every row is counted in the emulator."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from exactmate.actions.context import SETTLE_MARGIN
from exactmate.emulator.config import EmulatorConfig
from exactmate.flows.engine import FlowEngine
from exactmate.flows.history import RunHistory
from tests.flows.test_schedule import every_second_flow
from tests.flows.workers import EXE, Cluster
from tests.proofs.test_flow_crash import Later

FAST = {"minutely_limit": 1_000_000, "daily_limit": 1_000_000}


def test_a_flow_run_is_handed_to_a_worker_process_and_waited_for(tmp_path: Path, pg_database: str) -> None:
    config = EmulatorConfig(records=30, divisions=2, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        division = config.accessible_divisions[1]
        flow, rows = cluster.booking("handed", division, 12)
        run = cluster.flow_run(flow, rows)
        run.wait_for("no worker has taken the run", err=True, timeout=30)  # said once, still waiting
        assert run.process.poll() is None
        worker = cluster.worker("w1")
        assert run.process.wait(timeout=120) == 0, run.stderr()
        assert "succeeded" in run.stdout() and "12 created" in run.stdout()
        assert run.stderr().count("no worker has taken the run") == 1
        (summary,) = cluster.runs("handed")
        assert cluster.executor_of(summary.run_id) == "w1"  # the worker ran it, not flow run
        assert sorted(cluster.notes(division, "handed").values()) == [1] * 12
        # --no-wait hands it over and returns the id at once; the worker runs it.
        quick = cluster.flow_run(flow, rows, "--no-wait")
        assert quick.process.wait(timeout=60) == 0
        assert quick.stdout().startswith("handed:manual:")
        assert all(r.status == "succeeded" for r in cluster.wait_ended("handed", 2))
        assert sorted(cluster.notes(division, "handed").values()) == [1] * 12  # booked once, not twice
        assert worker.stop() == 0


def test_two_workers_share_the_runs_of_four_divisions(tmp_path: Path, pg_database: str) -> None:
    config = EmulatorConfig(records=30, divisions=4, latency_ms=20.0, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        workers = [cluster.worker("a", "--concurrency", "2"), cluster.worker("b")]
        assert "(2 at once" in workers[1].stdout()  # DBOS keeps the number with the queue: one for all
        runs = []
        for division in config.accessible_divisions:
            flow, rows = cluster.booking(f"share-{division}", division, 20)
            runs.append(cluster.flow_run(flow, rows, "--no-wait"))
        ids = []
        for run in runs:
            assert run.process.wait(timeout=60) == 0, run.stderr()
            ids.append(run.stdout().strip())
        for division in config.accessible_divisions:
            (summary,) = cluster.wait_ended(f"share-{division}", 1)
            assert summary.status == "succeeded", summary
            assert sorted(cluster.notes(division, f"share-{division}").values()) == [1] * 20
        executors = {cluster.executor_of(run_id) for run_id in ids}
        assert executors == {"a", "b"}  # at most two at once each: both took runs
        assert [w.stop() for w in workers] == [0, 0]


def _killed_mid_booking(cluster: Cluster, division: int, tag: str, rows: int) -> str:
    """Start worker ``dead`` on a booking of ``rows``, ``kill -9`` it part-way; the run's id."""
    flow, csv = cluster.booking(tag, division, rows)
    dead = cluster.worker("dead")
    queued = cluster.flow_run(flow, csv, "--no-wait")
    assert queued.process.wait(timeout=60) == 0, queued.stderr()
    deadline = time.monotonic() + 120
    while (
        sum(cluster.notes(division, tag).values()) < rows // 4
        and time.monotonic() < deadline
        and dead.process.poll() is None
    ):
        time.sleep(0.05)
    dead.kill()
    booked = sum(cluster.notes(division, tag).values())
    said = f"worker: {dead.stdout()}{dead.stderr()}\nflow run: {queued.stdout()}{queued.stderr()}"
    assert 0 < booked < rows, f"{booked} booked\n{said}"  # killed in the middle of the booking
    (run,) = cluster.runs(tag)
    assert run.status == "running"
    return run.run_id


def _settle_and_check(cluster: Cluster, division: int, tag: str, rows: int, run_id: str) -> None:
    """The recovered run ends; rows that were in flight at the kill stay pending until the settle
    time, then one rerun settles them. Every row is in the emulator exactly once."""
    (run,) = cluster.wait_ended(tag, 1)
    if run.status == "failed":
        detail = RunHistory(cluster.settings).show(run_id)
        assert "pending" in (detail.summary.error or ""), detail.summary
        assert 1 <= detail.steps[0]["output"]["pending"] <= 8
        for child in cluster.children:  # the rerun below is this process's, on a clock moved on
            child.stop()
        clock = Later()
        clock.offset = cluster.settings.timeout + SETTLE_MARGIN + 1
        with FlowEngine(cluster.settings, clock=clock, executor_id="settle") as engine:
            engine.wait(engine.fork(run_id, detail.restart_at or 1), timeout=180)
    counted = cluster.notes(division, tag)
    assert len(counted) == rows and set(counted.values()) == {1}, counted  # none lost, none twice


def test_a_killed_worker_restarted_with_its_id_recovers_its_run(tmp_path: Path, pg_database: str) -> None:
    config = EmulatorConfig(records=30, divisions=1, latency_ms=30.0, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        division = config.accessible_divisions[0]
        run_id = _killed_mid_booking(cluster, division, "restart", 150)
        cluster.worker("dead")  # the same id: DBOS recovers the runs it held at its start
        _settle_and_check(cluster, division, "restart", 150, run_id)


def test_recover_hands_a_dead_workers_run_to_a_living_one(tmp_path: Path, pg_database: str) -> None:
    config = EmulatorConfig(records=30, divisions=1, latency_ms=30.0, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        division = config.accessible_divisions[0]
        run_id = _killed_mid_booking(cluster, division, "rescue", 150)
        living = cluster.worker("living")
        time.sleep(1)
        assert cluster.runs("rescue")[0].status == "running"  # nobody takes a dead worker's run unasked
        refused = cluster.worker("other", "--recover", "living", ready=False)
        assert refused.process.wait(timeout=60) == 3
        assert "worker living is running" in refused.stderr()
        rescuer = cluster.worker("rescuer", "--recover", "dead")
        rescuer.wait_for("handed 1 run(s) of worker dead back to the queue", err=True)
        _settle_and_check(cluster, division, "rescue", 150, run_id)
        assert cluster.executor_of(run_id) in ("living", "rescuer")
        assert living.stop() == 0 and rescuer.stop() == 0


def test_sigterm_lets_the_step_finish_and_hands_the_run_back(tmp_path: Path, pg_database: str) -> None:
    config = EmulatorConfig(records=30, divisions=1, latency_ms=30.0, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        division = config.accessible_divisions[0]
        flow, csv = cluster.booking("graceful", division, 60)
        first = cluster.worker("first")
        cluster.flow_run(flow, csv, "--no-wait").process.wait(timeout=60)
        deadline = time.monotonic() + 60
        while not cluster.notes(division, "graceful") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.stop(timeout=90) == 0, first.stderr()  # the booking step finishes first
        said = first.stdout()
        assert "stopping: no new runs" in said and "handed back to the queue: graceful:manual:" in said, said
        assert "cut off" not in said
        assert sum(cluster.notes(division, "graceful").values()) == 60  # the step in progress finished
        (run,) = cluster.runs("graceful")
        assert run.status == "queued"  # back in the queue, at its next step
        second = cluster.worker("second")
        (run,) = cluster.wait_ended("graceful", 1)
        assert run.status == "succeeded"
        detail = RunHistory(cluster.settings).show(run.run_id)
        assert [s["id"] for s in detail.steps] == ["book", "tell"]
        assert detail.steps[0]["output"]["created"] == 60  # the booking step ran once, not again
        assert cluster.executor_of(run.run_id) == "second"
        assert sorted(cluster.notes(division, "graceful").values()) == [1] * 60
        assert second.stop() == 0


def test_check_says_ok_or_what_is_wrong(tmp_path: Path, pg_database: str) -> None:
    config = EmulatorConfig(records=5, divisions=1, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        before = subprocess.run([EXE, "worker", "--check"], env=cluster.env(), capture_output=True, text=True)
        assert before.returncode != 0 and "exactmate worker" in before.stderr, before
        cluster.worker("w").stop()
        started = time.monotonic()
        good = subprocess.run([EXE, "worker", "--check"], env=cluster.env(), capture_output=True, text=True)
        assert good.returncode == 0, good.stderr
        assert good.stdout.startswith("ok: store postgresql") and time.monotonic() - started < 10
        gone = pg_database.replace("127.0.0.1:5432", "127.0.0.1:1")  # no server answers there
        bad = subprocess.run(
            [EXE, "worker", "--check"], env=cluster.env(EXACTMATE_DB=gone), capture_output=True, text=True
        )
        assert bad.returncode == 12 and "the store is not usable" in bad.stderr, bad.stderr


def test_check_on_a_sqlite_home(tmp_path: Path) -> None:
    env = {"EXACTMATE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    fresh = subprocess.run([EXE, "worker", "--check"], env=env, capture_output=True, text=True)
    assert fresh.returncode != 0 and "does not exist yet" in fresh.stderr, fresh.stderr


def test_serve_with_no_workers_queues_the_ticks_for_the_workers(tmp_path: Path, pg_database: str) -> None:
    config = EmulatorConfig(records=5, divisions=1, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        flows = every_second_flow(tmp_path)
        serve = cluster.spawn("serve", "flow", "serve", "--flows", str(flows), "--port=0", "--workers=0")
        serve.wait_for("serving 1 flow(s)")
        assert "running no flow here" in serve.stdout()
        deadline = time.monotonic() + 30
        while len(cluster.runs("every-second")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {r.status for r in cluster.runs("every-second")} == {"queued"}  # nobody runs them yet
        worker = cluster.worker("w")
        ended = cluster.wait_ended("every-second", 3)
        assert serve.stop() == 0 and worker.stop() == 0
        done = [r for r in ended if r.status == "succeeded"]
        assert len(done) >= 3 and {cluster.executor_of(r.run_id) for r in done} == {"w"}


def test_a_failed_run_is_rerun_by_the_workers(tmp_path: Path, pg_database: str) -> None:
    config = EmulatorConfig(records=30, divisions=1, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        division = config.accessible_divisions[0]
        flow, csv = cluster.booking("again", division, 5)
        worker = cluster.worker("w", EXACTMATE_MAX_RETRIES="0")
        fault = {"kind": "500", "count": 1, "method": "GET", "path": "logistics/Items"}
        assert httpx.post(cluster.base_url + "/_emulator/faults", json=fault).status_code == 201
        failed = cluster.flow_run(flow, csv)
        assert failed.process.wait(timeout=120) == 1, failed.stderr()
        (run,) = cluster.runs("again")
        assert run.status == "failed" and f"exactmate flow rerun {run.run_id}" in failed.stderr()
        rerun = cluster.spawn("rerun", "flow", "rerun", run.run_id)
        assert rerun.process.wait(timeout=120) == 0, rerun.stderr()
        assert "succeeded" in rerun.stdout() and "5 created" in rerun.stdout()
        rerun_id = rerun.stderr().split()[1]  # "run <id> goes on from step N of <run>"
        assert rerun_id.startswith("again:rerun:") and cluster.executor_of(rerun_id) == "w"
        assert sorted(cluster.notes(division, "again").values()) == [1] * 5
        assert worker.stop() == 0


def test_the_web_uis_run_now_on_postgresql_is_run_by_a_worker(tmp_path: Path, pg_database: str) -> None:
    from exactmate.flows import load_flow
    from exactmate.web.flow_starts import FlowStarts

    config = EmulatorConfig(records=30, divisions=1, **FAST)
    with Cluster.start(tmp_path, pg_database, config) as cluster:
        division = config.accessible_divisions[0]
        flow, _ = cluster.booking("clicked", division, 3)
        project = cluster.project(division)
        entry = {"project": project, "hours": 2, "date": "2026-11-02"}
        rows = [{**entry, "notes": f"clicked {n}"} for n in range(3)]
        worker = cluster.worker("w")
        starts = FlowStarts(cluster.settings)
        try:
            trigger = {"kind": "manual", "inputs": {"rows": rows}, "rows": rows}
            run_id = starts.start(load_flow(flow.read_text(), source=str(flow)), trigger)
            assert starts._engine is None  # no engine in the UI's process: it runs nothing itself
        finally:
            starts.close()
        (run,) = cluster.wait_ended("clicked", 1)
        assert run.run_id == run_id and run.status == "succeeded"
        assert cluster.executor_of(run_id) == "w"
        assert sorted(cluster.notes(division, "clicked").values()) == [1] * 3
        assert worker.stop() == 0


def test_default_executor_ids_are_this_hosts_lowest_free_slots(tmp_path: Path) -> None:
    """On a SQLite home (workers allowed on its one machine): HOSTNAME-0, HOSTNAME-1; a killed
    worker's slot goes to the next worker started, which therefore recovers the runs it held."""
    import os
    import socket

    from tests.flows.workers import Child

    host = socket.gethostname()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXACTMATE_")}
    env["EXACTMATE_HOME"] = str(tmp_path / "home")

    def start(n: int) -> Child:
        out, err = tmp_path / f"w{n}.out", tmp_path / f"w{n}.err"
        with out.open("wb") as o, err.open("wb") as e:
            child = Child(subprocess.Popen([EXE, "worker"], env=env, stdout=o, stderr=e), out, err, f"w{n}")
        child.wait_for("taking runs")
        return child

    first, second = start(0), start(1)
    assert first.stdout().startswith(f"worker {host}-0:") and second.stdout().startswith(f"worker {host}-1:")
    first.kill()
    third = start(2)
    assert third.stdout().startswith(f"worker {host}-0:")  # the dead worker's id, and with it its runs
    assert second.stop() == 0 and third.stop() == 0
