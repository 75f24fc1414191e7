"""The request pipeline's edges: routing, bad input, size limits, internal failures, and the ASGI
adapter (Starlette's TestClient) behaving like the in-process transport."""

from __future__ import annotations

import logging

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.emulator.app import create_app
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator, HttpRequest
from exactmate.emulator.limits import MAX_BODY_BYTES
from exactmate.emulator.transport import EmulatorTransport
from tests.emulator.control.conftest import Env, FakeDataPlane
from tests.emulator_helpers import asgi_test_client, authorize, bearer


def test_unknown_paths_get_an_exact_style_404_in_json_or_xml(env: Env) -> None:
    as_json = env.client.get("/api/v2/whatever", headers={"Accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.json()["error"]["message"]["value"].startswith("Not found: /api/v2/whatever")
    as_xml = env.client.get("/favicon.ico")
    assert as_xml.status_code == 404 and as_xml.headers["content-type"].startswith("application/xml")
    assert "<error" in as_xml.text


def test_malformed_urls_are_answered_not_crashed(env: Env) -> None:
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    for raw in (
        f"/api/v1/{division}/crm/Accounts?$filter=%zz%&&=&$select",
        f"/api/v1/{division}/crm/%E0%A4%A",
        "/api/v1/%FF%FE/crm/Accounts",
        "/api/oauth2/auth?client_id=%ZZ",
    ):
        answer = env.client.get(raw, headers=bearer(tokens))
        assert answer.status_code in (200, 400, 404), raw
        assert "Traceback" not in answer.text


def test_a_broken_token_form_gets_an_oauth_error(env: Env) -> None:
    for body in (b"\xff\xfe\x00garbage", b'{"grant_type": "refresh_token"}', b"&&&===", b""):
        answer = env.client.post("/api/oauth2/token", content=body)
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_request"


def test_a_body_over_10_mb_is_refused_with_413(env: Env) -> None:
    tokens = env.login()
    url = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts"
    answer = env.client.post(url, content=b"x" * (MAX_BODY_BYTES + 1), headers=bearer(tokens))
    assert answer.status_code == 413
    assert "10 MB" in answer.json()["error"]["message"]["value"]
    assert env.data.requests == []
    ok = env.client.post(url, json={"Name": "small"}, headers=bearer(tokens))
    assert ok.status_code == 201


def test_a_url_over_6000_characters_is_refused_with_414(env: Env) -> None:
    tokens = env.login()
    url = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts"
    longest = f"{url}?$filter=" + "a" * (6000 - len(f"http://127.0.0.1:8555{url}?$filter="))
    assert len(str(env.client.build_request("GET", longest).url)) == 6000
    assert env.client.get(longest, headers=bearer(tokens)).status_code == 200
    answer = env.client.get(longest + "a", headers=bearer(tokens))
    assert answer.status_code == 414
    assert "at most 6000" in answer.json()["error"]["message"]["value"]


def test_a_data_plane_failure_is_exacts_generic_500_without_a_traceback(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = env.login()
    env.data.explode = True
    with caplog.at_level(logging.ERROR, logger="exactmate.emulator"):
        answer = env.client.get(
            f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts", headers=bearer(tokens)
        )
    assert answer.status_code == 500
    assert answer.json()["error"]["message"]["value"].startswith("A problem has occurred")
    assert "Traceback" not in answer.text and "data plane bug" not in answer.text
    assert tokens["access_token"] not in caplog.text
    env.data.explode = False
    assert env.client.get("/api/v1/current/Me", headers=bearer(tokens)).status_code == 200


def test_handle_accepts_a_plain_request_object() -> None:
    data = FakeDataPlane()
    emulator = Emulator(EmulatorConfig(), FakeClock(), data_plane=data)
    answer = emulator.handle(HttpRequest(method="GET", path="/api/v1/current/Me"))
    assert answer.status == 401 and answer.header("WWW-Authenticate") is not None
    assert answer.drop is None and not answer.timed_out


# -- the ASGI adapter ---------------------------------------------------------------------------


@pytest.fixture
def asgi() -> tuple[httpx.Client, Emulator, EmulatorConfig]:
    config = EmulatorConfig()
    emulator = Emulator(config, FakeClock(), data_plane=FakeDataPlane())
    client = asgi_test_client(create_app(config, emulator=emulator))
    return client, emulator, config


def test_the_asgi_app_runs_the_same_flow(asgi: tuple[httpx.Client, Emulator, EmulatorConfig]) -> None:
    client, emulator, config = asgi
    with client:
        tokens = authorize(client, config)
        division = config.accessible_divisions[0]
        created = client.post(f"/api/v1/{division}/crm/Accounts", json={"Name": "A"}, headers=bearer(tokens))
        assert created.status_code == 201
        listed = client.get(f"/api/v1/{division}/crm/Accounts?$select=Name", headers=bearer(tokens))
        assert listed.json()["d"]["results"][0]["Name"] == "A"
        assert listed.headers["x-ratelimit-minutely-remaining"] == "58"
        assert client.get("/_emulator/stats").json()["by_endpoint"]["crm/accounts"] == {"201": 1, "200": 1}
    assert client.app.state.emulator is emulator  # type: ignore[attr-defined]


def test_the_asgi_app_refuses_a_huge_body_by_content_length(
    asgi: tuple[httpx.Client, Emulator, EmulatorConfig],
) -> None:
    client, _, config = asgi
    answer = client.post(
        f"/api/v1/{config.accessible_divisions[0]}/crm/Accounts",
        content=b"x" * (MAX_BODY_BYTES + 10),
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 413


def test_the_asgi_app_passes_every_method_through(
    asgi: tuple[httpx.Client, Emulator, EmulatorConfig],
) -> None:
    client, _, _ = asgi
    assert client.request("PATCH", "/api/v1/current/Me").status_code == 401
    assert client.request("OPTIONS", "/_emulator/stats").status_code == 405


def test_create_app_builds_its_own_emulator() -> None:
    clock = FakeClock()
    app = create_app(EmulatorConfig(), clock)
    emulator = app.state.emulator
    assert isinstance(emulator, Emulator) and emulator.clock.now() == clock.now()


def test_the_transport_reports_the_url_the_client_used(env: Env) -> None:
    client = httpx.Client(transport=EmulatorTransport(env.emulator), base_url="http://localhost:9999")
    tokens = authorize(client, env.config)
    client.get(f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts", headers=bearer(tokens))
    assert env.data.requests[-1].base_url == "http://localhost:9999"


def test_request_and_response_reprs_hide_secrets(env: Env) -> None:
    tokens = env.login()
    request = HttpRequest(
        method="POST",
        path="/api/oauth2/token",
        headers={"authorization": f"Bearer {tokens['access_token']}"},
        body=f"refresh_token={tokens['refresh_token']}&client_secret={env.config.client_secret}".encode(),
    )
    response = env.emulator.handle(request)
    for text in (repr(request), repr(response)):
        assert tokens["access_token"] not in text and tokens["refresh_token"] not in text
        assert env.config.client_secret not in text
