"""New App Credentials and Edit: the form, Test Connect, Connect & Create, and Re-authorise.

Test Connect (``POST /vault/test``) checks the form, then either tests at once (an edit whose stored
tokens still fit, or a refresh token given) or probes Exact's sign-in page and hands the page the
sign-in address to open; the page then polls ``GET /vault/test/{id}`` until the callback has run the
test. Connect & Create (``POST /vault/save``) saves only when the form's values are exactly those of
a successful test (compared by fingerprint, secret included), together with the tokens that test
obtained. The client secret is never sent back to the page, not even masked.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from exactmate.auth import authorization_url, new_state
from exactmate.connect import ConnectCheck, GivenConsent
from exactmate.errors import ExactmateError, connect_command
from exactmate.store import new_id
from exactmate.vault import Credential, CredentialEdit, LastTest, NewCredential, Vault
from exactmate.web.context import ui
from exactmate.web.credential_form import Checked, CredentialForm, check_form, read_form
from exactmate.web.credentials import AUTH_LABELS, HOST_LABELS, open_vault
from exactmate.web.oauth_callback import callback_url, returns_here
from exactmate.web.pending_tests import CandidateValues, PendingTest, PendingTests
from exactmate.web.templating import fragment, render
from exactmate.web.testconnect import check_candidate, connector, oauth_app, probe
from exactmate.web.vault_pages import back_to_list, credential_by_id, not_found

router = APIRouter()


def _browser(request: Request) -> str:
    return str(request.scope["state"]["csrf_seed"])


def _tests(request: Request) -> PendingTests:
    tests: PendingTests = ui(request).tests
    return tests


def _form_page(request: Request, editing: Credential | None) -> Response:
    hosts = [url for url, _ in HOST_LABELS]
    if editing is None:
        values = {
            "name": "",
            "auth_type": "oauth2-code",
            "server_choice": hosts[0],
            "server_url": "",
            "client_id": "",
            "redirect_uri": callback_url(request),
            "allow_custom_host": False,
        }
        warning = ""
    else:
        known = editing.server_url in hosts
        values = {
            "name": editing.name,
            "auth_type": editing.auth_type,
            "server_choice": editing.server_url if known else "custom",
            "server_url": "" if known else editing.server_url,
            "client_id": editing.client_id,
            "redirect_uri": editing.redirect_uri,
            "allow_custom_host": False,
        }
        warning = (
            ""
            if returns_here(editing.redirect_uri, request)
            else (
                f"This credential's sign-in returns to {editing.redirect_uri}, not to this page "
                f"({callback_url(request)}): a Test Connect that needs a sign-in cannot finish here. "
                "Run the UI on that address, or sign in with: " + connect_command(editing.name)
            )
        )
    return render(
        request,
        "credential_form.html",
        section="vault",
        editing=editing,
        values=values,
        hosts=HOST_LABELS,
        auth_types=list(AUTH_LABELS.items()),
        redirect_warning=warning,
    )


@router.get("/vault/new", response_class=HTMLResponse)
def new_credential(request: Request) -> Response:
    return _form_page(request, None)


@router.get("/vault/{credential_id}/edit", response_class=HTMLResponse)
def edit_credential(request: Request, credential_id: str) -> Response:
    found = credential_by_id(request, credential_id)
    return not_found(request) if found is None else _form_page(request, found)


def _editing(request: Request, form: CredentialForm) -> tuple[Credential | None, bool]:
    """The credential being edited (None for a new one) and whether the form names one that exists."""
    if not form.credential_id:
        return None, True
    found = credential_by_id(request, form.credential_id)
    return found, found is not None


def _answer(request: Request, test: PendingTest | None, **extra: Any) -> JSONResponse:
    """The JSON the page's script reads: status, test id, and the result as HTML."""
    status = extra.pop("status", test.status if test else "failed")
    if test is not None and status == "consent":
        extra["authorize_url"] = authorization_url(oauth_app(test.values), test.state)
        extra["here"] = returns_here(test.values.redirect_uri, request)
        extra["callback"] = callback_url(request)
    html = fragment(
        request, "_test_result.html", status=status, result=test.outcome if test else None, **extra
    )
    body: dict[str, Any] = {"status": status, "test_id": test.id if test else None, "html": html}
    for key in ("errors", "authorize_url"):
        if key in extra:
            body[key] = extra[key]
    return JSONResponse(body, status_code=400 if status == "invalid" else 200)


def _invalid(request: Request, checked: Checked) -> JSONResponse:
    return _answer(
        request, None, status="invalid", errors=checked.errors, problems=list(checked.errors.values())
    )


@router.post("/vault/test")
async def test_connect(request: Request) -> Response:
    form = read_form(await request.form())
    editing, exists = _editing(request, form)
    if not exists:
        return _answer(
            request, None, status="failed", message="The credential being edited no longer exists."
        )
    with open_vault(ui(request)) as vault:
        checked = check_form(form, vault, editing)
    if not checked.ok or checked.values is None:
        return _invalid(request, checked)
    values = checked.values
    tests = _tests(request)
    candidate = editing.id if editing else new_id()

    def start(state: str = "") -> PendingTest:
        return tests.start(
            browser=_browser(request),
            purpose="test",
            values=values,
            signer=ui(request).signer,
            state=state,
            candidate_id=candidate,
        )

    if not checked.needs_sign_in or values.auth_type == "refresh-token":
        test = start()
        result, tokens = await run_in_threadpool(_test_now, request, test, editing, checked.needs_sign_in)
        tests.finish(test, "ok" if result.ok else "failed", result, tokens)
        return _answer(request, test)
    problem = await run_in_threadpool(probe, ui(request), values)
    if problem is not None:
        test = start()
        tests.finish(test, "failed", problem)
        return _answer(request, test)
    return _answer(request, start(new_state()))


def _test_now(
    request: Request, test: PendingTest, editing: Credential | None, sign_in: bool
) -> tuple[ConnectCheck, Any]:
    """A test without the browser: the stored tokens of an unchanged credential, or a given refresh
    token exchanged for new ones."""
    context = ui(request)
    with open_vault(context) as vault:
        if not sign_in and editing is not None:
            return connector(context, vault).test(editing.name), None
        consent = GivenConsent(token=test.values.refresh_token)
        return check_candidate(context, vault, test.values, consent, test.candidate_id)


@router.get("/vault/test/{test_id}")
def test_status(request: Request, test_id: str) -> Response:
    test = _tests(request).get(test_id, _browser(request))
    if test is None:
        return JSONResponse(
            {
                "status": "failed",
                "error": "This Test Connect is unknown or expired: run it again.",
                "html": fragment(request, "_test_result.html", status="expired", result=None),
            },
            status_code=404,
        )
    return _answer(request, test)


@router.post("/vault/save")
async def save(request: Request) -> Response:
    """Connect & Create (or Connect & Save): only the exact values of a successful test."""
    context = ui(request)
    form = read_form(await request.form())
    editing, exists = _editing(request, form)
    if not exists:
        return _save_refused(request, "The credential being edited no longer exists.")
    with open_vault(context) as vault:
        checked = check_form(form, vault, editing)
        if not checked.ok or checked.values is None or checked.change is None:
            return JSONResponse(
                {
                    "ok": False,
                    "errors": checked.errors,
                    "html": fragment(
                        request,
                        "_test_result.html",
                        status="invalid",
                        result=None,
                        problems=list(checked.errors.values()),
                    ),
                },
                status_code=400,
            )
        test = _tests(request).get(form.test_id, _browser(request))
        if test is None or test.status != "ok" or not _same(test, checked.values, request):
            return _save_refused(
                request,
                "Run Test Connect first: the values in the form are not the ones "
                "that were tested successfully (or the test expired).",
                retest=True,
            )
        try:
            saved = _store(vault, test, checked.change)
        except ExactmateError as exc:
            return _save_refused(request, f"Nothing was saved: {exc}")
    _tests(request).drop(test)
    ui(request).divisions.forget(saved.name)
    what = "updated" if editing else "created"
    context.flashes.add(request, "ok", f"Credential {saved.name} {what}: {test.outcome.summary}")
    return JSONResponse({"ok": True, "redirect": "/vault"})


def _same(test: PendingTest, values: CandidateValues, request: Request) -> bool:
    return hmac.compare_digest(test.fingerprint, values.fingerprint(ui(request).signer))


def _store(vault: Vault, test: PendingTest, change: NewCredential | CredentialEdit) -> Credential:
    """Save the form's checked values with what the test obtained (the vault does not check again)."""
    result: ConnectCheck = test.outcome
    last = LastTest(ok=True, message=result.summary, at=result.tested_at or 0.0)
    if isinstance(change, NewCredential):
        return vault.create(change, tokens=test.tokens, last_test=last, credential_id=test.candidate_id)
    return vault.apply_edit(change, tokens=test.tokens, last_test=last)


def _save_refused(request: Request, message: str, *, retest: bool = False) -> JSONResponse:
    html = fragment(request, "_test_result.html", status="refused", result=None, message=message)
    return JSONResponse({"ok": False, "retest": retest, "html": html}, status_code=409 if retest else 400)


@router.post("/vault/{credential_id}/reauthorize")
def reauthorize(request: Request, credential_id: str) -> Response:
    """Sign in again for a stored credential: off to Exact's sign-in, back through the callback."""
    context = ui(request)
    found = credential_by_id(request, credential_id)
    if found is None:
        return not_found(request)
    if found.auth_type == "refresh-token":
        context.flashes.add(
            request, "warn", f"{found.name} signs in with a refresh token: paste a new one here."
        )
        return RedirectResponse(f"/vault/{found.id}/edit", status_code=303)
    if not returns_here(found.redirect_uri, request):
        context.flashes.add(
            request,
            "bad",
            f"{found.name}'s sign-in returns to {found.redirect_uri}, not to this "
            f"page: sign in with `{connect_command(found.name)}`, or edit its redirect URI.",
        )
        return back_to_list()
    with open_vault(context) as vault:
        secret = vault.client_secret(found)
    values = CandidateValues(
        found.name,
        found.auth_type,
        found.server_url,
        found.client_id,
        found.redirect_uri,
        secret,
        credential_id=found.id,
    )
    problem = probe(context, values)
    if problem is not None:
        context.flashes.add(request, "bad", f"{found.name}: {problem.summary} ({problem.hint})")
        return back_to_list()
    state = new_state()
    _tests(request).start(
        browser=_browser(request),
        purpose="reauthorize",
        values=values,
        signer=context.signer,
        state=state,
        candidate_id=found.id,
    )
    return RedirectResponse(authorization_url(oauth_app(values), state), status_code=303)
