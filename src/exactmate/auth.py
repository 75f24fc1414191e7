"""OAuth 2.0 with Exact Online: the sign-in URL, the code exchange and a refresh that never races.

Exact rotates the refresh token on every refresh and rejects the old one for good ("Old refresh
token used."), so two threads or processes refreshing at once lock the user out until someone
signs in again. :class:`TokenManager` therefore refreshes only under the credential's lock:
take the lock, re-read the tokens, refresh only if still needed, persist the rotated pair,
release, then use it. Where the tokens are kept is a :class:`TokenStore`'s business (the vault's
``CredentialTokens`` seals them in the store); the refresh token is opened only under the lock,
when a refresh is due. No token or secret appears in logs, messages or reprs.

Every call to the token endpoint goes through :func:`request_tokens`, which turns a refusal into
one :class:`TokenEndpointRefused` carrying Exact's ``error``, ``error_description`` and
``Reason`` header, and whether it means "too early" or "this refresh token is dead".
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from exactmate.clock import Clock
from exactmate.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthError,
    ConfigError,
    ExactmateError,
    RateLimitError,
    ReauthorizationRequired,
    ServerError,
)

log = logging.getLogger("exactmate.auth")

AUTH_PATH = "/api/oauth2/auth"
TOKEN_PATH = "/api/oauth2/token"
REFRESH_MARGIN = 30.0
"""Refresh in a token's last 30 seconds: Exact refuses a refresh within 570 s of the last one."""


@dataclass(frozen=True)
class OAuthApp:
    """An app registered in Exact's App Center, on one Exact Online host."""

    server_url: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.server_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"server_url must be an http(s) address, got {self.server_url!r}",
                hint="e.g. https://start.exactonline.nl",
            )

    def url(self, path: str) -> str:
        return self.server_url.rstrip("/") + path


@dataclass(frozen=True)
class TokenSet:
    """An access token, the refresh token issued with it, and when the access token expires."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    issued_at: float

    @classmethod
    def from_response(cls, payload: Any, now: float) -> TokenSet:
        """Parse Exact's token response; ``expires_in`` comes as a string such as ``"600"``."""
        if not isinstance(payload, Mapping):
            raise AuthError("the token endpoint's answer is not a JSON object")
        access, refresh = payload.get("access_token"), payload.get("refresh_token")
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise AuthError("the token endpoint's answer lacks an access token or a refresh token")
        try:
            lifetime = float(str(payload.get("expires_in")).strip())
        except ValueError:
            raise AuthError("the token endpoint's answer has no usable expires_in") from None
        if not lifetime > 0:
            raise AuthError("the token endpoint's answer has no usable expires_in")
        return cls(access_token=access, refresh_token=refresh, expires_at=now + lifetime, issued_at=now)


def authorization_url(app: OAuthApp, state: str, *, force_login: bool = False) -> str:
    """Where to send the user's browser to sign in and approve the app."""
    query = urlencode(
        {
            "client_id": app.client_id,
            "redirect_uri": app.redirect_uri,
            "response_type": "code",
            "state": state,
            "force_login": "1" if force_login else "0",
        }
    )
    return f"{app.url(AUTH_PATH)}?{query}"


def new_state() -> str:
    """An unguessable ``state`` for one sign-in, to check on the way back."""
    return secrets.token_urlsafe(32)


def check_state(expected: str, received: str) -> None:
    """AuthError unless ``received`` is the state this sign-in started with (compared in constant time)."""
    if not hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8")):
        raise AuthError(
            "the state in the redirect does not match the one this sign-in started with",
            hint="start the sign-in again and paste the address of that same attempt",
        )


def parse_redirect(url: str, expected_state: str) -> str:
    """The authorization code from the address the browser was redirected to (pasted by the user)."""
    params = parse_qs(urlsplit(url.strip()).query, keep_blank_values=True)
    error = params.get("error", [""])[0]
    if error == "access_denied":
        raise AuthError(
            "the sign-in was not approved (access_denied)", hint="sign in again and approve access"
        )
    if error:
        detail = params.get("error_description", [""])[0]
        raise AuthError(f"Exact's sign-in answered {error}" + (f": {detail}" if detail else ""))
    state = params.get("state", [""])[0]
    if not state:
        raise AuthError(
            "the pasted address has no state", hint="paste the whole address the browser ended on"
        )
    check_state(expected_state, state)
    code = params.get("code", [""])[0]
    if not code:
        raise AuthError("the pasted address has no code", hint="paste the whole address the browser ended on")
    return code


def refresh_due(token: TokenSet | HeldTokens, now: float) -> bool:
    """True in the token's last 30 seconds, or its last tenth when lifetimes are short.

    With Exact's 600-second tokens that is from 570 s on, exactly when Exact starts allowing a
    refresh; a 4-second token is refreshed from 3.6 s on.
    """
    lifetime = token.expires_at - token.issued_at
    margin = min(REFRESH_MARGIN, lifetime / 10) if lifetime > 0 else 0.0
    return now >= token.expires_at - margin


class TokenEndpointRefused(AuthError):
    """Exact's token endpoint refused a grant; ``error``, ``description`` and ``reason`` are
    Exact's own words (any secret they echo replaced by ``***``)."""

    def __init__(self, *, status: int, error: str, description: str, reason: str, grant_type: str) -> None:
        what = "authorization code" if grant_type == "authorization_code" else "refresh token"
        detail = (error or f"HTTP {status}") + (f": {description}" if description else "")
        super().__init__(
            f"Exact's token endpoint refused the {what} ({detail})",
            hint="codes are single-use and expire after about 3 minutes: sign in again"
            if grant_type == "authorization_code"
            else None,
        )
        self.status = status
        self.error = error
        self.description = description
        self.reason = reason
        self.grant_type = grant_type
        self.detail = detail
        """``error: description``, or the HTTP status when Exact gave no error."""

    @property
    def too_early(self) -> bool:
        """Exact refuses a refresh within 570 seconds of the previous one."""
        return "TooEarlyToRefreshTokens" in self.reason or "not expired" in self.description.lower()

    @property
    def refresh_token_dead(self) -> bool:
        """The refresh token will never work again: rotated out, expired or revoked."""
        about = self.description.lower()
        if self.error == "unauthorized_client" and "old refresh token" in about:
            return True
        return self.error == "invalid_grant" or (self.error == "invalid_request" and "expired" in about)


def request_tokens(
    app: OAuthApp, form: Mapping[str, str], http: httpx.Client, clock: Clock, *, secrets: tuple[str, ...]
) -> TokenSet:
    """POST one grant to Exact's token endpoint (client credentials in the form body).

    ``secrets``: what the grant carries that must never be echoed (the code or refresh token);
    the client secret is always redacted. A 429 is a RateLimitError, a 5xx a ServerError, any
    other refusal a :class:`TokenEndpointRefused`.
    """
    hidden = (*secrets, app.client_secret)
    url = app.url(TOKEN_PATH)
    body = {**form, "client_id": app.client_id, "client_secret": app.client_secret}
    try:
        response = http.post(url, data=body, headers={"Accept": "application/json"})
    except httpx.TimeoutException as exc:
        raise APITimeoutError(
            f"Exact's token endpoint {url} did not answer in time ({type(exc).__name__})"
        ) from None
    except httpx.TransportError as exc:
        detail = _redact(str(exc), hidden)
        raise APIConnectionError(
            f"cannot reach Exact's token endpoint {url}: {type(exc).__name__}: {detail}"
        ) from None
    if response.status_code == 200:
        return TokenSet.from_response(_json(response), clock.now())
    raise _refusal(response, form.get("grant_type", ""), hidden)


def exchange_code(app: OAuthApp, code: str, http: httpx.Client, clock: Clock) -> TokenSet:
    """Trade an authorization code (single use, about 3 minutes) for a token pair."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri}
    return request_tokens(app, form, http, clock, secrets=(code,))


def exchange_refresh_token(app: OAuthApp, refresh_token: str, http: httpx.Client, clock: Clock) -> TokenSet:
    """Trade a refresh token for a new pair (Exact rotates it: the old one is spent)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return request_tokens(app, form, http, clock, secrets=(refresh_token,))


class HeldTokens(Protocol):
    """A stored pair as a :class:`TokenStore` loads it: the access token in clear, the refresh
    token opened only on demand, by the holder of the lock."""

    @property
    def credential_name(self) -> str: ...

    @property
    def access_token(self) -> str: ...

    @property
    def expires_at(self) -> float: ...

    @property
    def issued_at(self) -> float: ...

    @property
    def generation(self) -> int: ...

    def refresh_token(self) -> str: ...


class TokenStore(Protocol):
    """Where one credential's tokens live (``exactmate.vault.CredentialTokens``)."""

    def load(self) -> HeldTokens:
        """The stored pair; ReauthorizationRequired when there is none to use."""
        ...

    def save(self, pair: TokenSet) -> int:
        """Keep a new pair (generation + 1) and mark the credential connected."""
        ...

    def mark_needs_reauthorization(self, reason: str) -> None:
        """Forget the pair and flag the credential: only a new sign-in can help."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """The credential's refresh lock, across threads and processes."""
        ...


REREAD_SECONDS = 1.0
"""How long ``TokenManager.access_token`` hands out the pair it read without reading the store again."""


class TokenManager:
    """Hands out a stored credential's access token, refreshing it safely (an ``http.TokenSource``)."""

    def __init__(self, *, tokens: TokenStore, app: OAuthApp, http: httpx.Client, clock: Clock) -> None:
        self._tokens = tokens
        self._app = app
        self._http = http
        self._clock = clock
        self._hold_until = 0.0
        self._held: tuple[HeldTokens, float] | None = None  # the last pair read, and when

    def __repr__(self) -> str:
        return f"TokenManager({self._tokens!r}, server_url={self._app.server_url!r})"

    def access_token(self) -> str:
        """The current access token, refreshed first (under the lock) when it is due.

        A pair read from the store is handed out again for ``REREAD_SECONDS`` without reading it
        anew, so a fast loop of calls does not pay a read and a decryption for each. Whatever
        another process changes meanwhile shows at the next read: a refresh it made (this process
        then still holds a token that is valid, or that Exact answers 401, which
        ``refresh_after_401`` resolves from the store), a disconnection (no more calls after the
        next read).
        """
        current = self._recent() or self._load()
        if not self._should_refresh(current):
            return current.access_token
        with self._tokens.lock():
            current = self._load()
            if self._should_refresh(current):
                return self._refresh(current)
            return current.access_token

    def refresh_after_401(self, rejected: str) -> str:
        """A token to retry with after Exact answered 401 to ``rejected``.

        If the stored token is no longer ``rejected``, someone already refreshed: use theirs.
        Otherwise refresh once, due or not.
        """
        with self._tokens.lock():
            current = self._load()
            if not hmac.compare_digest(current.access_token.encode(), rejected.encode()):
                return current.access_token
            return self._refresh(current)

    # -- internals -----------------------------------------------------------------------------

    def _recent(self) -> HeldTokens | None:
        """The pair read last, while it is recent enough to hand out without reading again."""
        held = self._held
        if held is None or not 0 <= self._clock.now() - held[1] < REREAD_SECONDS:
            return None
        return held[0]

    def _load(self) -> HeldTokens:
        self._held = None
        current = self._tokens.load()
        self._held = (current, self._clock.now())
        return current

    def _should_refresh(self, held: HeldTokens) -> bool:
        """Due, unless Exact just called a refresh too early: then keep the token a little longer.

        Without that pause every call in the last 30 seconds would spend one of Exact's 200
        daily token-endpoint calls when our clock runs slightly ahead of Exact's.
        """
        now = self._clock.now()
        return refresh_due(held, now) and now >= self._hold_until

    def _refresh(self, current: HeldTokens) -> str:
        """One refresh_token grant; the caller holds the lock and has just re-read ``current``."""
        try:
            fresh = exchange_refresh_token(self._app, current.refresh_token(), self._http, self._clock)
        except TokenEndpointRefused as refusal:
            return self._refused(current, refusal)
        self._held = None  # the next call reads the new pair back from the store
        self._tokens.save(fresh)
        self._hold_until = 0.0
        return fresh.access_token

    def _refused(self, current: HeldTokens, refusal: TokenEndpointRefused) -> str:
        """Keep the token when it was too early; flag the credential when the refresh token is dead."""
        name = current.credential_name
        if refusal.too_early:
            log.info("credential %s: Exact refused the refresh as too early; keeping the token", name)
            lifetime = current.expires_at - current.issued_at
            self._hold_until = self._clock.now() + min(REFRESH_MARGIN, lifetime / 10) / 3
            return current.access_token
        if not refusal.refresh_token_dead:
            raise AuthError(
                f"Exact refused to refresh the tokens of credential {name!r}: {refusal.detail}",
                hint="check the credential's client id and secret",
            ) from None
        try:
            latest = self._tokens.load()
        except ReauthorizationRequired:
            latest = current
        if latest.generation != current.generation:  # our lease expired and another holder refreshed
            return latest.access_token
        reason = f"Exact rejected the refresh token: {refusal.detail}"
        self._held = None
        self._tokens.mark_needs_reauthorization(reason)
        log.warning("credential %s needs re-authorisation: %s", name, refusal.detail)
        raise ReauthorizationRequired(
            f"credential {name!r} must be re-authorised: {reason}", credential=name
        ) from None


def _refusal(response: httpx.Response, grant_type: str, hidden: tuple[str, ...]) -> ExactmateError:
    """The error for a non-200 answer: rate limit and server errors keep their own classes."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    error = _redact(str(body.get("error") or ""), hidden)
    description = _redact(str(body.get("error_description") or ""), hidden)
    reason = _redact(response.headers.get("Reason", ""), hidden)
    status = response.status_code
    detail = (error or f"HTTP {status}") + (f": {description}" if description else "")
    if status == 429:
        return RateLimitError(
            f"Exact's token endpoint limit was reached: {detail}",
            scope="token",
            reset_at=None,
            reason=reason or None,
        )
    if status >= 500:
        return ServerError(
            f"Exact's token endpoint failed: {detail}", status_code=status, reason=reason or None
        )
    return TokenEndpointRefused(
        status=status, error=error, description=description, reason=reason, grant_type=grant_type
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AuthError("Exact's token endpoint answered something that is not JSON") from None


def _redact(text: str, secret_values: tuple[str, ...]) -> str:
    """``text`` with every secret it may echo replaced, so no message can carry one."""
    for value in secret_values:
        if value:
            text = text.replace(value, "***")
    return text
