"""The rate governor: stays inside Exact's limits instead of running into them.

Before every call it checks the error budget and reserves one call from the ledger of the
(client id, division); after every response it feeds the ``X-RateLimit-*`` headers back into the
ledger. The ledger lives in the store and every reservation is a read-decide-write in one
``BEGIN IMMEDIATE`` transaction, so threads and separate processes sharing the store never
overshoot the limit together.

Exact's windows are read from its headers, never assumed: the minutely window resets at the
instant ``X-RateLimit-Minutely-Reset`` announces (epoch ms), the daily one at
``X-RateLimit-Reset``. An exhausted minute is waited out (``clock.sleep``); an exhausted day is
raised as :class:`RateLimitError` with ``scope="daily"`` because nobody should sleep until midnight.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

from exactmate.clock import Clock, utc
from exactmate.errors import BudgetExceeded, RateLimitError
from exactmate.store import LedgerRow, Store

log = logging.getLogger("exactmate.governor")


@dataclass(frozen=True)
class CallScope:
    """Who calls what: the keys of the rate ledger and of the error budget.

    ``division`` is None for calls without a division in the URL (``current/Me``): Exact neither
    counts nor limits them, so they skip the governor.
    """

    credential: str
    client_id: str
    division: int | None
    endpoint: str

    @property
    def governed(self) -> int:
        """The division the limits are counted in (a scope without one is never governed)."""
        if self.division is None:
            raise ValueError(f"{self.endpoint} has no division: Exact neither counts nor limits it")
        return self.division


@dataclass(frozen=True)
class WaitPolicy:
    """How long a call may wait for a rate-limit window to reset: the one rule for the governor's
    wait before a call and the retry after a 429. ``margin`` covers clock skew; a longer wait than
    ``max_wait`` (the daily limit, a long minute) is raised as ``RateLimitError`` instead of slept."""

    max_wait: float = 120.0
    margin: float = 0.25

    def until(self, reset: float, now: float) -> float:
        """Seconds to wait for a window announced to reset at ``reset`` (epoch seconds)."""
        return reset - now + self.margin


DEFAULT_WAIT = WaitPolicy()

BUDGET_STATUSES = frozenset({400, 401, 403, 404})
"""The answers Exact counts against its hourly error budget (it blocks the app after 10)."""

Scope = Literal["minutely", "daily"]
_HEADERS: dict[Scope, tuple[str, str, str]] = {
    "minutely": (
        "x-ratelimit-minutely-limit",
        "x-ratelimit-minutely-remaining",
        "x-ratelimit-minutely-reset",
    ),
    "daily": ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"),
}
_SAME_WINDOW = 1.0  # seconds: two announced resets this close name the same window


@dataclass(frozen=True)
class Window:
    """One scope's headers from one response; None where a header was absent or malformed."""

    limit: int | None
    remaining: int | None
    reset: float | None  # epoch seconds


def parse_limits(headers: Mapping[str, str]) -> dict[Scope, Window]:
    """The scopes a response's ``X-RateLimit-*`` headers speak about (absent headers: no information)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    found: dict[Scope, Window] = {}
    for scope, (limit, remaining, reset) in _HEADERS.items():
        if not any(name in lowered for name in (limit, remaining, reset)):
            continue
        reset_ms = _int(lowered.get(reset))
        found[scope] = Window(
            _int(lowered.get(limit)),
            _int(lowered.get(remaining)),
            reset_ms / 1000 if reset_ms is not None else None,
        )
    return found


WAIT_SECONDS = "exactmate_wait_seconds"
"""The attribute of the log record a minutely wait is announced with: the seconds it lasts (the
command line shows "waiting for the rate limit, 23 s" from it)."""


class Governor:
    """Consulted before and told after every call to Exact; state shared through the store."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        error_budget: int = 9,
        budget_window: float = 3600.0,
        wait: WaitPolicy = DEFAULT_WAIT,
    ) -> None:
        if error_budget < 1 or budget_window <= 0 or wait.max_wait < 0 or wait.margin < 0:
            raise ValueError("error_budget must be >= 1, budget_window > 0, max_wait and margin >= 0")
        self._store = store
        self._clock = clock
        self._budget = error_budget
        self._window = budget_window
        self._wait = wait
        self._known: dict[tuple[str, int], LedgerRow] = {}

    def before_request(self, scope: CallScope) -> None:
        """Refuse (BudgetExceeded, daily RateLimitError) or wait until one call may go, and reserve it.

        The error budget is the app's (``client_id``): Exact counts failed calls per app, division
        and endpoint, whichever credential made them. The minutely wait lasts until the announced
        reset plus a small margin for clock skew (``WaitPolicy``); a longer wait raises
        RateLimitError(scope="minutely") instead.
        """
        client_id, division, endpoint = scope.client_id, scope.governed, scope.endpoint
        while True:
            now = self._clock.now()
            decide = partial(self._decide, division=division, endpoint=endpoint, now=now)
            since = now - self._window
            wait = self._store.reserve_call(
                client_id, division, endpoint, since=since, now=now, decide=decide
            )
            if wait is None:
                return
            log.info(
                "minutely limit of division %s reached; waiting %.2f s for its reset",
                division,
                wait,
                extra={WAIT_SECONDS: wait},
            )
            self._clock.sleep(wait)

    def after_response(
        self, scope: CallScope, status: int, headers: Mapping[str, str], *, counts: bool = True
    ) -> None:
        """Count an error answer against the app's budget (unless ``counts`` is False: a 401 that a
        token refresh may still recover) and update the ledger from the headers."""
        now = self._clock.now()
        client_id, division = scope.client_id, scope.governed
        if status in BUDGET_STATUSES and counts:
            self.record_error(scope, status)
        windows = parse_limits(headers)
        if not windows:
            return
        exhausted = _exhausted_scopes(windows) if status == 429 else set()

        if status != 429 and self._adds_nothing(client_id, division, windows, now):
            return  # the ledger already knows better than this response: no transaction at all

        def merge(row: LedgerRow | None) -> tuple[LedgerRow, None]:
            merged = row or LedgerRow(client_id=client_id, division=division)
            for scope, window in windows.items():
                merged = _merge(merged, scope, window, now, exhausted=scope in exhausted)
            self._seen(merged)
            return merged, None

        self._store.modify_ledger(client_id, division, merge)

    def record_error(self, scope: CallScope, status: int) -> None:
        """Count one failed call against the app's budget (also one answered late, after a refresh)."""
        now = self._clock.now()
        forget = now - self._window
        client_id, division, endpoint = scope.client_id, scope.governed, scope.endpoint
        self._store.record_error(client_id, division, endpoint, status, now, forget_before=forget)

    def record_block(self, scope: CallScope, until: float) -> None:
        """Remember a block Exact announced: no call goes there until ``until`` (never retried)."""
        self._store.block_errors(scope.client_id, scope.governed, scope.endpoint, until)

    # -- internals -----------------------------------------------------------------------------

    def _decide(
        self,
        block: float | None,
        errors: Sequence[float],
        row: LedgerRow | None,
        *,
        division: int,
        endpoint: str,
        now: float,
    ) -> tuple[LedgerRow | None, float | None]:
        """Refuse the call (error budget, daily limit), or reserve it, or say how long to wait."""
        self._check_budget(block, errors, division, endpoint)
        new, wait = self._reserve(row, division, now)
        self._seen(new or row)
        return new, wait

    def _check_budget(
        self, blocked: float | None, errors: Sequence[float], division: int, endpoint: str
    ) -> None:
        if blocked is not None:
            raise BudgetExceeded(
                f"Exact blocked this app's calls to {endpoint} in division {division} after too many "
                "failed calls (its error budget); exactmate sends none until the block ends",
                reopens_at=utc(blocked),
                endpoint=endpoint,
                division=division,
            )
        if len(errors) < self._budget:
            return
        reopens = errors[len(errors) - self._budget] + self._window  # when one fewer than the budget remain
        raise BudgetExceeded(
            f"{len(errors)} calls to {endpoint} in division {division} by this app were answered "
            f"400/401/403/404 within the last {self._window:g} s; exactmate stops at {self._budget} so "
            "that Exact, which blocks after 10, does not block the app",
            reopens_at=utc(reopens),
            endpoint=endpoint,
            division=division,
        )

    def _seen(self, row: LedgerRow | None) -> None:
        """Remember the ledger row as this process last read or wrote it."""
        if row is not None:
            self._known[row.client_id, row.division] = row

    def _adds_nothing(
        self, client_id: str, division: int, windows: Mapping[Scope, Window], now: float
    ) -> bool:
        """Whether a response would leave the row this process last saw unchanged. Then it leaves
        the stored row unchanged too: since this process saw it, other processes only lowered its
        counts or moved it to a later window, and a response about the seen window is then either
        the same news or stale. Only responses with every reset announced qualify."""
        known = self._known.get((client_id, division))
        if known is None or any(window.reset is None for window in windows.values()):
            return False
        merged = known
        for scope, window in windows.items():
            merged = _merge(merged, scope, window, now, exhausted=False)
        return merged == known

    def _reserve(
        self, row: LedgerRow | None, division: int, now: float
    ) -> tuple[LedgerRow | None, float | None]:
        """Take one call from the ledger: (row to write, None), or (None, seconds to wait)."""
        if row is None:
            return None, None  # nothing known yet: the first response will tell
        daily_left, daily_reset = _current(row.daily_limit, row.daily_remaining, row.daily_reset, now)
        if daily_left is not None and daily_left <= 0 and daily_reset is not None:
            raise RateLimitError(
                f"the daily limit of {row.daily_limit} calls for division {division} is used up",
                scope="daily",
                reset_at=utc(daily_reset),
            )
        minute_left, minute_reset = _current(
            row.minutely_limit, row.minutely_remaining, row.minutely_reset, now
        )
        if minute_left is not None and minute_left <= 0 and minute_reset is not None:
            wait = self._wait.until(minute_reset, now)
            if wait > self._wait.max_wait:
                raise RateLimitError(
                    f"the minutely limit for division {division} is used up and resets in {wait:.0f} s, "
                    f"more than the {self._wait.max_wait:g} s this governor waits",
                    scope="minutely",
                    reset_at=utc(minute_reset),
                )
            return None, wait
        reserved = replace(
            row,
            minutely_remaining=_less_one(minute_left),
            minutely_reset=minute_reset,
            daily_remaining=_less_one(daily_left),
            daily_reset=daily_reset,
        )
        return reserved, None


def daily_calls_left(row: LedgerRow | None, now: float) -> tuple[int | None, float | None]:
    """The calls ``row`` says are left today in its division at ``now``, and when they reset (None:
    not known until a response in the division says)."""
    if row is None:
        return None, None
    return _current(row.daily_limit, row.daily_remaining, row.daily_reset, now)


def _current(
    limit: int | None, remaining: int | None, reset: float | None, now: float
) -> tuple[int | None, float | None]:
    """A scope's remaining calls now: once its announced reset has passed, the window rolled over.

    A rolled window is full again (its limit) and its next reset unknown until a response says.
    """
    if reset is not None and reset <= now:
        return limit, None
    return remaining, reset


def _less_one(remaining: int | None) -> int | None:
    return None if remaining is None else max(remaining - 1, 0)


def _exhausted_scopes(windows: Mapping[Scope, Window]) -> set[Scope]:
    """Which limit a 429 is about: Exact sends only the exhausted scope's headers."""
    spent = {scope for scope, w in windows.items() if w.remaining is None or w.remaining <= 0}
    if spent:
        return spent
    return set(windows) if len(windows) == 1 else {"minutely"}


def _merge(row: LedgerRow, scope: Scope, window: Window, now: float, *, exhausted: bool) -> LedgerRow:
    """Fold one response's view of a scope into the ledger.

    Within one window, remaining calls only go down, and the ledger already subtracted calls that
    are still in flight, so the lower of the two counts wins; a response about a newer window
    replaces the ledger's count; one about an older or already past window is stale and ignored.
    """
    limit: int | None = getattr(row, f"{scope}_limit")
    remaining: int | None = getattr(row, f"{scope}_remaining")
    reset: float | None = getattr(row, f"{scope}_reset")
    limit = window.limit if window.limit is not None else limit
    newer = window.reset is not None and (reset is None or window.reset > reset + _SAME_WINDOW)
    stale = window.reset is not None and (
        window.reset <= now or (reset is not None and window.reset < reset - _SAME_WINDOW)
    )
    if stale:
        pass  # about a window that is over, or a late answer from an earlier one: only the limit is news
    elif newer and reset is not None:
        remaining, reset = window.remaining, window.reset
    else:
        if window.remaining is not None:
            remaining = window.remaining if remaining is None else min(remaining, window.remaining)
        reset = window.reset if window.reset is not None else reset
    if exhausted and not stale:
        remaining = 0
    changes: dict[str, Any] = {
        f"{scope}_limit": limit,
        f"{scope}_remaining": remaining,
        f"{scope}_reset": reset,
    }
    return replace(row, **changes)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        log.debug("ignoring a malformed rate-limit header value %r", value)
        return None
