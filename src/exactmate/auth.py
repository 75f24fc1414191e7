"""OAuth 2.0 with Exact Online: the sign-in URL, the code exchange and a refresh that never races.

Exact rotates the refresh token on every refresh and rejects the old one for good ("Old refresh
token used."), so two threads or processes refreshing at once lock the user out until someone
signs in again. :class:`TokenManager` therefore refreshes only under the credential's lock in the
store: take the lock, re-read the tokens, refresh only if still needed, persist the rotated pair,
release, then use it. Tokens are kept sealed by the secret box and never appear in logs, messages
or reprs.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from exactmate.clock import Clock
from exactmate.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthError,
    ConfigError,
    RateLimitError,
    ReauthorizationRequired,
    ServerError,
)
from exactmate.secretbox import SecretBox
from exactmate.store import SecretBinding, Store

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


def refresh_due(token: TokenSet, now: float) -> bool:
    """True in the token's last 30 seconds, or its last tenth when lifetimes are short.

    With Exact's 600-second tokens that is from 570 s on, exactly when Exact starts allowing a
    refresh; a 4-second token is refreshed from 3.6 s on.
    """
    lifetime = token.expires_at - token.issued_at
    margin = min(REFRESH_MARGIN, lifetime / 10) if lifetime > 0 else 0.0
    return now >= token.expires_at - margin


@dataclass(frozen=True)
class _Stored:
    tokens: TokenSet
    generation: int


@dataclass(frozen=True)
class _Refusal:
    """The token endpoint's ``{"error", "error_description"}`` and ``Reason`` header."""

    status: int
    error: str
    description: str
    reason: str

    @classmethod
    def of(cls, response: httpx.Response, redact: tuple[str, ...]) -> _Refusal:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        text = {k: _redact(str(body.get(k) or ""), redact) for k in ("error", "error_description")}
        reason = _redact(response.headers.get("Reason", ""), redact)
        return cls(response.status_code, text["error"], text["error_description"], reason)

    @property
    def too_early(self) -> bool:
        return "TooEarlyToRefreshTokens" in self.reason or "not expired" in self.description.lower()

    @property
    def refresh_token_dead(self) -> bool:
        """The refresh token will never work again: rotated out, expired or revoked."""
        if self.error == "unauthorized_client" and "old refresh token" in self.description.lower():
            return True
        return self.error == "invalid_grant" or (
            self.error == "invalid_request" and "expired" in self.description.lower()
        )

    def __str__(self) -> str:
        text = self.error or f"HTTP {self.status}"
        return text + (f": {self.description}" if self.description else "")


def refresh_lock_name(credential_id: str) -> str:
    """The store lock a credential's tokens change under: refreshes here, and a new consent saving
    fresh tokens (``exactmate.connect``), so neither overwrites the other's rotated pair."""
    return f"token-refresh:{credential_id}"


class TokenManager:
    """The tokens of one stored credential: exchange, persist, hand out and refresh them safely."""

    def __init__(
        self,
        *,
        store: Store,
        box: SecretBox,
        credential_id: str,
        app: OAuthApp,
        http: httpx.Client,
        clock: Clock,
        lock_timeout: float = 60.0,
    ) -> None:
        self._store = store
        self._box = box
        self._id = credential_id
        self._app = app
        self._http = http
        self._clock = clock
        self._lock_timeout = lock_timeout
        self._hold_until = 0.0
        # The tokens are sealed bound to the connection values they are sent with: the app's.
        self._binding = SecretBinding(credential_id, app.server_url, app.client_id, app.redirect_uri)

    def __repr__(self) -> str:
        return f"TokenManager(credential_id={self._id!r}, server_url={self._app.server_url!r})"

    def exchange_code(self, code: str) -> TokenSet:
        """Trade an authorization code for tokens (single use, valid about 3 minutes) and store them."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self._app.redirect_uri}
        response = self._post_token(form, secrets_in_play=(code,))
        if response.status_code != 200:
            refusal = _Refusal.of(response, (code, self._app.client_secret))
            self._raise_for_status(refusal)
            raise AuthError(
                f"Exact refused the authorization code for credential {self._name()!r}: {refusal}",
                hint="codes are single-use and expire after about 3 minutes: sign in again",
            )
        tokens = TokenSet.from_response(_json(response), self._clock.now())
        with self._refresh_lock():
            self.save_tokens(tokens)
        return tokens

    def save_tokens(self, tokens: TokenSet) -> None:
        """Store ``tokens`` sealed (generation + 1) and mark the credential connected."""
        sealed = {
            column: self._box.encrypt(getattr(tokens, column), self._binding.aad(column))
            for column in ("access_token", "refresh_token")
        }
        with self._store.transaction() as conn:
            generation = self._store.put_tokens(
                self._id,
                access_expires_at=tokens.expires_at,
                access_issued_at=tokens.issued_at,
                refresh_issued_at=tokens.issued_at,
                conn=conn,
                **sealed,
            )
            self._store.set_credential_status(self._id, "connected", None, conn=conn)
        log.info("stored tokens of credential %s (generation %d)", self._id, generation)

    def access_token(self) -> str:
        """The current access token, refreshed first (under the store lock) when it is due."""
        current = self._load()
        if not self._should_refresh(current.tokens):
            return current.tokens.access_token
        with self._refresh_lock():
            current = self._load()
            if self._should_refresh(current.tokens):
                return self._refresh(current).access_token
            return current.tokens.access_token

    def refresh_after_401(self, rejected: str) -> str:
        """A token to retry with after Exact answered 401 to ``rejected``.

        If the stored token is no longer ``rejected``, someone already refreshed: use theirs.
        Otherwise refresh once, due or not.
        """
        with self._refresh_lock():
            current = self._load()
            if not hmac.compare_digest(current.tokens.access_token.encode(), rejected.encode()):
                return current.tokens.access_token
            return self._refresh(current).access_token

    def forget(self) -> None:
        """Delete the stored tokens and mark the credential disconnected."""
        with self._refresh_lock(), self._store.transaction() as conn:
            self._store.delete_tokens(self._id, conn=conn)
            self._store.set_credential_status(self._id, "disconnected", "tokens removed", conn=conn)

    # -- internals -----------------------------------------------------------------------------

    def _should_refresh(self, tokens: TokenSet) -> bool:
        """Due, unless Exact just called a refresh too early: then keep the token a little longer.

        Without that pause every call in the last 30 seconds would spend one of Exact's 200
        daily token-endpoint calls when our clock runs slightly ahead of Exact's.
        """
        now = self._clock.now()
        return refresh_due(tokens, now) and now >= self._hold_until

    @contextmanager
    def _refresh_lock(self) -> Iterator[None]:
        with self._store.lock(refresh_lock_name(self._id), timeout=self._lock_timeout):
            yield

    def _name(self) -> str:
        row = self._store.credential(self._id)
        return row.name if row else self._id

    def _load(self) -> _Stored:
        """The stored tokens, decrypted; ReauthorizationRequired when there are none to use."""
        with self._store.reading() as conn:
            credential = self._store.credential(self._id, conn=conn)
            row = self._store.tokens(self._id, conn=conn)
        if credential is None:
            raise AuthError(f"credential {self._id!r} no longer exists", hint="see exactmate vault list")
        if credential.status == "needs_reauthorization":
            why = credential.status_reason or "flagged earlier"
            raise ReauthorizationRequired(
                f"credential {credential.name!r} needs re-authorisation: {why}", credential=credential.name
            )
        if row is None:
            raise ReauthorizationRequired(
                f"credential {credential.name!r} is not connected to Exact Online", credential=credential.name
            )
        access = self._box.decrypt(row.access_token, self._binding.aad("access_token"))
        refresh = self._box.decrypt(row.refresh_token, self._binding.aad("refresh_token"))
        return _Stored(TokenSet(access, refresh, row.access_expires_at, row.access_issued_at), row.generation)

    def _refresh(self, current: _Stored) -> TokenSet:
        """One refresh_token grant; the caller holds the lock and has just re-read ``current``."""
        old = current.tokens
        form = {"grant_type": "refresh_token", "refresh_token": old.refresh_token}
        response = self._post_token(form, secrets_in_play=(old.refresh_token,))
        now = self._clock.now()
        if response.status_code == 200:
            tokens = TokenSet.from_response(_json(response), now)
            self.save_tokens(tokens)
            self._hold_until = 0.0
            return tokens
        refusal = _Refusal.of(response, (old.refresh_token, old.access_token, self._app.client_secret))
        if refusal.too_early:
            log.info("credential %s: Exact refused the refresh as too early; keeping the token", self._id)
            self._hold_until = now + min(REFRESH_MARGIN, (old.expires_at - old.issued_at) / 10) / 3
            return old
        if refusal.refresh_token_dead:
            return self._refresh_token_dead(current, refusal)
        self._raise_for_status(refusal)
        raise AuthError(
            f"Exact refused to refresh the tokens of credential {self._name()!r}: {refusal}",
            hint="check the credential's client id and secret",
        )

    def _refresh_token_dead(self, current: _Stored, refusal: _Refusal) -> TokenSet:
        """Flag the credential for re-authorisation, unless someone else rotated meanwhile."""
        try:
            latest = self._load()
        except ReauthorizationRequired:
            latest = current
        if latest.generation != current.generation:  # our lease expired and another holder refreshed
            return latest.tokens
        name = self._name()
        reason = f"Exact rejected the refresh token: {refusal}"
        with self._store.transaction() as conn:
            self._store.set_credential_status(self._id, "needs_reauthorization", reason, conn=conn)
            self._store.delete_tokens(self._id, conn=conn)
        log.warning("credential %s needs re-authorisation: %s", name, refusal)
        raise ReauthorizationRequired(f"credential {name!r} must be re-authorised: {reason}", credential=name)

    def _post_token(self, form: dict[str, str], *, secrets_in_play: tuple[str, ...]) -> httpx.Response:
        """POST to the token endpoint, client credentials in the form body."""
        body = {**form, "client_id": self._app.client_id, "client_secret": self._app.client_secret}
        url = self._app.url(TOKEN_PATH)
        try:
            return self._http.post(url, data=body, headers={"Accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise APITimeoutError(
                f"Exact's token endpoint {url} did not answer in time ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            detail = _redact(str(exc), (*secrets_in_play, self._app.client_secret))
            raise APIConnectionError(
                f"cannot reach Exact's token endpoint {url}: {type(exc).__name__}: {detail}"
            ) from None

    def _raise_for_status(self, refusal: _Refusal) -> None:
        """The token endpoint's rate limit and server errors keep their own classes."""
        if refusal.status == 429:
            raise RateLimitError(
                f"Exact's token endpoint limit was reached: {refusal}",
                scope="token",
                reset_at=None,
                reason=refusal.reason or None,
            )
        if refusal.status >= 500:
            raise ServerError(
                f"Exact's token endpoint failed: {refusal}",
                status_code=refusal.status,
                reason=refusal.reason or None,
            )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AuthError("the token endpoint's answer is not JSON") from None


def _redact(text: str, secret_values: tuple[str, ...]) -> str:
    """``text`` with every secret it may echo replaced, so no message can carry one."""
    for value in secret_values:
        if value:
            text = text.replace(value, "***")
    return text
