"""``exactmate get``, ``delete``, ``endpoints``, ``fields`` and ``call`` against a running emulator."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from exactmate.actions import audit
from exactmate.cli import session
from exactmate.config import Settings
from exactmate.store import Store
from tests.cli.conftest import D1, D2, Emu, first_id, run

TT = "project/TimeTransactions"
UUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def new_entry(emu: Emu, notes: str) -> str:
    item = first_id(emu, "logistics/Items", IsTime=1)
    project = first_id(emu, "project/Projects")
    result = run(
        "time",
        "create",
        "--set",
        f"Item={item}",
        "--set",
        f"Project={project}",
        "--set",
        "Quantity=1",
        "--set",
        f"Notes={notes}",
        "-d",
        str(D1),
        "--format",
        "json",
    )
    return str(next(iter(json.loads(result.stdout)["created_ids"].values())))


# -- get ---------------------------------------------------------------------------------------------


def test_get_lists_in_every_format(emu: Emu) -> None:
    table = run("get", "crm/Accounts", "--select", "ID,Code,Name", "--top", "3", "-d", str(D1))
    assert table.exit_code == 0 and "Code" in table.stdout and "Name" in table.stdout
    nd = run("get", "crm/Accounts", "--select", "ID,Name", "--top", "3", "-d", str(D1), "--format", "ndjson")
    lines = [json.loads(line) for line in nd.stdout.splitlines()]
    assert len(lines) == 3 and set(lines[0]) == {"ID", "Name"}
    as_json = run("get", "crm/Accounts", "--top", "2", "-d", str(D1), "-f", "json")
    assert len(json.loads(as_json.stdout)) == 2
    as_csv = run("get", "crm/Accounts", "--select", "Code,Name", "--top", "2", "-d", str(D1), "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 2 and list(rows[0]) == ["Code", "Name"]


def test_get_by_key_and_to_a_file(emu: Emu, tmp_path: Path) -> None:
    account = first_id(emu, "crm/Accounts")
    one = run("get", "crm/Accounts", account, "-d", str(D1), "-f", "json")
    assert one.exit_code == 0 and json.loads(one.stdout)["ID"] == account
    target = tmp_path / "accounts.ndjson"
    written = run("get", "crm/Accounts", "--all", "-d", str(D1), "-f", "ndjson", "--output", str(target))
    assert written.exit_code == 0 and written.stdout == ""
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 60 and len({r["ID"] for r in records}) == 60
    assert "Timestamp" not in records[0]
    calls = emu.rest_calls()
    again = run("get", "crm/Accounts", "--all", "-d", str(D1), "-f", "ndjson", "--output", str(target))
    assert again.exit_code == 3, again.stderr
    assert "exists already; nothing was read" in again.stderr and "--overwrite" in again.stderr
    assert emu.rest_calls() == calls and len(target.read_text().splitlines()) == 60  # untouched, no call
    fresh = ("-f", "ndjson", "-o", str(target), "--overwrite")
    replaced = run("get", "crm/Accounts", "--top", "2", "-d", str(D1), *fresh)
    assert replaced.exit_code == 0 and len(target.read_text().splitlines()) == 2
    assert not list(tmp_path.glob("*.partial"))  # no partial file left


def test_an_interrupted_export_leaves_no_half_file(tmp_path: Path) -> None:
    from exactmate.cli.output import destination

    target = tmp_path / "out.ndjson"
    target.write_text("the earlier export\n")
    with pytest.raises(KeyboardInterrupt), destination(target, overwrite=True) as out:
        out.write("half a record")
        raise KeyboardInterrupt
    assert target.read_text() == "the earlier export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.ndjson"]


def test_get_division_all_adds_the_division(emu: Emu) -> None:
    result = run(
        "get", "project/Projects", "--select", "Code", "--top", "2", "--division", "all", "-f", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["Division"] for r in rows] == [str(D1), str(D2)]  # --top 2 in all: one from each
    many = run("get", "project/Projects", "--top", "500", "--division", "all", "-f", "csv")
    divisions = [r["Division"] for r in csv.DictReader(io.StringIO(many.stdout))]
    assert divisions == sorted(divisions) and set(divisions) == {str(D1), str(D2)}
    count = len(divisions)
    limited = run("get", "project/Projects", "--top", str(count - 1), "--division", "all", "-f", "ndjson")
    assert len(limited.stdout.splitlines()) == count - 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("crm/Acounts",), "Did you mean: crm/Accounts"),
        (("crm/Accounts", "--select", "ID,Nmae"), "Did you mean: Name"),
        (("crm/Accounts", "--top", "5", "--all"), "give one of them"),
        (("crm/Accounts", "--top", "0"), "at least 1"),
        (("crm/Accounts", "12"), "Expected a GUID"),
        (("crm/Accounts", "--division", "-1"), "is not a division"),
        (("crm/Accounts", "--filter", "City eq Haarlem"), "a value needs quotes: City eq 'Haarlem'"),
        ((TT, "--filter", "Date ge '2026-11-20'"), "write Date ge datetime'2026-11-20'"),
        (("crm/Accounts", "--filter", "Name = 'x'"), "use eq"),
    ],
)
def test_bad_get_input_costs_no_call(emu: Emu, args: tuple[str, ...], fragment: str) -> None:
    calls = emu.rest_calls()
    result = run("get", *args)
    assert result.exit_code == 3 and fragment in result.stderr
    assert emu.rest_calls() == calls


def test_exacts_flag_fields_filter_with_true_or_1(emu: Emu) -> None:
    as_true = run("get", "logistics/Items", "--filter", "IsTime eq true", "--select", "ID", "-f", "json")
    as_one = run("get", "logistics/Items", "--filter", "IsTime eq 1", "--select", "ID", "-f", "json")
    assert as_true.exit_code == 0 and as_one.exit_code == 0
    assert json.loads(as_true.stdout) == json.loads(as_one.stdout) != []


def test_divisions_listed_once_are_checked_locally_after(emu: Emu) -> None:
    assert run("get", "crm/Accounts", "--division", "all", "--top", "1").exit_code == 0  # lists them
    calls = emu.rest_calls()
    for division in (str(emu.config.forbidden_division), "999"):
        refused = run("get", "crm/Accounts", "--division", division)
        assert refused.exit_code == 3 and f"it can access {D1} (" in refused.stderr
        assert "exactmate vault test emu" in refused.stderr
    deleting = run("delete", TT, UUID, "--yes", "--division", "999")
    assert deleting.exit_code == 3 and "not one credential 'emu' can access" in deleting.stderr
    assert emu.rest_calls() == calls


def test_a_forbidden_division_exits_with_its_code(emu: Emu) -> None:
    result = run("get", "crm/Accounts", "-d", str(emu.config.forbidden_division))
    assert result.exit_code == 6 and "NoDivisionAccess" in result.stderr


# -- delete ------------------------------------------------------------------------------------------


@pytest.fixture
def at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone can answer questions, as on a terminal (the runner's standard input is a buffer)."""
    monkeypatch.setattr(session, "someone_can_answer", lambda: True)


def test_delete_asks_and_a_no_keeps_the_record(emu: Emu, at_a_terminal: None) -> None:
    record_id = new_entry(emu, "ask me")
    kept = run("delete", TT, record_id, "-d", str(D1), input="n\n")
    assert kept.exit_code == 1 and "ask me" in kept.stdout and "Not deleted" in kept.stderr
    assert run("get", TT, record_id, "-d", str(D1)).exit_code == 0
    gone = run("delete", TT, record_id, "-d", str(D1), input="y\n")
    assert gone.exit_code == 0 and f"Deleted {TT} {record_id}" in gone.stdout
    assert run("get", TT, record_id, "-d", str(D1)).exit_code == 7


def test_a_delete_nobody_can_confirm_is_refused_before_any_call(emu: Emu) -> None:
    record_id = new_entry(emu, "nobody asked")
    calls = emu.rest_calls()
    for args in (("delete", TT, record_id), ("call", "DELETE", f"{TT}(guid'{record_id}')")):
        refused = run(*args, "-d", str(D1), input="y\n")
        assert refused.exit_code == 3 and "nobody at a terminal" in refused.stderr
        assert "--yes" in refused.stderr
    assert emu.rest_calls() == calls
    assert run("get", TT, record_id, "-d", str(D1)).exit_code == 0


def test_delete_yes_and_the_audit_snapshot(emu: Emu) -> None:
    record_id = new_entry(emu, "snapshot me")
    result = run("delete", TT, record_id, "--yes", "-d", str(D1), "-f", "json")
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["deleted"] is True and payload["record"]["Notes"] == "snapshot me"
    assert "snapshot me" in result.stderr  # the record is shown before it goes, off the JSON stream
    store = Store.from_settings(Settings.from_env())
    try:
        [row] = audit.entries(store, record_key=record_id)
    finally:
        store.close()
    assert row.action == "delete" and row.before is not None and row.before["Notes"] == "snapshot me"


def test_delete_dry_run_sends_no_delete(emu: Emu) -> None:
    record_id = new_entry(emu, "dry delete")
    result = run("delete", TT, record_id, "-d", str(D1), "--dry-run")
    assert result.exit_code == 0
    assert f"DELETE {emu.base_url}/api/v1/{D1}/{TT}(guid'{record_id}')" in result.stdout
    assert run("get", TT, record_id, "-d", str(D1)).exit_code == 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("crm/Acounts", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"), "Did you mean"),
        (("read/project/HourTypes", "1"), "does not support DELETE"),
        ((TT, "42"), "Expected a GUID"),
        (("system/Divisions", "x1"), "whole number"),
    ],
)
def test_bad_delete_input_costs_no_call(emu: Emu, args: tuple[str, ...], fragment: str) -> None:
    calls = emu.rest_calls()
    result = run("delete", *args, "--yes", "-d", str(D1))
    assert result.exit_code == 3 and fragment in result.stderr
    assert emu.rest_calls() == calls


# -- pickers and the custom call ---------------------------------------------------------------------


def test_endpoints_and_fields() -> None:
    endpoints = run("endpoints", "timetrans", "-f", "json")
    paths = {row["path"] for row in json.loads(endpoints.stdout)}
    assert "project/TimeTransactions" in paths
    table = run("endpoints", "project/TimeTransactions")
    assert "GET,POST,PUT,DELETE" in table.stdout and "guid" in table.stdout
    fields = run("fields", TT, "hour", "-f", "json")
    assert [row["name"] for row in json.loads(fields.stdout)] == ["HourStatus"]
    none = run("fields", TT, "quanity")
    assert none.exit_code == 0 and "Did you mean: Quantity" in none.stderr
    assert run("fields", "project/TimeTransaction").exit_code == 3


def test_call_reads_functions_and_dry_runs_writes(emu: Emu) -> None:
    hours = run("call", "GET", "read/project/HourTypes", "-d", str(D1))
    assert hours.exit_code == 0 and "ItemId" in hours.stdout
    project = first_id(emu, "project/Projects")
    calls = emu.rest_calls()
    dry = run(
        "call",
        "PUT",
        f"project/Projects(guid'{project}')",
        "--data",
        '{"Description": "new"}',
        "-d",
        str(D1),
        "--dry-run",
    )
    assert dry.exit_code == 0 and '"Description": "new"' in dry.stdout
    bad = run("call", "PUT", f"project/Projects(guid'{project}')", "--data", "{nope", "-d", str(D1))
    assert bad.exit_code == 3 and "not valid JSON" in bad.stderr
    assert run("call", "GET", "crm/Accounts", "--param", "oops", "-d", str(D1)).exit_code == 3
    assert emu.rest_calls() == calls


def test_call_takes_select_filter_and_top_like_get(emu: Emu) -> None:
    result = run(
        "call", "GET", "crm/Accounts", "--select", "ID,Name", "--filter", "City ne null", "--top", "2",
        "-d", str(D1), "-f", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 2 and set(records[0]) == {"ID", "Name"}
    twice = run("call", "GET", "crm/Accounts", "--top", "2", "-p", "$top=3", "-d", str(D1))
    assert twice.exit_code == 3 and "$top given twice" in twice.stderr


def test_call_delete_shows_confirms_and_audits_like_delete(emu: Emu, at_a_terminal: None) -> None:
    record_id = new_entry(emu, "call me")
    path = f"{TT}(guid'{record_id}')"
    kept = run("call", "DELETE", path, "-d", str(D1), "-f", "table", input="n\n")
    assert kept.exit_code == 1 and "call me" in kept.stdout and "Not deleted" in kept.stderr
    assert run("get", TT, record_id, "-d", str(D1)).exit_code == 0
    dry = run("call", "DELETE", path, "-d", str(D1), "--dry-run", "-f", "table")
    assert dry.exit_code == 0 and f"DELETE {emu.base_url}/api/v1/{D1}/{path}" in dry.stdout
    gone = run("call", "DELETE", path, "-d", str(D1), "-f", "json", input="y\n")
    answered = gone.stdout[gone.stdout.index("{") :]  # the runner echoes the typed answer to stdout
    assert gone.exit_code == 0 and json.loads(answered)["deleted"] is True
    assert "Delete this record" in gone.stderr
    assert run("get", TT, record_id, "-d", str(D1)).exit_code == 7
    store = Store.from_settings(Settings.from_env())
    try:
        [row] = audit.entries(store, record_key=record_id)
    finally:
        store.close()
    assert row.action == "delete" and row.before is not None and row.before["Notes"] == "call me"


@pytest.mark.parametrize(
    "path", [TT, f"project/Projects(guid'{UUID}')/Budgets", f"{TT}(guid'{UUID}')/$count"]
)
def test_call_delete_addresses_one_record(emu: Emu, path: str) -> None:
    calls = emu.rest_calls()
    refused = run("call", "DELETE", path, "--yes", "-d", str(D1))
    assert refused.exit_code == 3 and "addresses one record" in refused.stderr
    assert emu.rest_calls() == calls


def test_call_put_to_one_record_is_audited(emu: Emu) -> None:
    record_id = new_entry(emu, "before the put")
    path = f"{TT}(guid'{record_id}')"
    result = run("call", "PUT", path, "--data", '{"Notes": "after the put"}', "-d", str(D1))
    assert result.exit_code == 0
    after = json.loads(run("get", TT, record_id, "-d", str(D1), "-f", "json").stdout)
    assert after["Notes"] == "after the put"
    store = Store.from_settings(Settings.from_env())
    try:
        [row] = audit.entries(store, record_key=f"guid'{record_id}'")
    finally:
        store.close()
    assert row.action == "update" and row.outcome == "updated"
    assert row.before is not None and row.before["Notes"] == "before the put"
    assert row.after == {"Notes": "after the put"}


# -- credentials -------------------------------------------------------------------------------------


def test_unknown_credential_and_empty_vault() -> None:
    missing = run("get", "crm/Accounts", "--credential", "nobody")
    assert missing.exit_code == 4 and "No credential named 'nobody'" in missing.stderr
    empty = run("get", "crm/Accounts")
    assert empty.exit_code == 4 and "holds no credential" in empty.stderr


def test_a_typo_is_named_before_the_vault_is_opened() -> None:
    """With an empty vault, the endpoint, method and key are still checked first (they need no call)."""
    typo = run("get", "crm/Acounts")
    assert typo.exit_code == 3 and "Did you mean: crm/Accounts" in typo.stderr
    assert run("delete", "crm/Acounts", "1", "--yes").exit_code == 3
    bad_key = run("delete", "crm/Accounts", "12x", "--yes")
    assert bad_key.exit_code == 3 and "Expected a GUID" in bad_key.stderr
    no_delete = run("delete", "sync/CRM/Accounts", "1", "--yes")
    assert no_delete.exit_code == 3 and "holds no credential" not in no_delete.stderr


def test_the_only_credential_needs_no_name(emu: Emu) -> None:
    assert run("get", "crm/Accounts", "--top", "1", "-f", "json").exit_code == 0
    named = run("get", "crm/Accounts", "--top", "1", "-f", "json", "--credential", "EMU")
    assert named.exit_code == 0
