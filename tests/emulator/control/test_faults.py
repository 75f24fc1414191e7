"""Injected faults over HTTP: server errors, slowness and dropped connections."""

from __future__ import annotations

import httpx
import pytest

from tests.emulator.control.conftest import Env, MakeEnv
from tests.emulator_helpers import refresh


def _accounts(env: Env) -> str:
    return f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts"


def _fault(env: Env, **spec: object) -> httpx.Response:
    answer = env.client.post("/_emulator/faults", json=spec)
    assert answer.status_code == 201, answer.text
    return answer


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503)])
def test_server_errors_fire_count_times_without_handling(env: Env, kind: str, status: int) -> None:
    tokens = env.login()
    _fault(env, kind=kind, count=2)
    answers = [env.client.get(_accounts(env), headers=env.headers(tokens)) for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    assert "error" in answers[0].json()
    assert len(env.data.requests) == 1
    assert env.client.get("/_emulator/faults").json() == {"faults": []}


def test_a_fault_as_a_number_is_understood(env: Env) -> None:
    _fault(env, kind=500, count=1)
    assert env.client.get("/api/v1/current/Me").status_code == 500


def test_faults_can_be_limited_to_a_path(env: Env) -> None:
    tokens = env.login()
    _fault(env, kind="503", count=1, path="crm/Accounts")
    assert env.client.get("/api/v1/current/Me", headers=env.headers(tokens)).status_code == 200
    assert env.client.get(_accounts(env), headers=env.headers(tokens)).status_code == 503
    assert env.client.get(_accounts(env), headers=env.headers(tokens)).status_code == 200


def test_a_fault_can_start_after_the_first_matching_requests(env: Env) -> None:
    tokens = env.login()
    _fault(env, kind="503", count=1, after=2, path="crm/Accounts")
    assert env.client.get("/_emulator/faults").json()["faults"][0]["after"] == 2
    answers = [env.client.get(_accounts(env), headers=env.headers(tokens)).status_code for _ in range(4)]
    assert answers == [200, 200, 503, 200]
    refused = env.client.post("/_emulator/faults", json={"kind": "503", "count": 1, "after": -1})
    assert refused.status_code == 400 and "after" in refused.text


def test_faults_can_be_limited_to_a_method(env: Env) -> None:
    # A slow POST with the lookup GET before it answered at once: the case of a create that commits
    # after the client gave up.
    tokens = env.login()
    _fault(env, kind="slow", count=1, seconds=45, method="post")
    no_timeout = httpx.Timeout(None)
    assert env.client.get(_accounts(env), headers=env.headers(tokens), timeout=no_timeout).status_code == 200
    assert env.sleeps == []
    assert env.client.get("/_emulator/faults").json()["faults"][0]["method"] == "POST"
    headers = env.headers(tokens)
    posted = env.client.post(_accounts(env), json={"Name": "Late"}, headers=headers, timeout=no_timeout)
    assert posted.status_code == 201
    assert env.sleeps == [45]


def test_drop_notification_loses_webhooks_but_stores_the_write(env: Env) -> None:
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    env.data.subscriptions[(division, "Accounts")] = ["http://127.0.0.1:9/hook"]
    _fault(env, kind="drop_notification", count=2, method="POST")
    for name in ("A", "B", "C"):
        answer = env.client.post(_accounts(env), json={"Name": name}, headers=env.headers(tokens))
        assert answer.status_code == 201
    env.emulator.flush_webhooks()
    assert len(env.data.accounts) == 3
    assert len(env.hooks.deliveries) == 1  # the first two notifications were lost
    stats = env.client.get("/_emulator/stats").json()
    assert (stats["webhooks_queued"], stats["webhooks_lost"], stats["faults_fired"]) == (1, 2, 2)


def test_rate_faults_follow_a_seeded_rng_and_stay_until_cleared(make_env: MakeEnv) -> None:
    runs = []
    for _ in range(2):
        env = make_env()
        _fault(env, kind="503", rate=0.5)
        runs.append([env.client.get("/api/v1/current/Me").status_code for _ in range(40)])
    assert runs[0] == runs[1]  # the same seed, the same faults
    assert 5 < runs[0].count(503) < 35 and runs[0].count(401) == 40 - runs[0].count(503)
    cleared = env.client.delete("/_emulator/faults")
    assert cleared.status_code == 200
    assert all(env.client.get("/api/v1/current/Me").status_code == 401 for _ in range(20))


def test_faults_reset_by_post(env: Env) -> None:
    _fault(env, kind="500", rate=1.0)
    listed = env.client.get("/_emulator/faults").json()["faults"]
    assert listed == [{"kind": "500", "fired": 0, "rate": 1.0}]
    assert env.client.post("/_emulator/faults/reset").json() == {"faults": []}
    assert env.client.get("/api/v1/current/Me").status_code == 401


def test_slow_waits_with_the_injected_sleep_then_answers(env: Env) -> None:
    tokens = env.login()
    _fault(env, kind="slow", count=1, seconds=45)
    no_timeout = httpx.Timeout(None)
    answer = env.client.get(_accounts(env), headers=env.headers(tokens), timeout=no_timeout)
    assert answer.status_code == 200
    assert env.sleeps == [45]


def test_slow_past_the_read_timeout_raises_read_timeout_and_is_handled_when_it_ends(env: Env) -> None:
    tokens = env.login()
    _fault(env, kind="slow", count=1)  # 60 s by default
    with pytest.raises(httpx.ReadTimeout):
        env.client.post(_accounts(env), json={"Name": "Late"}, headers=env.headers(tokens), timeout=5.0)
    assert env.sleeps == []  # nothing really waited
    env.client.get(_accounts(env), headers=env.headers(tokens))
    assert env.data.accounts == {}  # the client gave up; Exact is still working on it
    env.advance(60)
    env.client.get(_accounts(env), headers=env.headers(tokens))
    assert [a["Name"] for a in env.data.accounts.values()] == ["Late"]


def test_latency_is_added_to_rest_calls_only(make_env: MakeEnv) -> None:
    env = make_env(latency_ms=25)
    tokens = env.login()
    assert env.sleeps == []  # the OAuth calls were not delayed
    env.client.get(_accounts(env), headers=env.headers(tokens))
    env.client.get("/api/v1/current/Me", headers=env.headers(tokens))
    assert env.sleeps == [0.025, 0.025]


def test_drop_before_closes_the_connection_without_handling(env: Env) -> None:
    tokens = env.login()
    _fault(env, kind="drop_before", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        env.client.post(_accounts(env), json={"Name": "Never"}, headers=env.headers(tokens))
    assert env.data.accounts == {}
    assert env.client.get(_accounts(env), headers=env.headers(tokens)).status_code == 200


def test_drop_after_commit_stores_the_write_and_its_webhooks_then_drops(env: Env) -> None:
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    env.data.subscriptions[(division, "Accounts")] = ["http://127.0.0.1:9/hook"]
    _fault(env, kind="drop_after_commit", count=1)
    # reads are not writes: the fault waits for a successful write
    assert env.client.get(_accounts(env), headers=env.headers(tokens)).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        env.client.post(_accounts(env), json={"Name": "Stored"}, headers=env.headers(tokens))
    assert [a["Name"] for a in env.data.accounts.values()] == ["Stored"]
    env.emulator.flush_webhooks()
    assert len(env.hooks.deliveries) == 1
    assert (
        env.client.post(_accounts(env), json={"Name": "Next"}, headers=env.headers(tokens)).status_code == 201
    )


def test_lose_token_response_grants_the_refresh_then_drops(env: Env) -> None:
    tokens = env.login()
    _fault(env, kind="lose_token_response", count=1)
    env.advance(570)
    with pytest.raises(httpx.RemoteProtocolError):
        refresh(env.client, env.config, tokens["refresh_token"])
    retry = refresh(env.client, env.config, tokens["refresh_token"])
    assert retry.status_code == 401
    assert retry.json()["error_description"] == "Old refresh token used."
    stats = env.client.get("/_emulator/stats").json()
    assert stats["refresh_granted"] == 1 and stats["dropped"] == 1


def test_lose_token_response_ignores_refused_refreshes(env: Env) -> None:
    tokens = env.login()
    _fault(env, kind="lose_token_response", count=1)
    assert refresh(env.client, env.config, tokens["refresh_token"]).status_code == 400  # too early
    assert env.client.get("/_emulator/faults").json()["faults"][0]["remaining"] == 1


def test_faults_and_drops_are_counted(env: Env) -> None:
    _fault(env, kind="drop_before", count=1)
    _fault(env, kind="500", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        env.client.get("/api/v1/current/Me")
    env.client.get("/api/v1/current/Me")
    stats = env.client.get("/_emulator/stats").json()
    assert (stats["faults_fired"], stats["dropped"], stats["by_status"]) == (2, 1, {"500": 1})


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"kind": "boom", "count": 1}, "must be one of"),
        ({"kind": "500"}, "exactly one of"),
        ({"kind": "500", "count": 1, "rate": 0.5}, "exactly one of"),
        ({"kind": "500", "count": 0}, "whole number >= 1"),
        ({"kind": "500", "count": 1.5}, "whole number >= 1"),
        ({"kind": "500", "rate": 2}, "at most 1"),
        ({"kind": "500", "count": "1"}, "must be a number"),
        ({"kind": "500", "count": 1, "path": ""}, "non-empty string"),
        ({"kind": "500", "count": 1, "method": "PATCH"}, '"method" must be one of GET, POST, PUT, DELETE'),
        ({"kind": "500", "count": 1, "seconds": 3}, 'applies to kind "slow" only'),
        ({"kind": "500", "count": 1, "colour": "red"}, "Unknown fault fields: colour"),
        (["500"], "JSON object"),
    ],
)
def test_bad_fault_requests_say_what_to_send(env: Env, spec: object, words: str) -> None:
    answer = env.client.post("/_emulator/faults", json=spec)
    assert answer.status_code == 400
    assert words in answer.json()["error"]
