"""The control plane over the real data plane (``RestApi``): the whole emulator, end to end."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.server import BackgroundServer
from exactmate.emulator.transport import EmulatorTransport
from tests.emulator_helpers import authorize, bearer

CONFIG = replace(EmulatorConfig(), records=50, webhook_secret="hook-secret")
ENVELOPE = re.compile(rb'^\{"Content":(.*),"HashCode":"([0-9A-F]{64})"\}$')


class _Callback(BaseHTTPRequestHandler):
    """A webhook receiver: answers ``status`` and keeps what it was sent."""

    status = 200
    bodies: list[bytes] = []
    arrived = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if body:  # the subscription probe posts an empty body
            type(self).bodies.append(body)
            type(self).arrived.set()
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def callback() -> Iterator[str]:
    _Callback.status, _Callback.bodies, _Callback.arrived = 200, [], threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(CONFIG, FakeClock())  # the default data plane, deliverer and probe
    yield emu
    emu.close()


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(transport=EmulatorTransport(emulator), base_url="http://127.0.0.1:8555") as c:
        yield c


def test_the_consent_page_describes_the_demo_divisions(client: httpx.Client, emulator: Emulator) -> None:
    page = client.get(
        "/api/oauth2/auth",
        params={
            "client_id": CONFIG.client_id,
            "redirect_uri": "http://localhost/cb",
            "response_type": "code",
        },
    )
    for division in CONFIG.accessible_divisions:
        assert emulator.data.division_description(division) in page.text


def test_a_full_session_me_a_page_and_forbidden_divisions(client: httpx.Client) -> None:
    tokens = authorize(client, CONFIG, [CONFIG.accessible_divisions[1]])
    me = client.get("/api/v1/current/Me", headers=bearer(tokens))
    assert me.json()["d"]["results"][0]["CurrentDivision"] == CONFIG.accessible_divisions[1]
    page = client.get(
        f"/api/v1/{CONFIG.accessible_divisions[1]}/crm/Accounts",
        params={"$select": "ID,Name"},
        headers=bearer(tokens),
    )
    assert page.status_code == 200 and len(page.json()["d"]["results"]) > 0
    assert page.headers["x-ratelimit-minutely-remaining"] == "59"
    for division in (CONFIG.accessible_divisions[0], CONFIG.forbidden_division):
        answer = client.get(f"/api/v1/{division}/crm/Accounts", headers=bearer(tokens))
        assert answer.status_code == 403 and answer.headers["reason"] == "NoDivisionAccess"


def test_granted_scopes_open_their_endpoints_and_only_those() -> None:
    # The consent's grant meets the data plane's scope check: what was granted answers 200, what was
    # not answers Exact's 403 (the labels are compared as the catalogue spells them).
    config = replace(CONFIG, scopes=("Projects billing", "Organization administration"))
    emu = Emulator(config, FakeClock())
    with httpx.Client(transport=EmulatorTransport(emu), base_url="http://127.0.0.1:8555") as scoped:
        headers = bearer(authorize(scoped, config))
        division = config.accessible_divisions[0]
        assert scoped.get(f"/api/v1/{division}/project/TimeTransactions", headers=headers).status_code == 200
        assert scoped.get(f"/api/v1/{division}/system/Divisions", headers=headers).status_code == 200
        refused = scoped.get(f"/api/v1/{division}/crm/Accounts", headers=headers)
        assert refused.status_code == 403
        assert "Application Scope Violated" in refused.text
    emu.close()


def test_webhooks_are_probed_delivered_and_verifiable(
    client: httpx.Client, emulator: Emulator, callback: str
) -> None:
    tokens = authorize(client, CONFIG)
    division = CONFIG.accessible_divisions[0]
    subscribe = {"CallbackURL": callback, "Topic": "Accounts"}
    assert (
        client.post(
            f"/api/v1/{division}/webhooks/WebhookSubscriptions", json=subscribe, headers=bearer(tokens)
        ).status_code
        == 201
    )
    created = client.post(
        f"/api/v1/{division}/crm/Accounts", json={"Name": "Hooked", "Code": "H1"}, headers=bearer(tokens)
    )
    assert created.status_code == 201
    emulator.flush_webhooks()
    (body,) = _Callback.bodies
    match = ENVELOPE.match(body)
    assert match is not None
    raw, code = match.groups()
    assert code.decode() == hmac.new(b"hook-secret", raw, hashlib.sha256).hexdigest().upper()
    content = json.loads(raw)
    assert content["Action"] == "Create" and content["Division"] == division
    # the notification names the record; fetching it works
    record = client.get(content["ExactOnlineEndpoint"], headers=bearer(tokens))
    assert record.status_code == 200 and record.json()["d"]["Name"] == "Hooked"


def test_a_callback_that_fails_the_probe_is_not_subscribed(
    client: httpx.Client, emulator: Emulator, callback: str
) -> None:
    tokens = authorize(client, CONFIG)
    division = CONFIG.accessible_divisions[0]
    _Callback.status = 503
    answer = client.post(
        f"/api/v1/{division}/webhooks/WebhookSubscriptions",
        json={"CallbackURL": callback, "Topic": "Accounts"},
        headers=bearer(tokens),
    )
    assert answer.status_code == 500
    assert "Post to callback URL endpoint returns 503" in answer.json()["error"]["message"]["value"]
    assert emulator.data.webhook_callbacks(division, "Accounts") == []


def test_drop_after_commit_keeps_the_record(client: httpx.Client) -> None:
    tokens = authorize(client, CONFIG)
    division = CONFIG.accessible_divisions[0]
    client.post("/_emulator/faults", json={"kind": "drop_after_commit", "count": 1, "path": "crm/Accounts"})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(
            f"/api/v1/{division}/crm/Accounts", json={"Name": "Ghost", "Code": "G1"}, headers=bearer(tokens)
        )
    found = client.get(
        f"/api/v1/{division}/crm/Accounts",
        params={"$filter": "Name eq 'Ghost'", "$select": "ID"},
        headers=bearer(tokens),
    )
    assert len(found.json()["d"]["results"]) == 1


def test_reset_restores_the_demo_data(client: httpx.Client) -> None:
    tokens = authorize(client, CONFIG)
    url = f"/api/v1/{CONFIG.accessible_divisions[0]}/crm/Accounts"
    client.post(url, json={"Name": "Temporary", "Code": "T1"}, headers=bearer(tokens))
    query = {"$filter": "Name eq 'Temporary'", "$select": "ID"}
    assert len(client.get(url, params=query, headers=bearer(tokens)).json()["d"]["results"]) == 1
    client.post("/_emulator/reset", json={"keep_tokens": True})
    assert client.get(url, params=query, headers=bearer(tokens)).json()["d"]["results"] == []


def test_the_served_emulator_with_the_real_data_plane_delivers_webhooks(callback: str) -> None:
    config = replace(CONFIG, port=0)
    with BackgroundServer(config) as server, httpx.Client(base_url=server.base_url) as http:
        tokens = authorize(http, config)
        division = config.accessible_divisions[0]
        subscribe = {"CallbackURL": callback, "Topic": "Accounts"}
        http.post(f"/api/v1/{division}/webhooks/WebhookSubscriptions", json=subscribe, headers=bearer(tokens))
        created = http.post(
            f"/api/v1/{division}/crm/Accounts", json={"Name": "Served", "Code": "S1"}, headers=bearer(tokens)
        )
        assert created.status_code == 201
        assert _Callback.arrived.wait(10)
        content = json.loads(ENVELOPE.match(_Callback.bodies[0]).group(1))  # type: ignore[union-attr]
        assert content["ExactOnlineEndpoint"].startswith(server.base_url)
