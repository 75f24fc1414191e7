"""Division access, rate limits and the error budget, over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.emulator.control.conftest import Env, MakeEnv

RATE_HEADERS = {
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-minutely-limit",
    "x-ratelimit-minutely-remaining",
    "x-ratelimit-minutely-reset",
}
DAILY = {h for h in RATE_HEADERS if "minutely" not in h}
MINUTELY = RATE_HEADERS - DAILY
START = 1_767_261_600.0  # 2026-01-01T10:00:00Z, a minute boundary


def _rate_headers(answer: object) -> set[str]:
    return {k for k in answer.headers if k.startswith("x-ratelimit")}  # type: ignore[attr-defined]


def _accounts(env: Env, division: int | None = None) -> str:
    return f"/api/v1/{division or env.config.accessible_divisions[0]}/crm/Accounts"


# -- division access ----------------------------------------------------------------------------


def test_divisions_outside_the_consent_are_forbidden(env: Env) -> None:
    first, second = env.config.accessible_divisions
    tokens = env.login([first])
    assert env.client.get(_accounts(env, first), headers=env.headers(tokens)).status_code == 200
    for division in (second, env.config.forbidden_division, 999_999):
        answer = env.client.get(_accounts(env, division), headers=env.headers(tokens))
        assert answer.status_code == 403, division
        assert answer.headers["reason"] == "NoDivisionAccess"
        assert f"no access to division {division}" in answer.json()["error"]["message"]["value"]
        assert not _rate_headers(answer)
    assert [r.division for r in env.data.requests] == [first]


def test_the_division_must_be_a_number(env: Env) -> None:
    tokens = env.login()
    for bad in ("abc", "12x", "-1", "1" * 11):
        answer = env.client.get(f"/api/v1/{bad}/crm/Accounts", headers=env.headers(tokens))
        assert answer.status_code == 400, bad
        assert "must be a number" in answer.json()["error"]["message"]["value"]


def test_the_data_plane_gets_the_grant_and_the_request(env: Env) -> None:
    tokens = env.login()
    division = env.config.accessible_divisions[1]
    headers = {**env.headers(tokens), "Prefer": "return=representation"}
    answer = env.client.get(
        f"/api/v1/{division}/CRM/Accounts(guid'00000000-0000-0000-0000-000000000001')",
        params={"$select": "ID,Name", "$filter": "Name eq 'a b'"},
        headers=headers,
    )
    assert answer.status_code == 200
    req = env.data.requests[-1]
    assert req.division == division and req.method == "GET" and not req.beta
    assert req.path == "CRM/Accounts(guid'00000000-0000-0000-0000-000000000001')"
    assert req.query == (("$select", "ID,Name"), ("$filter", "Name eq 'a b'"))
    assert req.accept_json and req.prefer_representation
    assert req.base_url == "http://127.0.0.1:8555"
    assert req.client_id == env.config.client_id and req.user_id
    assert req.granted_scopes is None


def test_beta_calls_reach_the_data_plane_flagged(make_env: MakeEnv) -> None:
    env = make_env(scopes=("Projects billing",))
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    env.client.get(f"/api/v1/beta/{division}/budget/BudgetScenarios", headers=env.headers(tokens))
    req = env.data.requests[-1]
    assert req.beta and req.path == "budget/BudgetScenarios" and req.division == division
    assert req.granted_scopes == frozenset({"Projects billing"})



def test_current_me_names_a_granted_division_and_is_not_rate_limited(make_env: MakeEnv) -> None:
    env = make_env(minutely_limit=1)
    tokens = env.login([env.config.accessible_divisions[1]])
    for _ in range(3):
        answer = env.client.get(
            "/api/v1/current/Me", params={"$select": "CurrentDivision"}, headers=env.headers(tokens)
        )
        assert answer.status_code == 200
        assert not _rate_headers(answer)
    call = env.data.me_calls[-1]
    assert call["current_division"] == env.config.accessible_divisions[1]
    assert call["query"] == (("$select", "CurrentDivision"),)
    assert env.client.post("/api/v1/current/Me", headers=env.headers(tokens)).status_code == 405
    assert env.client.get("/api/v1/current/Me").status_code == 401


# -- rate limits --------------------------------------------------------------------------------


def test_every_division_call_carries_all_six_headers_with_epoch_ms_resets(env: Env) -> None:
    tokens = env.login()
    env.advance(15)
    answer = env.client.get(_accounts(env), headers=env.headers(tokens))
    assert _rate_headers(answer) == RATE_HEADERS
    h = answer.headers
    assert (h["x-ratelimit-limit"], h["x-ratelimit-remaining"]) == ("5000", "4999")
    assert (h["x-ratelimit-minutely-limit"], h["x-ratelimit-minutely-remaining"]) == ("60", "59")
    assert h["x-ratelimit-minutely-reset"] == str(int((START + 60) * 1000))
    assert h["x-ratelimit-reset"] == "1767312000000"  # 2026-01-02T00:00:00Z
    # error answers from the data plane carry them too
    missing = env.client.get(
        f"/api/v1/{env.config.accessible_divisions[0]}/crm/Nope", headers=env.headers(tokens)
    )
    assert missing.status_code == 404 and _rate_headers(missing) == RATE_HEADERS


def test_the_minutely_limit_gives_a_429_with_only_minutely_headers(make_env: MakeEnv) -> None:
    env = make_env(minutely_limit=3)
    tokens = env.login()
    statuses = [env.client.get(_accounts(env), headers=env.headers(tokens)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = env.client.get(_accounts(env), headers=env.headers(tokens))
    assert refused.status_code == 429
    assert _rate_headers(refused) == MINUTELY
    assert refused.headers["x-ratelimit-minutely-remaining"] == "0"
    assert "minutely limit of 3 calls" in refused.json()["error"]["message"]["value"]
    assert "retry-after" not in refused.headers
    assert len(env.data.requests) == 3  # the refused call never reached the data plane


def test_limits_count_per_division(make_env: MakeEnv) -> None:
    env = make_env(minutely_limit=1)
    tokens = env.login()
    first, second = env.config.accessible_divisions
    assert env.client.get(_accounts(env, first), headers=env.headers(tokens)).status_code == 200
    assert env.client.get(_accounts(env, second), headers=env.headers(tokens)).status_code == 200
    assert env.client.get(_accounts(env, first), headers=env.headers(tokens)).status_code == 429


def test_the_window_reopens_when_the_clock_is_advanced_over_http(make_env: MakeEnv) -> None:
    env = make_env(minutely_limit=2, window_seconds=10)
    tokens = env.login()
    for _ in range(2):
        env.client.get(_accounts(env), headers=env.headers(tokens))
    refused = env.client.get(_accounts(env), headers=env.headers(tokens))
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-minutely-reset"] == str(int((START + 10) * 1000))
    moved = env.client.post("/_emulator/clock", json={"advance_seconds": 10})
    assert moved.status_code == 200 and moved.json()["offset_seconds"] == 10
    again = env.client.get(_accounts(env), headers=env.headers(tokens))
    assert again.status_code == 200
    assert again.headers["x-ratelimit-minutely-remaining"] == "1"
    assert again.headers["x-ratelimit-remaining"] == str(env.config.daily_limit - 3)


def test_windows_are_aligned_to_multiples_of_their_length(make_env: MakeEnv) -> None:
    env = make_env(start=START + 7, window_seconds=60)
    tokens = env.login()
    answer = env.client.get(_accounts(env), headers=env.headers(tokens))
    assert answer.headers["x-ratelimit-minutely-reset"] == str(int((START + 60) * 1000))


def test_the_daily_limit_gives_only_daily_headers_and_resets_at_midnight_utc(make_env: MakeEnv) -> None:
    env = make_env(start=1_767_311_940.0, daily_limit=2)  # 2026-01-01T23:59:00Z
    tokens = env.login()
    for _ in range(2):
        assert env.client.get(_accounts(env), headers=env.headers(tokens)).status_code == 200
    refused = env.client.get(_accounts(env), headers=env.headers(tokens))
    assert refused.status_code == 429
    assert _rate_headers(refused) == DAILY
    assert refused.headers["x-ratelimit-reset"] == "1767312000000"
    assert "daily limit of 2 calls" in refused.json()["error"]["message"]["value"]
    env.advance(59)  # 23:59:59: still the same day
    assert env.client.get(_accounts(env), headers=env.headers(tokens)).status_code == 429
    env.advance(1)  # 00:00:00 UTC
    answer = env.client.get(_accounts(env), headers=env.headers(tokens))
    assert answer.status_code == 200
    assert answer.headers["x-ratelimit-remaining"] == "1"
    assert answer.headers["x-ratelimit-reset"] == "1767398400000"


def test_concurrent_calls_are_counted_exactly(make_env: MakeEnv) -> None:
    env = make_env(minutely_limit=50)
    tokens = env.login()
    headers = env.headers(tokens)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda _: env.client.get(_accounts(env), headers=headers).status_code, range(80))
        )
    assert statuses.count(200) == 50 and statuses.count(429) == 30
    assert env.client.get("/_emulator/stats").json()["rate_limited"] == 30


# -- error budget -------------------------------------------------------------------------------


def test_more_than_ten_errors_block_the_scope_for_an_hour(env: Env) -> None:
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    bad = f"/api/v1/{division}/crm/Missing"
    for _ in range(11):
        assert env.client.get(bad, headers=env.headers(tokens)).status_code == 404
    blocked = env.client.get(bad, headers=env.headers(tokens))
    assert blocked.status_code == 429
    message = blocked.json()["error"]["message"]["value"]
    assert message.startswith("Error budget exceeded")
    assert "crm/missing" in message and "2026-01-01T11:00:00Z" in message
    assert not _rate_headers(blocked)
    # other endpoints and other divisions are not blocked
    assert env.client.get(_accounts(env, division), headers=env.headers(tokens)).status_code == 200
    other = f"/api/v1/{env.config.accessible_divisions[1]}/crm/Missing"
    assert env.client.get(other, headers=env.headers(tokens)).status_code == 404
    env.advance(3599)
    tokens = env.login()  # the first access token has expired by now
    assert env.client.get(bad, headers=env.headers(tokens)).status_code == 429
    env.advance(1)
    assert env.client.get(bad, headers=env.headers(tokens)).status_code == 404
    stats = env.client.get("/_emulator/stats").json()
    assert stats["error_budget_blocks"] == 1 and stats["error_budget_refusals"] == 2


def test_errors_older_than_the_window_do_not_count(env: Env) -> None:
    tokens = env.login()
    bad = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Missing"
    for _ in range(10):
        env.client.get(bad, headers=env.headers(tokens))
        env.advance(400)  # 10 errors spread over 4000 s: never more than 10 within an hour
    # the access token expired meanwhile: fresh tokens for the same user
    assert env.client.get(bad, headers=env.headers(env.login())).status_code == 404
    assert env.client.get(bad, headers=env.headers(env.login())).status_code == 404


def test_no_division_access_answers_count_against_the_budget(env: Env) -> None:
    tokens = env.login([env.config.accessible_divisions[0]])
    url = _accounts(env, env.config.accessible_divisions[1])
    statuses = [env.client.get(url, headers=env.headers(tokens)).status_code for _ in range(12)]
    assert statuses == [403] * 11 + [429]


def test_expired_tokens_count_against_the_budget(make_env: MakeEnv) -> None:
    env = make_env(error_budget=2)
    tokens = env.login()
    env.advance(600)
    statuses = [env.client.get(_accounts(env), headers=env.headers(tokens)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    fresh = env.login()
    blocked = env.client.get(_accounts(env), headers=env.headers(fresh))
    assert blocked.status_code == 429 and "Error budget" in blocked.text


def test_error_budget_settings_are_configurable(make_env: MakeEnv) -> None:
    env = make_env(error_budget=1, error_budget_block_seconds=60)
    tokens = env.login()
    bad = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Missing"
    statuses = [env.client.get(bad, headers=env.headers(tokens)).status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    env.advance(60)
    assert env.client.get(bad, headers=env.headers(tokens)).status_code == 404
