"""OAuth2 as Exact Online does it: authorization codes, rotating refresh tokens, opaque access tokens.

The rules (api-facts section 2), and the emulator's choices where Exact's behaviour is not known:

- Codes are single-use, live ``config.code_seconds`` (3 minutes) and are bound to the client and the
  redirect URI. A bad code gets ``400 {"error":"invalid_grant"}`` (Exact answers 400; the error name is
  RFC 6749's, as Exact's exact body is not documented).
- Client credentials travel in the form body. A wrong secret *or* an unknown client id gets the plain
  ``400 {"error":"invalid_request"}`` Exact was seen to give for wrong client credentials.
- Every successful refresh rotates the refresh token; presenting a rotated-out one gets
  ``401 {"error":"unauthorized_client","error_description":"Old refresh token used."}``.
- The too-early rule: a refresh within ``config.refresh_guard_seconds`` (570 s) of the issue of the
  chain's *current* access token gets ``400 access_denied`` "Rate limit exceeded: access_token not
  expired" with the ``Reason: TooEarlyToRefreshTokens: …`` header; the presented refresh token stays valid.
- Refresh tokens expire ``config.refresh_idle_days`` (30) after they were issued, i.e. after 30 idle
  days, since each use replaces the token: ``400 invalid_request`` "The refresh token expired at … and
  it is now …".
- At most ``config.token_calls_per_day`` (200) token calls per app and user per UTC day. Exact's answer
  is not documented; the emulator answers like its only documented token rate limit (the too-early
  rule): ``400 access_denied`` "Rate limit exceeded: …" with a ``Reason: TooManyTokenRequests: …``
  header. Calls the emulator cannot attribute to a user (bad code, unknown token) are not counted.

Tokens, codes and refresh tokens are random and opaque; only their SHA-256 hashes are kept, and none
of them is ever logged or put in an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from exactmate.emulator.config import DEMO_USER_ID, EmulatorConfig
from exactmate.emulator.exchange import RestResponse, error_response

_DAY = 86_400.0
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


@dataclass(frozen=True)
class Grant:
    """What one consent gave one app: the user, the divisions chosen on the consent page, the scopes."""

    client_id: str
    user_id: str
    divisions: frozenset[int]
    scopes: frozenset[str] | None  # None: every scope


@dataclass(frozen=True)
class AccessCheck:
    """The result of checking a bearer token: ``grant`` is set for a valid token and also for a
    known but expired one (so its errors still count against the error budget); ``error`` is None,
    ``"missing"``, ``"invalid"`` or ``"expired"``."""

    grant: Grant | None
    error: str | None


@dataclass(frozen=True)
class TokenOutcome:
    """The token endpoint's answer plus what the statistics need to know about it."""

    response: RestResponse
    grant_type: str
    granted: bool


@dataclass
class _Chain:
    """One consent's line of tokens: each refresh replaces both tokens of the chain."""

    grant: Grant
    access_issued_at: float


@dataclass(frozen=True)
class _Code:
    redirect_uri: str
    grant: Grant
    expires_at: float


@dataclass(frozen=True)
class _Access:
    chain: _Chain
    expires_at: float


@dataclass(frozen=True)
class _Refresh:
    chain: _Chain
    issued_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _exact_time(ts: float) -> str:
    """Exact's ``10/11/2022 9:18:20 PM`` form (UTC), as in its refresh-token expiry message."""
    d = datetime.fromtimestamp(ts, tz=UTC)
    hour = d.hour % 12 or 12
    return f"{d.month}/{d.day}/{d.year} {hour}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}"


def oauth_error(status: int, error: str, description: str | None = None, **headers: str) -> RestResponse:
    """An RFC 6749-style error body, as Exact's token endpoint gives."""
    payload = {"error": error} if description is None else {"error": error, "error_description": description}
    return RestResponse(status=status, body=json.dumps(payload).encode(), headers=dict(headers))


def unauthorized_header(error: str) -> str:
    """The ``WWW-Authenticate`` value for a 401: the reason URL-encoded, as Exact sends it (clients
    such as Airbyte's look for "access token expired" in the decoded header)."""
    if error == "missing":
        return 'Bearer error="invalid_request", error_description="access%20token%20missing"'
    reason = "access token expired" if error == "expired" else "access token invalid"
    return f'Bearer error="invalid_token", error_description="{quote(reason)}"'


_UNAUTHORIZED = {
    "missing": "No access token: send the header Authorization: Bearer <access token>.",
    "invalid": "The access token is invalid. Get a new one from /api/oauth2/token.",
    "expired": "The access token has expired. Refresh it at /api/oauth2/token.",
}


def unauthorized(error: str, accept_json: bool) -> RestResponse:
    """The 401 for a REST call whose bearer token is ``error`` (missing, invalid or expired)."""
    return error_response(
        401,
        _UNAUTHORIZED[error],
        accept_json=accept_json,
        headers={"WWW-Authenticate": unauthorized_header(error)},
    )


class OAuthServer:
    """Codes and tokens for the one registered demo app. Not locked itself: the Emulator serialises
    every call under its state lock."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._old_refresh: dict[str, float] = {}  # digest -> when it may be forgotten
        self._token_calls: dict[tuple[str, str, int], int] = {}

    def reset(self) -> None:
        """Forget every code and token: every client has to authorize again."""
        self._codes.clear()
        self._access.clear()
        self._refresh.clear()
        self._old_refresh.clear()
        self._token_calls.clear()

    # -- the authorization endpoint ------------------------------------------------------------

    def authorization_problem(self, client_id: str, redirect_uri: str) -> str | None:
        """Why this client id / redirect URI pair may not start a consent, or None when it may.
        Such requests get an error page and are never redirected (the URI cannot be trusted)."""
        if not client_id:
            return "The request has no client_id. Add the client_id of the app registered in the App Center."
        if client_id.lower() != self._config.client_id.lower():
            return "Unknown client_id: no app with this client id is registered."
        if not redirect_uri:
            return "The request has no redirect_uri. Add the redirect URI registered for the app."
        if not self._redirect_allowed(redirect_uri):
            if self._config.redirect_uris:
                allowed = ", ".join(self._config.redirect_uris)
                return f"The redirect_uri is not registered for this app. Registered: {allowed}."
            return (
                "The redirect_uri is not allowed: the demo app accepts http(s) redirect URIs on "
                "127.0.0.1 or localhost only."
            )
        return None

    def _redirect_allowed(self, uri: str) -> bool:
        if self._config.redirect_uris:
            return uri in self._config.redirect_uris
        try:
            parts = urlsplit(uri)
            host = parts.hostname
            _ = parts.port  # raises ValueError on a malformed port
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and host in _LOCAL_HOSTS and not parts.fragment

    def issue_code(self, redirect_uri: str, divisions: frozenset[int], now: float) -> str:
        """A fresh authorization code for the demo user's consent. It contains a ``!`` like Exact's,
        so a client that forgets to URL-decode it fails here as it would on Exact."""
        grant = Grant(self._config.client_id, DEMO_USER_ID, divisions, self._scopes())
        code = f"{secrets.token_hex(2).upper()}!IAAAA{secrets.token_urlsafe(48)}"
        self._codes[_digest(code)] = _Code(redirect_uri, grant, now + self._config.code_seconds)
        return code

    def _scopes(self) -> frozenset[str] | None:
        """The granted scope labels, spelled as the catalogue spells them (``exactmate emulator serve
        --scopes`` accepts any case and stores the catalogue's spelling), since the data plane
        compares them with each endpoint's label as it is."""
        scopes = self._config.scopes
        return None if scopes is None else frozenset(scopes)

    # -- bearer tokens -------------------------------------------------------------------------

    def check_access(self, authorization: str | None, now: float) -> AccessCheck:
        """Check an ``Authorization`` header value."""
        if not authorization:
            return AccessCheck(None, "missing")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return AccessCheck(None, "missing")
        found = self._access.get(_digest(token))
        if found is None:
            return AccessCheck(None, "invalid")
        if now >= found.expires_at:
            return AccessCheck(found.chain.grant, "expired")
        return AccessCheck(found.chain.grant, None)

    # -- the token endpoint --------------------------------------------------------------------

    def token(self, form: Mapping[str, str], now: float) -> TokenOutcome:
        """Answer ``POST /api/oauth2/token`` for an already parsed form body."""
        grant_type = form.get("grant_type", "")
        if grant_type not in ("authorization_code", "refresh_token"):
            return TokenOutcome(self._bad_grant_type(grant_type), grant_type, False)
        if not self._client_ok(form):
            return TokenOutcome(oauth_error(400, "invalid_request"), grant_type, False)
        if grant_type == "authorization_code":
            response = self._exchange_code(form, now)
        else:
            response = self._refresh_grant(form, now)
        return TokenOutcome(response, grant_type, response.status == 200)

    @staticmethod
    def _bad_grant_type(grant_type: str) -> RestResponse:
        if not grant_type:
            return oauth_error(
                400,
                "invalid_request",
                "grant_type is missing: send an application/x-www-form-urlencoded body with "
                "grant_type=authorization_code or grant_type=refresh_token.",
            )
        return oauth_error(
            400,
            "unsupported_grant_type",
            "Use grant_type=authorization_code or grant_type=refresh_token.",
        )

    def _client_ok(self, form: Mapping[str, str]) -> bool:
        client_id = form.get("client_id", "")
        secret = form.get("client_secret", "")
        id_ok = client_id.lower() == self._config.client_id.lower()
        secret_ok = hmac.compare_digest(secret.encode(), self._config.client_secret.encode())
        return id_ok and secret_ok

    def _exchange_code(self, form: Mapping[str, str], now: float) -> RestResponse:
        code = form.get("code", "")
        if not code:
            return oauth_error(400, "invalid_request", "The code parameter is missing.")
        found = self._codes.pop(_digest(code), None)  # single use: gone whatever happens next
        if found is None or now >= found.expires_at:
            return oauth_error(
                400,
                "invalid_grant",
                "The authorization code is invalid, expired or already used. Authorize again.",
            )
        if form.get("redirect_uri", "") != found.redirect_uri:
            return oauth_error(
                400,
                "invalid_grant",
                "The redirect_uri does not match the one the authorization code was issued for.",
            )
        refused = self._count_call(found.grant, now)
        if refused is not None:
            return refused
        return self._issue(_Chain(found.grant, now), now)

    def _refresh_grant(self, form: Mapping[str, str], now: float) -> RestResponse:
        token = form.get("refresh_token", "")
        if not token:
            return oauth_error(400, "invalid_request", "The refresh_token parameter is missing.")
        digest = _digest(token)
        found = self._refresh.get(digest)
        if found is None:
            if digest in self._old_refresh:
                return oauth_error(401, "unauthorized_client", "Old refresh token used.")
            return oauth_error(400, "invalid_request", "The refresh token is invalid.")
        expires_at = found.issued_at + self._config.refresh_idle_days * _DAY
        if now >= expires_at:
            del self._refresh[digest]
            return oauth_error(
                400,
                "invalid_request",
                f"The refresh token expired at {_exact_time(expires_at)} and it is now {_exact_time(now)}.",
            )
        refused = self._count_call(found.chain.grant, now)
        if refused is not None:
            return refused
        if now - found.chain.access_issued_at < self._config.refresh_guard_seconds:
            description = "Rate limit exceeded: access_token not expired"
            return oauth_error(
                400, "access_denied", description, Reason=f"TooEarlyToRefreshTokens: {description}"
            )
        del self._refresh[digest]
        self._old_refresh[digest] = expires_at
        return self._issue(found.chain, now)

    def _count_call(self, grant: Grant, now: float) -> RestResponse | None:
        day = int(now // _DAY)
        key = (grant.client_id, grant.user_id, day)
        self._token_calls[key] = self._token_calls.get(key, 0) + 1
        if self._token_calls[key] <= self._config.token_calls_per_day:
            return None
        cap = self._config.token_calls_per_day
        description = (
            f"Rate limit exceeded: at most {cap} token requests per app and user per day; "
            "the limit resets at 00:00 UTC"
        )
        return oauth_error(400, "access_denied", description, Reason=f"TooManyTokenRequests: {description}")

    def _issue(self, chain: _Chain, now: float) -> RestResponse:
        access = f"AAEAA{secrets.token_urlsafe(96)}"
        refresh = f"{secrets.token_hex(2).upper()}!IAAAA{secrets.token_urlsafe(64)}"
        chain.access_issued_at = now
        self._access[_digest(access)] = _Access(chain, now + self._config.token_seconds)
        self._refresh[_digest(refresh)] = _Refresh(chain, now)
        self._forget_expired(now)
        payload = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": str(self._config.token_seconds),
            "refresh_token": refresh,
        }
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        return RestResponse(status=200, body=json.dumps(payload).encode(), headers=headers)

    def _forget_expired(self, now: float) -> None:
        """Drop what can no longer matter, so a long benchmark run does not grow without bound."""
        for digest in [d for d, a in self._access.items() if a.expires_at + _DAY < now]:
            del self._access[digest]
        for digest in [d for d, until in self._old_refresh.items() if until < now]:
            del self._old_refresh[digest]
        for code in [c for c, v in self._codes.items() if v.expires_at < now]:
            del self._codes[code]
