"""The emulator without a web framework: one ``HttpRequest`` in, one ``HttpResponse`` out.

``Emulator.handle`` is the whole request pipeline. Adapters (``app.create_app`` for ASGI and uvicorn,
``transport.EmulatorTransport`` for in-process httpx) only translate. Per request:

1. ``/_emulator/...`` goes to the control API (no token, not counted in the statistics).
2. Size checks: a body over 10 MB gets ``413``; a URL (base URL, path and query as sent) over 6,000
   characters gets ``414``; both in Exact's error envelope. Exact documents the limits but not the
   statuses; these are the HTTP statuses for exactly these conditions.
3. Faults that act before handling (``500``, ``503``, ``drop_before``, ``slow``) and the configured latency.
4. Routing: ``/api/oauth2/auth`` (consent page), ``/api/oauth2/token``, ``/api/v1/current/Me``,
   ``/api/v1/{division}/...`` and ``/api/v1/beta/{division}/...``; anything else is an Exact-style 404.
5. For division calls: the bearer token (401 with ``WWW-Authenticate``), the division (an integer the
   consent granted, else 403 with ``Reason: NoDivisionAccess``), the error budget (429 while blocked),
   the rate limits (429), then the data plane, then webhook delivery of the stored changes and the
   ``drop_after_commit`` fault.

State lives in the parts (OAuth server, limiters, data plane) and is guarded by one lock, so the
emulator is safe to call from many threads. Waiting (latency, ``slow``) happens outside the lock.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote

from exactmate.emulator.clock import EmulatorClock, TimeSource
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.consent import ConsentPage
from exactmate.emulator.control import ControlApi, Stats, endpoint_of
from exactmate.emulator.exchange import RestRequest, RestResponse, endpoint_key, error_response
from exactmate.emulator.faults import BEFORE_KINDS, FaultInjector
from exactmate.emulator.limits import BudgetScope, ErrorBudget, RateLimiter, size_problem
from exactmate.emulator.oauth import AccessCheck, Grant, OAuthServer, oauth_error, unauthorized
from exactmate.emulator.webhooks import Deliver, Probe, WebhookDispatcher, http_probe

log = logging.getLogger("exactmate.emulator")

_WRITES = frozenset({"POST", "PUT", "DELETE"})
_DIVISION = re.compile(r"[0-9]{1,10}")
_INTERNAL_ERROR = "A problem has occurred. The cause of this issue will be investigated as soon as possible."


class DataPlane(Protocol):
    """The emulator's data half (``exactmate.emulator.rest.RestApi``): records, OData, REST rules."""

    def handle(self, req: RestRequest) -> RestResponse: ...

    def me(
        self,
        *,
        user_id: str,
        current_division: int,
        base_url: str,
        accept_json: bool,
        query: tuple[tuple[str, str], ...],
    ) -> RestResponse: ...

    def reset(self) -> None: ...

    def webhook_callbacks(self, division: int, topic: str) -> list[str]: ...

    def division_description(self, division: int) -> str: ...


@dataclass(frozen=True)
class HttpRequest:
    """A request as an adapter received it. ``path`` and ``query`` are as sent (percent-encoded);
    header names are lower case. ``read_timeout`` is the client's, when known (in-process only):
    a ``slow`` fault longer than it answers ``timed_out`` instead of sleeping."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may carry a bearer token
    body: bytes = field(default=b"", repr=False)  # may carry a client secret or a refresh token
    base_url: str = "http://127.0.0.1:8555"
    body_too_large: bool = False
    read_timeout: float | None = None

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class HttpResponse:
    """A response for an adapter to send. ``drop`` asks the adapter to close the connection instead of
    completing the response: ``"before"`` (nothing was handled) or ``"after"`` (handled and stored).
    ``timed_out``: the client's read timeout passed before the (handled) response was ready."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = field(default=b"", repr=False)  # may carry fresh tokens
    drop: Literal["before", "after"] | None = None
    timed_out: bool = False

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class _Outcome:
    response: RestResponse
    endpoint: str
    drop_after: bool = False


def _default_data_plane(config: EmulatorConfig, now: Callable[[], float], probe: Probe) -> DataPlane:
    """``RestApi``, imported when first needed: tests of the control plane over a fake data plane
    never pay for loading the catalogue and the demo data."""
    from exactmate.emulator.rest import RestApi

    return RestApi(config, now, probe_callback=probe)


class Emulator:
    """A faithful local Exact Online. ``clock``: any object with ``now()`` (epoch seconds), default
    the system time; ``deliver(url, body, headers) -> status`` POSTs webhook notifications (default
    httpx, on a background thread); ``probe(url) -> status`` checks a callback on subscription;
    ``sleep`` waits for latency and ``slow`` faults (tests inject a fake)."""

    def __init__(
        self,
        config: EmulatorConfig,
        clock: TimeSource | None = None,
        data_plane: DataPlane | None = None,
        deliver: Deliver | None = None,
        probe: Probe | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock if isinstance(clock, EmulatorClock) else EmulatorClock(clock)
        self.stats = Stats()
        self._lock = threading.Lock()
        # Requests whose client gave up before a slow answer: handled when the clock reaches their end.
        self._late: list[tuple[float, HttpRequest, str, bool]] = []
        self._late_lock = threading.Lock()
        self._sleep = sleep if sleep is not None else time.sleep
        self.oauth = OAuthServer(config)
        self.limits = RateLimiter(config)
        self.budget = ErrorBudget(config)
        self.faults = FaultInjector(config.seed)
        probe_fn = probe if probe is not None else http_probe
        self.data = (
            data_plane if data_plane is not None else _default_data_plane(config, self.clock.now, probe_fn)
        )
        self.webhooks = WebhookDispatcher(config.webhook_secret, config.client_id, deliver, self._delivered)
        self.consent = ConsentPage(config, self.oauth, self.data.division_description)
        self.control = ControlApi(self.stats, self.faults, self.clock, self.reset, self._lock)

    # -- lifecycle -----------------------------------------------------------------------------

    def reset(self, keep_tokens: bool = False) -> None:
        """Back to the demo data; forget limits, budgets, faults, statistics and (unless
        ``keep_tokens``) every code and token. The registered app and the clock stay."""
        with self._lock:
            self.data.reset()
            self.limits.reset()
            self.budget.reset()
            self.faults.clear()
            if not keep_tokens:
                self.oauth.reset()
        self.stats.reset()

    def flush_webhooks(self) -> None:
        """Wait until queued webhook notifications have been delivered or have failed."""
        self.webhooks.flush()

    def close(self) -> None:
        """Deliver queued notifications and stop the delivery thread."""
        self.webhooks.close()

    def _delivered(self, ok: bool) -> None:
        self.stats.add("webhooks_delivered" if ok else "webhooks_failed")

    # -- the pipeline --------------------------------------------------------------------------

    def may_wait(self, req: HttpRequest) -> bool:
        """Whether answering ``req`` may wait for something other than the CPU: the configured
        latency, an armed ``slow`` fault, a webhook subscription probing its callback URL, or the
        lock, held right now by another request (perhaps one that is probing).

        A server runs such requests off its event loop; the rest it may answer inline, which saves
        a thread hand-off per request (about a fifth of a key lookup's time over HTTP).
        """
        if self.config.latency_ms > 0 or self.faults.armed("slow") or self._lock.locked():
            return True
        return req.method.upper() in ("POST", "PUT") and "webhooks" in req.path.lower()

    def handle(self, req: HttpRequest) -> HttpResponse:
        """Answer one request. Never raises: an internal failure is Exact's generic 500."""
        path = unquote(req.path, errors="replace")
        accept_json = "application/json" in req.header("accept").lower()
        try:
            self._handle_late()
            if path.lower().startswith("/_emulator/"):
                name = path[len("/_emulator/") :]
                return self._reply(self.control.handle(req.method.upper(), name, req.body))
            self.stats.add("total_requests")
            refused = self._oversize(req, accept_json)
            if refused is not None:
                return self._answer(_Outcome(refused, endpoint_of(path)))
            return self._faulted(req, path, accept_json)
        except Exception:
            log.exception("emulator: unexpected failure answering %s %s", req.method, endpoint_of(path))
            return self._answer(
                _Outcome(error_response(500, _INTERNAL_ERROR, accept_json=accept_json), endpoint_of(path))
            )

    @staticmethod
    def _oversize(req: HttpRequest, accept_json: bool) -> RestResponse | None:
        url_chars = len(req.base_url) + len(req.path) + (len(req.query) + 1 if req.query else 0)
        problem = size_problem(len(req.body), req.body_too_large, url_chars)
        return None if problem is None else error_response(*problem, accept_json=accept_json)

    def _faulted(self, req: HttpRequest, path: str, accept_json: bool) -> HttpResponse:
        with self._lock:
            fault = self.faults.take(BEFORE_KINDS, path, req.method)
        if fault is not None:
            self.stats.add("faults_fired")
        if fault is not None and fault.kind == "drop_before":
            self.stats.add("dropped")
            return HttpResponse(status=502, headers=[], drop="before")
        if fault is not None and fault.kind in ("500", "503"):
            text = _INTERNAL_ERROR if fault.kind == "500" else "Service unavailable. Please try again later."
            return self._answer(
                _Outcome(error_response(int(fault.kind), text, accept_json=accept_json), endpoint_of(path))
            )
        delay = fault.seconds if fault is not None else 0.0
        if path.lower().startswith("/api/v1/"):
            delay += self.config.latency_ms / 1000.0
        if self._wait(delay, req.read_timeout):
            with self._late_lock:
                self._late.append((self.clock.now() + delay, req, path, accept_json))
            return HttpResponse(status=504, headers=[], timed_out=True)
        return self._answer(self._route(req, path, accept_json))

    def _wait(self, seconds: float, read_timeout: float | None) -> bool:
        """Sleep ``seconds``, unless that is past the client's read timeout: then say so and don't
        sleep. The request is then handled later, when the emulator's clock has moved past its end (at
        the next request from then on), as a real server finishes a request after its client gave up:
        a create that timed out can still commit after the client's first lookup."""
        if seconds <= 0:
            return False
        if read_timeout is not None and seconds > read_timeout:
            return True
        self._sleep(seconds)
        return False

    def _handle_late(self) -> None:
        """Handle the requests whose slow answer has ended by now, in the order they end."""
        now = self.clock.now()
        with self._late_lock:
            due = sorted((late for late in self._late if late[0] <= now), key=lambda late: late[0])
            self._late = [late for late in self._late if late[0] > now]
        for _, req, path, accept_json in due:
            self._answer(self._route(req, path, accept_json))

    def _answer(self, outcome: _Outcome) -> HttpResponse:
        if outcome.drop_after:
            self.stats.add("dropped")
        else:
            self.stats.answered(outcome.endpoint, outcome.response.status)
            if outcome.response.status == 429:
                self.stats.add("rate_limited")
        response = self._reply(outcome.response)
        response.drop = "after" if outcome.drop_after else None
        return response

    @staticmethod
    def _reply(rest: RestResponse) -> HttpResponse:
        headers = [("Content-Type", rest.content_type), *rest.headers.items()]
        return HttpResponse(status=rest.status, headers=headers, body=rest.body)

    def _route(self, req: HttpRequest, path: str, accept_json: bool) -> _Outcome:
        lower = path.lower().rstrip("/")
        method = req.method.upper()
        if lower == "/api/oauth2/auth":
            with self._lock:
                page = self.consent.handle(
                    method, _pairs(req.query), _pairs(_text(req.body)), self.clock.now()
                )
            return _Outcome(page, "oauth2/auth")
        if lower == "/api/oauth2/token":
            return self._token(method, req, path)
        if lower == "/api/v1/current/me":
            return _Outcome(self._me(method, req, accept_json), "current/me")
        if lower.startswith("/api/v1/beta/"):
            return self._division_call(req, path, path[len("/api/v1/beta/") :], True, accept_json)
        if lower.startswith("/api/v1/"):
            return self._division_call(req, path, path[len("/api/v1/") :], False, accept_json)
        message = (
            f"Not found: {path[:200]}. REST calls go to /api/v1/{{division}}/{{service}}/{{Endpoint}}; "
            "OAuth2 to /api/oauth2/auth and /api/oauth2/token."
        )
        return _Outcome(error_response(404, message, accept_json=accept_json), "(unknown)")

    # -- OAuth2 --------------------------------------------------------------------------------

    def _token(self, method: str, req: HttpRequest, path: str) -> _Outcome:
        if method != "POST":
            response = oauth_error(405, "invalid_request", "POST an application/x-www-form-urlencoded form.")
            response.headers["Allow"] = "POST"
            return _Outcome(response, "oauth2/token")
        form: dict[str, str] = {}
        for key, value in _pairs(_text(req.body)):
            form.setdefault(key, value)
        with self._lock:
            outcome = self.oauth.token(form, self.clock.now())
            lost = outcome.granted and outcome.grant_type == "refresh_token"
            lost = lost and self.faults.take(["lose_token_response"], path, method) is not None
        self.stats.add("token_calls")
        if outcome.grant_type == "refresh_token":
            self.stats.add("refresh_granted" if outcome.granted else "refresh_refused")
        elif outcome.granted:
            self.stats.add("code_exchanged")
        if lost:
            self.stats.add("faults_fired")
        return _Outcome(outcome.response, "oauth2/token", drop_after=lost)

    # -- REST ----------------------------------------------------------------------------------

    def _me(self, method: str, req: HttpRequest, accept_json: bool) -> RestResponse:
        check = self._access(req)
        if check.error is not None or check.grant is None:
            return unauthorized(check.error or "invalid", accept_json)
        if method != "GET":
            return error_response(
                405, "current/Me only supports GET.", accept_json=accept_json, headers={"Allow": "GET"}
            )
        with self._lock:
            return self.data.me(
                user_id=check.grant.user_id,
                current_division=min(check.grant.divisions),
                base_url=req.base_url,
                accept_json=accept_json,
                query=tuple(_pairs(req.query)),
            )

    def _access(self, req: HttpRequest) -> AccessCheck:
        with self._lock:
            return self.oauth.check_access(req.header("authorization"), self.clock.now())

    def _division_call(
        self, req: HttpRequest, path: str, rest: str, beta: bool, accept_json: bool
    ) -> _Outcome:
        division_text, _, sub = rest.partition("/")
        endpoint = endpoint_key(sub)
        check = self._access(req)
        known = _DIVISION.fullmatch(division_text) is not None
        division = int(division_text) if known else 0
        if check.error is not None or check.grant is None:
            response = unauthorized(check.error or "invalid", accept_json)
            if check.grant is not None and known:
                self._count_error(_scope(check.grant, division, endpoint), response.status)
            return _Outcome(response, endpoint)
        if not known:
            message = (
                f"The division in the URL must be a number, not {division_text[:50]!r}: use "
                "/api/v1/{division}/{service}/{Endpoint} with a division code from current/Me."
            )
            return _Outcome(error_response(400, message, accept_json=accept_json), endpoint)
        rest_req = RestRequest(
            method=req.method.upper(),
            division=division,
            path=sub,
            query=tuple(_pairs(req.query)),
            body=req.body,
            accept_json=accept_json,
            prefer_representation="return=representation" in req.header("prefer").lower(),
            base_url=req.base_url,
            beta=beta,
            granted_scopes=check.grant.scopes,
            client_id=check.grant.client_id,
            user_id=check.grant.user_id,
        )
        return self._governed(rest_req, _scope(check.grant, division, endpoint), check.grant, path)

    def _governed(self, rest_req: RestRequest, scope: BudgetScope, grant: Grant, path: str) -> _Outcome:
        """Error budget, division access, rate limits, the data plane and what follows a stored write."""
        endpoint, division, accept_json = scope[3], rest_req.division, rest_req.accept_json
        with self._lock:
            now = self.clock.now()
            until = self.budget.blocked_until(scope, now)
            if until is not None:
                self.stats.add("error_budget_refusals")
                return _Outcome(
                    error_response(429, self.budget.refusal(scope, until), accept_json=accept_json), endpoint
                )
            if division not in grant.divisions:
                self._count_error(scope, 403, now)
                return _Outcome(_no_division_access(division, accept_json), endpoint)
            decision = self.limits.take(grant.client_id, division, now)
            if not decision.allowed:
                return _Outcome(
                    error_response(429, decision.message, accept_json=accept_json, headers=decision.headers),
                    endpoint,
                )
            response = self.data.handle(rest_req)
            response.headers.update(decision.headers)
            self._count_error(scope, response.status, now)
            stored = rest_req.method in _WRITES and 200 <= response.status < 300
            queued, lost = (0, 0)
            if stored:
                lose, callbacks = self._loses(path, rest_req.method), self.data.webhook_callbacks
                queued, lost = self.webhooks.dispatch(response.changes, callbacks, now, lose)
            drop = stored and self.faults.take(["drop_after_commit"], path, rest_req.method) is not None
        if queued:
            self.stats.add("webhooks_queued", queued)
        if lost:
            self.stats.add("faults_fired", lost)
            self.stats.add("webhooks_lost", lost)
        if drop:
            self.stats.add("faults_fired")
        return _Outcome(response, endpoint, drop_after=drop)

    def _loses(self, path: str, method: str) -> Callable[[], bool]:
        """Whether a ``drop_notification`` fault swallows the next notification (called under the lock)."""
        return lambda: self.faults.take(["drop_notification"], path, method) is not None

    def _count_error(self, scope: BudgetScope, status: int, now: float | None = None) -> None:
        """Record an answer in the error budget (the caller may already hold the lock: pass ``now``)."""
        if now is None:
            with self._lock:
                started = self.budget.record(scope, status, self.clock.now())
        else:
            started = self.budget.record(scope, status, now)
        if started:
            self.stats.add("error_budget_blocks")


def _no_division_access(division: int, accept_json: bool) -> RestResponse:
    return error_response(
        403,
        f"Forbidden: no access to division {division}. The user did not grant this app access to it "
        "on the consent page, or it is not one of the user's divisions.",
        accept_json=accept_json,
        headers={"Reason": "NoDivisionAccess"},
    )


def _scope(grant: Grant, division: int, endpoint: str) -> BudgetScope:
    return (grant.client_id, grant.user_id, division, endpoint)


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _pairs(query: str) -> list[tuple[str, str]]:
    """Decoded ``key=value`` pairs in order; malformed pieces are kept as best they can be."""
    return parse_qsl(query, keep_blank_values=True, errors="replace")
