"""Two, then three processes running the same 200-row file at once book every row exactly once, with
the store on SQLite and on PostgreSQL.

A cron job that overlaps its previous run, a second terminal, two workers: each process opens the
vault itself, reads the file and books through ``create_time_transactions``, and all of them start
together. The create journal's claim is what keeps them apart: exactly one process sends each row,
the others report it as booked earlier or pending (another run is booking it).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import traceback
from pathlib import Path
from typing import Any

import pytest

from exactmate.actions import create_time_transactions, open_connection
from exactmate.actions.sources import read_entries
from exactmate.cli.time import create_exit_code
from exactmate.client import ExactClient
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from tests.proofs.harness import Home, connect_to

ROWS = 200


def book_file(home: Home, path: str, division: int, barrier: Any, results: Any) -> None:
    """One process: open the vault, wait for the others, book the file; report the statuses."""
    try:
        with open_connection(home.credential, settings=home.settings()) as conn:
            entries = read_entries(path)
            barrier.wait(timeout=120)
            result = create_time_transactions(conn, entries, division=division)
            statuses = [o.status for o in result.outcomes] + [f"exit {create_exit_code(result)}"]
            results.put((os.getpid(), statuses, None))
    except BaseException as exc:  # the parent must never wait for a dead child
        results.put((os.getpid(), [], "".join(traceback.format_exception(exc))[-1500:]))


def run_together(home: Home, path: Path, division: int, processes: int) -> list[list[str]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [
        context.Process(target=book_file, args=(home, str(path), division, barrier, results))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    reports: list[list[str]] = []
    try:
        for _ in children:
            try:
                _, statuses, failure = results.get(timeout=180)
            except queue.Empty:
                raise AssertionError(f"only {len(reports)} of {processes} runs reported") from None
            assert failure is None, failure
            reports.append(statuses)
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    return reports


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("processes", [2, 3])
def test_concurrent_runs_of_one_file_book_each_row_once(
    tmp_path: Path, processes: int, database: str, request: pytest.FixtureRequest
) -> None:
    config = EmulatorConfig(port=0, records=30, divisions=1, minutely_limit=100_000, daily_limit=100_000)
    division = config.accessible_divisions[0]
    db_url = request.getfixturevalue("pg_database") if database == "postgresql" else None
    home = Home(str(tmp_path / "home"), db_url=db_url)
    with BackgroundServer(config) as server:
        connect_to(home, config, server.base_url)
        with ExactClient.from_credential(home.credential, settings=home.settings()) as client:
            items = client.resource("logistics/Items", division).list(filter={"IsTime": 1}, top=1)
            item = next(iter(items))["ID"]
            project = next(iter(client.resource("project/Projects", division).list(top=1)))["ID"]
            day = "2026-06-0{}".format
            lines = [f"{item},{project},1.5,{day(1 + n % 5)},overlap {processes}-{n}" for n in range(ROWS)]
            path = tmp_path / "hours.csv"
            path.write_text("Item,Project,Quantity,Date,Notes\n" + "\n".join(lines) + "\n", encoding="utf-8")

            reports = run_together(home, path, division, processes)

            hours = client.resource("project/TimeTransactions", division)
            notes = [str(r["Notes"]) for r in hours.list(select=["Notes"])]
            booked = [n for n in notes if n.startswith("overlap ")]
    assert sorted(booked) == sorted(f"overlap {processes}-{n}" for n in range(ROWS))  # each once
    sent = [s for statuses in reports for s in statuses if s == "created"]
    assert len(sent) == ROWS
    for statuses in reports:  # each run's exit code tells the truth: 13 while another run books rows
        *rows, code = statuses
        assert set(rows) <= {"created", "skipped", "pending"}
        assert code == ("exit 13" if "pending" in rows else "exit 0")
