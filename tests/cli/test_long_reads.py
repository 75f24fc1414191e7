"""A whole read says what it will cost before it starts, asks when it is a big share of today's
calls, says why its bar stands still while the rate limit holds it, and ends with what it did."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Progress

from exactmate.actions.readcost import ReadCost
from exactmate.cli import session
from exactmate.cli.progress import Bar, wait_notes
from exactmate.clock import FakeClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from exactmate.governor import CallScope, Governor
from exactmate.store import Store
from tests.cli.conftest import Emu, Run, connected, run

TT = "project/TimeTransactions"


@pytest.fixture(scope="module")
def tight_server() -> Iterator[Emu]:
    """An emulator whose divisions allow 12 calls a day: a 2-call read is a big share of that."""
    config = EmulatorConfig(port=0, records=60, divisions=2, minutely_limit=100_000, daily_limit=12)
    with BackgroundServer(config) as running:
        yield Emu(running.base_url, config)


@pytest.fixture
def tight(tight_server: Emu) -> Emu:
    return connected(tight_server)


def test_a_whole_read_tells_its_cost_first_and_what_it_did_last(
    emu: Emu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "someone_can_answer", lambda: True)  # a terminal: counted first
    target = tmp_path / "hours.ndjson"
    # Price is not in the time-and-cost feed, so this read stays on 60-row pages.
    args = ("get", TT, "--all", "--select", "ID,Quantity,Price", "-f", "ndjson", "-o", str(target))
    result = run(*args, "-d", "100001")
    assert result.exit_code == 0, result.stderr
    records = len(target.read_text(encoding="utf-8").splitlines())
    assert f"Reading {TT} in division 100001: {records} records, 2 calls (60 a call)" in result.stderr
    assert "calls left today" in result.stderr and "Go on?" not in result.stderr  # not a big share
    assert f"{records} records written to {target} in 2 calls, plus 1 to count them" in result.stderr
    assert emu.rest_calls() == 3  # the $count and the two pages, as announced


def test_nobody_to_ask_the_first_page_counts_the_records(emu: Emu, tmp_path: Path) -> None:
    target = tmp_path / "hours.ndjson"
    args = ("get", TT, "--all", "--select", "ID,Quantity,Price", "-f", "ndjson", "-o", str(target))
    result = run(*args, "-d", "100001")  # no terminal: nobody would be asked
    assert result.exit_code == 0, result.stderr
    records = len(target.read_text(encoding="utf-8").splitlines())
    assert f"Reading {TT} in division 100001: {records} records, 2 calls (60 a call)" in result.stderr
    assert "calls left today" in result.stderr
    assert result.stderr.endswith(f"{records} records written to {target} in 2 calls\n")
    assert emu.rest_calls() == 2  # the two pages: the first one brought the count


@pytest.mark.parametrize(("division", "divisions"), [("100001", [100001]), ("all", [100001, 100002])])
def test_yes_reads_with_one_call_fewer_in_each_division(
    emu: Emu, monkeypatch: pytest.MonkeyPatch, division: str, divisions: list[int]
) -> None:
    monkeypatch.setattr(session, "someone_can_answer", lambda: True)  # --yes alone does it
    args = ("get", "crm/Accounts", "--all", "--select", "ID,Name", "-f", "ndjson", "-d", division)
    told = run(*args, "--yes")
    assert told.exit_code == 0, told.stderr
    calls_told = _accounts_calls(emu)
    emu.control("POST", "reset", {"keep_tokens": True})
    counted = run(*args)  # at a terminal, without --yes: counted first (a small read: not asked)
    assert counted.exit_code == 0, counted.stderr
    assert calls_told == len(divisions) == _accounts_calls(emu) - len(divisions)  # no $count call
    assert told.stdout.count("\n") == counted.stdout.count("\n") == 60 * len(divisions)
    for number in divisions:
        line = f"Reading crm/Accounts in division {number}: 60 records, 1 call through bulk/CRM/Accounts"
        assert line in told.stderr and line in counted.stderr
    calls = f"{60 * len(divisions)} records read in {len(divisions)} call{'s' if len(divisions) > 1 else ''}"
    assert told.stderr.endswith(f"{calls}\n") and "to count them" not in told.stderr
    assert counted.stderr.endswith(f"{calls}, plus {len(divisions)} to count them\n")


def test_a_read_of_every_division_asks_for_the_division_list_once(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted first at a terminal: the cost and the read go to the same divisions, looked up once."""
    monkeypatch.setattr(session, "someone_can_answer", lambda: True)
    result = run("get", "crm/Accounts", "--all", "--select", "ID", "-f", "ndjson", "-d", "all")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 120 and "plus 2 to count them" in result.stderr
    assert sum(emu.stats()["by_endpoint"]["system/divisions"].values()) == 1


def _accounts_calls(emu: Emu) -> int:
    """Calls to crm/Accounts and its bulk twin (the division list and current/Me left out)."""
    counts = emu.stats()["by_endpoint"]
    return sum(sum(counts.get(name, {}).values()) for name in ("crm/accounts", "bulk/crm/accounts"))


def test_each_division_tells_its_cost_as_its_first_page_arrives(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost line of a division comes with its first page, before that page's records are
    written, and the bar's total grows by the records it announces."""
    from exactmate.cli import output, progress

    events: list[str] = []
    echo, writing = session.echo_err, output.write_records
    totals: list[int] = []
    adding = progress.Bar.add_to_total

    def said(message: str) -> None:
        events.append(message)
        echo(message)

    def written(records: Any, *args: Any, **kwargs: Any) -> int:
        def watched() -> Iterator[Any]:
            for record in records:
                events.append(f"record of {record['Division']}")
                yield record

        return writing(watched(), *args, **kwargs)

    def add(bar: progress.Bar, records: int) -> None:
        totals.append(records)
        adding(bar, records)

    monkeypatch.setattr(session, "echo_err", said)
    monkeypatch.setattr(output, "write_records", written)
    monkeypatch.setattr(progress.Bar, "add_to_total", add)
    result = run("get", "crm/Accounts", "--all", "--select", "ID", "-f", "csv", "-d", "all")
    assert result.exit_code == 0, result.stderr
    firsts = [events.index(f"record of {number}") for number in (100001, 100002)]
    told = [i for i, event in enumerate(events) if event.startswith("Reading crm/Accounts in division")]
    assert len(told) == 2 and told[0] < firsts[0] < told[1] < firsts[1]
    assert "division 100002" in events[told[1]] and totals == [60, 60]


def test_time_entries_are_read_1000_a_call_through_the_time_and_cost_feed(emu: Emu) -> None:
    result = run("get", TT, "--all", "-f", "ndjson", "-d", "100001", "--yes")
    assert result.exit_code == 0, result.stderr
    feed = "1 call through sync/Project/TimeCostTransactions (1,000 a call, with the 6 records of "
    assert feed + "project/CostTransactions it carries too; without " in result.stderr
    assert "Price" in result.stderr and "name them in --select to read them, 60 a call" in result.stderr
    # The feed's own count takes in the cost entries too: time and cost entries are counted apart.
    assert "records read in 1 call, plus 2 to count them" in result.stderr
    assert emu.rest_calls() == 3


def _time_entries_counted_first(server: Emu, monkeypatch: pytest.MonkeyPatch, records: int) -> Run:
    """``get --all`` of ``server``'s time entries at a terminal (counted first): its outcome, after
    checking it wrote every entry."""
    connected(server)
    monkeypatch.setattr(session, "someone_can_answer", lambda: True)
    result = run("get", TT, "--all", "--select", "ID,Quantity", "-f", "ndjson", "-d", "100001")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == records
    return result


def test_the_cost_of_a_read_through_the_time_and_cost_feed_counts_the_cost_entries_it_carries(
    feed_server: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _time_entries_counted_first(feed_server, monkeypatch, 950)
    told = "950 records, 2 calls through sync/Project/TimeCostTransactions (1,000 a call, with the 95 "
    assert told in result.stderr
    assert result.stderr.endswith("950 records read in 2 calls, plus 2 to count them\n")
    assert sum(feed_server.stats()["by_endpoint"]["sync/project/timecosttransactions"].values()) == 2


@pytest.fixture(scope="module")
def billing_only_server() -> Iterator[Emu]:
    """An app granted time entries' scope but not cost entries' one."""
    config = EmulatorConfig(port=0, records=60, divisions=1, scopes=("Projects billing",))
    with BackgroundServer(config) as running:
        yield Emu(running.base_url, config)


def test_cost_entries_exact_refuses_to_count_make_the_told_calls_a_lower_bound(
    billing_only_server: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _time_entries_counted_first(billing_only_server, monkeypatch, 60)
    told = "60 records, at least 1 call through sync/Project/TimeCostTransactions (1,000 a call, with the "
    assert told + "records of project/CostTransactions it carries too, which Exact refused to count)" in (
        result.stderr
    )
    assert result.stderr.endswith("60 records read in 1 call, plus 2 to count them\n")
    assert billing_only_server.stats()["by_endpoint"]["project/costtransactions"] == {"403": 1}


def test_without_a_count_on_the_first_page_a_count_call_counts_them(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exactmate import odata

    unwrap = odata.unwrap

    def no_count(payload: object) -> odata.ODataPage:
        records, next_url, _ = unwrap(payload)
        return odata.ODataPage(records, next_url, None)

    monkeypatch.setattr(odata, "unwrap", no_count)  # as if Exact had ignored $inlinecount
    result = run("get", "crm/Accounts", "--all", "--select", "ID", "-f", "ndjson", "-d", "100001", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Reading crm/Accounts in division 100001: 60 records, 1 call through" in result.stderr
    assert result.stderr.endswith("60 records read in 1 call, plus 1 to count them\n")
    assert emu.rest_calls() == 2


def test_a_big_share_of_todays_calls_is_asked_about_at_a_terminal(
    tight: Emu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "someone_can_answer", lambda: True)
    target = tmp_path / "hours.json"
    sixty_a_call = ("--select", "ID,Quantity,Price")  # not in the 1,000-row feed
    args = ("get", TT, "--all", *sixty_a_call, "-f", "json", "-o", str(target), "-d", "100001")
    declined = run(*args, input="n\n")
    assert declined.exit_code == 1 and "more than a tenth of the calls left today" in declined.stderr
    assert not target.exists()
    assert tight.rest_calls() == 1  # the $count only: no page was read
    agreed = run(*args, "--yes")
    assert agreed.exit_code == 0, agreed.stderr
    assert "Go on?" not in agreed.stderr and len(json.loads(target.read_text(encoding="utf-8"))) == 60
    assert "to count them" not in agreed.stderr and tight.rest_calls() == 1 + 2  # no $count this time


def test_nobody_to_ask_reads_on_after_telling_the_cost(tight: Emu) -> None:
    result = run("get", TT, "--all", "-f", "ndjson", "-d", "100001")
    assert result.exit_code == 0 and "Go on?" not in result.stderr
    assert "calls left today" in result.stderr and len(result.stdout.splitlines()) == 60


def test_a_bad_filter_is_refused_before_the_count(emu: Emu) -> None:
    result = run("get", TT, "--all", "--filter", "Quantity gt '7'", "-d", "100001")
    assert result.exit_code == 3 and "write Quantity gt 7" in result.stderr
    assert emu.rest_calls() == 0


def test_the_cost_in_words() -> None:
    cost = ReadCost(TT, TT, 100001, 50_048, 60, 60, 4_200)
    assert cost.calls == 835 and cost.big
    assert cost.describe() == (
        "division 100001: 50,048 records, 835 calls (60 a call), about 14 min at 60 calls a minute, "
        "20% of the 4,200 calls left today"
    )
    bulk = ReadCost("crm/Accounts", "bulk/CRM/Accounts", 100001, 999, 1000, None, None)
    assert bulk.calls == 1 and not bulk.big
    assert bulk.describe() == "division 100001: 999 records, 1 call through bulk/CRM/Accounts (1,000 a call)"


def test_the_bar_says_when_the_rate_limit_holds_the_calls(tmp_path: Path) -> None:
    clock = FakeClock()
    store = Store(f"sqlite:///{tmp_path}/x.db", clock=clock)
    governor = Governor(store, clock)
    reset_ms = (clock.now() + 23) * 1000
    headers = {"X-RateLimit-Minutely-Limit": "60", "X-RateLimit-Minutely-Remaining": "0"}
    headers["X-RateLimit-Minutely-Reset"] = str(int(reset_ms))
    scope = CallScope("c", "app", 100001, TT)
    governor.after_response(scope, 200, headers)
    shown = Progress(console=Console(file=io.StringIO()), disable=True)
    task = shown.add_task("Reading", total=10)
    bar = Bar(shown, task, "Reading")
    try:
        with wait_notes(bar):
            governor.before_request(scope)  # waits (on the fake clock) for the reset
        assert "waiting for the rate limit, 23 s" in shown.tasks[0].description
        bar(5)
        assert shown.tasks[0].description == "Reading" and shown.tasks[0].completed == 5
    finally:
        store.close()


def test_the_cost_told_and_the_read_done_are_one_checked_query(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exactmate.actions import listget, readcost
    from exactmate.resource import Resource

    checked: list[object] = []
    used: list[object] = []
    check_read, read_cost, read = listget.check_read, readcost.read_cost, Resource.read

    def check(*args: Any, **kwargs: Any) -> Any:
        checked.append(check_read(*args, **kwargs))
        return checked[-1]

    def cost(conn: Any, query: Any, division: int, records: int) -> Any:
        used.append(query)
        return read_cost(conn, query, division, records)

    def reading(resource: Resource, query: Any, **options: Any) -> Any:
        used.append(query)
        return read(resource, query, **options)

    monkeypatch.setattr(listget, "check_read", check)
    monkeypatch.setattr(readcost, "read_cost", cost)  # estimate_read's arithmetic too
    monkeypatch.setattr(Resource, "read", reading)
    args = ("get", TT, "--all", "--select", "ID,Quantity,Price", "-f", "ndjson", "-d", "100001")
    result = run(*args)  # counted on the first page
    assert result.exit_code == 0, result.stderr
    assert len(checked) == 1 and len(used) == 2 and all(query is checked[0] for query in used)
    monkeypatch.setattr(session, "someone_can_answer", lambda: True)  # counted first
    checked.clear(), used.clear()
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert len(checked) == 1 and len(used) == 2 and all(query is checked[0] for query in used)


def test_a_read_runs_with_start_up_set_aside_from_the_cycle_collector(
    emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``session.connect`` freezes what exists when the connection opens (the modules, the catalogue,
    the client) for the command's length, so that the full collections of a long read do not walk it
    all again, and hands it back after, even when the command fails."""
    import gc

    from exactmate.cli import output

    seen: list[int] = []
    writing = output.write_records

    def counting(*args: Any, **kwargs: Any) -> int:
        seen.append(gc.get_freeze_count())
        return writing(*args, **kwargs)

    monkeypatch.setattr(output, "write_records", counting)
    before = gc.get_freeze_count()
    result = run("get", "crm/Accounts", "--all", "-f", "csv", "-d", "100001", "--yes")
    assert result.exit_code == 0, result.stderr
    assert len(seen) == 1 and seen[0] > before + 10_000  # the modules and the catalogue, at least
    assert gc.get_freeze_count() == before
    failed = run("get", "crm/Accounts", "--all", "--filter", "Nope eq 1", "-d", "100001", "--yes")
    assert failed.exit_code != 0
    assert gc.get_freeze_count() == before


def test_a_sync_plan_whose_cost_entries_exact_refuses_to_count_says_at_least(
    billing_only_server: Emu, tmp_path: Path
) -> None:
    connected(billing_only_server)
    args = ("sync", TT, "--to", f"sqlite:///{tmp_path / 'mine.db'}", "-d", "100001", "--plan")
    as_json = run(*args, "-f", "json")
    assert as_json.exit_code == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert plan["calls"] == 2 and plan["calls at least"] is True  # a page and sync/Deleted, at least
    assert plan["feeds"][0]["calls at least"] is True
    table = run(*args)
    assert table.exit_code == 0, table.stderr
    assert "at least 1" in table.stdout and table.stdout.rstrip().endswith(
        "at least 2 calls in all, with one read of sync/Deleted per division (1). Exact refused to count "
        "the cost entries time entries' feed carries too."
    )
