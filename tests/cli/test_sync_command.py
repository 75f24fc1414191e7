"""``exactmate sync`` through the command line: the default database, the summary, a rerun that
reads only what changed, and bad input refused before any call."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text

from exactmate.config import Settings
from tests.cli.conftest import D1, Emu, run


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
    result = run("sync", "crm/Acounts", "project/CostTransactions", "--to", f"sqlite:///{tmp_path}/x.db")
    assert result.exit_code == 3
    assert "Did you mean" in result.stderr and "has no sync/ feed" in result.stderr
    assert "exactmate endpoints sync/" in result.stderr
    assert emu.rest_calls() == calls
