"""``exactmate sync`` through the command line: the default database, the summary, a rerun that
reads only what changed, and bad input refused before any call."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import create_engine, text

from exactmate.config import Settings
from tests.cli.conftest import D1, Emu, connected, run


def test_sync_into_the_default_database_then_only_changes(emu: Emu) -> None:
    first = run("sync", "crm/Accounts", "project/TimeTransactions", "-d", str(D1), "-f", "json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["ok"] is True and report["target"].endswith("sync.db")
    inserted = {e["endpoint"]: e["inserted"] for e in report["endpoints"]}
    assert inserted == {"crm/Accounts": 60, "project/TimeTransactions": 60}
    database = Path(Settings.from_env().home) / "sync.db"
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as db:
        assert db.execute(text("SELECT count(*) FROM crm_accounts")).scalar() == 60
        assert db.execute(text("SELECT count(*) FROM project_timetransactions")).scalar() == 60
    engine.dispose()
    again = run("sync", "crm/Accounts", "project/TimeTransactions", "-d", str(D1))
    assert again.exit_code == 0 and "Synced into" in again.stdout and "crm_accounts" in again.stdout


def test_sync_refuses_what_it_cannot_sync_before_any_call(emu: Emu, tmp_path: Path) -> None:
    calls = emu.rest_calls()
    result = run("sync", "crm/Acounts", "read/project/HourTypes", "--to", f"sqlite:///{tmp_path}/x.db")
    assert result.exit_code == 3
    assert "Did you mean" in result.stderr and "neither a sync/ feed nor a Modified date" in result.stderr
    assert "exactmate endpoints sync/" in result.stderr
    assert emu.rest_calls() == calls


def test_the_plan_counts_a_first_load_and_reads_no_records(emu: Emu, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'mine.db'}"
    calls = emu.rest_calls()
    both = ("crm/Accounts", "project/TimeTransactions")
    first = run("sync", *both, "--to", target, "-d", str(D1), "--plan", "-f", "json")
    assert first.exit_code == 0, first.stderr
    plan = json.loads(first.stdout)
    feeds = {f["endpoint"]: f for f in plan["feeds"]}
    assert feeds["crm/Accounts"]["feed"] == "sync/CRM/Accounts" and feeds["crm/Accounts"]["records"] == 60
    assert feeds["project/TimeTransactions"]["feed"] == "sync/Project/TimeCostTransactions"
    assert all(f["first load"] and f["calls"] == 1 for f in feeds.values()) and plan["calls"] == 3
    assert emu.rest_calls() - calls == 3  # one $count each and one of the cost entries, no page of records
    assert not (tmp_path / "mine.db").exists()  # looking creates nothing
    assert run("sync", "crm/Accounts", "--to", target, "-d", str(D1)).exit_code == 0
    later_run = run("sync", "crm/Accounts", "--to", target, "-d", str(D1), "--plan", "-f", "json")
    later = json.loads(later_run.stdout)
    [feed] = later["feeds"]
    assert feed["first load"] is False and feed["cursor"] > 1 and feed["records"] is None
    table = run("sync", "crm/Accounts", "--to", target, "-d", str(D1), "--plan")
    assert "What a sync would read" in table.stdout and "calls in all" in table.stdout


def test_the_plan_of_time_entries_counts_the_cost_entries_their_feed_carries(
    feed_server: Emu, tmp_path: Path
) -> None:
    emu = connected(feed_server)
    target = f"sqlite:///{tmp_path / 'mine.db'}"
    plan = run("sync", "project/TimeTransactions", "--to", target, "-d", str(D1), "--plan", "-f", "json")
    assert plan.exit_code == 0, plan.stderr
    [feed] = json.loads(plan.stdout)["feeds"]
    assert feed["records"] == 950 and feed["calls"] == 2  # 950 time and 95 cost entries: 1,045 rows
    assert run("sync", "project/TimeTransactions", "--to", target, "-d", str(D1)).exit_code == 0
    assert sum(emu.stats()["by_endpoint"]["sync/project/timecosttransactions"].values()) == 2


def test_all_syncable_or_named_endpoints_not_both(emu: Emu, tmp_path: Path) -> None:
    both = run("sync", "crm/Accounts", "--all-syncable", "--to", f"sqlite:///{tmp_path}/x.db")
    assert both.exit_code == 3 and "not both" in both.stderr
    neither = run("sync", "--to", f"sqlite:///{tmp_path}/x.db")
    assert neither.exit_code == 3 and "exactmate sync crm/Accounts" in neither.stderr
    plan = run("sync", "--all-syncable", "--plan", "-d", str(D1), "-f", "json", "--to", f"sqlite:///{tmp_path}/x.db")
    assert plan.exit_code == 0, plan.stderr
    assert len(json.loads(plan.stdout)["feeds"]) >= 40


def test_a_terminal_sees_one_line_per_endpoint_and_division(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exactmate.cli import progress, session, sync

    shown = Progress(console=Console(file=io.StringIO()), disable=True)

    @contextmanager
    def recorded(*, enabled: bool) -> Iterator[progress.Bars]:
        assert enabled
        yield progress.Bars(shown)

    monkeypatch.setattr(session, "show_progress", lambda *a, **k: True)
    monkeypatch.setattr(sync, "part_bars", recorded)
    result = run("sync", "crm/Accounts", "project/TimeTransactions", "-d", str(D1), "-f", "json")
    assert result.exit_code == 0, result.stderr
    lines = {task.description: (task.completed, task.fields["calls"]) for task in shown.tasks}
    report = json.loads(result.stdout)["endpoints"]
    done = {
        f"{e['endpoint']}, division {D1}": (e["inserted"] + e["updated"] + e["deleted"], e["calls"])
        for e in report
    }
    assert lines == done
    assert lines[f"crm/Accounts, division {D1}"][0] == 60


def test_each_line_counts_its_own_records_and_the_rate_limit_note_goes_to_the_busy_one() -> None:
    from exactmate.cli.progress import Bars

    shown = Progress(console=Console(file=io.StringIO()), disable=True)
    bars = Bars(shown)
    bars.update("crm/Accounts, division 1", records=1000, calls=1)
    bars.update("crm/Accounts, division 2", records=400, calls=1)
    bars.update("crm/Accounts, division 1", records=1800, calls=2)
    bars.note("waiting for the rate limit, 12 s")
    first, second = shown.tasks
    assert (first.completed, first.fields["calls"]) == (1800, 2)
    assert (second.completed, second.fields["calls"]) == (400, 1)
    assert first.description == "crm/Accounts, division 1 [yellow](waiting for the rate limit, 12 s)[/]"
    assert second.description == "crm/Accounts, division 2"
    Bars(None).update("nothing shown", records=1, calls=1)  # no terminal: nothing to draw, no error
