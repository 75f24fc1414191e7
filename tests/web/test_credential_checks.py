"""The credential form's checks and Test Connect's diagnoses as the page shows them, and editing
(an unchanged secret is tested with the stored one; a rename needs no new sign-in)."""

from __future__ import annotations

import httpx
from starlette.datastructures import FormData
from tests.emulator_helpers import authorize
from tests.live_emulator import free_port
from tests.web.conftest import (
    Live,
    create_credential,
    credential_form,
    csrf,
    stored,
    test_connect,
)

from exactmate.config import Settings
from exactmate.vault import Vault
from exactmate.web.credential_form import check_form, read_form


def test_every_bad_field_is_named_under_its_input_and_nothing_is_sent(ui, live: Live) -> None:
    form = credential_form(
        live,
        name="  ",
        auth_type="password",
        server_choice="custom",
        server_url="http://exact.example.com",
        client_secret="",
    )
    before = live.stats()
    answer = ui.post("/vault/test", data=form, headers={"X-CSRF-Token": csrf(ui)})
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "invalid"
    errors = body["errors"]
    assert "Connector Name is required" in errors["name"]
    assert "Authentication Type" in errors["auth_type"]
    assert "plain http" in errors["server_url"]
    assert "Client Secret is required" in errors["client_secret"]
    assert "Fix the marked fields" in body["html"]
    assert live.stats() == before


def test_a_custom_host_needs_the_box_ticked_before_anything_is_sent(ui, live: Live) -> None:
    form = credential_form(live, server_choice="custom", server_url="https://169.254.169.254")
    before = live.stats()
    refused = ui.post("/vault/test", data=form, headers={"X-CSRF-Token": csrf(ui)})
    assert refused.status_code == 400
    assert "neither one of Exact Online's hosts" in refused.json()["errors"]["server_url"]
    assert live.stats() == before


def test_the_custom_host_box_lets_the_form_through(settings: Settings) -> None:
    # Checked without a Test Connect, which would reach out to that host.
    posted = {"name": "Proxy", "server_choice": "custom", "server_url": "https://exact.proxy.example/",
              "client_id": "abc", "client_secret": "s", "allow_custom_host": "1"}  # fmt: skip
    with Vault.open(settings) as vault:
        checked = check_form(read_form(FormData(list(posted.items()))), vault, None)
        assert checked.ok and checked.values is not None
        assert checked.values.allow_custom_host and checked.values.server_url == "https://exact.proxy.example"
        unticked = {k: v for k, v in posted.items() if k != "allow_custom_host"}
        refused = check_form(read_form(FormData(list(unticked.items()))), vault, None)
        assert "neither one of Exact Online's hosts" in refused.errors["server_url"]


def test_a_client_id_must_be_a_guid_on_exacts_hosts_and_names_must_be_unique(ui, live: Live) -> None:
    errors = ui.post(
        "/vault/test",
        data=credential_form(live, server_choice="https://start.exactonline.nl", client_id="not-a-guid"),
        headers={"X-CSRF-Token": csrf(ui)},
    ).json()["errors"]
    assert "is not a GUID" in errors["client_id"]
    create_credential(ui, live, name="Acme")
    taken = ui.post(
        "/vault/test", data=credential_form(live, name=" ACME "), headers={"X-CSRF-Token": csrf(ui)}
    ).json()["errors"]
    assert "already exists" in taken["name"]


def test_wrong_host_is_diagnosed_before_any_sign_in(ui, serve) -> None:
    other = serve(client_id="some-other-app")
    answer = ui.post("/vault/test", data=credential_form(other), headers={"X-CSRF-Token": csrf(ui)}).json()
    assert answer["status"] == "failed"
    assert 'data-cause="wrong_host"' in answer["html"] and "Wrong country host" in answer["html"]
    assert "How to fix" in answer["html"]


def test_wrong_secret_is_diagnosed_after_the_sign_in(ui, live: Live) -> None:
    result = test_connect(ui, credential_form(live, client_secret="not-the-secret"))
    assert result["status"] == "failed"
    assert 'data-cause="wrong_client_secret"' in result["html"] and "not-the-secret" not in result["html"]


def test_unregistered_redirect_uri_is_diagnosed(ui, serve) -> None:
    strict = serve(redirect_uris=("http://127.0.0.1:9999/elsewhere",))
    answer = ui.post("/vault/test", data=credential_form(strict), headers={"X-CSRF-Token": csrf(ui)}).json()
    assert answer["status"] == "failed" and 'data-cause="redirect_uri_not_registered"' in answer["html"]


def test_missing_scope_and_division_are_diagnosed(ui, serve) -> None:
    scoped = serve(scopes=("Projects billing",))
    result = test_connect(ui, credential_form(scoped))
    assert result["status"] == "failed" and 'data-cause="scope_missing"' in result["html"]


def test_a_denied_sign_in_is_reported(ui, live: Live) -> None:
    result = test_connect(ui, credential_form(live), action="deny")
    assert result["status"] == "failed" and 'data-cause="sign_in_failed"' in result["html"]
    assert "access_denied" in result["html"]


def test_unreachable_exact_is_diagnosed(ui, live: Live) -> None:
    form = credential_form(live, server_url=f"http://127.0.0.1:{free_port()}")
    answer = ui.post("/vault/test", data=form, headers={"X-CSRF-Token": csrf(ui)}).json()
    assert answer["status"] == "failed" and 'data-cause="unreachable"' in answer["html"]


def test_edit_with_an_unchanged_secret_tests_with_the_stored_one_without_a_sign_in(
    ui, live: Live, settings: Settings
) -> None:
    create_credential(ui, live)
    credential = stored(settings, "Demo NL")
    form = credential_form(live, credential_id=credential.id, name="Demo Renamed", client_secret="")
    token_calls = live.stats()["by_endpoint"].get("oauth2/token", {})
    answer = ui.post("/vault/test", data=form, headers={"X-CSRF-Token": csrf(ui)}).json()
    assert answer["status"] == "ok"  # the stored tokens were used: no consent, no new token
    assert live.stats()["by_endpoint"].get("oauth2/token", {}) == token_calls
    saved = ui.post(
        "/vault/save", data=dict(form, test_id=answer["test_id"]), headers={"X-CSRF-Token": csrf(ui)}
    )
    assert saved.json()["ok"]
    renamed = stored(settings, "Demo Renamed")
    assert renamed.id == credential.id and renamed.has_tokens and renamed.status == "connected"


def test_edit_with_a_new_secret_signs_in_again_and_a_wrong_one_changes_nothing(
    ui, live: Live, settings: Settings
) -> None:
    create_credential(ui, live)
    credential = stored(settings, "Demo NL")
    wrong = credential_form(live, credential_id=credential.id, client_secret="typo")
    result = test_connect(ui, wrong)
    assert result["status"] == "failed" and 'data-cause="wrong_client_secret"' in result["html"]
    refused = ui.post(
        "/vault/save", data=dict(wrong, test_id=result["test_id"]), headers={"X-CSRF-Token": csrf(ui)}
    )
    assert refused.status_code == 409
    after = stored(settings, "Demo NL")
    assert after.updated_at == credential.updated_at and after.has_tokens


def test_the_refresh_token_type_tests_without_a_browser(ui, live: Live, settings: Settings) -> None:
    with httpx.Client(base_url=live.base_url) as http:
        tokens = authorize(http, live.config)
        # Exact refuses a refresh within 570 s of the token's issue: the user brings an older one.
        assert http.post("/_emulator/clock", json={"advance_seconds": 600}).status_code == 200
    form = credential_form(live, auth_type="refresh-token", refresh_token="")
    missing = ui.post("/vault/test", data=form, headers={"X-CSRF-Token": csrf(ui)}).json()
    assert "Refresh Token is required" in missing["errors"]["refresh_token"]
    form["refresh_token"] = tokens["refresh_token"]
    answer = ui.post("/vault/test", data=form, headers={"X-CSRF-Token": csrf(ui)}).json()
    assert answer["status"] == "ok"
    saved = ui.post(
        "/vault/save", data=dict(form, test_id=answer["test_id"]), headers={"X-CSRF-Token": csrf(ui)}
    )
    assert saved.json()["ok"]
    credential = stored(settings, "Demo NL")
    assert credential.auth_type == "refresh-token" and credential.has_tokens
    assert tokens["refresh_token"] not in answer["html"]


def test_a_rename_after_a_successful_test_connect_saves_without_another_sign_in(
    ui, live: Live, settings: Settings
) -> None:
    form = credential_form(live)
    tested = test_connect(ui, form)
    assert tested["status"] == "ok"
    exchanged = live.stats()["code_exchanged"]
    renamed = dict(form, name="Demo Books", test_id=tested["test_id"])
    saved = ui.post("/vault/save", data=renamed, headers={"X-CSRF-Token": csrf(ui)})
    assert saved.status_code == 200 and saved.json()["ok"], saved.text
    credential = stored(settings, "Demo Books")
    assert credential.has_tokens and credential.status == "connected" and credential.last_test_ok
    assert live.stats()["code_exchanged"] == exchanged  # the test's sign-in was kept, not repeated


def test_an_edit_renamed_after_its_test_keeps_that_test_and_other_changes_do_not(
    ui, live: Live, settings: Settings
) -> None:
    create_credential(ui, live)
    credential = stored(settings, "Demo NL")
    form = credential_form(live, credential_id=credential.id)  # the secret typed again: a new sign-in
    tested = test_connect(ui, form)
    assert tested["status"] == "ok"
    exchanged = live.stats()["code_exchanged"]
    other_app = dict(form, client_id="00000000-0000-0000-0000-000000000001", test_id=tested["test_id"])
    refused = ui.post("/vault/save", data=other_app, headers={"X-CSRF-Token": csrf(ui)})
    assert refused.status_code == 409 and refused.json()["retest"]  # a connection value is not a name
    renamed = dict(form, name="Demo Renamed", test_id=tested["test_id"])
    saved = ui.post("/vault/save", data=renamed, headers={"X-CSRF-Token": csrf(ui)})
    assert saved.status_code == 200 and saved.json()["ok"], saved.text
    after = stored(settings, "Demo Renamed")
    assert (after.id, after.status, after.has_tokens) == (credential.id, "connected", True)
    assert live.stats()["code_exchanged"] == exchanged
