"""The control API under ``/_emulator/``: reset, statistics, faults and the clock.

These endpoints need no token: they are a loopback tool for tests and benchmarks, not part of
Exact Online. They answer JSON; a bad request gets ``400 {"error": "<what to send instead>"}``.

- ``POST /_emulator/reset``: forget the data plane's changes (back to the demo data), every code and
  token, rate-limit windows, error budgets, faults and statistics. The registered app stays. Send
  ``{"keep_tokens": true}`` to keep issued tokens (and their consents) so authorized clients carry on.
  The clock is not turned back: time only moves forward.
- ``GET /_emulator/stats``: counters (see ``Stats``).
- ``GET|POST|DELETE /_emulator/faults``, ``POST /_emulator/faults/reset``: list, add, clear faults.
- ``GET|POST /_emulator/clock``: read the clock; ``{"advance_seconds": S}`` moves it forward.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import Any

from exactmate.emulator.clock import EmulatorClock
from exactmate.emulator.exchange import RestResponse, endpoint_key
from exactmate.emulator.faults import FaultInjector, FaultSpecError, parse_fault

_COUNTERS = (
    "total_requests",
    "rate_limited",
    "refresh_granted",
    "refresh_refused",
    "code_exchanged",
    "token_calls",
    "error_budget_blocks",
    "error_budget_refusals",
    "faults_fired",
    "dropped",
    "webhooks_queued",
    "webhooks_lost",
    "webhooks_delivered",
    "webhooks_failed",
)


def endpoint_of(path: str) -> str:
    """The statistics' name for the endpoint a (decoded) request path addresses: the REST endpoint key
    (``crm/accounts``), ``oauth2/auth``, ``oauth2/token``, ``current/me``, or ``(unknown)``."""
    lower = path.lower().rstrip("/")
    fixed = {
        "/api/oauth2/auth": "oauth2/auth",
        "/api/oauth2/token": "oauth2/token",
        "/api/v1/current/me": "current/me",
    }
    if lower in fixed:
        return fixed[lower]
    for prefix in ("/api/v1/beta/", "/api/v1/"):
        if lower.startswith(prefix):
            return endpoint_key(lower[len(prefix) :].partition("/")[2])
    return "(unknown)"


class Stats:
    """Thread-safe counters. ``rate_limited`` counts every 429 (rate limits and error budget);
    ``error_budget_blocks`` counts blocks started, ``error_budget_refusals`` the 429s they caused;
    ``by_endpoint`` maps an endpoint key (``crm/accounts``, ``oauth2/token``, ``current/me``) to
    ``{status: count}``; a dropped response counts under ``dropped``, not under a status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._by_endpoint: dict[str, dict[str, int]] = {}
        self._by_status: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(_COUNTERS, 0)
            self._by_endpoint = {}
            self._by_status = {}

    def add(self, name: str, n: int = 1) -> None:
        if name not in _COUNTERS:
            raise KeyError(f"unknown statistic {name!r}")
        with self._lock:
            self._counts[name] += n

    def answered(self, endpoint: str, status: int) -> None:
        """Count a response that reached the client."""
        key = str(status)
        with self._lock:
            per = self._by_endpoint.setdefault(endpoint, {})
            per[key] = per.get(key, 0) + 1
            self._by_status[key] = self._by_status.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self._counts,
                "by_endpoint": {k: dict(v) for k, v in sorted(self._by_endpoint.items())},
                "by_status": dict(sorted(self._by_status.items())),
            }


def _json(status: int, payload: object) -> RestResponse:
    return RestResponse(status=status, body=json.dumps(payload).encode())


def _error(status: int, message: str, allow: str | None = None) -> RestResponse:
    response = _json(status, {"error": message})
    if allow:
        response.headers["Allow"] = allow
    return response


def _body(raw: bytes) -> object:
    """The JSON body, ``{}`` when empty; ValueError with a readable message when it is not JSON."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"The body is not valid JSON ({exc}).") from None


class ControlApi:
    """Routes ``/_emulator/<name>`` calls to the emulator's parts."""

    def __init__(
        self,
        stats: Stats,
        faults: FaultInjector,
        clock: EmulatorClock,
        reset: Callable[[bool], None],
        lock: threading.Lock,
    ) -> None:
        self._stats = stats
        self._faults = faults
        self._clock = clock
        self._reset = reset
        self._lock = lock  # the emulator's state lock: faults and reset touch shared state

    def handle(self, method: str, name: str, body: bytes) -> RestResponse:
        """Answer one control call; ``name`` is the path after ``/_emulator/``."""
        routes: dict[str, dict[str, Callable[[bytes], RestResponse]]] = {
            "reset": {"POST": self._do_reset},
            "stats": {"GET": lambda _: _json(200, self._stats.snapshot())},
            "faults": {"GET": self._list_faults, "POST": self._add_fault, "DELETE": self._clear_faults},
            "faults/reset": {"POST": self._clear_faults},
            "clock": {"GET": self._read_clock, "POST": self._advance_clock},
        }
        methods = routes.get(name.strip("/"))
        if methods is None:
            names = ", ".join(f"/_emulator/{n}" for n in routes)
            return _error(404, f"No control endpoint /_emulator/{name}. Available: {names}.")
        action = methods.get(method)
        if action is None:
            allowed = ", ".join(methods)
            return _error(405, f"Use {allowed} on /_emulator/{name}.", allow=allowed)
        try:
            return action(body)
        except ValueError as exc:
            return _error(400, str(exc))

    def _do_reset(self, body: bytes) -> RestResponse:
        spec = _body(body)
        keep = spec.get("keep_tokens", False) if isinstance(spec, dict) else None
        if not isinstance(keep, bool):
            raise ValueError('Send an empty body or {"keep_tokens": true|false}.')
        self._reset(keep)
        return _json(200, {"reset": True, "kept_tokens": keep})

    def _list_faults(self, _: bytes) -> RestResponse:
        with self._lock:
            return _json(200, {"faults": self._faults.active()})

    def _add_fault(self, body: bytes) -> RestResponse:
        try:
            fault = parse_fault(_body(body))
        except FaultSpecError as exc:
            raise ValueError(str(exc)) from None
        with self._lock:
            self._faults.add(fault)
            return _json(201, {"added": fault.describe(), "faults": self._faults.active()})

    def _clear_faults(self, _: bytes) -> RestResponse:
        with self._lock:
            self._faults.clear()
        return _json(200, {"faults": []})

    def _read_clock(self, _: bytes) -> RestResponse:
        return _json(200, {"now": self._clock.now(), "offset_seconds": self._clock.offset})

    def _advance_clock(self, body: bytes) -> RestResponse:
        spec = _body(body)
        seconds = spec.get("advance_seconds") if isinstance(spec, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise ValueError('Send {"advance_seconds": S} with S a number of seconds >= 0.')
        if seconds < 0:
            raise ValueError("The emulator clock only moves forward: advance_seconds must be >= 0.")
        with self._lock:
            now = self._clock.advance(float(seconds))
        return _json(200, {"now": now, "offset_seconds": self._clock.offset})
