"""The rate governor: reads Exact's headers, waits out the minute, refuses the day and the error budget."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.errors import BudgetExceeded, RateLimitError
from exactmate.governor import DEFAULT_WAIT, CallScope, Governor, WaitPolicy, Window, parse_limits
from exactmate.store import LedgerRow, Store

CRED, CLIENT, DIV, EP = "acme", "client-1", 7, "crm/Accounts"
SCOPE = CallScope(CRED, CLIENT, DIV, EP)
MARGIN = DEFAULT_WAIT.margin  # one wait policy for the governor and the 429 retry


def _headers(
    minute: tuple[int, int, float] | None = None, day: tuple[int, int, float] | None = None
) -> dict[str, str]:
    """Exact's six headers; resets given in epoch seconds, sent as epoch milliseconds."""
    out: dict[str, str] = {}
    if minute:
        out |= {
            "X-RateLimit-Minutely-Limit": str(minute[0]),
            "X-RateLimit-Minutely-Remaining": str(minute[1]),
            "X-RateLimit-Minutely-Reset": str(int(minute[2] * 1000)),
        }
    if day:
        out |= {
            "X-RateLimit-Limit": str(day[0]),
            "X-RateLimit-Remaining": str(day[1]),
            "X-RateLimit-Reset": str(int(day[2] * 1000)),
        }
    return out


@pytest.fixture
def gov(store: Store, clock: FakeClock) -> Governor:
    return Governor(store, clock)


def _ledger(store: Store) -> LedgerRow:
    row = store.ledger(CLIENT, DIV)
    assert row is not None
    return row


def _seed(store: Store, **values: object) -> None:
    store.modify_ledger(CLIENT, DIV, lambda row: (LedgerRow(client_id=CLIENT, division=DIV, **values), None))  # type: ignore[arg-type]


# -- headers ----------------------------------------------------------------------------------------


def test_parse_limits_reads_both_scopes_case_insensitively() -> None:
    headers = {k.lower(): v for k, v in _headers((60, 59, 1000.5), (5000, 4999, 86400)).items()}
    assert parse_limits(headers) == {
        "minutely": Window(60, 59, 1000.5),
        "daily": Window(5000, 4999, 86400.0),
    }


def test_parse_limits_absent_and_malformed_headers_are_no_information() -> None:
    assert parse_limits({"Content-Type": "application/json"}) == {}
    assert parse_limits({"X-RateLimit-Minutely-Remaining": "lots", "X-RateLimit-Minutely-Reset": "5000"}) == {
        "minutely": Window(None, None, 5.0)
    }


# -- the ledger -------------------------------------------------------------------------------------


def test_without_information_calls_go(gov: Governor, store: Store, clock: FakeClock) -> None:
    gov.before_request(SCOPE)
    assert store.ledger(CLIENT, DIV) is None
    assert clock.sleeps == []


def test_responses_fill_the_ledger_and_requests_reserve_from_it(
    gov: Governor, store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    gov.after_response(SCOPE, 200, _headers((60, 57, now + 30), (5000, 4000, now + 9000)))
    row = _ledger(store)
    assert (row.minutely_limit, row.minutely_remaining, row.minutely_reset) == (60, 57, now + 30)
    assert (row.daily_limit, row.daily_remaining, row.daily_reset) == (5000, 4000, now + 9000)
    gov.before_request(SCOPE)
    row = _ledger(store)
    assert (row.minutely_remaining, row.daily_remaining) == (56, 3999)
    assert store.ledger(CLIENT, DIV + 1) is None  # ledgers are per (client id, division)


def test_exhausted_minute_waits_for_the_announced_reset(
    gov: Governor, store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    _seed(store, minutely_limit=60, minutely_remaining=0, minutely_reset=now + 7.5)
    gov.before_request(SCOPE)
    assert clock.sleeps == [pytest.approx(7.5 + MARGIN)]  # the announced reset plus the margin, not 60 s
    row = _ledger(store)
    assert (row.minutely_remaining, row.minutely_reset) == (59, None)  # a fresh window, its reset unknown


def test_a_reset_already_past_means_the_window_rolled_over(
    gov: Governor, store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    _seed(store, minutely_limit=60, minutely_remaining=0, minutely_reset=now - 1)
    gov.before_request(SCOPE)
    assert clock.sleeps == []
    assert _ledger(store).minutely_remaining == 59


def test_a_wait_longer_than_max_wait_raises(store: Store, clock: FakeClock) -> None:
    gov = Governor(store, clock, wait=WaitPolicy(max_wait=30))
    reset = clock.now() + 45
    _seed(store, minutely_limit=60, minutely_remaining=0, minutely_reset=reset)
    with pytest.raises(RateLimitError) as info:
        gov.before_request(SCOPE)
    assert info.value.scope == "minutely"
    assert info.value.reset_at == datetime.fromtimestamp(reset, tz=UTC)
    assert clock.sleeps == []


def test_exhausted_day_raises_instead_of_sleeping(gov: Governor, store: Store, clock: FakeClock) -> None:
    reset = clock.now() + 3 * 3600
    _seed(
        store,
        daily_limit=5000,
        daily_remaining=0,
        daily_reset=reset,
        minutely_limit=60,
        minutely_remaining=60,
    )
    with pytest.raises(RateLimitError) as info:
        gov.before_request(SCOPE)
    assert (info.value.scope, info.value.reset_at) == ("daily", datetime.fromtimestamp(reset, tz=UTC))
    assert "daily limit of 5000 calls for division 7 is used up" in str(info.value)
    assert clock.sleeps == []
    assert _ledger(store).minutely_remaining == 60  # nothing reserved
    clock.advance(3 * 3600)
    gov.before_request(SCOPE)  # the next day


def test_a_minutely_429_empties_the_minute(gov: Governor, store: Store, clock: FakeClock) -> None:
    now = clock.now()
    gov.after_response(SCOPE, 200, _headers((60, 30, now + 20), (5000, 4000, now + 9000)))
    gov.after_response(SCOPE, 429, _headers(minute=(60, 0, now + 20)))
    row = _ledger(store)
    assert (row.minutely_remaining, row.daily_remaining) == (
        0,
        4000,
    )  # the absent daily headers changed nothing
    gov.before_request(SCOPE)
    assert clock.sleeps == [pytest.approx(20 + MARGIN)]


def test_a_daily_429_empties_the_day(gov: Governor, store: Store, clock: FakeClock) -> None:
    now = clock.now()
    gov.after_response(SCOPE, 429, {"X-RateLimit-Reset": str(int((now + 500) * 1000))})
    with pytest.raises(RateLimitError) as info:
        gov.before_request(SCOPE)
    assert info.value.scope == "daily"


def test_a_429_without_headers_teaches_nothing(gov: Governor, store: Store) -> None:
    gov.after_response(SCOPE, 429, {})
    assert store.ledger(CLIENT, DIV) is None


def test_in_flight_reservations_are_not_undone_by_an_earlier_count(
    gov: Governor, store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    _seed(store, minutely_limit=60, minutely_remaining=50, minutely_reset=now + 30)
    gov.after_response(SCOPE, 200, _headers(minute=(60, 55, now + 30)))
    assert _ledger(store).minutely_remaining == 50  # within one window the lower count wins
    gov.after_response(SCOPE, 200, _headers(minute=(60, 40, now + 30)))
    assert _ledger(store).minutely_remaining == 40  # someone else (another machine) spent calls too


def test_a_newer_window_replaces_and_a_stale_answer_is_ignored(
    gov: Governor, store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    _seed(store, minutely_limit=60, minutely_remaining=3, minutely_reset=now + 10)
    gov.after_response(SCOPE, 200, _headers(minute=(60, 58, now + 70)))
    assert (_ledger(store).minutely_remaining, _ledger(store).minutely_reset) == (58, now + 70)
    gov.after_response(SCOPE, 200, _headers(minute=(60, 2, now + 10)))  # late, earlier window
    assert (_ledger(store).minutely_remaining, _ledger(store).minutely_reset) == (58, now + 70)
    gov.after_response(SCOPE, 429, _headers(minute=(100, 0, now - 5)))  # a window that is over
    row = _ledger(store)
    assert (row.minutely_limit, row.minutely_remaining, row.minutely_reset) == (100, 58, now + 70)


def test_after_a_local_rollover_the_first_answer_sets_the_reset(
    gov: Governor, store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    _seed(store, minutely_limit=60, minutely_remaining=0, minutely_reset=now - 1)
    for _ in range(3):
        gov.before_request(SCOPE)
    gov.after_response(SCOPE, 200, _headers(minute=(60, 59, now + 59)))
    row = _ledger(store)
    assert (row.minutely_remaining, row.minutely_reset) == (57, now + 59)  # our 3 reservations still count


# -- the error budget -----------------------------------------------------------------------------------


def test_ninth_error_closes_the_endpoint_until_the_oldest_is_an_hour_old(
    gov: Governor, clock: FakeClock
) -> None:
    first = clock.now()
    for i, status in enumerate([400, 401, 403, 404, 400, 401, 403, 404]):
        gov.before_request(SCOPE)
        gov.after_response(SCOPE, status, {})
        clock.advance(60 if i == 0 else 1)
    for status in (200, 201, 204, 429, 500, 503):  # not counted
        gov.after_response(SCOPE, status, {})
    gov.before_request(SCOPE)
    gov.after_response(SCOPE, 404, {})  # the ninth
    with pytest.raises(BudgetExceeded) as info:
        gov.before_request(SCOPE)
    exc = info.value
    assert exc.reopens_at == datetime.fromtimestamp(first + 3600, tz=UTC)
    assert (exc.endpoint, exc.division) == (EP, DIV)
    assert "9 calls to crm/Accounts in division 7" in str(exc)
    assert "reopen at" in str(exc)
    gov.before_request(CallScope(CRED, CLIENT, DIV, "crm/Contacts"))  # other endpoints stay open
    gov.before_request(CallScope(CRED, CLIENT, DIV + 1, EP))  # and other divisions
    with pytest.raises(BudgetExceeded):  # Exact counts per app: another credential of it is blocked too
        gov.before_request(CallScope("other-credential", CLIENT, DIV, EP))
    gov.before_request(CallScope(CRED, "another-app", DIV, EP))  # another app is not
    clock.advance(first + 3600 - clock.now() - 0.001)
    with pytest.raises(BudgetExceeded):
        gov.before_request(SCOPE)
    clock.advance(0.001)
    gov.before_request(SCOPE)  # the first error turned one hour old


def test_a_401_a_refresh_may_recover_is_counted_only_when_asked(gov: Governor) -> None:
    for _ in range(20):
        gov.after_response(SCOPE, 401, {}, counts=False)
    gov.before_request(SCOPE)  # none of them counted
    for _ in range(9):
        gov.record_error(SCOPE, 401)
    with pytest.raises(BudgetExceeded):
        gov.before_request(SCOPE)


def test_a_block_exact_announced_is_kept_until_it_ends(gov: Governor, clock: FakeClock) -> None:
    gov.record_block(SCOPE, clock.now() + 1800)
    with pytest.raises(BudgetExceeded, match="Exact blocked this app's calls to crm/Accounts") as info:
        gov.before_request(CallScope("any credential of the app", CLIENT, DIV, EP))
    assert info.value.reopens_at == datetime.fromtimestamp(clock.now() + 1800, tz=UTC)
    clock.advance(1800)
    gov.before_request(SCOPE)


def test_budget_is_configurable(store: Store, clock: FakeClock) -> None:
    gov = Governor(store, clock, error_budget=2, budget_window=60)
    gov.after_response(SCOPE, 400, {})
    gov.before_request(SCOPE)
    gov.after_response(SCOPE, 400, {})
    with pytest.raises(BudgetExceeded):
        gov.before_request(SCOPE)
    clock.advance(60)
    gov.before_request(SCOPE)
    with pytest.raises(ValueError):
        Governor(store, clock, error_budget=0)


# -- threads and processes ----------------------------------------------------------------------------


def test_threads_never_overshoot_the_minute(gov: Governor, store: Store, clock: FakeClock) -> None:
    reset = clock.now() + 10
    _seed(store, minutely_limit=60, minutely_remaining=5, minutely_reset=reset)
    granted: list[float] = []
    guard = threading.Lock()
    barrier = threading.Barrier(20)

    def call() -> None:
        barrier.wait()
        gov.before_request(SCOPE)
        with guard:
            granted.append(clock.now())

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 20
    # at most the 5 left before the reset (a grant's time is read just after it, so a thread that
    # slept may have moved the shared fake clock past the reset in between: never more, maybe fewer)
    assert 1 <= sum(1 for at in granted if at < reset) <= 5
    assert clock.sleeps and max(clock.sleeps) <= 10 + MARGIN + 1e-6  # nobody waited past the announced reset


def _reserve_until_refused(db_url: str, start: Any, results: Any) -> None:
    """Run in a child process: reserve calls until the governor refuses; report how many it granted."""
    clock = FakeClock()
    store = Store(db_url, clock=clock)
    gov = Governor(store, clock, wait=WaitPolicy(max_wait=60))
    granted = 0
    start.wait()
    try:
        while True:
            gov.before_request(SCOPE)
            granted += 1
    except RateLimitError as exc:
        assert exc.scope == "minutely"
    finally:
        store.close()
        results.put(granted)


def test_processes_sharing_the_store_never_overshoot(db_url: str, store: Store, clock: FakeClock) -> None:
    _seed(store, minutely_limit=60, minutely_remaining=60, minutely_reset=clock.now() + 1000)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_reserve_until_refused, args=(db_url, start, results)) for _ in range(4)]
    for p in procs:
        p.start()
    counts = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(counts) == 60
    assert _ledger(store).minutely_remaining == 0


# -- against the emulator ------------------------------------------------------------------------------


def test_emulator_limits_are_kept_without_a_single_429(store: Store, clock: FakeClock) -> None:
    """5 calls per 5-second window: 23 calls take five windows, each waited out to the announced reset."""
    from exactmate.emulator.config import EmulatorConfig
    from exactmate.emulator.core import Emulator
    from exactmate.emulator.transport import EmulatorTransport
    from tests.emulator_helpers import authorize, bearer

    config = EmulatorConfig(records=10, minutely_limit=5, window_seconds=5, token_seconds=100_000)
    emulator = Emulator(config, clock, sleep=lambda s: None)
    client = httpx.Client(transport=EmulatorTransport(emulator), base_url=config.base_url)
    headers = bearer(authorize(client, config))
    division = config.accessible_divisions[0]
    gov = Governor(store, clock)
    start = clock.now()
    statuses = []
    scope = CallScope(CRED, config.client_id, division, EP)
    for _ in range(23):
        gov.before_request(scope)
        answer = client.get(f"/api/v1/{division}/crm/Accounts", params={"$top": "1"}, headers=headers)
        gov.after_response(scope, answer.status_code, answer.headers)
        statuses.append(answer.status_code)
    client.close()
    emulator.close()
    assert statuses == [200] * 23
    assert len(clock.sleeps) == 4  # one wait per full window, never a guessed 60 s
    assert all(s <= 5 + MARGIN + 1e-6 for s in clock.sleeps)
    # four windows (the clock starts on a boundary) + margin
    assert clock.now() - start == pytest.approx(20 + MARGIN)


# -- what a call costs the store ----------------------------------------------------------------------


@pytest.fixture
def second(store: Store, clock: FakeClock) -> Iterator[Store]:
    """The same database opened again: what another process sees."""
    other = Store(store.url, clock=clock)
    yield other
    other.close()


def _transactions(store: Store) -> list[int]:
    """A counter of the write and read transactions the store begins from now on.

    Counted as connections taken from the pool: the store runs one transaction per connection,
    through SQLAlchemy or, on the per-call path, on the driver's own connection (which SQLAlchemy's
    ``begin`` event does not see)."""
    from sqlalchemy import event

    counted = [0]

    def taken(*_args: Any) -> None:
        counted[0] += 1

    event.listen(store.engine, "checkout", taken)
    return counted


def test_a_call_costs_one_transaction_and_an_answer_that_says_nothing_new_costs_none(
    store: Store, clock: FakeClock, gov: Governor
) -> None:
    reset = clock.now() + 30
    gov.before_request(SCOPE)
    gov.after_response(SCOPE, 200, _headers((60, 59, reset), (5000, 4999, reset + 3600)))
    counted = _transactions(store)
    for left in range(58, 48, -1):  # ten calls whose answers agree with what the ledger reserved
        gov.before_request(SCOPE)
        gov.after_response(SCOPE, 200, _headers((60, left, reset), (5000, left + 4940, reset + 3600)))
    assert counted[0] == 10  # one per call: the reservation with the budget check; no write after
    assert _ledger(store).minutely_remaining == 49 and _ledger(store).daily_remaining == 4989
    counted[0] = 0
    gov.after_response(SCOPE, 200, _headers((60, 40, reset)))  # news: others spent nine more
    assert counted[0] == 1 and _ledger(store).minutely_remaining == 40


def test_an_answer_skipped_here_never_hides_what_another_process_wrote(
    store: Store, clock: FakeClock, second: Store
) -> None:
    here, there = Governor(store, clock), Governor(second, clock)
    reset = clock.now() + 30
    here.before_request(SCOPE)
    here.after_response(SCOPE, 200, _headers((60, 59, reset)))
    for _ in range(20):  # another process spends twenty calls of the same minute
        there.before_request(SCOPE)
    there.after_response(SCOPE, 200, _headers((60, 39, reset)))
    here.after_response(SCOPE, 200, _headers((60, 59, reset)))  # a late answer: nothing new here
    assert _ledger(store).minutely_remaining == 39
    here.before_request(SCOPE)  # the reservation reads the stored row, not this process's view
    assert _ledger(store).minutely_remaining == 38
    clock.advance(31)  # the next minute: an answer about the new window is always written
    here.before_request(SCOPE)
    here.after_response(SCOPE, 200, _headers((60, 59, clock.now() + 60)))
    assert _ledger(store).minutely_remaining == 59 and _ledger(store).minutely_reset == pytest.approx(
        clock.now() + 60
    )


def test_the_budget_is_checked_in_the_reserving_transaction(
    store: Store, clock: FakeClock, gov: Governor, second: Store
) -> None:
    other = Governor(second, clock)
    for _ in range(9):
        other.record_error(SCOPE, 404)  # another process's failures count here at once
    counted = _transactions(store)
    with pytest.raises(BudgetExceeded):
        gov.before_request(SCOPE)
    assert counted[0] == 1 and store.ledger(CLIENT, DIV) is None  # refused, nothing reserved


def test_a_reservation_the_database_refuses_is_a_store_error_and_leaves_the_pool_usable(
    tmp_path: Any, clock: FakeClock
) -> None:
    import sqlite3

    from exactmate.errors import StoreError

    path = tmp_path / "busy.db"
    store = Store(f"sqlite:///{path}", clock=clock, busy_timeout=0)
    try:
        gov = Governor(store, clock)
        gov.before_request(SCOPE)
        gov.after_response(SCOPE, 200, _headers((60, 59, clock.now() + 30)))  # the row exists now
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreError, match="cannot write to the database") as refused:
            gov.before_request(SCOPE)
        assert "locked" in str(refused.value)
        blocker.execute("ROLLBACK")
        blocker.close()
        gov.before_request(SCOPE)  # the refused connection went back to the pool rolled back
        assert _ledger(store).minutely_remaining == 58  # the refused call reserved nothing
    finally:
        store.close()
