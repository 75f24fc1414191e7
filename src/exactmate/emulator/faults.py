"""Injected faults: server errors, slow answers and dropped connections, on demand.

``POST /_emulator/faults`` adds one: ``{"kind": K, "count": N}`` fires on the next N matching requests,
``{"kind": K, "rate": 0.1}`` on each matching request with that probability (a seeded RNG, so a run
repeats) until the faults are cleared. ``"path"`` limits a fault to requests whose path contains that
substring, ``"method"`` to requests of that HTTP method (so a slow POST can be tested while the
lookup GET before it is answered at once); ``"after": K`` lets the first K matching requests through
before the fault starts (the third page of a read fails, not the first); ``"seconds"`` sets the delay
of a ``slow`` fault. Kinds:

- ``500`` / ``503``: the request is answered with that server error and not handled;
- ``slow``: the request waits ``seconds`` (default 60, longer than typical client timeouts), then is handled;
- ``drop_before``: the connection closes before the request is handled;
- ``drop_after_commit``: a successful write is stored (and its webhooks sent), then the connection closes;
- ``lose_token_response``: a refresh is granted (the old refresh token is rotated out), then the
  connection closes, so the client never sees its new tokens;
- ``drop_notification``: a stored write's webhook notification is never sent, the way Exact may
  lose one (``path`` and ``method`` match the write that caused it).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

KINDS = ("500", "503", "slow", "drop_before", "drop_after_commit", "lose_token_response", "drop_notification")
BEFORE_KINDS = ("500", "503", "slow", "drop_before")
DEFAULT_SLOW_SECONDS = 60.0
_METHODS = ("GET", "POST", "PUT", "DELETE")


class FaultSpecError(ValueError):
    """A fault request that cannot be understood; the message says what to send instead."""


@dataclass
class Fault:
    """One injected fault and how often it has fired."""

    kind: str
    count: int | None
    rate: float | None
    path: str | None
    seconds: float
    method: str | None = None
    after: int = 0  # matching requests still let through before the fault starts
    fired: int = 0

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "fired": self.fired}
        if self.count is not None:
            out["remaining"] = self.count
        if self.rate is not None:
            out["rate"] = self.rate
        if self.path is not None:
            out["path"] = self.path
        if self.method is not None:
            out["method"] = self.method
        if self.kind == "slow":
            out["seconds"] = self.seconds
        if self.after:
            out["after"] = self.after
        return out


def _number(spec: Mapping[str, object], name: str) -> float | None:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultSpecError(f'"{name}" must be a number, not {value!r}.')
    return float(value)


def parse_fault(spec: object) -> Fault:
    """Validate a fault request body (already JSON-decoded)."""
    if not isinstance(spec, Mapping):
        raise FaultSpecError('Send a JSON object such as {"kind": "503", "count": 1}.')
    kind = str(spec.get("kind", ""))
    if kind not in KINDS:
        raise FaultSpecError(f'"kind" must be one of {", ".join(KINDS)}; got {spec.get("kind")!r}.')
    unknown = set(spec) - {"kind", "count", "rate", "path", "method", "seconds", "after"}
    if unknown:
        raise FaultSpecError(f"Unknown fault fields: {', '.join(sorted(unknown))}.")
    count, rate = _number(spec, "count"), _number(spec, "rate")
    if (count is None) == (rate is None):
        raise FaultSpecError('Give exactly one of "count" (a whole number >= 1) or "rate" (0 < rate <= 1).')
    if count is not None and (count < 1 or count != int(count)):
        raise FaultSpecError(f'"count" must be a whole number >= 1; got {count:g}.')
    if rate is not None and not 0 < rate <= 1:
        raise FaultSpecError(f'"rate" must be above 0 and at most 1; got {rate:g}.')
    path = spec.get("path")
    if path is not None and (not isinstance(path, str) or not path):
        raise FaultSpecError('"path" must be a non-empty string (a substring of the request path).')
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or method.upper() not in _METHODS):
        raise FaultSpecError(f'"method" must be one of {", ".join(_METHODS)}; got {method!r}.')
    seconds = _number(spec, "seconds")
    if seconds is not None and (kind != "slow" or seconds <= 0):
        raise FaultSpecError('"seconds" applies to kind "slow" only and must be above 0.')
    after = _number(spec, "after")
    if after is not None and (after < 0 or after != int(after)):
        raise FaultSpecError(f'"after" must be a whole number >= 0; got {after:g}.')
    return Fault(
        kind=kind,
        count=None if count is None else int(count),
        rate=rate,
        path=path,
        seconds=DEFAULT_SLOW_SECONDS if seconds is None else seconds,
        method=None if method is None else method.upper(),
        after=0 if after is None else int(after),
    )


class FaultInjector:
    """The active faults, in the order they were added. Not locked: the Emulator serialises calls."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault and reseed the RNG, so the next run of rate faults repeats."""
        self._faults.clear()
        self._rng = random.Random(self._seed)

    def active(self) -> list[dict[str, object]]:
        return [f.describe() for f in self._faults]

    def armed(self, kind: str) -> bool:
        """Whether a fault of ``kind`` is active (a read of a copy: safe without the lock)."""
        return any(fault.kind == kind for fault in tuple(self._faults))

    def take(self, kinds: Iterable[str], path: str, method: str) -> Fault | None:
        """The first fault of one of ``kinds`` that matches ``path`` and ``method`` and fires now (a
        counted fault uses up one of its firings and disappears after the last)."""
        wanted = set(kinds)
        method = method.upper()
        for fault in list(self._faults):
            if fault.kind not in wanted or (fault.path is not None and fault.path not in path):
                continue
            if fault.method is not None and fault.method != method:
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            if fault.rate is not None and self._rng.random() >= fault.rate:
                continue
            fault.fired += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
            return fault
        return None
