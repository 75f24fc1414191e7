"""New App Credentials through the page: Test Connect with the sign-in, Connect & Create, and the
rule that only exactly the tested values are saved (with the tokens that test obtained)."""

from __future__ import annotations

from tests.web.conftest import (
    SECRET,
    UI_BASE,
    Live,
    create_credential,
    credential_form,
    csrf,
    follow_consent,
    stored,
    test_connect,
)

from exactmate.config import Settings
from exactmate.store import Store
from exactmate.vault import Vault


def test_new_form_shows_the_redirect_uri_to_register_and_a_disabled_connect_and_create(ui) -> None:
    page = ui.get("/vault/new")
    assert page.status_code == 200
    assert f'value="{UI_BASE}/oauth/callback"' in page.text
    assert 'id="connect-create" disabled' in page.text
    for label in ("Connector Name", "Authentication Type", "Server URL", "Client ID", "Client Secret"):
        assert label in page.text
    assert "https://start.exactonline.co.uk" in page.text and "Custom URL" in page.text


def test_test_connect_signs_in_then_connect_and_create_saves_with_the_tests_tokens(
    ui, live: Live, settings: Settings
) -> None:
    form = credential_form(live)
    answer = ui.post("/vault/test", data=form, headers={"X-CSRF-Token": csrf(ui)})
    first = answer.json()
    assert first["status"] == "consent"
    assert first["authorize_url"].startswith(live.base_url + "/api/oauth2/auth?")
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A8400%2Foauth%2Fcallback" in first["authorize_url"]
    assert ui.get(f"/vault/test/{first['test_id']}").json()["status"] == "consent"

    landed = follow_consent(ui, first["authorize_url"])
    assert landed.status_code == 200 and "Signed in" in landed.text
    polled = ui.get(f"/vault/test/{first['test_id']}").json()
    assert polled["status"] == "ok"
    assert "Dana Demo" in polled["html"] and "Test Connect succeeded" in polled["html"]
    with Vault_list(settings) as names:
        assert names == []  # tested, not saved

    form["test_id"] = first["test_id"]
    token_calls = live.stats()["by_endpoint"].get("oauth2/token", {})
    saved = ui.post("/vault/save", data=form, headers={"X-CSRF-Token": csrf(ui)})
    assert saved.json() == {"ok": True, "redirect": "/vault"}
    assert live.stats()["by_endpoint"].get("oauth2/token", {}) == token_calls  # no second sign-in

    credential = stored(settings, "Demo NL")
    assert credential.status == "connected" and credential.has_tokens
    assert credential.last_test_ok is True and credential.server_url == live.base_url
    listing = ui.get("/vault")
    assert "Demo NL" in listing.text and "Credential Demo NL created" in listing.text
    assert SECRET not in listing.text


class Vault_list:
    """``with Vault_list(settings) as names``: the stored credential names."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __enter__(self) -> list[str]:
        store = Store.from_settings(self.settings)
        try:
            return [row.name for row in store.list_credentials()]
        finally:
            store.close()

    def __exit__(self, *_: object) -> None:
        return None


def test_a_value_changed_after_the_test_is_not_saved(ui, live: Live, settings: Settings) -> None:
    form = credential_form(live)
    tested = test_connect(ui, form)
    assert tested["status"] == "ok"
    # the name is not part of the connection: renaming after the test is allowed (test_credential_checks)
    changes = (
        ("client_id", "someone-else"),
        ("client_secret", "other"),
        ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
    )
    for field, value in changes:
        changed = dict(form, test_id=tested["test_id"], **{field: value})
        refused = ui.post("/vault/save", data=changed, headers={"X-CSRF-Token": csrf(ui)})
        assert refused.status_code == 409, field
        assert refused.json()["retest"] is True
        assert "Run Test Connect first" in refused.json()["html"]
    with Vault_list(settings) as names:
        assert names == []


def test_save_without_a_test_or_with_another_browsers_test_is_refused(ui, live: Live, settings) -> None:
    form = credential_form(live)
    assert ui.post("/vault/save", data=form, headers={"X-CSRF-Token": csrf(ui)}).status_code == 409
    tested = test_connect(ui, form)
    from tests.web.conftest import browser

    with browser(ui.app) as other:
        stolen = other.post(
            "/vault/save", data=dict(form, test_id=tested["test_id"]), headers={"X-CSRF-Token": csrf(other)}
        )
    assert stolen.status_code == 409
    with Vault_list(settings) as names:
        assert names == []


def test_the_secret_never_comes_back_to_the_page(ui, live: Live, settings: Settings) -> None:
    create_credential(ui, live)
    credential = stored(settings, "Demo NL")
    pages = [ui.get(p).text for p in ("/vault", f"/vault/{credential.id}/edit", "/actions", "/vault/new")]
    for text in pages:
        assert SECRET not in text
    edit = pages[1]
    assert 'id="client_secret" name="client_secret" value=""' in edit
    assert "leave empty to keep the stored secret" in edit


def test_the_webhook_secret_is_saved_from_the_form_and_never_comes_back(
    ui, live: Live, settings: Settings
) -> None:
    hook = "Webhook-S3cret-on-the-form"
    create_credential(ui, live, webhook_secret=hook)
    credential = stored(settings, "Demo NL")
    with Vault.open(settings) as vault:
        assert vault.webhook_secret(credential) == hook
    edit_page = ui.get(f"/vault/{credential.id}/edit").text
    assert 'id="webhook_secret" name="webhook_secret" value=""' in edit_page
    assert "Stored: leave empty to keep it" in edit_page
    for page in ("/vault", f"/vault/{credential.id}/edit", "/vault/new"):
        assert hook not in ui.get(page).text
    # an edit that leaves it empty keeps it; a bad one is named under its input
    form = credential_form(live, credential_id=credential.id, name="Demo Renamed", client_secret="")
    tested = ui.post("/vault/test", data=form, headers={"X-CSRF-Token": csrf(ui)}).json()
    saved = ui.post(
        "/vault/save", data=dict(form, test_id=tested["test_id"]), headers={"X-CSRF-Token": csrf(ui)}
    )
    assert saved.json()["ok"]
    with Vault.open(settings) as vault:
        assert vault.webhook_secret(vault.get("Demo Renamed")) == hook
    bad = credential_form(live, credential_id=credential.id, name="Demo Renamed", client_secret="",
                          webhook_secret="two\nlines")  # fmt: skip
    refused = ui.post("/vault/test", data=bad, headers={"X-CSRF-Token": csrf(ui)})
    assert refused.status_code == 400
    assert "control characters" in refused.json()["errors"]["webhook_secret"]
