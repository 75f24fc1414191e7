"""When the exact trigger reads a scope next (``ExactEvents._read_due``): its reconciliation interval
after the last read *began*, so a reconciliation that came due while a read ran is not put off."""

from __future__ import annotations

from pathlib import Path

import pytest

from exactmate.clock import FakeClock
from exactmate.config import Settings
from exactmate.flows.events import ExactEvents, ReadReport, Scope, _Served

RECONCILE = 300.0
SCOPE = Scope("acme", "credential-id", 100001, "TimeTransactions")


def _events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> ExactEvents:
    monkeypatch.setenv("EXACTMATE_HOME", str(tmp_path))
    events = ExactEvents(None, Settings.from_env(), public_url=None, clock=clock, debounce=2.0)  # type: ignore[arg-type]
    events._scopes[SCOPE] = _Served(reconcile=RECONCILE)
    return events


def test_the_next_read_is_due_an_interval_after_the_last_began(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    events = _events(tmp_path, monkeypatch, clock)
    began = clock.now()
    monkeypatch.setattr(events, "read", lambda scope: ReadReport())
    events._read_due(SCOPE)
    assert events._due[SCOPE] == began + RECONCILE


def test_a_reconciliation_that_came_due_during_a_read_is_not_put_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    events = _events(tmp_path, monkeypatch, clock)

    def slow(scope: Scope) -> ReadReport:  # the clock passes the interval while the feed is read,
        clock.advance(RECONCILE + 1)  # and a notification arrives meanwhile
        events._pending.setdefault(scope, []).append(("Create", "late"))
        return ReadReport()

    monkeypatch.setattr(events, "read", slow)
    events._read_due(SCOPE)
    assert events._due[SCOPE] <= clock.now()  # read again at once, not an interval (or a debounce) on


def test_a_notification_during_a_read_brings_the_next_read_within_the_debounce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    events = _events(tmp_path, monkeypatch, clock)

    def notified(scope: Scope) -> ReadReport:
        clock.advance(1.0)
        events._pending.setdefault(scope, []).append(("Update", "key"))
        return ReadReport()

    monkeypatch.setattr(events, "read", notified)
    events._read_due(SCOPE)
    assert events._due[SCOPE] == clock.now() + 2.0
