"""The control API: statistics, reset and the clock."""

from __future__ import annotations

from tests.emulator.control.conftest import Env


def test_stats_report_requests_by_endpoint_and_status(env: Env) -> None:
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    env.client.get(f"/api/v1/{division}/crm/Accounts", headers=env.headers(tokens))
    env.client.put(f"/api/v1/{division}/CRM/Accounts(guid'1')", json={}, headers=env.headers(tokens))
    env.client.get(f"/api/v1/{division}/crm/Nope", headers=env.headers(tokens))
    env.client.get("/api/v1/current/Me", headers=env.headers(tokens))
    env.client.get("/nowhere")
    stats = env.client.get("/_emulator/stats").json()
    assert stats["total_requests"] == 8  # consent page, form, token, 3 REST, Me, /nowhere
    assert stats["by_endpoint"]["crm/accounts"] == {"200": 1, "404": 1}  # the key is not part of it
    assert stats["by_endpoint"]["crm/nope"] == {"404": 1}
    assert stats["by_endpoint"]["current/me"] == {"200": 1}
    assert stats["by_endpoint"]["oauth2/auth"] == {"200": 1, "302": 1}
    assert stats["by_endpoint"]["oauth2/token"] == {"200": 1}
    assert stats["by_endpoint"]["(unknown)"] == {"404": 1}
    assert stats["by_status"] == {"200": 4, "302": 1, "404": 3}
    for name in ("rate_limited", "refresh_granted", "refresh_refused", "error_budget_blocks", "token_calls"):
        assert name in stats


def test_control_calls_are_not_counted(env: Env) -> None:
    env.client.get("/_emulator/stats")
    env.client.get("/_emulator/faults")
    assert env.client.get("/_emulator/stats").json()["total_requests"] == 0


def test_reset_restores_data_and_forgets_tokens_limits_faults_and_stats(make_env: object) -> None:
    env = make_env(minutely_limit=1)  # type: ignore[operator]
    tokens = env.login()
    url = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts"
    env.client.post(url, json={"Name": "A"}, headers=env.headers(tokens))
    assert env.client.get(url, headers=env.headers(tokens)).status_code == 429
    env.client.post("/_emulator/faults", json={"kind": "500", "rate": 0.01})
    answer = env.client.post("/_emulator/reset")
    assert answer.status_code == 200 and answer.json() == {"reset": True, "kept_tokens": False}
    assert env.data.resets == 1 and env.data.accounts == {}
    assert env.client.get("/_emulator/faults").json() == {"faults": []}
    assert env.client.get(url, headers=env.headers(tokens)).status_code == 401  # tokens forgotten
    stats = env.client.get("/_emulator/stats").json()
    assert stats["total_requests"] == 1 and stats["rate_limited"] == 0
    fresh = env.login()  # the registered app is still there
    assert env.client.get(url, headers=env.headers(fresh)).status_code == 200  # the window is new


def test_reset_can_keep_tokens(env: Env) -> None:
    tokens = env.login()
    url = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts"
    assert env.client.post("/_emulator/reset", json={"keep_tokens": True}).json()["kept_tokens"] is True
    assert env.client.get(url, headers=env.headers(tokens)).status_code == 200
    env.advance(600)
    assert (
        env.client.post(
            "/api/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": env.config.client_id,
                "client_secret": env.config.client_secret,
            },
        ).status_code
        == 200
    )


def test_reset_does_not_turn_the_clock_back(env: Env) -> None:
    env.client.post("/_emulator/clock", json={"advance_seconds": 100})
    env.client.post("/_emulator/reset")
    assert env.client.get("/_emulator/clock").json()["offset_seconds"] == 100


def test_the_clock_reads_and_moves_forward_only(env: Env) -> None:
    before = env.client.get("/_emulator/clock").json()
    assert before == {"now": env.clock.now(), "offset_seconds": 0}
    moved = env.client.post("/_emulator/clock", json={"advance_seconds": 86_400.5}).json()
    assert moved["now"] == before["now"] + 86_400.5
    back = env.client.post("/_emulator/clock", json={"advance_seconds": -1})
    assert back.status_code == 400 and "only moves forward" in back.json()["error"]
    for bad in ({"advance_seconds": "10"}, {"seconds": 10}, {"advance_seconds": True}, [10]):
        answer = env.client.post("/_emulator/clock", json=bad)
        assert answer.status_code == 400 and "advance_seconds" in answer.json()["error"]


def test_bad_control_requests(env: Env) -> None:
    unknown = env.client.get("/_emulator/nothing")
    assert unknown.status_code == 404 and "/_emulator/stats" in unknown.json()["error"]
    wrong_method = env.client.delete("/_emulator/stats")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"
    not_json = env.client.post("/_emulator/clock", content=b"{advance")
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
    bad_reset = env.client.post("/_emulator/reset", json={"keep_tokens": "yes"})
    assert bad_reset.status_code == 400 and "keep_tokens" in bad_reset.json()["error"]
