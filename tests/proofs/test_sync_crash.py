"""``kill -9`` of a sync at random moments of a first load, each followed by another run: the table
ends equal to Exact's records, with no gap and no duplicate, and a killed run's lease never blocks
the next one (its process is gone, so its lease is taken over at once)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from exactmate.actions import open_connection
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from exactmate.sync import sync_endpoints
from tests.proofs.harness import Home, connect_to

ENTRIES = 60_000  # six commits: a run's pages go in transactions of up to COMMIT_ROWS rows
KILLS = 6
PATH = "project/TimeTransactions"


def load(home: Home, target: str, division: int) -> None:
    """The child: one sync run (killed from outside, or run to its end)."""
    with open_connection(home.credential, settings=home.settings()) as conn:
        sync_endpoints(conn, [PATH], target, division=division)


def stored(target: str) -> tuple[int, int]:
    """Rows and distinct IDs in the table so far (0, 0 before it exists)."""
    engine = create_engine(target)
    query = text('SELECT count(*), count(DISTINCT "ID") FROM project_timetransactions')
    try:
        with engine.connect() as db:
            rows, distinct = db.execute(query).one()
            return int(rows), int(distinct)
    except Exception:  # the table or the file does not exist yet
        return 0, 0
    finally:
        engine.dispose()


def test_a_load_killed_six_times_ends_with_every_entry_once(tmp_path: Path) -> None:
    limits = {"minutely_limit": 100_000, "daily_limit": 1_000_000}
    config = EmulatorConfig(port=0, records=ENTRIES, divisions=1, latency_ms=30.0, **limits)
    rng = random.Random(20261203)
    target = f"sqlite:///{tmp_path / 'exact.db'}"
    context = multiprocessing.get_context("spawn")
    with BackgroundServer(config) as server:
        home = Home(str(tmp_path / "home"))
        connect_to(home, config, server.base_url)
        division = config.accessible_divisions[0]
        kills = 0
        for _ in range(KILLS):
            before = stored(target)[0]
            if before >= ENTRIES:
                break
            child = context.Process(target=load, args=(home, target, division))
            child.start()
            threshold = before + 1  # the run's first commit (of one page or several), then a random moment
            deadline = time.monotonic() + 120
            while stored(target)[0] < threshold and child.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.random() * 0.5)  # somewhere inside a later page's call or write, or a commit
            if child.is_alive():
                os.kill(child.pid or 0, signal.SIGKILL)
                kills += 1
            child.join(timeout=30)
        final = context.Process(target=load, args=(home, target, division))
        final.start()
        final.join(timeout=180)
        assert final.exitcode == 0
        with open_connection(home.credential, settings=home.settings()) as conn:
            expected = {r["ID"] for r in conn.client.resource(PATH, division).list(select=["ID"])}
    rows, distinct = stored(target)
    assert kills >= 3  # the proof is about runs that were killed
    assert rows == distinct == len(expected) == ENTRIES  # no duplicate, no gap
    engine = create_engine(target)
    with engine.connect() as db:
        ids = {row[0] for row in db.execute(text('SELECT "ID" FROM project_timetransactions'))}
    engine.dispose()
    assert ids == expected
