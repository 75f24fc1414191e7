"""Schedule triggers: cron expressions in the flow's time zone, on DBOS's scheduler.

DBOS fires each schedule's ticks (its workflow ids are per tick, so two ``flow serve`` processes on one
system database fire a tick once); the tick workflow starts the flow's run with the id
``<flow>:tick:<time>`` (UTC, ISO), which DBOS starts once too. What is exactmate's own is here and
runs on an injected time: which ticks a schedule has between two moments in its time zone (across
daylight-saving changes), and which missed ticks a start catches up on (``catch_up``: ``none``,
``last``: the most recent missed one, ``all``: every one since the flow last ran, at most
``MAX_CATCH_UP``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

MAX_CATCH_UP = 100
"""Missed ticks ``catch_up: all`` starts at most (a schedule every minute, down for a week, would
otherwise start ten thousand runs)."""


def tick_run_id(flow: str, tick: datetime) -> str:
    """The run id of ``flow``'s tick at ``tick`` (an aware time): one id per tick, whatever starts it."""
    return f"{flow}:tick:{tick.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def ticks_between(cron: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """The schedule's ticks in ``(after, until]`` (aware times, UTC), evaluated in ``timezone``: a
    17:00 schedule fires at 17:00 local time on both sides of a daylight-saving change."""
    zone = ZoneInfo(timezone)
    it = croniter(cron, after.astimezone(zone), second_at_beginning=len(cron.split()) == 6)
    out: list[datetime] = []
    while True:
        tick = it.get_next(datetime)
        if tick > until.astimezone(zone):
            return out
        out.append(tick.astimezone(UTC))
        if len(out) > 100_000:  # pragma: no cover - a guard against a runaway expression
            return out


def missed_ticks(
    cron: str, timezone: str, catch_up: str, *, last_tick: datetime | None, now: datetime
) -> list[datetime]:
    """The ticks a start at ``now`` catches up on, after ``last_tick`` (the latest tick the flow ran;
    None: it never ran on its schedule, so nothing is missed), per ``catch_up``."""
    if catch_up == "none" or last_tick is None:
        return []
    missed = ticks_between(cron, timezone, last_tick, now)
    if catch_up == "last":
        return missed[-1:]
    return missed[-MAX_CATCH_UP:]


def tick_of(run_id: str) -> datetime | None:
    """The tick a run id names (``<flow>:tick:<UTC ISO>``), or None for another kind of run."""
    _, kind, rest = run_id.split(":", 2) if run_id.count(":") >= 2 else ("", "", "")
    if kind != "tick":
        return None
    try:
        return datetime.strptime(rest, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
