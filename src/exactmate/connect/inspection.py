"""The calls behind a successful Test Connect: who is signed in, which divisions, how many calls left.

``current/Me`` names the user and the current division (Exact neither counts nor limits it); one
``system/Divisions`` call in the division under test lists the accessible divisions and, through its
``X-RateLimit-*`` headers, tells how many calls remain today.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exactmate.client import ExactClient
from exactmate.clock import Clock
from exactmate.connect.result import ConnectCheck, describe_age
from exactmate.errors import ExactmateError
from exactmate.governor import CallScope, parse_limits
from exactmate.http import RateGovernor

DIVISIONS_ENDPOINT = "system/Divisions"


class HeaderWatch:
    """A rate governor that passes everything on and remembers the daily limit headers it saw."""

    def __init__(self, inner: RateGovernor | None) -> None:
        self._inner = inner
        self.daily_remaining: int | None = None
        self.daily_limit: int | None = None

    def before_request(self, scope: CallScope) -> None:
        if self._inner is not None:
            self._inner.before_request(scope)

    def after_response(
        self, scope: CallScope, status: int, headers: Mapping[str, str], *, counts: bool = True
    ) -> None:
        daily = parse_limits(headers).get("daily")
        if daily is not None:
            self.daily_remaining = daily.remaining if daily.remaining is not None else self.daily_remaining
            self.daily_limit = daily.limit if daily.limit is not None else self.daily_limit
        if self._inner is not None:
            self._inner.after_response(scope, status, headers, counts=counts)

    def record_error(self, scope: CallScope, status: int) -> None:
        if self._inner is not None:
            self._inner.record_error(scope, status)

    def record_block(self, scope: CallScope, until: float) -> None:
        if self._inner is not None:
            self._inner.record_block(scope, until)


@dataclass(frozen=True)
class Probe:
    """What a test is about: an optional division to check; when the refresh token in use was issued
    (asked after the calls, which may have refreshed it); the clock."""

    division: int | None
    refresh_issued_at: Callable[[], float | None]
    clock: Clock


def inspect(client: ExactClient, watch: HeaderWatch, probe: Probe) -> ConnectCheck:
    """Call current/Me and system/Divisions; the success result (errors propagate to the diagnosis)."""
    me = client.me()
    current = me.get("CurrentDivision")
    if not isinstance(current, int):
        raise ExactmateError("Exact Online's current/Me carries no CurrentDivision")
    target = probe.division if probe.division is not None else current
    rows = client.resource(DIVISIONS_ENDPOINT, division=target).list(select=["Code", "Description"])
    divisions = tuple(sorted((int(r["Code"]), str(r.get("Description") or "")) for r in rows))
    names = dict(divisions)
    user = _user(me)
    summary = f"Connected as {user}, current division {current} ({names.get(current, 'name unknown')})"
    if target != current:
        summary += f"; division {target} ({names.get(target, 'name unknown')}) is accessible"
    details = [
        "Accessible divisions: " + (", ".join(f"{code} ({name})" for code, name in divisions) or "none"),
        _calls_line(watch, target),
    ]
    now = probe.clock.now()
    issued = probe.refresh_issued_at()
    age = None if issued is None else max(now - issued, 0.0)
    if age is not None:
        details.append(
            f"Refresh token age: {describe_age(age)} (Exact expires refresh tokens unused for 30 days)"
        )
    return ConnectCheck(
        ok=True,
        summary=summary,
        details=tuple(details),
        tested_at=now,
        user=user,
        current_division=current,
        division_name=names.get(current),
        divisions=divisions,
        daily_remaining=watch.daily_remaining,
        daily_limit=watch.daily_limit,
        refresh_token_age=age,
    )


def _user(me: Mapping[str, Any]) -> str:
    name = str(me.get("FullName") or "").strip()
    login = str(me.get("UserName") or me.get("Email") or "").strip()
    if name and login and login != name:
        return f"{name} ({login})"
    return name or login or str(me.get("UserID") or "an unnamed user")


def _calls_line(watch: HeaderWatch, division: int) -> str:
    if watch.daily_remaining is None:
        return f"Remaining daily calls: unknown (Exact sent no X-RateLimit headers for division {division})"
    limit = f" of {watch.daily_limit:,}" if watch.daily_limit is not None else ""
    return f"Remaining daily calls: {watch.daily_remaining:,}{limit} (division {division})"
