"""webhooks/WebhookSubscriptions: validation, the callback probe, and the subscriber list."""

from __future__ import annotations

import httpx
import pytest

from exactmate.clock import FakeClock
from exactmate.emulator.config import DEMO_USER_ID, EmulatorConfig
from exactmate.emulator.rest import RestApi
from tests.emulator.data.support import FIRST, SECOND, START, Session, error_text, http_client, results

URL = f"/api/v1/{FIRST}/webhooks/WebhookSubscriptions"
HOOK = "http://127.0.0.1:9000/hooks/exact"
FULL = {"Prefer": "return=representation"}


def test_subscribe_probes_the_callback_and_stores_the_subscription(
    api: httpx.Client, session: Session, rest_api: RestApi
) -> None:
    response = api.post(URL, json={"CallbackURL": HOOK, "Topic": "timetransactions"}, headers=FULL)
    assert response.status_code == 201, response.text
    entity = response.json()["d"]
    assert session.probed == [HOOK]
    assert entity["Topic"] == "TimeTransactions"
    assert entity["ClientID"] == session.client_id
    assert entity["UserID"] == DEMO_USER_ID
    assert entity["Division"] == FIRST
    assert rest_api.webhook_callbacks(FIRST, "TimeTransactions") == [HOOK]
    assert rest_api.webhook_callbacks(FIRST, "Accounts") == []
    assert rest_api.webhook_callbacks(SECOND, "TimeTransactions") == []
    listed = results(api.get(URL))
    assert [(s["ID"], s["CallbackURL"]) for s in listed] == [(entity["ID"], HOOK)]


def test_unsubscribe(api: httpx.Client, rest_api: RestApi) -> None:
    key = api.post(URL, json={"CallbackURL": HOOK, "Topic": "Accounts"}).json()["d"]["ID"]
    assert api.delete(f"{URL}(guid'{key}')").status_code == 204
    assert rest_api.webhook_callbacks(FIRST, "Accounts") == []
    assert results(api.get(URL)) == []


def test_callback_and_topic_are_required(api: httpx.Client, session: Session) -> None:
    response = api.post(URL, json={})
    assert response.status_code == 400
    assert error_text(response) == "Mandatory: CallbackURL\r\nMandatory: Topic"
    assert session.probed == []


def test_topic_must_be_a_webhook_topic(api: httpx.Client) -> None:
    response = api.post(URL, json={"CallbackURL": HOOK, "Topic": "Employees"})
    assert response.status_code == 400
    text = error_text(response)
    assert text.startswith("Topic 'Employees' is not a webhook topic. Known topics: ")
    assert "TimeTransactions" in text and "FinancialTransactions" in text


def test_callback_must_be_an_http_url(api: httpx.Client) -> None:
    response = api.post(URL, json={"CallbackURL": "ftp://example.test/x", "Topic": "Accounts"})
    assert response.status_code == 400
    assert error_text(response) == "CallbackURL 'ftp://example.test/x' is not an absolute http or https URL."


@pytest.mark.parametrize("status", [503, 404, 0])
def test_a_failing_probe_is_exacts_500(
    api: httpx.Client, session: Session, rest_api: RestApi, status: int
) -> None:
    session.probe_status = status
    response = api.post(URL, json={"CallbackURL": HOOK, "Topic": "Accounts"})
    assert response.status_code == 500
    assert error_text(response) == f"Invalid: Post to callback URL endpoint returns {status}"
    assert rest_api.webhook_callbacks(FIRST, "Accounts") == []


def test_without_a_probe_callback_subscriptions_are_accepted(api: httpx.Client) -> None:
    quiet = RestApi(EmulatorConfig(records=5), FakeClock(START).now)
    with http_client(quiet, Session()) as client:
        assert client.post(URL, json={"CallbackURL": HOOK, "Topic": "Items"}).status_code == 201
    assert quiet.webhook_callbacks(FIRST, "items") == [HOOK]
