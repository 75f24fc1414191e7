"""Helpers for test suites that talk HTTP to the emulator (in-process or over a socket)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

from exactmate.emulator.config import DEMO_PASSWORD, DEMO_USERNAME, EmulatorConfig

if TYPE_CHECKING:
    from starlette.testclient import TestClient
    from starlette.types import ASGIApp

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8765/callback"


def asgi_test_client(app: ASGIApp, base_url: str = "http://127.0.0.1:8555") -> TestClient:
    """Starlette's TestClient over ``app``. Starlette 1.10 warns on import that it would rather run on
    ``httpx2`` (not installed); with warnings as errors that import would fail, so it is silenced here."""
    from starlette.exceptions import StarletteDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient

    return TestClient(app, base_url=base_url)


def redirect_uri_for(config: EmulatorConfig) -> str:
    """The redirect URI the helpers use: the first registered one, else a loopback URI."""
    return config.redirect_uris[0] if config.redirect_uris else DEFAULT_REDIRECT_URI


def authorization_code(
    client: httpx.Client,
    config: EmulatorConfig,
    divisions: Iterable[int] | None = None,
    state: str = "s",
) -> str:
    """Run the consent flow (GET the page, POST the form) and return the code from the redirect."""
    redirect_uri = redirect_uri_for(config)
    params = {
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "state": state,
    }
    page = client.get("/api/oauth2/auth", params=params)
    if page.status_code != 200 or "<form" not in page.text:
        raise AssertionError(f"consent page: {page.status_code} {page.text[:300]}")
    chosen = list(config.accessible_divisions if divisions is None else divisions)
    form: dict[str, Any] = {
        **params,
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD,
        "action": "approve",
        "division": [str(d) for d in chosen],
    }
    answer = client.post("/api/oauth2/auth", data=form, follow_redirects=False)
    if answer.status_code != 302:
        raise AssertionError(f"consent form: {answer.status_code} {answer.text[:300]}")
    location = answer.headers["location"]
    if not location.startswith(redirect_uri):
        raise AssertionError(f"redirected to {location!r}, not to {redirect_uri!r}")
    query = parse_qs(urlsplit(location).query)
    if query.get("state") != [state]:
        raise AssertionError(f"state not returned: {location!r}")
    return query["code"][0]


def exchange_code(client: httpx.Client, config: EmulatorConfig, code: str) -> httpx.Response:
    """POST the authorization_code grant."""
    return client.post(
        "/api/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri_for(config),
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
    )


def refresh(client: httpx.Client, config: EmulatorConfig, refresh_token: str) -> httpx.Response:
    """POST the refresh_token grant."""
    return client.post(
        "/api/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": config.client_id,
            "client_secret": config.client_secret,
        },
    )


def authorize(
    client: httpx.Client,
    config: EmulatorConfig,
    divisions: Iterable[int] | None = None,
    state: str = "s",
) -> dict[str, Any]:
    """The whole OAuth flow over HTTP: consent page, form, redirect, code exchange. Returns the token
    JSON (``access_token``, ``refresh_token``, ``expires_in``, ``token_type``)."""
    code = authorization_code(client, config, divisions, state)
    answer = exchange_code(client, config, code)
    if answer.status_code != 200:
        raise AssertionError(f"code exchange: {answer.status_code} {answer.text[:300]}")
    tokens: dict[str, Any] = answer.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    """Headers for a JSON REST call with these tokens."""
    return {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
