"""Scale-out proof: ``exactmate worker`` processes on one PostgreSQL, Exact's limits kept across them.

A throwaway PostgreSQL database holds the store (vault, tokens, rate ledger, error budget, create
journal) and DBOS's system database beside it (``<db>_flows``). The emulator is served on 127.0.0.1
(uvicorn on a thread of this process, which otherwise only waits). The runs are queued the way
``exactmate flow run`` queues them on PostgreSQL (``flows.handoff.Handoff``) and run by real
``exactmate worker`` child processes. What the emulator holds and counted is read from it directly.

Modes:

- default: 3 workers, 2 credentials x 4 divisions (8 divisions), the emulator at 60 calls per
  10-second window per (app, division), 2,000 time entries in 40 runs (5 per division, 50 entries
  each; one run per division at a time, so each division's runs follow each other across workers
  and its window's remaining calls must be known from the shared ledger). Reported: calls per second
  against the 48 a second the limits allow, 429 answers, error-budget blocks, entries held.
- ``--faults``: the same, with one worker ``kill -9``-ed every 10 s and restarted under its executor
  id, and the emulator answering 0.5 % of the creates 503 and dropping 0.5 % of the answers after
  committing. Runs whose entries were left in doubt end failed with the reason; after the settle time
  (client timeout + 60 s) each is rerun from its failed step. Reported: entries held (each once),
  every run's end and reason.
- ``--tokens``: 6 workers, one credential, 6 divisions, access tokens living 4 s (a refresh within 3
  s of the last refused), 3,000 calls (6 runs of 500 GETs) as fast as the workers go. Reported:
  refreshes granted and refused ("old refresh token used"), re-authorisations, the credential's
  status.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, as ``scripts/postgres.sh`` makes sure):
``.venv/bin/python -m bench.scale_out [--faults | --tokens]``.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
from tests.proofs.harness import (
    MASTER_KEY,
    Home,
    booking_flow,
    connect,
    credential_status,
    emulator_keys,
    throwaway_pg_database,
)

from bench.client_support import command, machine
from exactmate.actions.context import SETTLE_MARGIN
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.server import BackgroundServer
from exactmate.flows import load_flow
from exactmate.flows.handoff import Handoff
from exactmate.flows.history import RunHistory, RunSummary

EXE = str(Path(sys.executable).with_name("exactmate"))
WINDOW = 10.0
PER_WINDOW = 60
TIMEOUT = 5.0  # the workers' client timeout: the settle time is this + 60 s

READING = """\
name: read-{division}
credential: {credential}
division: {division}
trigger: {{manual: {{inputs: {{rows: {{type: file}}}}}}}}
steps:
  - id: read
    action: list_or_get
    for_each: "{{{{ trigger.rows }}}}"
    with: {{endpoint: crm/Accounts, select: [ID], top: 1}}
"""


@dataclass
class Workers:
    """``exactmate worker`` child processes, ``w0``, ``w1``, … (their executor ids)."""

    env: dict[str, str]
    folder: Path
    concurrency: int | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: int = 0

    def start(self, executor_id: str) -> None:
        args = [EXE, "worker", "--executor-id", executor_id]
        if self.concurrency:
            args += ["--concurrency", str(self.concurrency)]
        with (self.folder / f"{executor_id}.log").open("ab") as log:
            self.processes[executor_id] = subprocess.Popen(args, env=self.env, stdout=log, stderr=log)

    def start_all(self, n: int) -> None:
        for i in range(n):
            self.start(f"w{i}")
        deadline = time.monotonic() + 120
        for executor_id in self.processes:
            log = self.folder / f"{executor_id}.log"
            while "taking runs" not in log.read_text(errors="replace"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {executor_id} did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)

    def kill_and_restart(self, executor_id: str) -> None:
        process = self.processes[executor_id]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        self.kills += 1
        self.start(executor_id)

    def stop_all(self) -> list[int | None]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.processes.values():
            try:
                codes.append(process.wait(timeout=90))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(None)
        return codes


@dataclass
class Setup:
    root: Path
    db_url: str
    emulator: Emulator
    base_url: str
    homes: list[Home]

    @property
    def settings(self) -> Any:
        return self.homes[0].settings()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXACTMATE_")}
        env.update(
            EXACTMATE_HOME=self.homes[0].path,
            EXACTMATE_MASTER_KEY=MASTER_KEY,
            EXACTMATE_DB=self.db_url,
            EXACTMATE_TIMEOUT=str(TIMEOUT),
        )
        return env


@contextmanager
def setup(config: EmulatorConfig, credentials: dict[str, list[int]]) -> Iterator[Setup]:
    """PostgreSQL, the emulator, and each credential signed in for its divisions."""
    config = replace(config, host="127.0.0.1", port=0)
    emulator = Emulator(config)
    with TemporaryDirectory() as tmp, throwaway_pg_database("exactmate_bench") as db_url:
        try:
            with BackgroundServer(config, emulator=emulator) as server:
                path = str(Path(tmp) / "home")
                homes = [Home(path, credential=name, db_url=db_url) for name in credentials]
                with httpx.Client(base_url=server.base_url) as http:
                    for home, divisions in zip(homes, credentials.values(), strict=True):
                        connect(home, config, http, base_url=server.base_url, divisions=divisions)
                yield Setup(Path(tmp), db_url, emulator, server.base_url, homes)
        finally:
            emulator.close()


def submit(handoff: Handoff, text: str, rows: list[dict[str, Any]], folder: Path, name: str) -> str:
    flow = load_flow(text, source=str(folder / f"{name}.yaml"))
    return handoff.submit(flow, {"kind": "manual", "inputs": {"rows": rows}, "rows": rows})


def wait_all(settings: Any, run_ids: list[str], timeout: float, tick: Any = None) -> dict[str, RunSummary]:
    """The runs once every one has ended (``tick()`` called about every 0.5 s meanwhile)."""
    history = RunHistory(settings)
    deadline = time.monotonic() + timeout
    wanted = set(run_ids)
    while True:
        found = {r.run_id: r for r in history.runs(None, limit=10_000) if r.run_id in wanted}
        ended = all(r.status in ("succeeded", "failed", "cancelled") for r in found.values())
        if len(found) == len(wanted) and ended:
            return found
        if time.monotonic() > deadline:
            left = Counter(r.status for r in found.values())
            raise RuntimeError(f"runs did not end within {timeout:g} s: {dict(left)}")
        if tick is not None:
            tick()
        time.sleep(0.5)


def counts(emulator: Emulator, divisions: list[int], tag: str) -> Counter[str]:
    """Every time entry the emulator holds whose notes start with ``tag``, with how often."""
    notes: Counter[str] = Counter()
    for division in divisions:
        table = emulator.data._store.existing(division, "project/timetransactions")  # type: ignore[attr-defined]
        for row in list(table.rows()) if table is not None else []:
            if str(row.get("Notes", "")).startswith(tag):
                notes[str(row["Notes"])] += 1
    return notes


def api_calls(snapshot: dict[str, Any]) -> tuple[int, int]:
    """REST calls answered (token calls excluded), and how many were 429."""
    answered = too_many = 0
    for name, per in snapshot["by_endpoint"].items():
        if name.startswith("oauth2/"):
            continue
        answered += sum(per.values())
        too_many += per.get("429", 0)
    return answered, too_many


# -- the modes -------------------------------------------------------------------------------------


def booking(args: argparse.Namespace, faults: bool) -> str:
    divisions = list(range(100001, 100009))
    config = EmulatorConfig(
        records=30, divisions=8, minutely_limit=PER_WINDOW, window_seconds=WINDOW, daily_limit=1_000_000
    )
    credentials = {"Acme": divisions[:4], "Bolt": divisions[4:]}
    per_run = args.entries // (len(divisions) * args.runs_per_division)
    with setup(config, credentials) as world:
        workers = Workers(world.env(), world.root)
        workers.start_all(args.workers)
        if faults:
            for kind in ("503", "drop_after_commit"):
                spec = {"kind": kind, "rate": 0.005, "method": "POST", "path": "project/TimeTransactions"}
                httpx.post(world.base_url + "/_emulator/faults", json=spec).raise_for_status()
        before = world.emulator.stats.snapshot()
        runs: list[str] = []
        with Handoff(world.settings) as handoff:
            # Start with a window, as the actions benchmark does: a run begun late in a window gets only
            # that window's last moments for its first 60 calls, and the figure would measure the clock.
            time.sleep(WINDOW - time.time() % WINDOW)
            started, wall_start = time.monotonic(), time.time()
            for division in divisions:
                credential = "Acme" if division in credentials["Acme"] else "Bolt"
                text = booking_flow(f"book-{division}", credential=credential, division=division, tell=False)
                project = str(emulator_keys(world.emulator, division, "project/projects")[0])
                for r in range(args.runs_per_division):
                    rows = [
                        {
                            "project": project,
                            "hours": 1 + n % 7,
                            "date": f"2026-11-{1 + n % 28:02d}",
                            "notes": f"scale {division} {r} {n}",
                        }
                        for n in range(per_run)
                    ]
                    runs.append(submit(handoff, text, rows, world.root, f"book-{division}"))
            last_kill = [time.monotonic()]
            victim = [0]

            def kill_now() -> None:
                if faults and time.monotonic() - last_kill[0] >= 10.0:
                    workers.kill_and_restart(f"w{victim[0] % args.workers}")
                    victim[0] += 1
                    last_kill[0] = time.monotonic()

            ended = wait_all(world.settings, runs, timeout=1800, tick=kill_now)
            seconds = time.monotonic() - started
            first_pass = Counter(r.status for r in ended.values())
            reasons = Counter(_reason(world.settings, r) for r in ended.values() if r.status == "failed")
            reruns: list[str] = []
            if faults and first_pass["failed"]:
                httpx.delete(world.base_url + "/_emulator/faults").raise_for_status()
                settle = TIMEOUT + SETTLE_MARGIN + 1
                print(f"waiting {settle:g} s (the settle time) to rerun the failed runs", file=sys.stderr)
                time.sleep(settle)
                for run_id, summary in ended.items():
                    if summary.status == "failed":
                        detail = RunHistory(world.settings).show(run_id)
                        reruns.append(handoff.fork(run_id, detail.restart_at or 1))
                rerun_ends = Counter(r.status for r in wait_all(world.settings, reruns, timeout=600).values())
            else:
                rerun_ends = Counter()
        after = world.emulator.stats.snapshot()
        codes = workers.stop_all()
        held = counts(world.emulator, divisions, "scale ")
    calls = api_calls(after)[0] - api_calls(before)[0]
    too_many = api_calls(after)[1] - api_calls(before)[1]
    blocks = int(after.get("error_budget_blocks", 0)) - int(before.get("error_budget_blocks", 0))
    steady = len(divisions) * PER_WINDOW / WINDOW
    rate = calls / seconds
    # The shortest time the limits allow: each division's calls need ceil(calls / 60) windows, and the
    # windows are aligned to multiples of 10 s, so the last of them starts (windows - 1) x 10 s after
    # the start of the window the first run was queued in.
    windows = math.ceil(calls / len(divisions) / PER_WINDOW)
    shortest = math.floor(wall_start / WINDOW) * WINDOW + (windows - 1) * WINDOW - wall_start
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        f"{args.workers} `exactmate worker` processes on PostgreSQL, 2 credentials x 4 divisions, "
        f"{PER_WINDOW} calls per {WINDOW:g} s window per division; {args.entries:,} time entries in "
        f"{len(runs)} runs."
        + (f" Faults: {workers.kills} kill -9s, 0.5 % 503s, 0.5 % dropped answers." if faults else ""),
        "",
        "| figure | value | aim |",
        "| --- | ---: | --- |",
        f"| REST calls | {calls:,} | |",
        f"| time from the first run queued to the last ended | {seconds:.1f} s | |",
        f"| calls per second | {rate:.1f} (the limits' steady rate: {steady:.0f}) | |",
        f"| shortest time the limits allow ({windows} windows a division) | {shortest:.1f} s | |",
        f"| throughput against the bound (shortest / taken) | {shortest / seconds:.0%} | "
        f"{'-' if faults else '>= 90 %'} |",
        f"| 429 answers | {too_many} | 0 |",
        f"| error-budget blocks | {blocks} | 0 |",
        f"| entries in the emulator | {sum(held.values()):,} | exactly {args.entries:,} |",
        f"| entries held twice | {sum(1 for n in held.values() if n > 1)} | 0 |",
        f"| runs: first pass | {dict(first_pass)} | every run ended |",
    ]
    if reasons:
        lines.append(f"| failed runs' reasons | {dict(reasons)} | each says why |")
    if reruns:
        lines.append(f"| reruns after the settle time | {dict(rerun_ends)} | all succeeded |")
    lines.append(f"| workers' exit codes on SIGTERM | {codes} | all 0 |")
    return "\n".join(lines)


def _reason(settings: Any, summary: RunSummary) -> str:
    error = RunHistory(settings).show(summary.run_id).summary.error or "no reason given"
    if "pending" in error:
        return "entries pending (answer lost): rerun after the settle time"
    return error.split(":")[-1].strip()[:80]


def tokens(args: argparse.Namespace) -> str:
    divisions = list(range(100001, 100007))
    config = EmulatorConfig(
        records=30,
        divisions=6,
        token_seconds=4,
        refresh_guard_seconds=3,
        minutely_limit=1_000_000,
        daily_limit=10_000_000,
        latency_ms=args.latency_ms,
    )
    per_run = args.calls // len(divisions)
    with setup(config, {"Acme": divisions}) as world:
        workers = Workers(world.env(), world.root, concurrency=1)
        workers.start_all(6)
        before = world.emulator.stats.snapshot()
        with Handoff(world.settings) as handoff:
            started = time.monotonic()
            runs = [
                submit(
                    handoff,
                    READING.format(division=d, credential="Acme"),
                    [{"n": n} for n in range(per_run)],
                    world.root,
                    f"read-{d}",
                )
                for d in divisions
            ]
            ended = wait_all(world.settings, runs, timeout=1800)
            seconds = time.monotonic() - started
        after = world.emulator.stats.snapshot()
        codes = workers.stop_all()
        status = credential_status(world.homes[0])
        executors = {_executor(world.settings, r) for r in runs}

    def delta(name: str) -> int:
        return int(after.get(name, 0)) - int(before.get(name, 0))

    calls = api_calls(after)[0] - api_calls(before)[0]
    by_status: Counter[str] = Counter()
    for name, per in after["by_endpoint"].items():
        if not name.startswith("oauth2/"):
            was = before["by_endpoint"].get(name, {})
            by_status.update({s: n - was.get(s, 0) for s, n in per.items()})
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        f"6 `exactmate worker` processes (one run at a time each, {len(executors)} of them ran one), one "
        f"credential, 6 divisions; access tokens live 4 s, a refresh within 3 s of the last is refused; "
        f"emulator latency {args.latency_ms:g} ms.",
        "",
        "| figure | value | aim |",
        "| --- | ---: | --- |",
        f"| REST calls answered | {calls:,} ({dict(by_status)}) | {args.calls:,} |",
        f"| runs | {dict(Counter(r.status for r in ended.values()))} | all succeeded |",
        f"| time | {seconds:.1f} s ({seconds / 4:.0f} token lifetimes) | |",
        f"| refreshes granted | {delta('refresh_granted')} | |",
        f"| refreshes refused (lost, old refresh token used) | {delta('refresh_refused')} | 0 |",
        f"| re-authorisations (code exchanges) | {delta('code_exchanged')} | 0 |",
        f"| credential at the end | {status[0]} | connected |",
        f"| workers' exit codes on SIGTERM | {codes} | all 0 |",
    ]
    return "\n".join(lines)


def _executor(settings: Any, run_id: str) -> str | None:
    from dbos import DBOSClient

    from exactmate.flows.engine import system_database_url

    client = DBOSClient(system_database_url=system_database_url(settings))
    try:
        found = client.list_workflows(workflow_ids=[run_id], load_input=False, load_output=False)
        return found[0].executor_id if found else None
    finally:
        client.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--faults", action="store_true", help="kill -9 a worker every 10 s; 503s and drops")
    mode.add_argument("--tokens", action="store_true", help="6 workers, one credential, 4 s tokens")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--entries", type=int, default=2_000)
    parser.add_argument("--runs-per-division", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3_000, help="--tokens: calls in all")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="--tokens: the emulator's latency")
    args = parser.parse_args()
    print(tokens(args) if args.tokens else booking(args, faults=args.faults))


if __name__ == "__main__":
    main()
