"""``exactmate audit list|show|restore`` and ``exactmate journal list`` against a running emulator."""

from __future__ import annotations

import csv
import io
import json
import shlex
from pathlib import Path

import pytest

from exactmate.cli import session
from tests.cli.conftest import D1, Emu, run
from tests.cli.test_record_commands import TT, new_entry
from tests.cli.test_time_commands import write_csv


def deleted_entry(emu: Emu, notes: str) -> tuple[str, int]:
    """A time transaction created and deleted with --yes: its ID and the audit entry of the delete."""
    record_id = new_entry(emu, notes)
    gone = run("delete", TT, record_id, "--yes", "-d", str(D1))
    assert gone.exit_code == 0, gone.stderr
    [entry] = json.loads(run("audit", "list", "--key", record_id, "-f", "json").stdout)
    assert f"audit log entry {entry['id']}" in gone.stdout
    return record_id, int(entry["id"])


def test_list_and_show_a_delete_with_its_snapshot(emu: Emu) -> None:
    record_id, entry_id = deleted_entry(emu, "listed delete")
    table = run("audit", "list")
    assert table.exit_code == 0 and record_id in table.stdout and "delete" in table.stdout
    assert TT in table.stdout and "emu" in table.stdout
    filtered = run("audit", "list", "--action", "delete", "--endpoint", TT.lower(), "-f", "json")
    [row] = json.loads(filtered.stdout)
    assert row["id"] == entry_id and row["key"] == record_id and row["outcome"] == "deleted"
    assert row["before"]["Notes"] == "listed delete" and row["after"] is None
    assert row["division"] == D1 and row["credential"] == "emu" and "T" in row["when"]
    assert json.loads(run("audit", "list", "--action", "update", "-f", "json").stdout) == []
    assert json.loads(run("audit", "list", "--credential", "other", "-f", "json").stdout) == []
    as_csv = list(csv.DictReader(io.StringIO(run("audit", "list", "-f", "csv").stdout)))
    assert as_csv[0]["key"] == record_id and "before" not in as_csv[0]

    shown = run("audit", "show", str(entry_id))
    assert shown.exit_code == 0
    expected = ("listed delete", "Quantity", record_id, str(D1), "deleted", "Before", "After: (no record)")
    for fragment in expected:
        assert fragment in shown.stdout
    assert f"exactmate audit restore {entry_id}" in shown.stdout
    as_json = json.loads(run("audit", "show", str(entry_id), "-f", "json").stdout)
    assert as_json["before"]["Notes"] == "listed delete" and as_json["action"] == "delete"


def test_restore_recreates_the_record_once(emu: Emu) -> None:
    _record_id, entry_id = deleted_entry(emu, "bring me back")
    calls = emu.rest_calls()
    dry = run("audit", "restore", str(entry_id), "--dry-run")
    assert dry.exit_code == 0 and f"POST {emu.base_url}/api/v1/{D1}/{TT}" in dry.stdout
    assert '"Notes": "bring me back"' in dry.stdout and '"ID"' not in dry.stdout
    assert '"Created"' not in dry.stdout  # read-only fields are left out
    assert emu.rest_calls() == calls

    done = run("audit", "restore", str(entry_id), "--yes", "-f", "json")
    assert done.exit_code == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["restored"] is True and payload["entry"] == entry_id
    new_id = payload["ID"]
    again = json.loads(run("get", TT, new_id, "-d", str(D1), "-f", "json").stdout)
    assert again["Notes"] == "bring me back" and again["Quantity"] == 1

    [restore] = json.loads(run("audit", "list", "--action", "restore", "-f", "json").stdout)
    assert restore["id"] == payload["audit_id"] and restore["key"] == new_id
    assert restore["outcome"] == f"restored entry {entry_id}" and restore["after"]["Notes"] == "bring me back"

    calls = emu.rest_calls()
    twice = run("audit", "restore", str(entry_id), "--yes")
    assert twice.exit_code == 3 and "restored already" in twice.stderr and new_id in twice.stderr
    assert emu.rest_calls() == calls


def test_restore_asks_and_is_refused_where_nobody_can_answer(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record_id, entry_id = deleted_entry(emu, "ask first")
    calls = emu.rest_calls()
    refused = run("audit", "restore", str(entry_id))
    assert refused.exit_code == 3 and "nobody at a terminal" in refused.stderr
    assert f"exactmate audit restore {entry_id} --yes" in refused.stderr
    assert emu.rest_calls() == calls
    monkeypatch.setattr(session, "someone_can_answer", lambda: True)
    kept = run("audit", "restore", str(entry_id), input="n\n")
    assert kept.exit_code == 1 and "Not restored" in kept.stderr and "ask first" in kept.stdout
    assert emu.rest_calls() == calls
    done = run("audit", "restore", str(entry_id), input="y\n")
    assert done.exit_code == 0 and f"Restored entry {entry_id} as {TT}" in done.stdout


def test_an_update_is_not_restored_but_the_undo_is_named(emu: Emu) -> None:
    record_id = new_entry(emu, "old notes")
    assert run("time", "update", record_id, "--set", "Notes=new notes", "-d", str(D1)).exit_code == 0
    [entry] = json.loads(run("audit", "list", "--action", "update", "-f", "json").stdout)
    assert entry["changes"] == {"Notes": {"before": "old notes", "after": "new notes"}}
    shown = run("audit", "show", str(entry["id"]))
    assert "Changed fields" in shown.stdout and "old notes" in shown.stdout and "new notes" in shown.stdout
    calls = emu.rest_calls()
    refused = run("audit", "restore", str(entry["id"]), "--yes")
    assert refused.exit_code == 3 and "is an update" in refused.stderr
    undo = f"exactmate time update {record_id} --division {D1} --set 'Notes=old notes'"
    assert undo in refused.stderr
    assert emu.rest_calls() == calls
    pasted = shlex.split(undo)[1:]  # the hint works when pasted
    assert run(*pasted).exit_code == 0
    assert json.loads(run("get", TT, record_id, "-d", str(D1), "-f", "json").stdout)["Notes"] == "old notes"


def test_unknown_entries_are_a_validation_error_with_a_pasteable_hint(emu: Emu) -> None:
    for args in (("show", "999"), ("restore", "999", "--yes")):
        missing = run("audit", *args)
        assert missing.exit_code == 3
        assert "no entry 999" in missing.stderr and "exactmate audit list" in missing.stderr
    assert run("audit", "list", "--action", "create").exit_code == 3
    assert run("audit", "list", "--limit", "0").exit_code == 2  # usage: refused by the option itself


def test_journal_list_shows_the_created_rows(emu: Emu, tmp_path: Path) -> None:
    assert run("journal", "list").stdout.strip() == "(no records)"
    path = write_csv(emu, tmp_path / "hours.csv", "journal a", "journal b")
    created = run("time", "create", "--file", str(path), "--format", "json", "--division", str(D1))
    ids = set(json.loads(created.stdout)["created_ids"].values())
    rows = json.loads(run("journal", "list", "-f", "json").stdout)
    assert {r["record_key"] for r in rows} == ids and {r["state"] for r in rows} == {"created"}
    assert {r["division"] for r in rows} == {D1} and all(r["credential"] == "emu" for r in rows)
    assert all(r["source"].startswith("entries@") for r in rows)
    table = run("journal", "list", "--source", "entries", "--state", "created", "--credential", "EMU")
    assert table.exit_code == 0 and all(i in table.stdout for i in ids) and "created" in table.stdout
    assert run("journal", "list", "--state", "failed").stdout.strip() == "(no records)"
    assert run("journal", "list", "--source", "flow").stdout.strip() == "(no records)"
    assert len(json.loads(run("journal", "list", "--limit", "1", "-f", "json").stdout)) == 1
    bad = run("journal", "list", "--state", "done")
    assert bad.exit_code == 3 and "pending, created, failed" in bad.stderr
