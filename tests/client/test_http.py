"""HttpPolicy: headers, retries (which methods, which failures), backoff, 401 refresh, 429 waits, errors."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    BudgetExceeded,
    ConflictError,
    ForbiddenError,
    MethodNotAllowedError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnauthorizedError,
)
from exactmate.governor import WaitPolicy, Window, parse_limits
from exactmate.http import CallScope, HttpPolicy, RateLimitInfo, RetryPolicy, StatelessClient, safe_url

URL = "https://start.exactonline.nl/api/v1/100001/crm/Accounts"
SCOPE = CallScope("cred-1", "client-1", 100001, "crm/Accounts")
ME_SCOPE = CallScope("cred-1", "client-1", None, "current/Me")
TOKEN_1 = "AAEAA-secret-token-one"
TOKEN_2 = "AAEAA-secret-token-two"

Step = httpx.Response | Exception


class FakeTokens:
    def __init__(self) -> None:
        self.current = TOKEN_1
        self.rejected: list[str] = []

    def access_token(self) -> str:
        return self.current

    def refresh_after_401(self, rejected: str) -> str:
        self.rejected.append(rejected)
        self.current = TOKEN_2
        return self.current


class FakeGovernor:
    def __init__(self, refuse: Exception | None = None) -> None:
        self.before: list[tuple[str, str, int, str]] = []
        self.after: list[tuple[int, int, dict[str, str]]] = []
        self.uncounted: list[int] = []
        self.late: list[int] = []
        self.blocks: list[tuple[str, int, str, float]] = []
        self.refuse = refuse

    def before_request(self, scope: CallScope) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.before.append((scope.credential, scope.client_id, scope.governed, scope.endpoint))

    def after_response(
        self, scope: CallScope, status: int, headers: Mapping[str, str], *, counts: bool = True
    ) -> None:
        self.after.append((scope.governed, status, dict(headers)))
        if not counts:
            self.uncounted.append(status)

    def record_error(self, scope: CallScope, status: int) -> None:
        self.late.append(status)

    def record_block(self, scope: CallScope, until: float) -> None:
        self.blocks.append((scope.client_id, scope.governed, scope.endpoint, until))


class Script:
    """A MockTransport handler answering from a list of responses or exceptions, recording requests."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step


class UpperRng(random.Random):
    """Always picks the top of the jitter range, so tests can see the cap."""

    def uniform(self, a: float, b: float) -> float:
        return b


def ok(payload: Any = None, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, json=payload if payload is not None else {"d": {"results": []}}, headers=headers
    )


def exact_error(status: int, text: str, reason: str | None = None) -> httpx.Response:
    body = {"error": {"code": "", "message": {"lang": "", "value": text}}}
    return httpx.Response(status, json=body, headers={"Reason": reason} if reason else None)


def make(
    script: Callable[[httpx.Request], httpx.Response],
    *,
    governor: FakeGovernor | None = None,
    clock: FakeClock | None = None,
    tokens: FakeTokens | None = None,
    retry: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> HttpPolicy:
    return HttpPolicy(
        tokens=tokens or FakeTokens(),
        governor=governor,
        clock=clock or FakeClock(),
        retry=retry or RetryPolicy(),
        rng=rng or random.Random(7),
        transport=httpx.MockTransport(script),
    )


# -- headers --------------------------------------------------------------------------------------------


def test_sets_json_accept_user_agent_and_bearer_token() -> None:
    script = Script(ok())
    make(script).send("GET", URL, scope=SCOPE, params={"$select": "ID"})
    request = script.requests[0]
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("exactmate/")
    assert request.headers["Authorization"] == f"Bearer {TOKEN_1}"
    assert "Content-Type" not in request.headers
    assert request.url.params["$select"] == "ID"


def test_cookies_a_response_sets_are_not_sent_on_later_calls() -> None:
    script = Script(ok(headers={"Set-Cookie": "affinity=node-7; Path=/"}), ok())
    policy = make(script)
    policy.send("GET", URL, scope=SCOPE)
    policy.send("GET", URL, scope=SCOPE)
    assert "Cookie" not in script.requests[1].headers
    client = StatelessClient()
    assert not client.cookies
    with pytest.raises(TypeError, match="keeps no cookies"):
        client.cookies = {"a": "b"}  # type: ignore[assignment]
    client.close()


def test_json_body_gets_content_type_and_encodes_guids_decimals_and_dates() -> None:
    script = Script(ok(status=201))
    guid = UUID("c0ffee00-0000-4000-8000-000000000001")
    when = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    make(script).send("POST", URL, scope=SCOPE, json={"Item": guid, "Quantity": Decimal("1.5"), "Date": when})
    request = script.requests[0]
    assert request.headers["Content-Type"] == "application/json"
    # 08:30 UTC is 10:30 summer time in Amsterdam: Exact wants the wall clock, zone-less.
    assert request.content == (
        b'{"Item": "c0ffee00-0000-4000-8000-000000000001", "Quantity": 1.5, "Date": "2026-07-01T10:30:00"}'
    )


def test_unencodable_body_value_is_refused_before_any_call() -> None:
    script = Script(ok())
    with pytest.raises(TypeError, match="type object"):
        make(script).send("POST", URL, scope=SCOPE, json={"X": object()})
    assert script.requests == []


def test_caller_headers_override_defaults_but_not_the_token() -> None:
    script = Script(httpx.Response(200, text="3"))
    make(script).send("GET", URL, scope=SCOPE, headers={"Accept": "text/plain", "Authorization": "Bearer x"})
    assert script.requests[0].headers["Accept"] == "text/plain"
    assert script.requests[0].headers["Authorization"] == f"Bearer {TOKEN_1}"


# -- retries: which methods, which failures ------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(503),
        httpx.Response(500),
    ],
    ids=["read-timeout", "connect-error", "dropped", "503", "500"],
)
def test_idempotent_methods_are_retried_after_timeouts_connection_errors_and_5xx(
    method: str, failure: Step
) -> None:
    script = Script(failure, ok())
    clock = FakeClock()
    response = make(script, clock=clock).send(method, URL, scope=SCOPE)
    assert response.status_code == 200
    assert len(script.requests) == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.WriteTimeout("stuck"),
        httpx.Response(500),
        httpx.Response(503),
    ],
    ids=["read-timeout", "dropped", "write-timeout", "500", "503"],
)
def test_post_is_never_resent_when_the_server_may_have_processed_it(failure: Step) -> None:
    script = Script(failure, ok(status=201))
    clock = FakeClock()
    with pytest.raises((APIConnectionError, ServerError)):
        make(script, clock=clock).send("POST", URL, scope=SCOPE, json={"Name": "x"})
    assert len(script.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("no answer"), httpx.PoolTimeout("pool")],
    ids=["connect-error", "connect-timeout", "pool-timeout"],
)
def test_post_is_resent_when_the_request_surely_never_left(failure: Exception) -> None:
    script = Script(failure, ok(status=201))
    response = make(script).send("POST", URL, scope=SCOPE, json={"Name": "x"})
    assert response.status_code == 201
    assert len(script.requests) == 2


def test_post_is_resent_after_a_429() -> None:
    clock = FakeClock()
    reset_ms = int((clock.now() + 2) * 1000)
    script = Script(
        httpx.Response(429, headers={"X-RateLimit-Minutely-Reset": str(reset_ms)}), ok(status=201)
    )
    assert make(script, clock=clock).send("POST", URL, scope=SCOPE, json={}).status_code == 201
    assert len(script.requests) == 2


def test_idempotent_flag_overrides_the_method_default() -> None:
    post = Script(httpx.Response(500), ok())
    assert make(post).send("POST", URL, scope=SCOPE, idempotent=True).status_code == 200
    get = Script(httpx.Response(500), ok())
    with pytest.raises(ServerError):
        make(get).send("GET", URL, scope=SCOPE, idempotent=False)
    assert len(get.requests) == 1


def test_retries_stop_after_max_retries_with_the_typed_error() -> None:
    script = Script(exact_error(503, "Service unavailable"))
    clock = FakeClock()
    with pytest.raises(ServerError, match="Service unavailable"):
        make(script, clock=clock, retry=RetryPolicy(max_retries=3)).send("GET", URL, scope=SCOPE)
    assert len(script.requests) == 4
    assert len(clock.sleeps) == 3


def test_4xx_other_than_401_and_429_are_not_retried() -> None:
    script = Script(exact_error(400, "Error in query syntax."), ok())
    with pytest.raises(BadRequestError):
        make(script).send("GET", URL, scope=SCOPE)
    assert len(script.requests) == 1


def test_timeout_after_retries_is_an_api_timeout_error_and_connection_errors_are_api_connection_errors() -> (
    None
):
    with pytest.raises(APITimeoutError, match="did not answer in time"):
        make(Script(httpx.ReadTimeout("slow")), retry=RetryPolicy(max_retries=1)).send(
            "GET", URL, scope=SCOPE
        )
    with pytest.raises(APIConnectionError, match="could not be reached") as caught:
        make(Script(httpx.ConnectError("refused")), retry=RetryPolicy(max_retries=0)).send(
            "GET", URL, scope=SCOPE
        )
    assert not isinstance(caught.value, APITimeoutError)


# -- backoff --------------------------------------------------------------------------------------------


def test_backoff_is_exponential_and_capped() -> None:
    script = Script(httpx.Response(503))
    clock = FakeClock()
    policy = RetryPolicy(max_retries=6, base_delay=0.5, max_delay=4.0)
    with pytest.raises(ServerError):
        make(script, clock=clock, retry=policy, rng=UpperRng()).send("GET", URL, scope=SCOPE)
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_full_jitter_stays_within_bounds_and_actually_varies() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    rng = random.Random(20260101)
    for retry in range(1, 9):
        ceiling = min(8.0, 0.5 * 2 ** (retry - 1))
        waits = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8 and min(waits) < ceiling * 0.2


def test_seeded_jitter_is_reproducible() -> None:
    def sleeps(seed: int) -> list[float]:
        clock = FakeClock()
        with pytest.raises(ServerError):
            make(Script(httpx.Response(502)), clock=clock, rng=random.Random(seed)).send(
                "GET", URL, scope=SCOPE
            )
        return clock.sleeps

    assert sleeps(1) == sleeps(1)
    assert sleeps(1) != sleeps(2)


# -- 401: refresh once, retry once -------------------------------------------------------------------- -


def test_401_refreshes_once_and_retries_with_the_new_token() -> None:
    tokens = FakeTokens()
    script = Script(exact_error(401, "Access token expired"), ok())
    assert make(script, tokens=tokens).send("GET", URL, scope=SCOPE).status_code == 200
    assert tokens.rejected == [TOKEN_1]
    assert [r.headers["Authorization"] for r in script.requests] == [f"Bearer {TOKEN_1}", f"Bearer {TOKEN_2}"]


def test_second_401_is_raised_without_another_refresh() -> None:
    tokens = FakeTokens()
    script = Script(httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}))
    with pytest.raises(UnauthorizedError) as caught:
        make(script, tokens=tokens).send("GET", URL, scope=SCOPE)
    assert tokens.rejected == [TOKEN_1]
    assert len(script.requests) == 2
    assert caught.value.hint is not None and "re-authorise" in caught.value.hint
    assert TOKEN_1 not in str(caught.value) and TOKEN_2 not in str(caught.value)


def test_401_on_post_is_retried_once_after_refresh_too() -> None:
    # A 401 means the request was refused before any processing, so sending it again is safe.
    tokens = FakeTokens()
    script = Script(httpx.Response(401), ok(status=201))
    assert make(script, tokens=tokens).send("POST", URL, scope=SCOPE, json={}).status_code == 201


def test_a_401_the_refresh_recovers_is_not_counted_against_the_error_budget() -> None:
    governor = FakeGovernor()
    script = Script(exact_error(401, "Access token expired"), ok())
    make(script, governor=governor).send("GET", URL, scope=SCOPE)
    assert governor.uncounted == [401] and governor.late == []


def test_a_401_the_refresh_does_not_recover_is_counted_after_all() -> None:
    governor = FakeGovernor()
    with pytest.raises(UnauthorizedError):
        make(Script(httpx.Response(401)), governor=governor).send("GET", URL, scope=SCOPE)
    assert governor.uncounted == [401] and governor.late == [401]  # and the second 401 counted as usual
    assert [status for _, status, _ in governor.after] == [401, 401]


# -- 429 ------------------------------------------------------------------------------------------------


def test_an_error_budget_429_is_remembered_and_never_retried() -> None:
    clock = FakeClock()
    text = (
        "Error budget exceeded: more than 10 error responses (400, 401, 403, 404) for this app, user, "
        "division and endpoint within 3600 seconds. Calls to crm/Accounts in division 100001 are blocked "
        "until 2026-01-01T01:00:00Z."
    )
    script = Script(exact_error(429, text), ok())
    governor = FakeGovernor()
    with pytest.raises(BudgetExceeded, match="Exact blocked this app's calls to crm/Accounts") as caught:
        make(script, governor=governor, clock=clock).send("GET", URL, scope=SCOPE)
    assert len(script.requests) == 1  # not retried
    until = datetime(2026, 1, 1, 1, 0, tzinfo=UTC).timestamp()
    assert governor.blocks == [("client-1", 100001, "crm/Accounts", until)]
    assert caught.value.reopens_at == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    unnamed = Script(exact_error(429, "Error budget exceeded."), ok())
    with pytest.raises(BudgetExceeded):
        make(unnamed, governor=governor, clock=clock).send("GET", URL, scope=SCOPE)
    assert governor.blocks[-1][3] == clock.now() + 3600  # an hour when Exact does not say




def test_minutely_429_waits_for_the_announced_reset_then_retries() -> None:
    clock = FakeClock()
    reset = clock.now() + 7.5  # not a 60-second assumption: whatever the header says
    headers = {
        "X-RateLimit-Minutely-Limit": "60",
        "X-RateLimit-Minutely-Remaining": "0",
        "X-RateLimit-Minutely-Reset": str(int(reset * 1000)),
    }
    script = Script(httpx.Response(429, headers=headers), ok())
    policy = RetryPolicy(wait=WaitPolicy(margin=0.25))
    assert make(script, clock=clock, retry=policy).send("GET", URL, scope=SCOPE).status_code == 200
    assert clock.sleeps == [pytest.approx(7.75)]
    assert clock.now() >= reset


def test_429_with_a_reset_already_past_retries_without_waiting_longer_than_the_margin() -> None:
    clock = FakeClock()
    headers = {
        "X-RateLimit-Minutely-Remaining": "0",
        "X-RateLimit-Minutely-Reset": str(int((clock.now() - 5) * 1000)),
    }
    script = Script(httpx.Response(429, headers=headers), ok())
    make(script, clock=clock, retry=RetryPolicy(wait=WaitPolicy(margin=0.0))).send("GET", URL, scope=SCOPE)
    assert clock.sleeps == [0.0]


def test_daily_429_raises_at_once_with_scope_and_reset() -> None:
    clock = FakeClock()
    reset = clock.now() + 3 * 3600
    headers = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(reset * 1000)),
    }
    script = Script(httpx.Response(429, headers=headers), ok())
    with pytest.raises(RateLimitError) as caught:
        make(script, clock=clock).send("GET", URL, scope=SCOPE)
    assert caught.value.scope == "daily"
    assert caught.value.reset_at == datetime.fromtimestamp(int(reset), tz=UTC)
    assert clock.sleeps == []
    assert len(script.requests) == 1


def test_a_minutely_reset_too_far_away_is_raised_rather_than_slept() -> None:
    clock = FakeClock()
    headers = {
        "X-RateLimit-Minutely-Remaining": "0",
        "X-RateLimit-Minutely-Reset": str(int((clock.now() + 900) * 1000)),
    }
    with pytest.raises(RateLimitError) as caught:
        make(Script(httpx.Response(429, headers=headers)), clock=clock).send("GET", URL, scope=SCOPE)
    assert caught.value.scope == "minutely"
    assert clock.sleeps == []


def test_429_without_headers_backs_off() -> None:
    clock = FakeClock()
    script = Script(httpx.Response(429), ok())
    make(script, clock=clock, rng=UpperRng()).send("GET", URL, scope=SCOPE)
    assert clock.sleeps == [0.5]


def test_429_honours_retry_after_when_present() -> None:
    clock = FakeClock()
    script = Script(httpx.Response(429, headers={"Retry-After": "3"}), ok())
    make(script, clock=clock).send("GET", URL, scope=SCOPE)
    assert clock.sleeps == [3.0]


def test_429s_beyond_the_retry_budget_raise_rate_limit_error() -> None:
    clock = FakeClock()

    def always_429(request: httpx.Request) -> httpx.Response:
        reset = int((clock.now() + 1) * 1000)
        return httpx.Response(
            429, headers={"X-RateLimit-Minutely-Remaining": "0", "X-RateLimit-Minutely-Reset": str(reset)}
        )

    with pytest.raises(RateLimitError) as caught:
        make(always_429, clock=clock, retry=RetryPolicy(max_retries=2)).send("GET", URL, scope=SCOPE)
    assert caught.value.scope == "minutely"
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(
    ("headers", "scope"),
    [
        ({"X-RateLimit-Minutely-Remaining": "0", "X-RateLimit-Minutely-Reset": "1767225660000"}, "minutely"),
        ({"X-RateLimit-Minutely-Reset": "1767225660000"}, "minutely"),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1767312000000"}, "daily"),
        ({}, "unknown"),
        ({"X-RateLimit-Minutely-Reset": "soon"}, "unknown"),
    ],
)
def test_rate_limit_info_reads_which_limit_ran_out(headers: dict[str, str], scope: str) -> None:
    assert RateLimitInfo.from_headers(httpx.Headers(headers)).scope == scope


# -- governor -------------------------------------------------------------------------------------------


def test_governor_is_consulted_before_every_attempt_and_told_every_response() -> None:
    governor = FakeGovernor()
    script = Script(httpx.Response(503), httpx.ReadTimeout("slow"), exact_error(401, "expired"), ok())
    make(script, governor=governor).send("GET", URL, scope=SCOPE)
    assert len(governor.before) == 4
    assert governor.before[0] == ("cred-1", "client-1", 100001, "crm/Accounts")
    assert [status for _, status, _ in governor.after] == [503, 401, 200]  # the timeout had no response


def test_governor_receives_the_rate_limit_headers() -> None:
    governor = FakeGovernor()
    make(Script(ok(headers={"X-RateLimit-Minutely-Remaining": "59"})), governor=governor).send(
        "GET", URL, scope=SCOPE
    )
    assert governor.after[0][2]["x-ratelimit-minutely-remaining"] == "59"


def test_calls_without_a_division_skip_the_governor() -> None:
    governor = FakeGovernor()
    make(Script(ok()), governor=governor).send(
        "GET", "https://start.exactonline.nl/api/v1/current/Me", scope=ME_SCOPE
    )
    assert governor.before == [] and governor.after == []


def test_a_governor_refusal_costs_no_call() -> None:
    refusal = BudgetExceeded(
        "budget", reopens_at=datetime(2026, 1, 1, tzinfo=UTC), endpoint="crm/Accounts", division=1
    )
    script = Script(ok())
    with pytest.raises(BudgetExceeded):
        make(script, governor=FakeGovernor(refuse=refusal)).send("GET", URL, scope=SCOPE)
    assert script.requests == []


# -- error mapping --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (405, MethodNotAllowedError),
        (409, ConflictError),
        (418, APIStatusError),
    ],
)
def test_statuses_map_to_typed_errors_with_exacts_message_and_reason(
    status: int, cls: type[APIStatusError]
) -> None:
    script = Script(exact_error(status, "Verplicht: Factuur voor", reason="NoDivisionAccess"))
    with pytest.raises(cls) as caught:
        make(script).send("GET", URL + "(guid'c0ffee00-0000-4000-8000-000000000001')", scope=SCOPE)
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.exact_message == "Verplicht: Factuur voor"
    assert error.reason == "NoDivisionAccess"
    assert error.method == "GET"
    assert error.url is not None and error.url.startswith(URL)
    assert "Verplicht: Factuur voor" in str(error) and "Reason: NoDivisionAccess" in str(error)
    assert "/api/v1/100001/crm/Accounts" in str(error)


def test_error_without_an_exact_envelope_says_the_status() -> None:
    with pytest.raises(NotFoundError, match="HTTP 404 Not Found"):
        make(Script(httpx.Response(404, text="<html>nope</html>"))).send("GET", URL, scope=SCOPE)


def test_secrets_never_reach_error_messages_urls_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="exactmate.http")
    url = URL + "?code=XTzM!IAAAA-secret-code&access_token=leaked&$top=1"
    script = Script(
        httpx.Response(503),
        httpx.ConnectError("refused"),
        exact_error(401, "expired"),
        exact_error(400, "bad"),
    )
    with pytest.raises(BadRequestError) as caught:
        make(script).send("GET", url, scope=SCOPE)
    error = caught.value
    for secret in (TOKEN_1, TOKEN_2, "XTzM!IAAAA-secret-code", "leaked"):
        assert secret not in str(error)
        assert secret not in (error.url or "")
        assert secret not in repr(error.headers)
        assert secret not in caplog.text
    assert "REDACTED" in (error.url or "")
    assert "$top=1" in (error.url or "")
    assert "GET /api/v1/100001/crm/Accounts -> 503 (attempt 1" in caplog.text
    assert "attempt 4" in caplog.text


def test_connection_error_messages_carry_no_secret() -> None:
    url = URL + "?access_token=leaked"
    with pytest.raises(APIConnectionError) as caught:
        make(Script(httpx.ConnectError("refused")), retry=RetryPolicy(max_retries=0)).send(
            "GET", url, scope=SCOPE
        )
    assert "leaked" not in str(caught.value)
    assert "crm/Accounts" in str(caught.value)


def test_safe_url_drops_user_info_and_redacts_secret_parameters() -> None:
    cleaned = safe_url(
        "https://user:pw@start.exactonline.nl/api/oauth2/token?refresh_token=r&client_secret=s&a=b"
    )
    assert "pw" not in cleaned and "user" not in cleaned
    assert "refresh_token=REDACTED" in cleaned and "client_secret=REDACTED" in cleaned and "a=b" in cleaned


# -- ownership ------------------------------------------------------------------------------------------


def test_a_given_http_client_is_used_and_left_open() -> None:
    script = Script(ok())
    given = httpx.Client(transport=httpx.MockTransport(script))
    policy = HttpPolicy(tokens=FakeTokens(), clock=FakeClock(), http_client=given)
    policy.send("GET", URL, scope=SCOPE)
    policy.close()
    assert not given.is_closed
    assert len(script.requests) == 1
    given.close()


def test_an_own_http_client_is_closed() -> None:
    policy = make(Script(ok()))
    policy.close()
    with pytest.raises(RuntimeError):
        policy.send("GET", URL, scope=SCOPE)


def test_responses_are_freed_without_the_cyclic_collector() -> None:
    """Whole-endpoint reads stay in flat memory only if each page's response dies with its last
    reference; httpx would otherwise keep it in a reference cycle until the collector runs."""
    import gc
    import weakref

    from exactmate.http import CallScope, HttpPolicy

    class Tokens:
        def access_token(self) -> str:
            return "t"

        def refresh_after_401(self, rejected: str) -> str:
            return "t"

    policy = HttpPolicy(
        tokens=Tokens(),
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"d": {"results": []}})),
    )
    gc.disable()
    try:
        response = policy.send(
            "GET",
            "https://start.exactonline.nl/api/v1/1/crm/Accounts",
            scope=CallScope("c", "id", None, "crm/accounts"),
        )
        ref = weakref.ref(response)
        del response
        assert ref() is None
    finally:
        gc.enable()


def test_errors_carry_exact_message_and_hint_from_their_constructor() -> None:
    error = NotFoundError(
        "Not found [GET /x -> 404]", status_code=404, exact_message="Not found", hint="check the key"
    )
    assert (error.exact_message, error.hint) == ("Not found", "check the key")
    assert str(error) == "Not found [GET /x -> 404] (check the key)"
    limited = RateLimitError(
        "Too many [GET /x -> 429]", scope="minutely", reset_at=None, exact_message="Too many", hint="wait"
    )
    assert (limited.exact_message, limited.hint) == ("Too many", "wait")
    assert NotFoundError("plain", status_code=404).exact_message == "plain"


ALL_HEADERS = {
    "X-RateLimit-Limit": "5000",
    "X-RateLimit-Remaining": "4999",
    "X-RateLimit-Reset": "1700000000000",
    "X-RateLimit-Minutely-Limit": "60",
    "X-RateLimit-Minutely-Remaining": "0",
    "X-RateLimit-Minutely-Reset": "1700000060500",
}


def test_one_parser_reads_all_six_headers_with_epoch_ms_resets() -> None:
    windows = parse_limits(ALL_HEADERS)
    assert windows["daily"] == Window(5000, 4999, 1_700_000_000.0)
    assert windows["minutely"] == Window(60, 0, 1_700_000_060.5)
    assert RateLimitInfo.from_headers(ALL_HEADERS) == RateLimitInfo("minutely", 1_700_000_060.5)


def test_rate_limit_info_reads_through_the_governors_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    import exactmate.http as http_module

    seen: list[Mapping[str, str]] = []

    def spy(headers: Mapping[str, str]) -> dict[str, Window]:
        seen.append(headers)
        return dict(parse_limits(headers))

    monkeypatch.setattr(http_module, "parse_limits", spy)
    RateLimitInfo.from_headers({"X-RateLimit-Reset": "1700000000000"})
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-minutely-reset": "1700000060000"}, RateLimitInfo("minutely", 1_700_000_060.0)),
        ({"X-RateLimit-Remaining": "0"}, RateLimitInfo("daily", None)),
        ({"X-RateLimit-Minutely-Reset": "soon"}, RateLimitInfo("unknown", None)),
        ({}, RateLimitInfo("unknown", None)),
    ],
)
def test_minutely_daily_missing_and_garbled_headers(headers: dict[str, str], expected: RateLimitInfo) -> None:
    assert RateLimitInfo.from_headers(headers) == expected
    garbled = parse_limits(
        {"X-RateLimit-Limit": "many", "X-RateLimit-Remaining": " 7 ", "X-RateLimit-Reset": "x"}
    )
    assert garbled == {"daily": Window(None, 7, None)}
