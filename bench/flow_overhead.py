"""Flow engine benchmark: what DBOS and the interpreter add per step, so that Exact's rate limit, not
exactmate, is what a long flow waits for.

The emulator runs as ``exactmate emulator serve`` in a child process (no rate limits); the flows run
through ``FlowEngine`` on a SQLite system database in a temporary ``EXACTMATE_HOME`` with a vault
credential made by signing in (the path users run). Measured, medians of the rounds:

- **steps**: a flow of 200 ``log`` steps, each one checkpointed DBOS step: the run's time per step;
- **for_each**: one ``log`` step over 1,000 items: the time per item;
- **creates**: 1,000 time entries booked by a flow's ``create_time_transactions`` step with
  ``for_each``, against the same 1,000 entries through ``create_time_transactions`` called directly
  (what ``exactmate time create --file`` runs), each on a fresh emulator state.

Run from the repository root:  ``.venv/bin/python -m bench.flow_overhead``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.proofs.harness import EmulatorProcess, Home

from bench.client_support import client_for, command, machine
from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.flows import load_flow
from exactmate.flows.engine import FlowEngine

STEPS = 200
ITEMS = 1_000


def _steps_flow(n: int) -> str:
    steps = "".join(f"  - {{id: s{i}, action: log, with: {{message: 'step {i}'}}}}\n" for i in range(n))
    return f"name: many-steps\ntrigger: {{manual: {{}}}}\nsteps:\n{steps}"


EACH_FLOW = """\
name: many-items
trigger: {manual: {}}
steps:
  - id: each
    action: log
    for_each: "{{ trigger.rows }}"
    with: {message: "row {{ item.n }}"}
"""

CREATE_FLOW = """\
name: many-creates
credential: bench
division: current
trigger: {manual: {}}
steps:
  - id: book
    action: create_time_transactions
    for_each: "{{ trigger.rows }}"
    with:
      fields: {Project: "{{ item.Project }}", Item: "{{ item.Item }}", Quantity: "{{ item.Quantity }}",
               Date: "{{ item.Date }}", Notes: "{{ item.Notes }}"}
"""


def _entries(settings: Settings, round_: int) -> list[dict[str, Any]]:
    from exactmate.actions import list_records, open_connection

    with open_connection("bench", settings=settings) as conn:
        division = conn.client.current_division()
        item = next(
            iter(
                list_records(
                    conn, "logistics/Items", division=division, select="ID", filter="IsTime eq 1", top=1
                )
            )
        )
        project = next(iter(list_records(conn, "project/Projects", division=division, select="ID", top=1)))
    return [
        {
            "Project": project["ID"],
            "Item": item["ID"],
            "Quantity": 1 + n % 8,
            "Date": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "Notes": f"bench {round_} {n}",
        }
        for n in range(ITEMS)
    ]


def run(rounds: int) -> dict[str, list[float]]:
    limits = {"minutely_limit": 10**9, "daily_limit": 10**9, "token_seconds": 24 * 3600}
    config = EmulatorConfig(port=0, records=200, divisions=1, **limits)
    out: dict[str, list[float]] = {"steps": [], "each": [], "flow_creates": [], "direct_creates": []}
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        home = Home(str(Path(tmp) / "home"), credential="bench")
        client_for(home, emulator.config, emulator.base_url).close()
        settings = home.settings()
        steps, each, creates = (load_flow(_steps_flow(STEPS)), load_flow(EACH_FLOW), load_flow(CREATE_FLOW))
        from exactmate.actions import create_time_transactions, open_connection

        with FlowEngine(settings) as engine:
            for round_ in range(rounds):
                started = time.perf_counter()
                engine.wait(engine.start(steps, {"inputs": {}}).run_id)
                out["steps"].append((time.perf_counter() - started) / STEPS * 1000)
                started = time.perf_counter()
                engine.wait(
                    engine.start(each, {"inputs": {}, "rows": [{"n": n} for n in range(ITEMS)]}).run_id
                )
                out["each"].append((time.perf_counter() - started) / ITEMS * 1000)

                rows = _entries(settings, round_)
                started = time.perf_counter()
                result = engine.wait(engine.start(creates, {"inputs": {}, "rows": rows}).run_id)
                out["flow_creates"].append(time.perf_counter() - started)
                assert result["outputs"]["book"]["created"] == ITEMS, result["outputs"]["book"]

                direct = [{**r, "Notes": r["Notes"] + " direct"} for r in rows]
                started = time.perf_counter()
                with open_connection("bench", settings=settings) as conn:
                    booked = create_time_transactions(conn, direct)
                out["direct_creates"].append(time.perf_counter() - started)
                assert len(booked.created) == ITEMS
    return out


def report(figures: dict[str, list[float]], rounds: int) -> str:
    med = {k: statistics.median(v) for k, v in figures.items()}
    return "\n".join(
        [
            f"Command: `{command()}`",
            f"Machine: {machine()}",
            "",
            f"Medians of {rounds} rounds, one process, SQLite system database, no rate limits.",
            "",
            "| measurement | figure | aim |",
            "| --- | ---: | --- |",
            f"| {STEPS} `log` steps, per step (each a DBOS step) | {med['steps']:.2f} ms | < 5 ms |",
            f"| one `log` step over {ITEMS:,} items, per item | {med['each']:.3f} ms | |",
            f"| {ITEMS:,} creates through a flow step with `for_each` | {med['flow_creates']:.2f} s | |",
            f"| the same through `create_time_transactions` directly | {med['direct_creates']:.2f} s | |",
            f"| flow / direct | {med['flow_creates'] / med['direct_creates']:.2f} | |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(report(run(args.rounds), args.rounds))


if __name__ == "__main__":
    main()
