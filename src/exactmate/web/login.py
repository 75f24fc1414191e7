"""Signing in to the web UI, and out (see :mod:`.security`).

Two ways in: the one-time link ``exactmate ui`` prints and opens (``/login?code=…``: the code works
once, so the link in the browser's history opens nothing later), or the access token typed into a
form (never put into a URL). Either sets a session cookie; signing out revokes that session on the
server, so a copy of the cookie opens nothing either. Wrong tokens are throttled.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from exactmate.web.context import ui
from exactmate.web.security import SESSION_COOKIE, session_cookie_header
from exactmate.web.templating import render

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only a path on this server: a full URL in ``next`` would make the page an open redirect."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _signed_in(request: Request, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    response.headers.append("set-cookie", session_cookie_header(ui(request).sessions.open(), secure=secure))
    return response


@router.get("/login")
def login_page(request: Request, next: str = "/", code: str = "") -> Response:
    target = _safe_next(next)
    if code:
        if ui(request).sessions.use_code(code):
            return _signed_in(request, target)
        problem = "That sign-in link was used already, or belongs to an earlier start: type the access token."
        return render(request, "login.html", 401, section="", next=target, problem=problem)
    return render(request, "login.html", section="", next=target, problem="")


@router.post("/login")
async def login(request: Request) -> Response:
    context = ui(request)
    form = await request.form()
    token = str(form.get("token") or "")
    target = _safe_next(str(form.get("next") or "/"))
    wait = context.sessions.wait_before_login()
    if wait > 0:
        problem = f"Too many wrong tokens: try again in {wait:.0f} s."
        return render(request, "login.html", 429, section="", next=target, problem=problem)
    if not context.policy.token_matches(token):
        context.sessions.failed_login()
        problem = "That is not the access token this UI was started with."
        return render(request, "login.html", 401, section="", next=target, problem=problem)
    return _signed_in(request, target)


@router.post("/logout")
def logout(request: Request) -> Response:
    ui(request).sessions.close(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.headers.append("set-cookie", session_cookie_header("", secure=request.url.scheme == "https"))
    return response
