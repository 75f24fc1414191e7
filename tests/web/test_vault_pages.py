"""Management → Vault → Application Credentials: the list, its filter, and what each row offers
(edit, re-authorise, make default, disconnect, delete); credentials needing re-authorisation stand out."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.web.conftest import Live, create_credential, csrf, follow_consent, stored

from exactmate.config import Settings
from exactmate.vault import Vault


def test_the_empty_vault_invites_a_first_credential(ui) -> None:
    page = ui.get("/vault")
    assert page.status_code == 200
    for text in (
        "Management",
        "Vault",
        "Application Credentials",
        "New App Credentials",
        "No credentials yet",
    ):
        assert text in page.text
    assert ui.get("/").headers["location"] == "/vault"


def test_the_list_shows_each_credential_and_filters(ui, live: Live, settings: Settings) -> None:
    create_credential(ui, live, name="Acme NL")
    create_credential(ui, live, name="Beta BE")
    page = ui.get("/vault").text
    for column in ("Connector Name", "Application", "Server URL", "Status", "Last test"):
        assert column in page
    assert "Acme NL" in page and "Beta BE" in page and live.base_url in page
    assert page.count('class="badge connected">connected') == 2
    assert "Default" in page  # the first credential became the default
    filtered = ui.get("/vault", params={"q": "beta"}).text
    assert "Beta BE" in filtered and "Acme NL" not in filtered
    none = ui.get("/vault", params={"q": "zzz"}).text
    assert "No credential matches" in none


def test_make_default_disconnect_and_delete(ui, live: Live, settings: Settings) -> None:
    create_credential(ui, live, name="Acme NL")
    create_credential(ui, live, name="Beta BE")
    beta = stored(settings, "Beta BE")
    assert not beta.is_default

    made = ui.post(f"/vault/{beta.id}/default", data={"csrf_token": csrf(ui)})
    assert made.status_code == 303 and made.headers["location"] == "/vault"
    assert "Beta BE is now the default credential" in ui.get("/vault").text
    assert stored(settings, "Beta BE").is_default and not stored(settings, "Acme NL").is_default

    ui.post(f"/vault/{beta.id}/disconnect", data={"csrf_token": csrf(ui)})
    after = stored(settings, "Beta BE")
    assert after.status == "disconnected" and not after.has_tokens

    confirm = ui.get(f"/vault/{beta.id}/delete")
    assert confirm.status_code == 200 and "Delete “Beta BE”?" in confirm.text
    gone = ui.post(f"/vault/{beta.id}/delete", data={"csrf_token": csrf(ui)})
    assert gone.status_code == 303
    assert "Beta BE was deleted" in ui.get("/vault").text
    with Vault.open(settings) as vault:
        assert [c.name for c in vault.list()] == ["Acme NL"]


def test_unknown_credential_ids_get_a_plain_404(ui) -> None:
    token = csrf(ui)
    assert ui.get("/vault/nope/edit").status_code == 404
    assert ui.get("/vault/nope/delete").status_code == 404
    for action in ("default", "disconnect", "delete", "reauthorize"):
        answer = ui.post(f"/vault/nope/{action}", data={"csrf_token": token})
        assert answer.status_code == 404 and "not in the vault" in answer.text, action


def test_a_credential_needing_reauthorisation_stands_out_and_is_reauthorised(
    ui, live: Live, settings: Settings
) -> None:
    create_credential(ui, live)
    with Vault.open(settings) as vault:
        vault.tokens_of(vault.get("Demo NL").id).mark_needs_reauthorization(
            "Exact rejected the refresh token"
        )
    page = ui.get("/vault").text
    assert 'class="needs-reauth"' in page
    assert "1 credential needs" in page and "re-authorisation" in page
    assert "needs re-authorisation</span>" in page and "Exact rejected the refresh token" in page

    credential = stored(settings, "Demo NL")
    answer = ui.post(f"/vault/{credential.id}/reauthorize", data={"csrf_token": csrf(ui)})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(live.base_url + "/api/oauth2/auth?")
    assert parse_qs(urlsplit(location).query)["client_id"] == [credential.client_id]

    back = follow_consent(ui, location)
    assert back.status_code == 303 and back.headers["location"] == "/vault"
    listing = ui.get("/vault").text
    assert "Demo NL: " in listing and 'class="needs-reauth"' not in listing
    again = stored(settings, "Demo NL")
    assert again.status == "connected" and again.has_tokens and again.last_test_ok


def test_reauthorise_names_a_probe_failure_without_leaving_the_page(
    ui, live: Live, settings: Settings, serve
) -> None:
    create_credential(ui, live)
    credential = stored(settings, "Demo NL")
    other = serve(client_id="another-app")
    with Vault.open(settings) as vault:
        vault.apply_edit(vault.plan_edit("Demo NL", server_url=other.base_url))
    answer = ui.post(f"/vault/{credential.id}/reauthorize", data={"csrf_token": csrf(ui)})
    assert answer.status_code == 303 and answer.headers["location"] == "/vault"
    assert "is unknown on" in ui.get("/vault").text


def test_a_callback_nobody_waits_for_is_refused(ui) -> None:
    answer = ui.get("/oauth/callback", params={"code": "X", "state": "made-up"})
    assert answer.status_code == 400 and "unknown or has expired" in answer.text
    assert ui.get("/oauth/callback").status_code == 400


def test_a_rows_test_button_runs_test_connect_on_the_saved_credential(
    ui, live: Live, settings: Settings
) -> None:
    create_credential(ui, live, name="Acme NL")
    acme = stored(settings, "Acme NL")
    page = ui.get("/vault").text
    assert f'action="/vault/{acme.id}/test"' in page and 'aria-label="Test Acme NL"' in page

    refused = ui.post(f"/vault/{acme.id}/test", data={})  # no CSRF token: nothing runs
    assert refused.status_code == 403

    token = csrf(ui)
    answer = ui.post(f"/vault/{acme.id}/test", data={"csrf_token": token}, headers={"X-CSRF-Token": token})
    body = answer.json()
    assert answer.status_code == 200 and body["ok"] is True, body
    assert "Test Connect succeeded" in body["html"] and "Dana Demo" in body["html"]
    assert stored(settings, "Acme NL").last_test_at is not None

    ui.post(f"/vault/{acme.id}/disconnect", data={"csrf_token": csrf(ui)})
    token = csrf(ui)
    needs = ui.post(f"/vault/{acme.id}/test", data={"csrf_token": token}, headers={"X-CSRF-Token": token})
    body = needs.json()
    assert body["ok"] is False and body["cause"] == "needs_reauthorization"
    assert "needs consent" in body["html"] and "Re-authorise" in body["html"]
    assert "exactmate vault connect &#39;Acme NL&#39;" in body["html"]  # pasteable, quoted

    plain = ui.post(f"/vault/{acme.id}/test", data={"csrf_token": csrf(ui)})  # without script
    assert plain.status_code == 303 and plain.headers["location"] == "/vault"
    assert "Acme NL has no valid sign-in" in ui.get("/vault").text


def test_testing_a_credential_that_is_gone_says_so(ui) -> None:
    answer = ui.post("/vault/nope/test", data={"csrf_token": csrf(ui)})
    assert answer.status_code == 404 and "not in the vault" in answer.text
