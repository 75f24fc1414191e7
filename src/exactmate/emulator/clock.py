"""The emulator's clock: a base clock plus an offset that ``POST /_emulator/clock`` moves forward.

Token, code, rate-window and error-budget expiry all read this clock, so a test (or a benchmark
against a running server) can jump past a 30-day refresh-token lifetime or a daily reset without
waiting. Time only moves forward: moving it back would let expired tokens live again.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class TimeSource(Protocol):
    """Anything that tells the time in epoch seconds (``exactmate.clock.FakeClock`` in tests)."""

    def now(self) -> float: ...


class _SystemTime:
    def now(self) -> float:
        return time.time()


class EmulatorClock:
    """``base.now()`` plus an offset that only grows. Thread-safe."""

    def __init__(self, base: TimeSource | None = None) -> None:
        self._base: TimeSource = base if base is not None else _SystemTime()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Epoch seconds as the emulator sees them."""
        with self._lock:
            offset = self._offset
        return self._base.now() + offset

    @property
    def offset(self) -> float:
        """Seconds the clock has been advanced past its base."""
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0) and return the new time."""
        if not seconds >= 0:  # also refuses NaN
            raise ValueError(f"the emulator clock only moves forward; got advance_seconds={seconds!r}")
        with self._lock:
            self._offset += seconds
        return self.now()
