"""Webhook subscriptions, deliveries and their HMAC signatures, over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from exactmate.emulator.exchange import Change
from exactmate.emulator.webhooks import (
    WebhookDispatcher,
    cet_wall_clock,
    http_deliver,
    http_probe,
    notification,
)
from tests.emulator.control.conftest import Env, MakeEnv

ENVELOPE = re.compile(rb'^\{"Content":(.*),"HashCode":"([0-9A-F]{64})"\}$')


def _verify(body: bytes, secret: str) -> dict[str, object]:
    """What a receiver does: take the raw Content substring, recompute the HMAC, compare."""
    match = ENVELOPE.match(body)
    assert match is not None, body
    raw, code = match.groups()
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest().upper()
    assert code.decode() == expected
    content: dict[str, object] = json.loads(raw)
    return content


def _subscribe(env: Env, tokens: dict[str, object], url: str, topic: str = "Accounts") -> int:
    division = env.config.accessible_divisions[0]
    answer = env.client.post(
        f"/api/v1/{division}/webhooks/WebhookSubscriptions",
        json={"CallbackURL": url, "Topic": topic},
        headers=env.headers(tokens),
    )
    return answer.status_code


def test_subscribed_writes_are_delivered_signed_after_they_are_stored(make_env: MakeEnv) -> None:
    env = make_env(webhook_secret="s3cret")
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    assert _subscribe(env, tokens, "http://127.0.0.1:9/hook") == 201
    assert env.hooks.probes == ["http://127.0.0.1:9/hook"]
    created = env.client.post(
        f"/api/v1/{division}/crm/Accounts", json={"Name": "A"}, headers=env.headers(tokens)
    )
    key = created.json()["d"]["ID"]
    env.client.put(
        f"/api/v1/{division}/crm/Accounts(guid'{key}')", json={"Name": "B"}, headers=env.headers(tokens)
    )
    env.client.delete(f"/api/v1/{division}/crm/Accounts(guid'{key}')", headers=env.headers(tokens))
    env.emulator.flush_webhooks()
    assert [url for url, _, _ in env.hooks.deliveries] == ["http://127.0.0.1:9/hook"] * 3
    contents = [_verify(body, "s3cret") for _, body, _ in env.hooks.deliveries]
    assert [c["Action"] for c in contents] == ["Create", "Update", "Delete"]
    first = contents[0]
    assert list(first) == [
        "Topic", "ClientId", "Division", "Action", "Key", "ExactOnlineEndpoint", "EventCreatedOn"
    ]  # fmt: skip
    assert first["Topic"] == "Accounts" and first["Division"] == division and first["Key"] == key
    assert first["ClientId"] == env.config.client_id
    assert (
        first["ExactOnlineEndpoint"] == f"http://127.0.0.1:8555/api/v1/{division}/crm/Accounts(guid'{key}')"
    )
    assert first["EventCreatedOn"] == "2026-01-01T11:00:00.000"  # 10:00 UTC in CET
    assert env.hooks.deliveries[0][2]["Content-Type"].startswith("application/json")
    stats = env.client.get("/_emulator/stats").json()
    assert (stats["webhooks_queued"], stats["webhooks_delivered"], stats["webhooks_failed"]) == (3, 3, 0)


def test_unsubscribed_topics_and_failed_writes_are_not_delivered(env: Env) -> None:
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    assert _subscribe(env, tokens, "http://127.0.0.1:9/hook", topic="TimeTransactions") == 201
    env.client.post(f"/api/v1/{division}/crm/Accounts", json={"Name": "A"}, headers=env.headers(tokens))
    missing = f"/api/v1/{division}/crm/Accounts(guid'00000000-0000-0000-0000-000000000000')"
    assert env.client.put(missing, json={}, headers=env.headers(tokens)).status_code == 404
    env.emulator.flush_webhooks()
    assert env.hooks.deliveries == []


def test_a_failing_probe_refuses_the_subscription(env: Env) -> None:
    tokens = env.login()
    env.hooks.status = 503
    assert _subscribe(env, tokens, "http://127.0.0.1:9/down") == 500
    assert env.data.subscriptions == {}


def test_failed_deliveries_are_counted_and_do_not_stop_later_ones(env: Env) -> None:
    tokens = env.login()
    division = env.config.accessible_divisions[0]
    env.data.subscriptions[(division, "Accounts")] = ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    env.hooks.status = 500
    env.client.post(f"/api/v1/{division}/crm/Accounts", json={"Name": "A"}, headers=env.headers(tokens))
    env.emulator.flush_webhooks()
    stats = env.client.get("/_emulator/stats").json()
    assert (stats["webhooks_delivered"], stats["webhooks_failed"]) == (0, 2)


def test_a_deliverer_that_raises_counts_as_failed() -> None:
    results: list[bool] = []

    def broken(url: str, body: bytes, headers: dict[str, str]) -> int:
        raise OSError("connection refused")

    dispatcher = WebhookDispatcher("k", "client", broken, results.append)
    change = Change("Accounts", 1, "Create", "k1", "http://x/api")
    callbacks = lambda division, topic: ["http://127.0.0.1:9/"]  # noqa: E731
    assert dispatcher.dispatch([change, change], callbacks, 0.0) == (2, 0)
    dispatcher.flush()
    dispatcher.close()
    assert results == [False, False]


def test_event_times_are_amsterdam_wall_clock() -> None:
    winter = datetime.fromisoformat("2026-01-15T12:00:00+00:00").timestamp()
    summer = datetime.fromisoformat("2026-07-15T12:00:00+00:00").timestamp()
    spring_switch = datetime.fromisoformat("2026-03-29T01:00:00+00:00").timestamp()  # last Sunday of March
    autumn_switch = datetime.fromisoformat("2026-10-25T01:00:00+00:00").timestamp()  # last Sunday of October
    assert cet_wall_clock(winter) == datetime(2026, 1, 15, 13)
    assert cet_wall_clock(summer) == datetime(2026, 7, 15, 14)
    assert cet_wall_clock(spring_switch - 1).hour == 1 and cet_wall_clock(spring_switch).hour == 3
    assert cet_wall_clock(autumn_switch - 1).hour == 2 and cet_wall_clock(autumn_switch).hour == 2


def test_notification_bytes_are_compact_and_signed_over_the_raw_content() -> None:
    change = Change(
        "TimeTransactions", 100001, "Update", "abc", "http://h/api/v1/100001/project/TimeTransactions"
    )
    body = notification(change, "cid", "secret", 1_767_261_600.123)
    content = _verify(body, "secret")
    assert content["EventCreatedOn"] == "2026-01-01T11:00:00.123"
    assert b": " not in body and b", " not in body


# -- the default HTTP deliverer and probe, against a real local server --------------------------


class _Receiver(BaseHTTPRequestHandler):
    status = 200
    received: list[tuple[str, bytes, str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).received.append((self.path, self.rfile.read(length), self.headers["Content-Type"]))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.status, _Receiver.received = 200, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_deliver_posts_the_body_as_is(receiver: str) -> None:
    body = notification(Change("Accounts", 1, "Create", "k", "http://x"), "cid", "s", 0.0)
    status = http_deliver(f"{receiver}/hook", body, {"Content-Type": "application/json; charset=utf-8"})
    assert status == 200
    assert _Receiver.received == [("/hook", body, "application/json; charset=utf-8")]


def test_http_probe_reports_the_callbacks_status(receiver: str) -> None:
    assert http_probe(f"{receiver}/ok") == 200
    _Receiver.status = 503
    assert http_probe(f"{receiver}/down") == 503


def test_http_probe_reports_zero_when_nothing_listens(receiver: str) -> None:
    # a port that was just free: bind, note it, close
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert http_probe(f"http://127.0.0.1:{port}/") == 0
