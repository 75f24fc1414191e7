"""OAuth2 over HTTP: the consent page, the code, the token endpoint and bearer tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from exactmate.emulator.config import DEMO_PASSWORD, DEMO_USERNAME
from tests.emulator.control.conftest import Env, MakeEnv
from tests.emulator_helpers import (
    DEFAULT_REDIRECT_URI,
    authorization_code,
    exchange_code,
    refresh,
)


def _auth_params(env: Env, **overrides: str) -> dict[str, str]:
    params = {
        "client_id": env.config.client_id,
        "redirect_uri": DEFAULT_REDIRECT_URI,
        "response_type": "code",
        "state": "xyz",
    }
    params.update(overrides)
    return params


def _form(env: Env, **overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        **_auth_params(env),
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "action": "approve",
        "division": [str(d) for d in env.config.accessible_divisions],
    }
    form.update(overrides)
    return form


# -- the consent page -------------------------------------------------------------------------


def test_consent_page_offers_each_accessible_division_with_its_description(env: Env) -> None:
    page = env.client.get("/api/oauth2/auth", params=_auth_params(env))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for division in env.config.accessible_divisions:
        assert f'value="{division}"' in page.text
        assert f"Demo company {division}" in page.text
    assert f'value="{env.config.forbidden_division}"' not in page.text
    # no external assets: no scripts, stylesheets or images from elsewhere
    assert "<script" not in page.text and "<link" not in page.text and "<img" not in page.text


def test_unknown_client_id_gets_an_error_page_and_no_redirect(env: Env) -> None:
    page = env.client.get("/api/oauth2/auth", params=_auth_params(env, client_id="someone-else"))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "Unknown client_id" in page.text


def test_missing_client_id_or_redirect_uri_gets_an_error_page(env: Env) -> None:
    no_client = env.client.get("/api/oauth2/auth", params=_auth_params(env, client_id=""))
    no_redirect = env.client.get("/api/oauth2/auth", params=_auth_params(env, redirect_uri=""))
    assert (no_client.status_code, no_redirect.status_code) == (400, 400)
    assert "no client_id" in no_client.text and "no redirect_uri" in no_redirect.text


def test_without_registered_uris_only_loopback_http_redirects_are_accepted(env: Env) -> None:
    for uri in ("http://localhost:9000/cb", "http://127.0.0.1/cb?x=1", "https://127.0.0.1:1/cb"):
        assert (
            env.client.get("/api/oauth2/auth", params=_auth_params(env, redirect_uri=uri)).status_code == 200
        )
    for uri in ("https://evil.example/cb", "ftp://127.0.0.1/cb", "http://127.0.0.1:99999/cb", "/relative"):
        page = env.client.get("/api/oauth2/auth", params=_auth_params(env, redirect_uri=uri))
        assert page.status_code == 400, uri
        assert "location" not in page.headers
        assert "127.0.0.1 or localhost" in page.text


def test_registered_redirect_uris_are_the_only_ones_accepted(make_env: MakeEnv) -> None:
    env = make_env(redirect_uris=("https://app.example/callback",))
    ok = env.client.get(
        "/api/oauth2/auth", params=_auth_params(env, redirect_uri="https://app.example/callback")
    )
    refused = env.client.get("/api/oauth2/auth", params=_auth_params(env))  # a loopback URI
    assert ok.status_code == 200
    assert refused.status_code == 400 and "not registered" in refused.text
    tokens = env.login()  # the helper uses the registered URI
    assert tokens["token_type"] == "bearer"


def test_a_tampered_form_is_checked_again(env: Env) -> None:
    answer = env.client.post(
        "/api/oauth2/auth", data=_form(env, redirect_uri="https://evil.example/"), follow_redirects=False
    )
    assert answer.status_code == 400 and "location" not in answer.headers


def test_unsupported_response_type_is_redirected_as_an_error(env: Env) -> None:
    page = env.client.get("/api/oauth2/auth", params=_auth_params(env, response_type="token"))
    assert page.status_code == 302
    query = parse_qs(urlsplit(page.headers["location"]).query)
    assert query == {"error": ["unsupported_response_type"], "state": ["xyz"]}


def test_deny_redirects_with_access_denied_and_the_state(env: Env) -> None:
    answer = env.client.post("/api/oauth2/auth", data=_form(env, action="deny"), follow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(DEFAULT_REDIRECT_URI + "?")
    assert parse_qs(urlsplit(location).query) == {"error": ["access_denied"], "state": ["xyz"]}


def test_wrong_password_shows_the_form_again_with_an_error(env: Env) -> None:
    answer = env.client.post("/api/oauth2/auth", data=_form(env, password="nope"), follow_redirects=False)
    assert answer.status_code == 200
    assert "Wrong user name or password" in answer.text
    assert DEMO_USERNAME in answer.text  # the user name is kept


def test_approving_without_a_division_asks_for_one(env: Env) -> None:
    answer = env.client.post("/api/oauth2/auth", data=_form(env, division=[]), follow_redirects=False)
    assert answer.status_code == 200
    assert "at least one division" in answer.text


def test_a_division_the_user_does_not_have_cannot_be_granted(env: Env) -> None:
    forbidden = str(env.config.forbidden_division)
    answer = env.client.post(
        "/api/oauth2/auth", data=_form(env, division=[forbidden]), follow_redirects=False
    )
    assert answer.status_code == 400
    assert "not one of yours" in answer.text


def test_neither_allow_nor_deny_is_refused(env: Env) -> None:
    answer = env.client.post("/api/oauth2/auth", data=_form(env, action="maybe"), follow_redirects=False)
    assert answer.status_code == 400 and "Choose Allow or Deny" in answer.text


def test_approval_redirects_with_a_code_that_needs_url_decoding(env: Env) -> None:
    answer = env.client.post("/api/oauth2/auth", data=_form(env), follow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert "%21" in location  # the code's "!" arrives encoded, as on Exact
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert "!" in code and unquote(location).count(code) == 1


def test_consent_page_rejects_other_methods(env: Env) -> None:
    answer = env.client.put("/api/oauth2/auth")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, POST"


# -- the token endpoint -------------------------------------------------------------------------


def test_code_exchange_returns_exact_shaped_tokens(env: Env) -> None:
    answer = exchange_code(env.client, env.config, authorization_code(env.client, env.config))
    assert answer.status_code == 200
    tokens = answer.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert tokens["expires_in"] == "600" and tokens["token_type"] == "bearer"
    assert answer.headers["cache-control"] == "no-store"


def test_expires_in_follows_the_configured_lifetime(make_env: MakeEnv) -> None:
    assert make_env(token_seconds=60).login()["expires_in"] == "60"


def test_codes_are_single_use(env: Env) -> None:
    code = authorization_code(env.client, env.config)
    assert exchange_code(env.client, env.config, code).status_code == 200
    again = exchange_code(env.client, env.config, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_codes_expire_after_three_minutes(env: Env) -> None:
    fresh = authorization_code(env.client, env.config)
    stale = authorization_code(env.client, env.config)
    env.advance(179)
    assert exchange_code(env.client, env.config, fresh).status_code == 200
    env.advance(2)
    answer = exchange_code(env.client, env.config, stale)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_codes_are_bound_to_the_redirect_uri(env: Env) -> None:
    code = authorization_code(env.client, env.config)
    answer = env.client.post(
        "/api/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost:1/other",
            "client_id": env.config.client_id,
            "client_secret": env.config.client_secret,
        },
    )
    assert answer.status_code == 400 and "redirect_uri" in answer.json()["error_description"]


def test_wrong_client_credentials_get_a_plain_invalid_request(env: Env) -> None:
    code = authorization_code(env.client, env.config)
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": DEFAULT_REDIRECT_URI}
    bad_secret = env.client.post(
        "/api/oauth2/token", data={**base, "client_id": env.config.client_id, "client_secret": "wrong"}
    )
    bad_id = env.client.post(
        "/api/oauth2/token", data={**base, "client_id": "other", "client_secret": env.config.client_secret}
    )
    for answer in (bad_secret, bad_id):
        assert answer.status_code == 400 and answer.json() == {"error": "invalid_request"}
    # the code was not spent by the refused calls
    assert exchange_code(env.client, env.config, code).status_code == 200


def test_missing_and_unknown_grant_types(env: Env) -> None:
    missing = env.client.post("/api/oauth2/token", data={"client_id": env.config.client_id})
    unknown = env.client.post("/api/oauth2/token", data={"grant_type": "password"})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert "x-www-form-urlencoded" in missing.json()["error_description"]
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_grant_type"


def test_missing_code_or_refresh_token(env: Env) -> None:
    creds = {"client_id": env.config.client_id, "client_secret": env.config.client_secret}
    no_code = env.client.post("/api/oauth2/token", data={"grant_type": "authorization_code", **creds})
    no_refresh = env.client.post("/api/oauth2/token", data={"grant_type": "refresh_token", **creds})
    assert "code parameter is missing" in no_code.json()["error_description"]
    assert "refresh_token parameter is missing" in no_refresh.json()["error_description"]


def test_token_endpoint_wants_post(env: Env) -> None:
    answer = env.client.get("/api/oauth2/token")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


def test_refresh_rotates_and_the_old_refresh_token_is_refused(env: Env) -> None:
    tokens = env.login()
    env.advance(570)
    rotated = refresh(env.client, env.config, tokens["refresh_token"])
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"] and new["access_token"] != tokens["access_token"]
    env.advance(600)
    reuse = refresh(env.client, env.config, tokens["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json() == {"error": "unauthorized_client", "error_description": "Old refresh token used."}
    assert refresh(env.client, env.config, new["refresh_token"]).status_code == 200


def test_refreshing_too_early_is_refused_and_keeps_the_refresh_token_valid(env: Env) -> None:
    tokens = env.login()
    env.advance(569)
    early = refresh(env.client, env.config, tokens["refresh_token"])
    assert early.status_code == 400
    assert early.json() == {
        "error": "access_denied",
        "error_description": "Rate limit exceeded: access_token not expired",
    }
    assert early.headers["reason"] == "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"
    env.advance(1)
    later = refresh(env.client, env.config, tokens["refresh_token"])
    assert later.status_code == 200
    # the guard counts from the chain's current access token, not from the first one
    env.advance(100)
    assert refresh(env.client, env.config, later.json()["refresh_token"]).status_code == 400


def test_refresh_guard_follows_the_configuration(make_env: MakeEnv) -> None:
    env = make_env(refresh_guard_seconds=0)
    tokens = env.login()
    assert refresh(env.client, env.config, tokens["refresh_token"]).status_code == 200


def test_refresh_tokens_expire_after_thirty_idle_days(env: Env) -> None:
    kept = env.login()
    idle = env.login()
    env.advance(29 * 86_400)
    assert refresh(env.client, env.config, kept["refresh_token"]).status_code == 200
    env.advance(86_400 + 1)
    answer = refresh(env.client, env.config, idle["refresh_token"])
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_request"
    # 2026-01-01T10:00:00Z + 30 days = 1/31/2026 10:00:00 AM; now is one second later
    assert body["error_description"] == (
        "The refresh token expired at 1/31/2026 10:00:00 AM and it is now 1/31/2026 10:00:01 AM."
    )


def test_unknown_refresh_token(env: Env) -> None:
    answer = refresh(env.client, env.config, "ABCD!IAAAAnot-a-token")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_token_calls_are_capped_per_app_and_user_per_utc_day(make_env: MakeEnv) -> None:
    env = make_env(token_calls_per_day=3, refresh_guard_seconds=0)
    tokens = env.login()  # call 1
    for _ in range(2):  # calls 2 and 3
        answer = refresh(env.client, env.config, tokens["refresh_token"])
        assert answer.status_code == 200
        tokens = answer.json()
    capped = refresh(env.client, env.config, tokens["refresh_token"])
    assert capped.status_code == 400
    assert capped.json()["error"] == "access_denied"
    assert "at most 3 token requests per app and user per day" in capped.json()["error_description"]
    assert capped.headers["reason"].startswith("TooManyTokenRequests: Rate limit exceeded")
    env.advance(14 * 3600)  # 10:00 -> 00:00 UTC the next day
    assert refresh(env.client, env.config, tokens["refresh_token"]).status_code == 200


def test_stats_count_token_calls_and_refresh_outcomes(env: Env) -> None:
    tokens = env.login()
    refresh(env.client, env.config, tokens["refresh_token"])  # too early
    env.advance(600)
    refresh(env.client, env.config, tokens["refresh_token"])  # granted
    stats = env.client.get("/_emulator/stats").json()
    assert (stats["token_calls"], stats["code_exchanged"]) == (3, 1)
    assert (stats["refresh_granted"], stats["refresh_refused"]) == (1, 1)


# -- bearer tokens ------------------------------------------------------------------------------


def test_access_tokens_expire_with_a_www_authenticate_reason(env: Env) -> None:
    tokens = env.login()
    url = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts"
    env.advance(599)
    assert env.client.get(url, headers=env.headers(tokens)).status_code == 200
    env.advance(1)
    answer = env.client.get(url, headers=env.headers(tokens))
    assert answer.status_code == 401
    header = answer.headers["www-authenticate"]
    assert header.startswith('Bearer error="invalid_token"')
    assert "access token expired" in unquote(header)
    assert answer.json()["error"]["message"]["value"].startswith("The access token has expired")


def test_an_unknown_or_missing_token_is_refused(env: Env) -> None:
    url = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts"
    unknown = env.client.get(url, headers={"Authorization": "Bearer nonsense", "Accept": "application/json"})
    missing = env.client.get(url, headers={"Accept": "application/json"})
    basic = env.client.get(url, headers={"Authorization": "Basic abc"})
    assert unknown.status_code == missing.status_code == basic.status_code == 401
    assert "invalid_token" in unknown.headers["www-authenticate"]
    assert "missing" in unquote(missing.headers["www-authenticate"])
    assert basic.headers["content-type"].startswith("application/xml")  # no Accept: JSON -> XML error


def test_the_previous_access_token_lives_on_after_a_refresh(env: Env) -> None:
    tokens = env.login()
    env.advance(580)
    assert refresh(env.client, env.config, tokens["refresh_token"]).status_code == 200
    url = f"/api/v1/{env.config.accessible_divisions[0]}/crm/Accounts"
    assert env.client.get(url, headers=env.headers(tokens)).status_code == 200
    env.advance(20)
    assert env.client.get(url, headers=env.headers(tokens)).status_code == 401


def test_tokens_never_appear_in_stats(env: Env) -> None:
    tokens = env.login()
    text = env.client.get("/_emulator/stats").text
    assert tokens["access_token"] not in text and tokens["refresh_token"] not in text
