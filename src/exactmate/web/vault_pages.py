"""Management → Vault → Application Credentials: the list and what can be done from it.

The list shows every credential with its status and last test; a credential that needs
re-authorisation is marked red and offers "Re-authorise" first. Make default, disconnect and delete
are small POST forms (with the CSRF token) answered by a redirect back to the list with a notice;
Test runs Test Connect on the saved credential and, from the page's script, shows the outcome in the
row itself (without script, as a notice above the list).
The form for new and edited credentials, with Test Connect, lives in :mod:`.credential_pages`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from exactmate.connect import Cause, ConnectCheck
from exactmate.errors import ExactmateError, connect_command
from exactmate.vault import Credential
from exactmate.web.context import ui
from exactmate.web.credentials import AUTH_LABELS, list_credentials, open_vault
from exactmate.web.security import CSRF_HEADER
from exactmate.web.templating import fragment, render
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


@router.post("/vault/{credential_id}/test")
async def test_saved(request: Request, credential_id: str) -> Response:
    """Test Connect of a saved credential with its stored tokens. One without usable tokens is not
    sent to a sign-in from here: the answer says that it needs consent and how to give it."""
    found = credential_by_id(request, credential_id)
    if found is None:
        return not_found(request)
    result = await run_in_threadpool(_test_saved, request, found)
    if CSRF_HEADER in request.headers:  # the row's script: the outcome goes into the row
        html = fragment(request, "_test_result.html", status="done", result=result)
        return JSONResponse({"ok": result.ok, "cause": result.cause, "html": html})
    text = f"{found.name}: {result.summary}" + (f" How to fix: {result.hint}" if result.hint else "")
    ui(request).flashes.add(request, "ok" if result.ok else "bad", text)
    return back_to_list()


def _test_saved(request: Request, found: Credential) -> ConnectCheck:
    context = ui(request)
    if not found.has_tokens or found.status == "needs_reauthorization":
        return ConnectCheck(
            ok=False,
            summary=f"{found.name} has no valid sign-in to test with: it needs consent in Exact Online.",
            cause=Cause.NEEDS_REAUTHORIZATION,
            hint=f"press Re-authorise on its row and allow access, or run `{connect_command(found.name)}`",
            tested_at=context.clock.now(),
        )
    with open_vault(context) as vault:
        return connector(context, vault).test(found.name)
