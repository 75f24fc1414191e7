"""Exact Online's call limits: the minutely and daily rate limits and the error budget.

Rate limits (api-facts 3) count per (client id, division) in *fixed* windows: the minutely window is
``config.window_seconds`` long and aligned to multiples of that length since the epoch (60 s: clock
minutes), the daily window runs from 00:00 UTC to 00:00 UTC. Every call with a division in its URL
gets all six ``X-RateLimit-*`` headers, resets in epoch milliseconds. A refused call (429) is not
counted and carries only the headers of the limit that is exhausted, as Exact's do.

The error budget: more than ``config.error_budget`` (10) answers of 400/401/403/404 for one app, user,
division and endpoint within ``error_budget_window_seconds`` (an hour) block that scope for
``error_budget_block_seconds`` (an hour). Exact escalates repeated blocks; the emulator does not.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exactmate.emulator.config import EmulatorConfig

_DAY = 86_400.0
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_URL_CHARS = 6_000
BUDGET_STATUSES = frozenset({400, 401, 403, 404})

# (client id, user id, division, endpoint key): the unit the error budget counts in.
BudgetScope = tuple[str, str, int, str]


def size_problem(body_bytes: int, body_too_large: bool, url_chars: int) -> tuple[int, str] | None:
    """Exact's request-size limits (api-facts 3.1): at most 10 MB of body and 6,000 characters of
    URL (after URL-encoding). Exact documents the limits but not its answers; the emulator gives the
    HTTP statuses for exactly these conditions, 413 and 414, with a message that says the limit."""
    if body_too_large or body_bytes > MAX_BODY_BYTES:
        return 413, (
            f"The request body is larger than Exact Online accepts: at most {MAX_BODY_BYTES} bytes "
            "(10 MB). Send less data per request."
        )
    if url_chars > MAX_URL_CHARS:
        return 414, (
            f"The URL is {url_chars} characters long; Exact Online accepts at most {MAX_URL_CHARS} "
            "(after URL-encoding). Shorten $filter or $select, or split the request."
        )
    return None


def iso_utc(ts: float) -> str:
    """``2026-01-01T00:01:00Z``: how reset moments are named in messages."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(ts: float) -> str:
    return str(int(round(ts * 1000)))


@dataclass
class _Window:
    start: float = -math.inf
    used: int = 0

    def roll(self, start: float) -> None:
        if start != self.start:
            self.start, self.used = start, 0


@dataclass
class _Counter:
    minute: _Window = field(default_factory=_Window)
    day: _Window = field(default_factory=_Window)


@dataclass(frozen=True)
class RateDecision:
    """Whether a call may proceed; the headers to send either way; the 429 message when refused."""

    allowed: bool
    headers: dict[str, str]
    message: str = ""


class RateLimiter:
    """Fixed-window counters per (client id, division). Not locked: the Emulator serialises calls."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._counters: dict[tuple[str, int], _Counter] = {}

    def reset(self) -> None:
        self._counters.clear()

    def take(self, client_id: str, division: int, now: float) -> RateDecision:
        """Count one call if both windows have room, else refuse it without counting."""
        cfg = self._config
        counter = self._counters.setdefault((client_id, division), _Counter())
        minute_start = math.floor(now / cfg.window_seconds) * cfg.window_seconds
        day_start = math.floor(now / _DAY) * _DAY
        counter.minute.roll(minute_start)
        counter.day.roll(day_start)
        minute_reset, day_reset = minute_start + cfg.window_seconds, day_start + _DAY
        minute_full = counter.minute.used >= cfg.minutely_limit
        day_full = counter.day.used >= cfg.daily_limit
        if minute_full or day_full:
            headers: dict[str, str] = {}
            if day_full:
                headers.update(self._daily(0, day_reset))
            if minute_full:
                headers.update(self._minutely(0, minute_reset))
            return RateDecision(False, headers, self._refusal(day_full, minute_reset, day_reset))
        counter.minute.used += 1
        counter.day.used += 1
        headers = self._daily(cfg.daily_limit - counter.day.used, day_reset)
        headers.update(self._minutely(cfg.minutely_limit - counter.minute.used, minute_reset))
        return RateDecision(True, headers)

    def _daily(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self._config.daily_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": _ms(reset),
        }

    def _minutely(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-RateLimit-Minutely-Limit": str(self._config.minutely_limit),
            "X-RateLimit-Minutely-Remaining": str(remaining),
            "X-RateLimit-Minutely-Reset": _ms(reset),
        }

    def _refusal(self, day_full: bool, minute_reset: float, day_reset: float) -> str:
        if day_full:
            return (
                f"API rate limit exceeded: the daily limit of {self._config.daily_limit} calls for this "
                f"app and division is used up. It resets at {iso_utc(day_reset)}."
            )
        return (
            f"API rate limit exceeded: the minutely limit of {self._config.minutely_limit} calls for "
            f"this app and division is used up. It resets at {iso_utc(minute_reset)}."
        )


class ErrorBudget:
    """Counts error answers per scope and blocks a scope that has used up its budget."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._errors: dict[BudgetScope, deque[float]] = {}
        self._blocked: dict[BudgetScope, float] = {}

    def reset(self) -> None:
        self._errors.clear()
        self._blocked.clear()

    def blocked_until(self, scope: BudgetScope, now: float) -> float | None:
        """When a blocked scope reopens, or None when it is open."""
        until = self._blocked.get(scope)
        if until is None:
            return None
        if now >= until:
            del self._blocked[scope]
            return None
        return until

    def record(self, scope: BudgetScope, status: int, now: float) -> bool:
        """Count an answer; True when it used up the budget and so started a block."""
        if status not in BUDGET_STATUSES:
            return False
        errors = self._errors.setdefault(scope, deque())
        errors.append(now)
        horizon = now - self._config.error_budget_window_seconds
        while errors and errors[0] <= horizon:
            errors.popleft()
        if len(errors) <= self._config.error_budget:
            return False
        self._blocked[scope] = now + self._config.error_budget_block_seconds
        del self._errors[scope]
        return True

    def refusal(self, scope: BudgetScope, until: float) -> str:
        """The 429 message for a blocked scope: it names the error budget and when it reopens."""
        _, _, division, endpoint = scope
        return (
            f"Error budget exceeded: more than {self._config.error_budget} error responses "
            f"(400, 401, 403, 404) for this app, user, division and endpoint within "
            f"{self._config.error_budget_window_seconds:g} seconds. Calls to {endpoint} in division "
            f"{division} are blocked until {iso_utc(until)}."
        )
