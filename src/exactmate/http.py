"""Exact Online's HTTP policy in one place: headers, tokens, retries, rate-limit waits, typed errors.

Every call the library makes to Exact's REST API goes through ``HttpPolicy.send``. It

- sets ``Accept: application/json`` (Exact answers XML otherwise), ``User-Agent`` and the bearer token;
- asks the rate governor before *every* attempt and reports *every* response to it, so the ledger
  and the error budget see retries too;
- on a 401 asks the token source for a fresh token once and retries once;
- retries with capped exponential backoff and full jitter, but only where repeating is safe:
  GET/PUT/DELETE after timeouts, dropped connections, 5xx and 429; POST only when the server surely
  did not process it (the connection was never made, or a 429). Exact has no idempotency key, so
  re-sending a POST after a read timeout could create the record twice;
- turns every failing status into the typed error of ``exactmate.errors``, carrying Exact's own
  message and the ``Reason`` header, and connection problems into ``APIConnectionError``.

Tokens never reach logs, messages or URLs: the token travels only in the ``Authorization`` header,
and logged URLs are reduced to their path.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib import metadata
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, quote, urlencode
from uuid import UUID

import httpx

from exactmate import odata, tls
from exactmate.clock import Clock, SystemClock, utc
from exactmate.config import DEFAULT_MAX_RETRIES
from exactmate.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BudgetExceeded,
    RateLimitError,
    status_error_class,
)
from exactmate.governor import DEFAULT_WAIT, WaitPolicy, parse_limits
from exactmate.governor import CallScope as CallScope  # the resources name their calls through http

log = logging.getLogger("exactmate.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Query parameters that could carry a secret; their values never appear in error messages.
SECRET_PARAMS = frozenset({"access_token", "refresh_token", "code", "client_secret", "token", "password"})

# Failures that prove the request never reached the server, so even a POST may be sent again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

QueryParams = Mapping[str, str] | Sequence[tuple[str, str]]

_LOG_LINE = "%s %s -> %s (attempt %d, %.0f ms)"


def _package_version() -> str:
    try:
        return metadata.version("exactmate")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0+unknown"


DEFAULT_USER_AGENT = f"exactmate/{_package_version()}"


class TokenSource(Protocol):
    """Hands out bearer tokens; ``exactmate.auth.TokenManager`` is the real one."""

    def access_token(self) -> str: ...

    def refresh_after_401(self, rejected: str) -> str: ...


class RateGovernor(Protocol):
    """Consulted before every attempt, told about every response; ``exactmate.governor.Governor``."""

    def before_request(self, scope: CallScope) -> None: ...

    def after_response(
        self, scope: CallScope, status: int, headers: Mapping[str, str], *, counts: bool = True
    ) -> None: ...

    def record_error(self, scope: CallScope, status: int) -> None: ...

    def record_block(self, scope: CallScope, until: float) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before sending a request again.

    Backoff uses "full jitter": a uniform wait in ``[0, min(max_delay, base_delay * 2**n)]`` before
    retry ``n`` (1-based), so many clients that failed together do not retry together.
    ``wait`` (the governor's ``WaitPolicy``) bounds how long a 429 may make us wait for the
    announced reset; a longer wait (the daily limit) is raised as ``RateLimitError`` instead.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay: float = 0.5
    max_delay: float = 8.0
    wait: WaitPolicy = DEFAULT_WAIT

    def backoff(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class _Call:
    """One logical request; each attempt rebuilds the httpx.Request from it with a current token."""

    method: str
    url: httpx.URL
    params: list[tuple[str, str | int | float | bool | None]] | None
    body: bytes | None
    headers: Mapping[str, str]
    scope: CallScope
    retry_safe: bool
    extensions: dict[str, Any] | None = None


def _when_sent(sent: Callable[[], None]) -> dict[str, Any]:
    """httpx's trace extension calling ``sent`` once a request has gone out whole (its body sent):
    the caller is then only waiting for the answer."""

    def trace(event: str, _info: Mapping[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):
            sent()

    return {"trace": trace}


class _NoCookies(httpx.Cookies):
    """A cookie jar that stays empty: what responses set is not kept."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore the response's ``Set-Cookie`` headers."""


class StatelessClient(httpx.Client):
    """An ``httpx.Client`` without a cookie jar, for Exact's REST API.

    The API is stateless and authenticated by the bearer token alone, so cookies a response sets
    (a load balancer's, a session's) are not kept and never ride along on later calls, which may be
    for another division or thread. It also spares reading ``Set-Cookie`` on every response, about
    a third of httpx's own work per call (see the client parse benchmark).
    """

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return _NoCookies()

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("exactmate's HTTP client keeps no cookies: Exact's REST API does not use them")


class HttpPolicy:
    """Owns the one ``httpx.Client`` of an ``ExactClient`` and sends every request through the policy.

    Thread-safe: fan-out over divisions shares one instance (and so one connection pool).
    """

    def __init__(
        self,
        *,
        tokens: TokenSource,
        governor: RateGovernor | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float = 30.0,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        """Use ``http_client`` when given (the caller keeps owning it), else build one over ``transport``."""
        self._tokens = tokens
        self._governor = governor
        self._clock: Clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._user_agent = user_agent
        self._owns_client = http_client is None
        self._sent = 0
        self._sent_lock = threading.Lock()
        self._client = http_client or StatelessClient(
            transport=transport,
            verify=tls.context() if transport is None else True,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            follow_redirects=False,
        )

    @property
    def sent(self) -> int:
        """Requests sent to Exact so far (every attempt, retries included): what a flow step's record
        counts as its calls."""
        return self._sent

    def close(self) -> None:
        """Close the HTTP client if this policy created it."""
        if self._owns_client:
            self._client.close()

    def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        scope: CallScope,
        params: QueryParams | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        sent: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """Send one request under the policy and return the successful response.

        ``idempotent`` overrides the method's default (GET/PUT/DELETE may be repeated, POST may not).
        ``sent`` is called each time the request has gone out (a read ahead waits for that).
        Raises the typed ``APIStatusError`` subclass for an error status, ``APIConnectionError`` /
        ``APITimeoutError`` when Exact could not be reached, and whatever the governor or token
        source raise (``BudgetExceeded``, daily ``RateLimitError``, ``ReauthorizationRequired``).
        """
        verb = method.upper()
        call = _Call(
            method=verb,
            url=httpx.URL(url),
            params=_pairs(params),
            body=None if json is None else jsonlib.dumps(json, default=_json_default).encode(),
            headers=dict(headers or {}),
            scope=scope,
            retry_safe=verb in IDEMPOTENT_METHODS if idempotent is None else idempotent,
            extensions=None if sent is None else _when_sent(sent),
        )
        return self._run(call)

    def _run(self, call: _Call) -> httpx.Response:
        retries = 0
        attempt = 0
        refreshed = False
        unsettled_401 = False  # a 401 not counted yet: did the refresh recover it?
        token: str | None = None
        while True:
            attempt += 1
            sent_token = token or self._tokens.access_token()
            token = None
            try:
                response = self._attempt(call, sent_token, attempt, may_recover=not refreshed)
            except httpx.TransportError as exc:
                if retries < self.retry.max_retries and _may_resend(exc, call.retry_safe):
                    retries += 1
                    self._pause(call, attempt, type(exc).__name__, self.retry.backoff(retries, self._rng))
                    continue
                raise _connection_error(exc, call) from exc
            status = response.status_code
            if status == 401 and not refreshed:
                # Not counted yet against the error budget: a refresh that recovers it makes it no
                # failure. Counted after all when the refresh, or the call after it, fails.
                refreshed = unsettled_401 = True
                try:
                    token = self._tokens.refresh_after_401(sent_token)
                except BaseException:
                    self._count_late_401(call)
                    raise
                continue
            if unsettled_401:
                unsettled_401 = False
                if status in BUDGET_STATUSES:
                    self._count_late_401(call)
            if status == 429:
                until = _budget_block_until(response, self._clock.now())
                if until is not None:
                    raise self._blocked(call, until, response)
            if status == 429 and retries < self.retry.max_retries:
                retries += 1
                self._pause(call, attempt, "429", self._rate_limit_wait(response, call))
                continue
            if status >= 500 and call.retry_safe and retries < self.retry.max_retries:
                retries += 1
                self._pause(call, attempt, str(status), self.retry.backoff(retries, self._rng))
                continue
            if not response.is_success:
                raise status_error(response, call.method)
            return response

    def _attempt(self, call: _Call, token: str, attempt: int, *, may_recover: bool) -> httpx.Response:
        """One try: governor, request, governor again. Logs without query, body or token.
        ``may_recover``: a 401 now is answered by a refresh, so it is not counted yet."""
        scope, governor, division = call.scope, self._governor, call.scope.division
        if governor is not None and division is not None:
            governor.before_request(scope)
        request = self._client.build_request(
            call.method,
            call.url,
            params=call.params,
            content=call.body,
            headers=self._headers(call, token),
            extensions=call.extensions,
        )
        started = time.perf_counter()
        with self._sent_lock:
            self._sent += 1
        try:
            response = self._client.send(request)
        except httpx.TransportError as exc:
            outcome = f"failed: {type(exc).__name__}"
            log.info(_LOG_LINE, call.method, call.url.path, outcome, attempt, _ms_since(started))
            raise
        # The body is read; an httpx response otherwise stays in a reference cycle with its stream,
        # so each 1-2 MB page would live until the cyclic collector ran. Freed by refcount instead,
        # a whole-endpoint read stays in flat memory.
        response.stream = httpx.ByteStream(response.content)
        if log.isEnabledFor(logging.DEBUG):
            elapsed = _ms_since(started)
            log.debug(_LOG_LINE, call.method, call.url.path, response.status_code, attempt, elapsed)
        if governor is not None and division is not None:
            status, headers = response.status_code, response.headers
            governor.after_response(scope, status, headers, counts=not (status == 401 and may_recover))
        return response

    def _count_late_401(self, call: _Call) -> None:
        """The 401 a refresh did not recover after all: it counts against the error budget."""
        scope = call.scope
        if self._governor is not None and scope.division is not None:
            self._governor.record_error(scope, 401)

    def _blocked(self, call: _Call, until: float, response: httpx.Response) -> BudgetExceeded:
        """Exact blocked the app here (its error budget): remembered, never retried."""
        scope = call.scope
        if self._governor is not None and scope.division is not None:
            self._governor.record_block(scope, until)
        exact = odata.error_message(response.content, response.headers.get("Content-Type")) or "HTTP 429"
        return BudgetExceeded(
            f"Exact blocked this app's calls to {scope.endpoint} (its error budget): {exact}",
            reopens_at=utc(until),
            endpoint=scope.endpoint,
            division=scope.division,
        )

    def _headers(self, call: _Call, token: str) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(call.headers)
        headers["Authorization"] = f"Bearer {token}"
        return headers

    def _pause(self, call: _Call, attempt: int, cause: str, seconds: float) -> None:
        log.warning(
            "%s %s: %s on attempt %d, retrying in %.2f s", call.method, call.url.path, cause, attempt, seconds
        )
        self._clock.sleep(seconds)

    def _rate_limit_wait(self, response: httpx.Response, call: _Call) -> float:
        """Seconds until the limit a 429 announces lifts; raises when that is the daily limit.

        Exact sends no ``Retry-After``: a minutely 429 carries ``X-RateLimit-Minutely-Reset`` (epoch
        ms) and a daily one ``X-RateLimit-Reset``. Never assume a 60-second window. Without any
        header (reported for old Exact versions) we fall back to the ordinary backoff.
        """
        limit = RateLimitInfo.from_headers(response.headers)
        if limit.scope == "daily":
            raise status_error(response, call.method)
        if limit.reset is not None:
            wait = self.retry.wait.until(limit.reset, self._clock.now())
            if wait > self.retry.wait.max_wait:
                raise status_error(response, call.method)
            return max(wait, 0.0)
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.strip().isdigit() and float(retry_after) <= self.retry.wait.max_wait:
            return float(retry_after)
        return self.retry.backoff(1, self._rng)


@dataclass(frozen=True)
class RateLimitInfo:
    """Which limit a 429 reports and when it resets (epoch seconds), read from Exact's headers."""

    scope: Literal["minutely", "daily", "unknown"]
    reset: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        """On a 429 Exact sends only the headers of the limit that ran out, so their presence decides."""
        windows = parse_limits(headers)
        minutely, daily = windows.get("minutely"), windows.get("daily")
        minutely_reset = minutely.reset if minutely else None
        daily_reset = daily.reset if daily else None
        if (minutely and minutely.remaining == 0) or (minutely_reset is not None and daily_reset is None):
            return cls("minutely", minutely_reset)
        if (daily and daily.remaining == 0) or daily_reset is not None:
            return cls("daily", daily_reset)
        return cls("unknown", None)


BUDGET_STATUSES = frozenset({400, 401, 403, 404})
_BLOCKED_UNTIL = re.compile(r"until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?")
BLOCK_SECONDS = 3600.0  # how long Exact blocks an app that used up its error budget, unless it says


def _budget_block_until(response: httpx.Response, now: float) -> float | None:
    """When the block a 429 for the error budget announces ends; None for any other 429.

    Such a 429 names the error budget and carries none of the rate-limit headers (there is no
    window to wait for). Retrying it would only be refused again, so it is remembered instead.
    """
    if RateLimitInfo.from_headers(response.headers).scope != "unknown":
        return None
    text = odata.error_message(response.content, response.headers.get("Content-Type")) or ""
    if "budget" not in text.lower():
        return None
    found = _BLOCKED_UNTIL.search(text)
    if found is None:
        return now + BLOCK_SECONDS
    zone = found.group(2) or "Z"
    moment = datetime.fromisoformat(found.group(1) + ("+00:00" if zone == "Z" else zone))
    return moment.timestamp() if moment.tzinfo else now + BLOCK_SECONDS


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _pairs(params: QueryParams | None) -> list[tuple[str, str | int | float | bool | None]] | None:
    """Query parameters as ordered pairs (httpx's own type), from a mapping or a sequence of pairs."""
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    return [(str(name), value) for name, value in items]


def _may_resend(exc: httpx.TransportError, retry_safe: bool) -> bool:
    """Any transport failure for idempotent calls; for POST only when nothing reached the server."""
    return retry_safe or isinstance(exc, _NOT_SENT)


def _connection_error(exc: httpx.TransportError, call: _Call) -> APIConnectionError:
    where = f"{call.method} {safe_url(call.url)}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"Exact Online did not answer in time ({type(exc).__name__}) for {where}",
            hint="try again later, or raise the timeout (EXACTMATE_TIMEOUT)",
        )
    return APIConnectionError(
        f"Exact Online could not be reached ({type(exc).__name__}) for {where}",
        hint="check the network and the credential's server URL",
    )


_HINTS = {
    401: "the access token was refused even after a refresh; re-authorise the credential",
    403: "check the user's rights, the divisions granted on the consent screen and the app's scopes",
    404: "check the endpoint path, the key and the division",
    405: "the endpoint does not support this method",
}


def status_error(response: httpx.Response, method: str) -> APIStatusError:
    """The typed error for an error response (one a client sent, so it knows its request): Exact's
    message, the ``Reason`` header, method and a URL without secrets."""
    status = response.status_code
    text = odata.error_message(response.content, response.headers.get("Content-Type"))
    exact_text = text or f"HTTP {status} {response.reason_phrase}".strip()
    reason = response.headers.get("Reason")
    url = safe_url(response.request.url)
    message = f"{exact_text} [{method} {response.request.url.path} -> {status}]"
    headers = {k: v for k, v in response.headers.items() if k.lower() not in {"set-cookie", "authorization"}}
    hint = _HINTS.get(status)
    error: APIStatusError
    if status == 429:
        limit = RateLimitInfo.from_headers(response.headers)
        reset_at = utc(limit.reset) if limit.reset is not None else None
        error = RateLimitError(
            message,
            scope=limit.scope,
            reset_at=reset_at,
            reason=reason,
            method=method,
            url=url,
            headers=headers,
            exact_message=exact_text,
            hint=hint,
        )
    else:
        cls = status_error_class(status)
        error = cls(
            message,
            status_code=status,
            reason=reason,
            method=method,
            url=url,
            headers=headers,
            exact_message=exact_text,
            hint=hint,
        )
    return error


def safe_url(url: httpx.URL | str) -> str:
    """The URL without user info and with secret-looking query values redacted."""
    parsed = httpx.URL(url)
    query = [
        (name, "REDACTED" if name.lower() in SECRET_PARAMS else value)
        for name, value in parse_qsl(parsed.query.decode(), keep_blank_values=True)
    ]
    cleaned = parsed.copy_with(
        username=None, password=None, query=urlencode(query, quote_via=quote, safe="$'(),:").encode() or None
    )
    return str(cleaned)


def _json_default(value: object) -> object:
    """JSON for the few non-JSON values a record may hold: GUIDs, decimals, dates (Exact's wall clock)."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return odata.format_datetime(value)
    raise TypeError(f"cannot send a value of type {type(value).__name__} to Exact Online as JSON")
