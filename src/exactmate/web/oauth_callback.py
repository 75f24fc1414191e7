"""``/oauth/callback``: where Exact's sign-in sends the browser back, with a code (or an error).

The credentials' default redirect URI is this route on the default address
(``http://127.0.0.1:8400/oauth/callback``), so one registration in Exact's App Center serves the page
and the command line. The ``state`` in the redirect ties it to the Test Connect or re-authorisation
that started the sign-in; a callback nobody is waiting for is refused without touching anything.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from exactmate.auth import TokenSet
from exactmate.connect import Cause, ConnectCheck, GivenConsent
from exactmate.errors import ExactmateError
from exactmate.web.context import ui
from exactmate.web.credentials import open_vault
from exactmate.web.pending_tests import PendingTest, PendingTests
from exactmate.web.security import is_loopback_host
from exactmate.web.templating import render
from exactmate.web.testconnect import check_candidate, connector

router = APIRouter()

CALLBACK_PATH = "/oauth/callback"


def callback_url(request: Request) -> str:
    """This UI's own callback address, as the browser reaches it."""
    return str(request.base_url).rstrip("/") + CALLBACK_PATH


def returns_here(redirect_uri: str, request: Request) -> bool:
    """Whether a sign-in with ``redirect_uri`` comes back to this UI (same port and path; loopback
    names count as one host, since the browser runs on this machine)."""
    try:
        mine, theirs = urlsplit(callback_url(request)), urlsplit(redirect_uri)
        ports = (mine.port, theirs.port)
    except ValueError:
        return False
    hosts = (mine.hostname or "", theirs.hostname or "")
    same_host = hosts[0] == hosts[1] or all(is_loopback_host(h) for h in hosts)
    return same_host and ports[0] == ports[1] and theirs.path.rstrip("/") == CALLBACK_PATH


@router.get(CALLBACK_PATH, response_class=HTMLResponse)
async def oauth_callback(
    request: Request, state: str = "", code: str = "", error: str = "", error_description: str = ""
) -> Response:
    tests: PendingTests = ui(request).tests
    test = tests.by_state(state) if state else None
    if test is None or not tests.claim(test):
        return render(
            request,
            "oauth_done.html",
            400,
            section="vault",
            popup=False,
            result=None,
            problem="This sign-in is unknown or has expired (a Test Connect waits 15 minutes), or it was "
            "already used. Start Test Connect or Re-authorise again.",
        )
    if error or not code:
        said = error or "no code"
        if error_description:
            said += f": {error_description}"
        result = ConnectCheck(
            ok=False,
            summary=f"The sign-in did not complete: Exact answered {said}",
            cause=Cause.SIGN_IN_FAILED,
            hint="press Test Connect again and allow access on Exact's page",
            tested_at=ui(request).clock.now(),
        )
        tokens: TokenSet | None = None
    else:
        result, tokens = await run_in_threadpool(_finish_sign_in, request, test, code)
    tests.finish(test, "ok" if result.ok else "failed", result, tokens)
    if test.purpose == "reauthorize":
        tests.drop(test)
        text = f"{test.values.name}: {result.summary}" + ("" if result.ok else f" ({result.hint})")
        ui(request).flashes.add(request, "ok" if result.ok else "bad", text)
        return RedirectResponse("/vault", status_code=303)
    return render(request, "oauth_done.html", section="vault", popup=True, result=result, problem="")


def _finish_sign_in(request: Request, test: PendingTest, code: str) -> tuple[ConnectCheck, TokenSet | None]:
    """Exchange the code and test: for a new or edited credential without saving anything; for a
    re-authorisation, storing the new tokens with the credential (as ``vault connect`` does)."""
    context = ui(request)
    consent = GivenConsent(code=code)
    try:
        with open_vault(context) as vault:
            if test.purpose == "reauthorize":
                return connector(context, vault, consent).connect(test.values.name), None
            return check_candidate(context, vault, test.values, consent, test.candidate_id)
    except ExactmateError as exc:  # local trouble (vault, store): said plainly, never a traceback
        failed = ConnectCheck(
            ok=False, summary=exc.message, cause=None, hint=exc.hint, tested_at=context.clock.now()
        )
        return failed, None
