"""Naming the cause when a connection fails: wrong secret, wrong country host, redirect URI not
registered, no division access, scope missing, Exact unreachable, and the rest.

Exact's token endpoint answers a wrong client secret and an unknown client id alike, so the sign-in
page is asked first (:func:`probe_authorization`): it shows an error page, and never redirects, when
the app is unknown on the host or the redirect URI is not registered for it. A token refusal after
a clean probe is then the secret's fault.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import httpx

from exactmate.auth import AUTH_PATH, OAuthApp, TokenEndpointRefused
from exactmate.connect.result import Cause
from exactmate.errors import (
    APIConnectionError,
    APIStatusError,
    AuthError,
    BudgetExceeded,
    ExactmateError,
    ForbiddenError,
    RateLimitError,
    ReauthorizationRequired,
    UnauthorizedError,
    connect_command,
)

_ALERT = re.compile(r'<[^>]*role="alert"[^>]*>(.*?)</', re.IGNORECASE | re.DOTALL)
_BLOCKS = re.compile(r"<(script|style|head)\b.*?</\1>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Diagnosis:
    """A failure's cause, a one-line summary and what to do about it."""

    cause: Cause
    summary: str
    hint: str


def probe_authorization(
    app: OAuthApp, http: httpx.Client, *, check_redirect: bool = True
) -> Diagnosis | None:
    """Ask Exact's sign-in page about this app: None when it would show the sign-in.

    Costs no API call. ``check_redirect`` False ignores a redirect URI complaint (an app that signs
    in with an existing refresh token never uses its redirect URI).
    """
    params = {
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "response_type": "code",
        "state": "exactmate-probe",
        "force_login": "0",
    }
    try:
        page = http.get(app.url(AUTH_PATH), params=params, headers={"Accept": "text/html"})
    except httpx.TransportError as exc:
        return unreachable(app, type(exc).__name__)
    if page.status_code < 400:
        return None
    text = page_message(page.text) or f"HTTP {page.status_code}"
    lowered = text.lower()
    if "client_id" in lowered or "client id" in lowered:
        return Diagnosis(
            Cause.WRONG_HOST,
            f"The app {app.client_id} is unknown on {app.server_url}: Exact's sign-in page says: {text}",
            "apps are registered per country: use the Server URL of the App Center the app was registered "
            "in (e.g. https://start.exactonline.be), and check the Client ID",
        )
    if "redirect_uri" in lowered or "redirect uri" in lowered:
        if not check_redirect:
            return None
        return Diagnosis(
            Cause.REDIRECT_URI_NOT_REGISTERED,
            f"The redirect URI {app.redirect_uri} is not registered for the app {app.client_id}: "
            f"Exact's sign-in page says: {text}",
            f"register {app.redirect_uri} as a redirect URI of the app in Exact's App Center, or give "
            "the registered one with --redirect-uri",
        )
    return Diagnosis(
        Cause.EXACT_ERROR,
        f"Exact's sign-in page refused the app {app.client_id} (HTTP {page.status_code}): {text}",
        "check the Server URL and the Client ID",
    )


def unreachable(app: OAuthApp, detail: str) -> Diagnosis:
    return Diagnosis(
        Cause.UNREACHABLE,
        f"Exact Online could not be reached at {app.server_url} ({detail})",
        "check the network connection and the Server URL; try again later if Exact is down",
    )


def diagnose(
    exc: ExactmateError,
    app: OAuthApp,
    http: httpx.Client,
    *,
    credential: str,
    division: int | None,
    scope_needed: str | None,
    signing_in: bool = False,
) -> Diagnosis:
    """The cause of ``exc``, raised while signing in (``signing_in``) or while testing ``app``."""
    if isinstance(exc, APIConnectionError):
        return unreachable(app, exc.message)
    if isinstance(exc, TokenEndpointRefused):
        return _refused(exc, app, http)
    if isinstance(exc, ReauthorizationRequired):
        return Diagnosis(
            Cause.NEEDS_REAUTHORIZATION, exc.message, f"sign in again: {connect_command(credential)}"
        )
    if isinstance(exc, ForbiddenError):
        return _forbidden(exc, credential, division, scope_needed)
    if isinstance(exc, RateLimitError | BudgetExceeded):
        return Diagnosis(
            Cause.RATE_LIMITED, f"Exact's limits stopped the test: {exc.message}", exc.hint or ""
        )
    if isinstance(exc, UnauthorizedError):
        return Diagnosis(
            Cause.TOKEN_REFUSED,
            f"Exact refused the access token: {exc.message}",
            f"sign in again: {connect_command(credential)}",
        )
    if isinstance(exc, AuthError) and signing_in:
        return Diagnosis(Cause.SIGN_IN_FAILED, f"The sign-in did not complete: {exc.message}", exc.hint or "")
    if isinstance(exc, AuthError):
        return Diagnosis(
            Cause.TOKEN_REFUSED,
            f"The stored tokens could not be used: {exc.message}",
            f"sign in again: {connect_command(credential)}",
        )
    status = f" (HTTP {exc.status_code})" if isinstance(exc, APIStatusError) else ""
    return Diagnosis(
        Cause.EXACT_ERROR, f"Exact answered with an error{status}: {exc.message}", exc.hint or ""
    )


def _refused(exc: TokenEndpointRefused, app: OAuthApp, http: httpx.Client) -> Diagnosis:
    about = exc.description.lower()
    if exc.error == "access_denied" and "rate limit" in about:
        early = exc.too_early
        return Diagnosis(
            Cause.RATE_LIMITED,
            f"Exact's token endpoint refused for now: {exc.description}",
            "Exact refuses a refresh within 570 seconds of the previous one: wait up to 10 minutes and "
            "try again"
            if early
            else "wait and try again (Exact allows 200 token calls per app and user a day)",
        )
    if exc.error == "invalid_grant" or "refresh token" in about:
        what = "authorization code" if exc.grant_type == "authorization_code" else "refresh token"
        return Diagnosis(
            Cause.TOKEN_REFUSED,
            f"Exact refused the {what}: {exc.description or exc.error}",
            "sign in again" if what == "authorization code" else "get a new refresh token and try again",
        )
    probed = probe_authorization(app, http, check_redirect=False)
    if probed is not None:
        return probed
    return Diagnosis(
        Cause.WRONG_CLIENT_SECRET,
        f"Exact refused the client credentials of the app {app.client_id} ({exc.error or exc.status}): "
        "the client secret is wrong",
        "copy the client secret again from the app's page in Exact's App Center",
    )


def _forbidden(
    exc: ForbiddenError, credential: str, division: int | None, scope_needed: str | None
) -> Diagnosis:
    text = exc.exact_message
    if "scope violated" in text.lower():
        scope = f" '{scope_needed}'" if scope_needed else ""
        return Diagnosis(
            Cause.SCOPE_MISSING,
            f"The app lacks the API scope{scope} that Test Connect's division call needs: "
            f"Exact answered: {text}",
            f"give the app the scope{scope} in Exact's App Center, then sign in again: "
            + connect_command(credential),
        )
    if (exc.reason or "").startswith("NoDivisionAccess") or "division" in text.lower():
        where = f"division {division}" if division is not None else "the division"
        return Diagnosis(
            Cause.NO_DIVISION_ACCESS,
            f"No access to {where}: Exact answered: {text}",
            f"sign in again and tick {where} on Exact's consent page (exactmate vault connect "
            f"{credential}), or ask for the user's rights in it",
        )
    return Diagnosis(Cause.EXACT_ERROR, f"Exact refused the call: {text}", exc.hint or "")


def page_message(page: str) -> str:
    """The message of an HTML error page: its ``role="alert"`` element, else its text, shortened."""
    found = _ALERT.search(page)
    raw = found.group(1) if found else _BLOCKS.sub(" ", page)
    text = " ".join(html.unescape(_TAGS.sub(" ", raw)).split())
    return text[:300]
