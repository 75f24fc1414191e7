"""The sign-in page used when the UI is bound to a non-loopback address (see :mod:`.security`).

The token is typed into a form (never put into a URL); a correct one sets the session cookie, which
holds a keyed hash of the token, so every later request proves it knows the token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from exactmate.web.context import ui
from exactmate.web.security import session_cookie_header, session_value
from exactmate.web.templating import render

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only a path on this server: a full URL in ``next`` would make the page an open redirect."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    if not ui(request).policy.needs_token:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", section="", next=_safe_next(next), problem="")


@router.post("/login")
async def login(request: Request) -> Response:
    policy = ui(request).policy
    form = await request.form()
    token = str(form.get("token") or "")
    target = _safe_next(str(form.get("next") or "/"))
    if not policy.needs_token:
        return RedirectResponse("/", status_code=303)
    if not policy.token_matches(token):
        problem = "That is not the access token this UI was started with (EXACTMATE_UI_TOKEN)."
        return render(request, "login.html", 401, section="", next=target, problem=problem)
    response = RedirectResponse(target, status_code=303)
    value = session_value(ui(request).signer, policy)
    response.headers.append("set-cookie", session_cookie_header(value))
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/login" if ui(request).policy.needs_token else "/", status_code=303)
    response.headers.append("set-cookie", session_cookie_header(""))
    return response
