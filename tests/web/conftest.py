"""Fixtures for the web UI tests: the app under Starlette's TestClient (as a loopback browser), the
emulator served on a real port, and a credential created through the page itself.

Starlette's TestClient warns on import that it prefers ``httpx2``; that deprecation is about the test
client's own HTTP library, so it is silenced for this one import only.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.live_emulator import Live, consent, serve_emulator

from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.vault import Vault
from exactmate.web import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

UI_BASE = "http://127.0.0.1:8400"
SECRET = EmulatorConfig().client_secret
CLIENT_ID = EmulatorConfig().client_id
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture
def serve() -> Iterator[Callable[..., Live]]:
    """``serve(**config_overrides) -> Live``; every emulator stops at the end of the test."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Live:
            config = replace(EmulatorConfig(), **overrides)
            base_url, emulator = stack.enter_context(serve_emulator(config))
            return Live(base_url, emulator, config)

        yield start


@pytest.fixture
def live(serve: Callable[..., Live]) -> Live:
    return serve()


def browser(
    app: Any,
    *,
    host: str = "127.0.0.1",
    base_url: str = UI_BASE,
    raise_server_exceptions: bool = True,
    signed_in: bool = True,
) -> TestClient:
    """A TestClient that looks like a browser on this machine (loopback address and Host), signed in
    through the one-time link `exactmate ui` prints (unless ``signed_in`` is False)."""
    client = TestClient(
        app,
        base_url=base_url,
        client=(host, 50_000),
        follow_redirects=False,
        raise_server_exceptions=raise_server_exceptions,
    )
    if not signed_in:
        return client
    link = app.state.ui.sessions.login_path()
    if link is not None:
        answer = client.get(link)
    else:  # the link was used by another browser: type the token, as its user would
        token = csrf(client, "/login")
        answer = client.post("/login", data={"token": app.state.ui.policy.token, "csrf_token": token})
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def ui(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    try:
        with browser(app) as client:
            yield client
    finally:
        app.state.ui.flow_starts.close()  # the flow engine of a Run now, if one was opened


def csrf(client: TestClient | httpx.Client, path: str = "/vault") -> str:
    """The CSRF token of the page at ``path`` (also sets this browser's CSRF cookie)."""
    page = client.get(path)
    match = _META_CSRF.search(page.text)
    assert match, f"no CSRF token on {path}: {page.status_code} {page.text[:300]}"
    return match.group(1)


def credential_form(live: Live, ui_base: str = UI_BASE, **overrides: str) -> dict[str, str]:
    """The New App Credentials form for the emulator's demo app, as the page at ``ui_base`` posts it."""
    form = {
        "credential_id": "",
        "name": "Demo NL",
        "auth_type": "oauth2-code",
        "server_choice": "custom",
        "server_url": live.base_url,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "refresh_token": "",
        "redirect_uri": f"{ui_base}/oauth/callback",
        "test_id": "",
    }
    form.update(overrides)
    return form


def follow_consent(
    client: TestClient | httpx.Client, authorize_url: str, **consent_options: Any
) -> httpx.Response:
    """The user signs in on the emulator's page; the browser follows the redirect to the UI."""
    location = consent(authorize_url, **consent_options)
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == str(client.base_url).rstrip("/"), location
    return client.get(f"{parts.path}?{parts.query}")


def test_connect(
    client: TestClient | httpx.Client, form: dict[str, str], **consent_options: Any
) -> dict[str, Any]:
    """Press Test Connect; sign in if asked; return the final JSON the page's poll sees."""
    token = csrf(client)
    answer = client.post("/vault/test", data=form, headers={"X-CSRF-Token": token})
    data: dict[str, Any] = answer.json()
    if data["status"] != "consent":
        return data
    landed = follow_consent(client, data["authorize_url"], **consent_options)
    assert landed.status_code == 200, landed.text[:500]
    polled = client.get(f"/vault/test/{data['test_id']}")
    result: dict[str, Any] = polled.json()
    return result


test_connect.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def create_credential(client: TestClient | httpx.Client, live: Live, **overrides: str) -> dict[str, Any]:
    """New App Credentials → Test Connect → Connect & Create, as a user does it on the page."""
    form = credential_form(live, str(client.base_url).rstrip("/"), **overrides)
    tested = test_connect(client, form)
    assert tested["status"] == "ok", tested
    form["test_id"] = tested["test_id"]
    saved = client.post("/vault/save", data=form, headers={"X-CSRF-Token": csrf(client)})
    assert saved.status_code == 200, saved.text
    body: dict[str, Any] = saved.json()
    assert body["ok"], body
    return body


def stored(settings: Settings, name: str) -> Any:
    with Vault.open(settings) as vault:
        return vault.get(name)
