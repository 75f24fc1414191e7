"""The credential form, read and checked field by field so each problem shows under its own input.

The checks are the vault's own (:mod:`exactmate.vault.fields`); this module only maps them to the
form's inputs. In an edit, an empty Client Secret means "keep the stored one": the stored secret is
then what is tested and fingerprinted, never a mask or an empty string. The Webhook Secret is
optional and never shown back; empty in an edit keeps the stored one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.datastructures import FormData

from exactmate.errors import ValidationError
from exactmate.vault import (
    Credential,
    CredentialEdit,
    CredentialFields,
    NewCredential,
    Vault,
    check_auth_type,
    check_client_id,
    check_name,
    check_redirect_uri,
    check_secret,
    check_server_url,
    check_webhook_secret,
)
from exactmate.web.pending_tests import CandidateValues

T = TypeVar("T")


@dataclass(frozen=True)
class CredentialForm:
    """The form as posted. ``client_secret`` empty in an edit means unchanged."""

    credential_id: str = ""
    name: str = ""
    auth_type: str = "oauth2-code"
    server_url: str = ""
    client_id: str = ""
    redirect_uri: str = ""
    client_secret: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    test_id: str = ""
    allow_custom_host: bool = False


def read_form(form: FormData) -> CredentialForm:
    """The posted values; the Server URL is the chosen country host or the custom URL."""

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    choice = text("server_choice").strip()
    server_url = text("server_url").strip() if choice in ("", "custom") else choice
    return CredentialForm(
        credential_id=text("credential_id").strip(),
        name=text("name"),
        auth_type=text("auth_type").strip() or "oauth2-code",
        server_url=server_url,
        client_id=text("client_id"),
        redirect_uri=text("redirect_uri").strip(),
        client_secret=text("client_secret"),
        webhook_secret=text("webhook_secret"),
        refresh_token=text("refresh_token").strip(),
        test_id=text("test_id").strip(),
        allow_custom_host=text("allow_custom_host") in ("1", "on", "true"),
    )


@dataclass(frozen=True)
class Checked:
    """The form's values ready to test (``values``) and to save (``change``: the vault trusts it),
    or the problems by input name."""

    values: CandidateValues | None
    errors: dict[str, str]
    needs_sign_in: bool = True
    change: NewCredential | CredentialEdit | None = None

    @property
    def ok(self) -> bool:
        return self.values is not None and not self.errors


def check_form(form: CredentialForm, vault: Vault, editing: Credential | None) -> Checked:
    """Every input checked; for an edit, whether the stored tokens still fit (no sign-in needed)."""
    errors: dict[str, str] = {}

    def run(name: str, check: Callable[[], T]) -> T | None:
        try:
            return check()
        except ValidationError as exc:
            errors[name] = exc.message
            return None

    name = run("name", lambda: check_name(form.name))
    if name is not None:
        other = vault.find(name)
        if other is not None and (editing is None or other.id != editing.id):
            errors["name"] = f"A credential named {other.name!r} already exists: choose another name"
    auth_type = run("auth_type", lambda: check_auth_type(form.auth_type))
    stored_url = editing.server_url if editing is not None else None
    allow_custom = form.allow_custom_host or form.server_url.strip().rstrip("/") == stored_url
    server_url = run("server_url", lambda: check_server_url(form.server_url, allow_custom_host=allow_custom))
    client_id = run("client_id", lambda: check_client_id(form.client_id, server_url))
    redirect_uri = run("redirect_uri", lambda: check_redirect_uri(form.redirect_uri))
    new_secret: str | None = None  # in an edit, an empty Client Secret keeps the stored one
    if form.client_secret or editing is None:
        new_secret = run("client_secret", lambda: check_secret(form.client_secret))
    # optional, and never shown back: empty means none (new) or keep the stored one (edit)
    new_hook = (
        run("webhook_secret", lambda: check_webhook_secret(form.webhook_secret))
        if form.webhook_secret
        else None
    )
    if name is None or auth_type is None or server_url is None or client_id is None or redirect_uri is None:
        return Checked(None, errors)
    fields = CredentialFields(name, auth_type, server_url, client_id, redirect_uri)
    change: NewCredential | CredentialEdit
    if editing is not None and "client_secret" not in errors:
        change = CredentialEdit(editing, fields, new_secret, new_hook)
    elif new_secret is not None:
        change = NewCredential(fields, new_secret, new_hook)
    else:
        return Checked(None, errors)
    needs_sign_in = not (
        isinstance(change, CredentialEdit)
        and not change.reconnects
        and change.current.has_tokens
        and change.current.status == "connected"
    )
    if auth_type == "refresh-token" and needs_sign_in and not form.refresh_token:
        errors["refresh_token"] = (
            "Refresh Token is required for this authentication type: "
            "paste an existing refresh token of the app"
        )
    if errors:
        return Checked(None, errors)
    # what is tested: the new secret, or in an edit the stored one (never a mask or an empty string)
    secret = change.secret if change.secret is not None else vault.client_secret(change.current)
    values = CandidateValues(
        name=name,
        auth_type=auth_type,
        server_url=server_url,
        client_id=client_id,
        redirect_uri=redirect_uri,
        secret=secret,
        refresh_token=form.refresh_token if needs_sign_in else "",
        credential_id=editing.id if editing is not None else "",
        allow_custom_host=allow_custom,
    )
    return Checked(values, {}, needs_sign_in, change)
