"""``exactmate flow`` as a user runs it: validate (exit 3, no call), run with file and value inputs,
the history, a failed run's exit code and the command that goes on from it, and the examples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from exactmate.flows import load_flow
from tests.cli.conftest import Emu, run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flows"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_a_valid_flow(example: Path) -> None:
    flow = load_flow(example.read_text(encoding="utf-8"), source=example.name)
    assert flow.name == example.stem


def test_validate_refuses_a_bad_file_with_its_lines_and_no_call(emu: Emu, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ncredential: emu\ntrigger: {manual: {}}\nsteps:\n"
        "  - {id: a, action: send_email}\n  - {id: b, action: list_or_get, with: {endpoint: crm/Acounts}}\n",
        encoding="utf-8",
    )
    calls = emu.rest_calls()
    result = run("flow", "validate", str(bad))
    assert result.exit_code == 3
    assert "line 5: action: 'send_email' is not one of" in result.stderr
    assert "line 6: Unknown endpoint 'crm/Acounts'. Did you mean: crm/Accounts," in result.stderr
    missing = tmp_path / "missing.yaml"
    missing.write_text(
        "name: m\ncredential: Nobody\ntrigger: {manual: {}}\nsteps: [{id: a, action: test_connection}]\n"
    )
    result = run("flow", "validate", str(missing))
    assert result.exit_code == 3 and "No credential named 'Nobody'" in result.stderr
    assert "exactmate vault list" in result.stderr
    assert emu.rest_calls() == calls


def test_the_weekly_hours_example_runs_books_once_and_shows_its_history(emu: Emu, tmp_path: Path) -> None:
    flow = tmp_path / "weekly-hours.yaml"
    shutil.copy(EXAMPLES / "weekly-hours.yaml", flow)
    week = str(EXAMPLES / "week.csv")
    args = [
        "flow",
        "run",
        str(flow),
        "--input-file",
        f"hours={week}",
        "--input",
        "project=PRJ001",
        "-f",
        "json",
    ]
    first = run(*args)
    assert first.exit_code == 0, first.stderr
    detail = json.loads(first.stdout)
    assert detail["status"] == "succeeded" and detail["flow"] == "weekly-hours"
    book = {s["id"]: s for s in detail["steps"]}["book"]
    assert book["output"]["created"] == 4 and book["items"]["done"] == 4
    again = run(*args)
    assert again.exit_code == 0, (again.stderr, again.exception)
    assert json.loads(again.stdout)["steps"][1]["output"]["skipped"] == 4
    runs = run("flow", "runs", "weekly-hours", "-f", "json")
    listed = json.loads(runs.stdout)
    assert [r["status"] for r in listed] == ["succeeded", "succeeded"]
    shown = run("flow", "show", listed[0]["run"])
    assert shown.exit_code == 0 and "0 created, 4 booked before, 0 failed" in shown.stdout
    table = run("flow", "runs")
    assert "weekly-hours" in table.stdout and "manual" in table.stdout


def test_a_failed_run_exits_1_and_names_the_rerun_command(emu: Emu, tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(
        "name: fails\ncredential: emu\ndivision: 100001\ntrigger: {manual: {}}\nsteps:\n"
        "  - {id: p, action: list_or_get, with: {endpoint: project/Projects, filter: \"Code eq 'NONE'\"}}\n"
        "  - {id: q, action: log, with: {message: '{{ steps.p.records[0].Code }}'}}\n",
        encoding="utf-8",
    )
    result = run("flow", "run", str(flow))
    assert result.exit_code == 1
    run_id = result.stdout.split("Run ", 1)[1].split(":", 3)
    assert "exactmate flow rerun fails:manual:" in result.stderr
    failed = json.loads(run("flow", "runs", "fails", "--status", "failed", "-f", "json").stdout)
    assert len(failed) == 1 and run_id
    again = run("flow", "rerun", failed[0]["run"])
    assert again.exit_code == 1 and "fails:rerun:" in again.stderr  # the same cause fails again
    ended = run("flow", "cancel", failed[0]["run"])
    assert ended.exit_code == 3 and "has ended (failed)" in ended.stderr


def test_inputs_are_checked_before_anything_runs(emu: Emu, tmp_path: Path) -> None:
    flow = tmp_path / "weekly-hours.yaml"
    shutil.copy(EXAMPLES / "weekly-hours.yaml", flow)
    calls = emu.rest_calls()
    result = run("flow", "run", str(flow), "--input", "hours=week.csv", "--input", "colour=red")
    assert result.exit_code == 3
    assert "input 'hours' is a file: give it with --input-file hours=…" in result.stderr
    assert "input 'colour' is not one the flow declares" in result.stderr
    assert "input 'project' is missing: --input project=…" in result.stderr
    assert emu.rest_calls() == calls


def test_a_dry_run_sends_no_write(emu: Emu, tmp_path: Path) -> None:
    flow = tmp_path / "weekly-hours.yaml"
    shutil.copy(EXAMPLES / "weekly-hours.yaml", flow)
    before = emu.stats()["by_endpoint"].get("project/TimeTransactions", {})
    result = run(
        "flow",
        "run",
        str(flow),
        "--dry-run",
        "--input-file",
        f"hours={EXAMPLES / 'week.csv'}",
        "--input",
        "project=PRJ001",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    book = json.loads(result.stdout)[1]
    assert book["output"]["dry_run"] is True and len(book["output"]["requests"]) == 4
    assert emu.stats()["by_endpoint"].get("project/TimeTransactions", {}).get("POST", 0) == before.get(
        "POST", 0
    )
    assert run("flow", "runs", "-f", "json").stdout.strip() == "[]"  # a dry run leaves no run behind


def test_runs_while_the_first_engine_is_still_creating_its_tables_lists_none(tmp_path: Path) -> None:
    """A flow engine's first start makes ``flows.sqlite`` before DBOS's tables: a listing then (the
    web's Flow runs page, ``flow runs``) shows no runs rather than a database error."""
    import sqlite3

    from exactmate.config import Settings
    from exactmate.flows.history import RunHistory

    settings = Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(settings.home / "flows.sqlite").close()
    assert RunHistory(settings).runs() == []
    listed = run("flow", "runs", "-f", "json")
    assert listed.exit_code == 0 and listed.stdout.strip() == "[]"
