"""Token endpoint calls for a sign-in, with refusals kept structured for the diagnosis.

``exactmate.auth.TokenManager`` owns the tokens of a *stored* credential (refresh under the lock).
Connecting needs the first pair before anything is stored (Connect & Create saves a credential only
with the tokens its test obtained), and Test Connect needs to know *why* Exact refused, so the first
exchange happens here and the refusal is raised as :class:`TokenEndpointRefused` with Exact's
``error`` and ``error_description``, never with a secret in it.
"""

from __future__ import annotations

from typing import Any

import httpx

from exactmate.auth import TOKEN_PATH, OAuthApp, TokenSet
from exactmate.clock import Clock
from exactmate.errors import APIConnectionError, APITimeoutError, AuthError


class TokenEndpointRefused(AuthError):
    """Exact's token endpoint refused a grant; ``error``/``description`` are Exact's own words."""

    def __init__(self, message: str, *, status: int, error: str, description: str, grant_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.description = description
        self.grant_type = grant_type


def exchange_code(app: OAuthApp, code: str, http: httpx.Client, clock: Clock) -> TokenSet:
    """Trade an authorization code (single use, about 3 minutes) for a token pair."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri}
    return _grant(app, form, http, clock, secrets=(code,))


def exchange_refresh_token(app: OAuthApp, refresh_token: str, http: httpx.Client, clock: Clock) -> TokenSet:
    """Trade an existing refresh token for a new pair (Exact rotates it: the old one is spent)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return _grant(app, form, http, clock, secrets=(refresh_token,))


class MemoryTokens:
    """A token source over a pair not stored yet, for testing values before they are saved.

    The pair was issued moments ago, so a 401 cannot mean "expired": refreshing would be refused as
    too early anyway, and the refusal is the answer.
    """

    def __init__(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        return "MemoryTokens(<hidden>)"

    def access_token(self) -> str:
        return self._tokens.access_token

    def refresh_after_401(self, rejected: str) -> str:
        raise AuthError(
            "Exact refused the access token it had just issued",
            hint="connect again; if it keeps failing, check the app's registration in Exact's App Center",
        )


def _grant(
    app: OAuthApp, form: dict[str, str], http: httpx.Client, clock: Clock, *, secrets: tuple[str, ...]
) -> TokenSet:
    url = app.url(TOKEN_PATH)
    body = {**form, "client_id": app.client_id, "client_secret": app.client_secret}
    try:
        response = http.post(url, data=body, headers={"Accept": "application/json"})
    except httpx.TimeoutException as exc:
        raise APITimeoutError(
            f"Exact's token endpoint {url} did not answer in time ({type(exc).__name__})"
        ) from None
    except httpx.TransportError as exc:
        raise APIConnectionError(
            f"cannot reach Exact's token endpoint {url} ({type(exc).__name__})"
        ) from None
    if response.status_code == 200:
        return TokenSet.from_response(_json(response), clock.now())
    raise _refusal(response, form["grant_type"], (*secrets, app.client_secret))


def _refusal(response: httpx.Response, grant_type: str, secrets: tuple[str, ...]) -> TokenEndpointRefused:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    error = _redact(str(payload.get("error") or ""), secrets)
    description = _redact(str(payload.get("error_description") or ""), secrets)
    what = "authorization code" if grant_type == "authorization_code" else "refresh token"
    text = error or f"HTTP {response.status_code}"
    if description:
        text += f": {description}"
    return TokenEndpointRefused(
        f"Exact's token endpoint refused the {what} ({text})",
        status=response.status_code,
        error=error,
        description=description,
        grant_type=grant_type,
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AuthError("Exact's token endpoint answered something that is not JSON") from None


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return text
