"""Management → Vault → Application Credentials: the list and what can be done from it.

The list shows every credential with its status and last test; a credential that needs
re-authorisation is marked red and offers "Re-authorise" first. Make default, disconnect and delete
are small POST forms (with the CSRF token) answered by a redirect back to the list with a notice.
The form for new and edited credentials, with Test Connect, lives in :mod:`.credential_pages`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from exactmate.errors import ExactmateError
from exactmate.vault import Credential
from exactmate.web.context import ui
from exactmate.web.credentials import AUTH_LABELS, list_credentials, open_vault
from exactmate.web.templating import render
from exactmate.web.testconnect import connector

router = APIRouter()


def back_to_list() -> RedirectResponse:
    return RedirectResponse("/vault", status_code=303)


def credential_by_id(request: Request, credential_id: str) -> Credential | None:
    """The credential with this id (ids, not names, go into URLs: names may hold any character)."""
    return next((c for c in list_credentials(ui(request)) if c.id == credential_id), None)


def not_found(request: Request) -> Response:
    return render(
        request,
        "error.html",
        404,
        section="vault",
        title="No such credential",
        message="That credential is not in the vault (any more). It may have been deleted meanwhile.",
    )


@router.get("/vault", response_class=HTMLResponse)
def vault_list(request: Request, q: str = "") -> Response:
    """The credentials table, filtered by ``q`` (name, server URL, client ID, type or status)."""
    context = ui(request)
    credentials = list_credentials(context, q or None)
    everything = credentials if not q else list_credentials(context)
    reauth = [c for c in everything if c.status == "needs_reauthorization"]
    return render(
        request,
        "vault_list.html",
        section="vault",
        credentials=credentials,
        search=q,
        reauth=reauth,
        auth_labels=AUTH_LABELS,
    )


@router.post("/vault/{credential_id}/default")
def make_default(request: Request, credential_id: str) -> Response:
    found = credential_by_id(request, credential_id)
    if found is None:
        return not_found(request)
    with open_vault(ui(request)) as vault:
        vault.set_default(found.name)
    ui(request).flashes.add(request, "ok", f"{found.name} is now the default credential.")
    return back_to_list()


@router.post("/vault/{credential_id}/disconnect")
def disconnect(request: Request, credential_id: str) -> Response:
    """Forget the tokens (under the credential's refresh lock, so no refresh running elsewhere can
    store new ones meanwhile); the credential stays and can be connected again (Re-authorise)."""
    found = credential_by_id(request, credential_id)
    if found is None:
        return not_found(request)
    with open_vault(ui(request)) as vault:
        connector(ui(request), vault).disconnect(found.name)
    ui(request).divisions.forget(found.name)
    ui(request).flashes.add(
        request, "ok", f"{found.name} is disconnected: its tokens are gone. Re-authorise to use it again."
    )
    return back_to_list()


@router.get("/vault/{credential_id}/delete", response_class=HTMLResponse)
def delete_page(request: Request, credential_id: str) -> Response:
    found = credential_by_id(request, credential_id)
    if found is None:
        return not_found(request)
    return render(request, "delete_confirm.html", section="vault", credential=found)


@router.post("/vault/{credential_id}/delete")
def delete(request: Request, credential_id: str) -> Response:
    found = credential_by_id(request, credential_id)
    if found is None:
        return not_found(request)
    try:
        with open_vault(ui(request)) as vault:
            vault.remove(found.name)
    except ExactmateError as exc:
        ui(request).flashes.add(request, "bad", f"{found.name} was not deleted: {exc}")
        return back_to_list()
    ui(request).divisions.forget(found.name)
    ui(request).flashes.add(request, "ok", f"{found.name} was deleted from the vault.")
    return back_to_list()
