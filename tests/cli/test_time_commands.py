"""``exactmate time create`` and ``exactmate time update`` against a running emulator."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import D1, D2, Emu, first_id, run


def booking(emu: Emu, notes: str) -> list[str]:
    item = first_id(emu, "logistics/Items", IsTime=1)
    project = first_id(emu, "project/Projects")
    return [
        "--set",
        f"Item={item}",
        "--set",
        f"Project={project}",
        "--set",
        "Quantity=7,5",
        "--set",
        "Date=2026-03-02",
        "--set",
        f"Notes={notes}",
    ]


def write_csv(emu: Emu, path: Path, *notes: str) -> Path:
    item = first_id(emu, "logistics/Items", IsTime=1)
    project = first_id(emu, "project/Projects")
    lines = ["Item,Project,Quantity,Date,Notes", *(f"{item},{project},2,2026-03-03,{n}" for n in notes)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_create_one_entry_from_set(emu: Emu) -> None:
    result = run("time", "create", *booking(emu, "from the command line"), "--division", str(D1))
    assert result.exit_code == 0, result.stderr
    assert "Created 1." in result.stdout


def test_create_reports_every_bad_value_at_once_and_costs_no_call(emu: Emu) -> None:
    calls = emu.rest_calls()
    result = run(
        "time",
        "create",
        "--set",
        "Quantity=seven",
        "--set",
        "Notez=x",
        "--set",
        "HourStatus=20",
        "--set",
        "AccountName=A",
        "--division",
        str(D1),
    )
    assert result.exit_code == 3
    for fragment in (
        "row 1: Quantity (Double): 'seven' is not a number",
        "row 1: Notez: project/TimeTransactions has no such field. Did you mean: Notes?",
        "row 1: HourStatus cannot be written as 20",
        "row 1: AccountName is read-only",
        "row 1: Item is mandatory",
        "row 1: one of Account, Project or Subscription is required",
    ):
        assert fragment in result.stderr
    assert emu.rest_calls() == calls


def test_malformed_set_and_conflicting_inputs(emu: Emu, tmp_path: Path) -> None:
    path = write_csv(emu, tmp_path / "a.csv", "x")
    calls = emu.rest_calls()
    assert run("time", "create", "--set", "Quantity").exit_code == 3
    bad = run("time", "create", "--set", "Notes=x", "--file", str(path))
    assert bad.exit_code == 3 and "either with --set or in a --file" in bad.stderr
    assert run("time", "create").exit_code == 3
    nofile = run("time", "create", "--file", str(tmp_path / "missing.csv"))
    assert nofile.exit_code == 3 and "No such file" in nofile.stderr
    assert run("time", "create", "--set", "Notes=x", "--division", "nope").exit_code == 3
    assert emu.rest_calls() == calls


def test_create_from_a_file_twice_books_once(emu: Emu, tmp_path: Path) -> None:
    path = write_csv(emu, tmp_path / "hours.csv", "file a", "file b")
    first = run("time", "create", "--file", str(path), "--format", "json", "--division", str(D1))
    assert first.exit_code == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["created"] == 2 and len(summary["created_ids"]) == 2
    again = run("time", "create", "--file", str(path), "--format", "json", "--division", str(D1))
    assert json.loads(again.stdout)["skipped"] == 2 and json.loads(again.stdout)["created"] == 0


def test_reference_fields_by_code_and_name_from_set_and_from_a_file(emu: Emu, tmp_path: Path) -> None:
    one = run(
        "time", "create", "--set", "Project=code:PRJ001", "--set", "Item=code:CONSULT",
        "--set", "Employee=name:Dana Demo", "--set", "Quantity=1,5", "-d", str(D1), "-f", "json",
    )  # fmt: skip
    assert one.exit_code == 0, one.stderr
    [record_id] = json.loads(one.stdout)["created_ids"].values()
    booked = json.loads(run("get", "project/TimeTransactions", record_id, "-d", str(D1), "-f", "json").stdout)
    assert booked["Project"] == first_id(emu, "project/Projects", Code="PRJ001")
    path = tmp_path / "hours.csv"
    path.write_text("Project;Item;Quantity;Notes\ncode:PRJ002;code:CONSULT;2;by code\n", encoding="utf-8")
    from_file = run("time", "create", "--file", str(path), "-d", str(D1), "-f", "json")
    assert from_file.exit_code == 0 and json.loads(from_file.stdout)["created"] == 1
    calls = emu.rest_calls()
    typo = run(
        "time", "create", "--set", "Project=code:PRJ9999", "--set", "Item=code:CONSULT",
        "--set", "Quantity=1", "-d", str(D1),
    )  # fmt: skip
    assert typo.exit_code == 3 and "no record of project/Projects" in typo.stderr
    assert "exactmate get project/Projects --select ID,Code,Description --division 100001" in typo.stderr
    assert emu.rest_calls() - calls == 3  # two lookups and the candidates: no create


def test_create_outcomes_as_csv_and_ndjson(emu: Emu, tmp_path: Path) -> None:
    path = write_csv(emu, tmp_path / "hours.csv", "csv a", "csv b")
    as_csv = run("time", "create", "--file", str(path), "--format", "csv", "--division", str(D1))
    assert as_csv.exit_code == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [list(row) for row in rows[:1]] == [["row", "division", "status", "ID", "message"]]
    assert [row["status"] for row in rows] == ["created", "created"] and all(row["ID"] for row in rows)
    again = run("time", "create", "--file", str(path), "--format", "ndjson", "--division", str(D1))
    lines = [json.loads(line) for line in again.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["skipped", "skipped"]
    assert {line["ID"] for line in lines} == {row["ID"] for row in rows}


def test_create_dry_run_prints_the_request_and_sends_nothing(emu: Emu) -> None:
    args = booking(emu, "dry")
    calls = emu.rest_calls()
    result = run("time", "create", *args, "--division", str(D1), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert f"POST {emu.base_url}/api/v1/{D1}/project/TimeTransactions" in result.stdout
    assert '"Quantity": 7.5' in result.stdout and '"Date": "2026-03-02T00:00:00"' in result.stdout
    assert "nothing was sent" in result.stdout
    assert emu.rest_calls() == calls


def test_failed_rows_set_the_exit_code_of_their_cause(emu: Emu) -> None:
    item = first_id(emu, "logistics/Items", D2, IsTime=1)
    project = first_id(emu, "project/Projects", D2)
    result = run(
        "time",
        "create",
        "--set",
        f"Item={item}",
        "--set",
        f"Project={project}",
        "--set",
        "Quantity=1",
        "--division",
        str(emu.config.forbidden_division),
    )
    assert result.exit_code == 6  # 403: no access to that division
    assert "failed" in result.stdout


def test_update_shows_before_and_after(emu: Emu) -> None:
    created = run("time", "create", *booking(emu, "to update"), "--division", str(D1), "--format", "json")
    record_id = next(iter(json.loads(created.stdout)["created_ids"].values()))
    result = run("time", "update", record_id, "--set", "Quantity=3", "--set", "Notes=updated", "-d", str(D1))
    assert result.exit_code == 0, result.stderr
    assert (
        "Updated time transaction" in result.stdout and "7.5" in result.stdout and "updated" in result.stdout
    )
    as_json = run("time", "update", record_id, "--set", "Notes=again", "-d", str(D1), "--format", "json")
    payload = json.loads(as_json.stdout)
    assert payload["changes"]["Notes"] == {"before": "updated", "after": "again"} and payload["updated"]


def test_update_refuses_a_final_entry_and_bad_input(emu: Emu) -> None:
    final = first_id(emu, "project/TimeTransactions", HourStatus=20)
    calls = emu.rest_calls()
    refused = run("time", "update", final, "--set", "Notes=x", "--division", str(D1))
    assert refused.exit_code == 3 and "is final" in refused.stderr and "TimeCorrections" in refused.stderr
    assert emu.rest_calls() == calls + 1  # the one GET
    calls = emu.rest_calls()
    assert run("time", "update", "not-a-guid", "--set", "Notes=x", "-d", str(D1)).exit_code == 3
    assert run("time", "update", final, "-d", str(D1)).exit_code == 3
    assert run("time", "update", final, "--set", "HourStatus=14", "-d", str(D1)).exit_code == 3
    assert emu.rest_calls() == calls


def test_update_dry_run(emu: Emu) -> None:
    created = run("time", "create", *booking(emu, "dry update"), "-d", str(D1), "--format", "json")
    record_id = next(iter(json.loads(created.stdout)["created_ids"].values()))
    result = run("time", "update", record_id, "--set", "Notes=new", "-d", str(D1), "--dry-run")
    assert result.exit_code == 0
    assert f"PUT {emu.base_url}/api/v1/{D1}/project/TimeTransactions(guid'{record_id}')" in result.stdout
    assert '"Notes": "new"' in result.stdout and "Would update" in result.stdout


def test_a_dutch_excel_file_edited_after_booking_reports_the_change_and_the_hint_works(
    emu: Emu, tmp_path: Path
) -> None:
    item = first_id(emu, "logistics/Items", IsTime=1)
    project = first_id(emu, "project/Projects")
    rows = [f"{item};{project};7,5;2026-03-04;excel {n}" for n in (1, 2, 3)]
    path = tmp_path / "uren.csv"
    path.write_bytes(("Item;Project;Quantity;Date;Notes\r\n" + "\r\n".join(rows) + "\r\n").encode("cp1252"))
    args = ("time", "create", "--file", str(path), "--format", "json", "--division", str(D1))
    first = run(*args)
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["created"] == 3
    path.write_bytes(path.read_bytes().replace(b"7,5;2026-03-04;excel 2", b"4,5;2026-03-04;excel 2"))
    edited = run(*args)
    assert edited.exit_code == 13, edited.stderr  # incomplete: one entry changed since it was booked
    summary = json.loads(edited.stdout)
    assert (summary["created"], summary["skipped"], summary["changed"]) == (0, 2, 1)
    message = summary["failures"]["2"]
    command = message.split("Update it with: ", 1)[1].split(", or book it", 1)[0]
    assert command.startswith("exactmate time update ") and "--set Quantity=4.5" in command
    pasted = run(*shlex.split(command)[1:])
    assert pasted.exit_code == 0, pasted.stderr
    rerun = run(*args)
    assert rerun.exit_code == 0, rerun.stderr
    assert json.loads(rerun.stdout)["skipped"] == 3


def test_the_separator_can_be_given(emu: Emu, tmp_path: Path) -> None:
    path = tmp_path / "hours.csv"
    path.write_text("Notes;Quantity\nx,y;1\n", encoding="utf-8")
    calls = emu.rest_calls()
    given = run("time", "create", "--file", str(path), "--delimiter", "tab", "-d", str(D1))
    assert given.exit_code == 3
    assert "Notes;Quantity: project/TimeTransactions has no such field" in given.stderr
    detected = run("time", "create", "--file", str(path), "-d", str(D1))
    assert detected.exit_code == 3 and "no such field" not in detected.stderr
    assert "Item is mandatory" in detected.stderr
    assert emu.rest_calls() == calls


def test_ctrl_c_stops_sending_prints_the_summary_and_a_rerun_books_the_rest(
    emu: Emu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contextlib import contextmanager

    from exactmate.cli import time as time_command

    path = write_csv(emu, tmp_path / "hours.csv", *(f"interrupted {n}" for n in range(120)))

    @contextmanager
    def keypress_after(description: str, total: int | None, *, enabled: bool) -> Iterator[Any]:
        done = [0]

        def advance(n: int) -> None:
            done[0] += n
            if done[0] == 20:
                os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C

        yield advance

    original = time_command.progress
    monkeypatch.setattr(time_command, "progress", keypress_after)
    stopped = run("time", "create", "--file", str(path), "--division", str(D1), "--format", "json")
    assert stopped.exit_code == 130, stopped.stderr
    assert "stopping: no new entries are sent" in stopped.stderr
    summary = json.loads(stopped.stdout)
    assert summary["stopped"] > 0 and summary["created"] + summary["stopped"] == 120
    assert summary["created"] < 30  # stopped within a few calls of the keypress
    monkeypatch.setattr(time_command, "progress", original)
    rerun = run("time", "create", "--file", str(path), "--division", str(D1), "--format", "json")
    assert rerun.exit_code == 0, rerun.stderr
    again = json.loads(rerun.stdout)
    assert (again["created"], again["skipped"]) == (summary["stopped"], summary["created"])
