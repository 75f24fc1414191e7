"""OAuth: sign-in URL and redirect, code exchange, and a refresh that never races or loops."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from exactmate.auth import (
    REREAD_SECONDS,
    OAuthApp,
    TokenEndpointRefused,
    TokenManager,
    TokenSet,
    authorization_url,
    check_state,
    exchange_code,
    exchange_refresh_token,
    new_state,
    parse_redirect,
    refresh_due,
)
from exactmate.clock import FakeClock
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
from exactmate.store import Store, new_id, tokens
from exactmate.vault import CredentialTokens
from exactmate.vault.tokens import HeldTokens

SERVER = "https://start.exactonline.nl"
APP = OAuthApp(SERVER, "client-1", "very-secret-client-secret", "http://127.0.0.1:8765/callback")


# -- sign-in URL, state and redirect ---------------------------------------------------------------


def test_authorization_url_carries_the_documented_parameters() -> None:
    url = authorization_url(APP, "st4te", force_login=True)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{SERVER}/api/oauth2/auth"
    assert parse_qs(parts.query) == {
        "client_id": ["client-1"],
        "redirect_uri": ["http://127.0.0.1:8765/callback"],
        "response_type": ["code"],
        "state": ["st4te"],
        "force_login": ["1"],
    }
    assert "very-secret" not in url
    assert parse_qs(urlsplit(authorization_url(APP, "s")).query)["force_login"] == ["0"]


def test_server_url_trailing_slash_and_validation() -> None:
    app = OAuthApp(SERVER + "/", "c", "s", "http://localhost/cb")
    assert authorization_url(app, "s").startswith(f"{SERVER}/api/oauth2/auth?")
    with pytest.raises(ConfigError, match="server_url must be an http"):
        OAuthApp("start.exactonline.nl", "c", "s", "http://localhost/cb")


def test_secrets_are_hidden_from_reprs() -> None:
    assert "very-secret" not in repr(APP)
    token = TokenSet("access-xyz", "refresh-xyz", 600.0, 0.0)
    assert "access-xyz" not in repr(token) and "refresh-xyz" not in repr(token)


def test_state_is_random_and_checked() -> None:
    a, b = new_state(), new_state()
    assert a != b and len(a) >= 40
    check_state(a, a)
    with pytest.raises(AuthError, match="does not match"):
        check_state(a, b)


def test_parse_redirect_returns_the_url_decoded_code() -> None:
    url = "http://127.0.0.1:8765/callback?code=XTzM%21IAAAA%2Bx&state=abc"
    assert parse_redirect(url, "abc") == "XTzM!IAAAA+x"
    assert parse_redirect(f"  {url}\n", "abc") == "XTzM!IAAAA+x"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://x/cb?error=access_denied&state=abc", "not approved"),
        ("http://x/cb?error=server_error&error_description=oops&state=abc", "answered server_error: oops"),
        ("http://x/cb?code=c0de", "has no state"),
        ("http://x/cb?code=c0de&state=forged", "does not match"),
        ("http://x/cb?state=abc", "has no code"),
        ("c0de", "has no state"),
    ],
)
def test_parse_redirect_refuses_bad_redirects(url: str, message: str) -> None:
    with pytest.raises(AuthError, match=message) as info:
        parse_redirect(url, "abc")
    assert "c0de" not in str(info.value)


# -- when to refresh -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime", "age", "due"),
    [
        (600, 569.9, False),
        (600, 570.0, True),  # Exact's own "not before 570 s" rule
        (600, 700.0, True),
        (4, 3.59, False),  # short lifetimes: the last tenth
        (4, 3.6, True),
        (3600, 3569.9, False),  # long lifetimes: the last 30 seconds
        (3600, 3570.0, True),
    ],
)
def test_refresh_due(lifetime: float, age: float, due: bool) -> None:
    token = TokenSet("a", "r", expires_at=1000.0 + lifetime, issued_at=1000.0)
    assert refresh_due(token, 1000.0 + age) is due


def test_token_set_parses_string_expires_in() -> None:
    token = TokenSet.from_response(
        {"access_token": "a", "token_type": "bearer", "expires_in": "600", "refresh_token": "r"}, 100.0
    )
    assert (token.expires_at, token.issued_at) == (700.0, 100.0)
    assert (
        TokenSet.from_response({"access_token": "a", "expires_in": 60, "refresh_token": "r"}, 0).expires_at
        == 60
    )


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"access_token": "a", "expires_in": "600"},
        {"access_token": "", "refresh_token": "r", "expires_in": "600"},
        {"access_token": "a", "refresh_token": "r"},
        {"access_token": "a", "refresh_token": "r", "expires_in": "soon"},
        {"access_token": "a", "refresh_token": "r", "expires_in": "0"},
    ],
)
def test_token_set_refuses_malformed_answers(payload: object) -> None:
    with pytest.raises(AuthError, match="token endpoint's answer"):
        TokenSet.from_response(payload, 0.0)


# -- a fake token endpoint with Exact's rules ---------------------------------------------------------


@dataclass
class FakeTokenEndpoint:
    """Exact's token endpoint: strict rotation, 570-second guard, string ``expires_in``."""

    clock: FakeClock
    lifetime: int = 600
    guard: float = 570.0
    codes: set[str] = field(default_factory=lambda: {"the-code"})
    refresh: str | None = None
    issued_at: float = 0.0
    counter: int = 0
    refreshes: int = 0
    forms: list[dict[str, str]] = field(default_factory=list)
    fail_next: Callable[[httpx.Request], httpx.Response] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url == f"{SERVER}/api/oauth2/token"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        with self.lock:
            self.forms.append(form)
            if self.fail_next is not None:
                fail, self.fail_next = self.fail_next, None
                return fail(request)
            if (form["client_id"], form["client_secret"]) != (APP.client_id, APP.client_secret):
                return httpx.Response(400, json={"error": "invalid_client"})
            if form["grant_type"] == "authorization_code":
                if form.get("code") not in self.codes or form.get("redirect_uri") != APP.redirect_uri:
                    return httpx.Response(400, json={"error": "invalid_grant"})
                self.codes.discard(form["code"])
                return self._issue()
            if form.get("refresh_token") != self.refresh:
                return httpx.Response(
                    401, json={"error": "unauthorized_client", "error_description": "Old refresh token used."}
                )
            if self.clock.now() - self.issued_at < self.guard:
                text = "Rate limit exceeded: access_token not expired"
                return httpx.Response(
                    400,
                    json={"error": "access_denied", "error_description": text},
                    headers={"Reason": f"TooEarlyToRefreshTokens: {text}"},
                )
            self.refreshes += 1
            return self._issue()

    def _issue(self) -> httpx.Response:
        self.counter += 1
        self.refresh = f"refresh-token-{self.counter}"
        self.issued_at = self.clock.now()
        body = {
            "access_token": f"access-token-{self.counter}",
            "token_type": "bearer",
            "expires_in": str(self.lifetime),
            "refresh_token": self.refresh,
        }
        return httpx.Response(200, json=body)

    def rotate_and_drop(self, request: httpx.Request) -> httpx.Response:
        """The server grants the refresh, then the connection drops before the answer arrives."""
        self.refreshes += 1
        self._issue()
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)


@pytest.fixture
def endpoint(clock: FakeClock) -> FakeTokenEndpoint:
    return FakeTokenEndpoint(clock)


@pytest.fixture
def http(endpoint: FakeTokenEndpoint) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(endpoint)) as client:
        yield client


@pytest.fixture
def credential_id(store: Store, box: SecretBox) -> str:
    cid = new_id()
    store.insert_credential(
        id=cid,
        name="Acme",
        server_url=SERVER,
        client_id=APP.client_id,
        client_secret=box.encrypt(APP.client_secret, f"credential:{cid}:client_secret"),
        redirect_uri=APP.redirect_uri,
    )
    return cid


def _manager(store: Store, box: SecretBox, cid: str, http: httpx.Client, clock: FakeClock) -> TokenManager:
    return TokenManager(tokens=CredentialTokens(store, box, cid), app=APP, http=http, clock=clock)


def sign_in(
    store: Store, box: SecretBox, cid: str, http: httpx.Client, clock: FakeClock, code: str = "the-code"
) -> TokenSet:
    """What a sign-in does: exchange the code, then store the pair under the refresh lock."""
    pair = exchange_code(APP, code, http, clock)
    held = CredentialTokens(store, box, cid)
    with held.lock():
        held.save(pair)
    return pair


@pytest.fixture
def manager(
    store: Store, box: SecretBox, credential_id: str, http: httpx.Client, clock: FakeClock
) -> TokenManager:
    return _manager(store, box, credential_id, http, clock)


@pytest.fixture
def connected(
    manager: TokenManager,
    store: Store,
    box: SecretBox,
    credential_id: str,
    http: httpx.Client,
    clock: FakeClock,
) -> TokenManager:
    sign_in(store, box, credential_id, http, clock)
    return manager


def _status(store: Store, cid: str) -> tuple[str, str | None]:
    row = store.credential(cid)
    assert row is not None
    return row.status, row.status_reason


# -- exchange, storage, access ------------------------------------------------------------------------


def test_exchange_code_posts_the_form_and_stores_sealed_tokens(
    manager: TokenManager,
    endpoint: FakeTokenEndpoint,
    store: Store,
    box: SecretBox,
    credential_id: str,
    http: httpx.Client,
    clock: FakeClock,
) -> None:
    got = sign_in(store, box, credential_id, http, clock)
    assert endpoint.forms == [
        {
            "grant_type": "authorization_code",
            "code": "the-code",
            "redirect_uri": APP.redirect_uri,
            "client_id": APP.client_id,
            "client_secret": APP.client_secret,
        }
    ]
    assert (got.access_token, got.expires_at) == ("access-token-1", clock.now() + 600)
    assert _status(store, credential_id) == ("connected", None)
    with store.reading() as conn:
        raw = conn.execute(tokens.select()).one()
    assert b"access-token-1" not in raw.access_token and b"refresh-token-1" not in raw.refresh_token
    assert raw.generation == 1
    assert manager.access_token() == "access-token-1"
    assert "access-token" not in repr(manager)


def test_a_used_code_is_refused_with_advice(
    connected: TokenManager, http: httpx.Client, clock: FakeClock
) -> None:
    with pytest.raises(TokenEndpointRefused, match="refused the authorization code") as info:
        exchange_code(APP, "the-code", http, clock)
    assert "single-use" in str(info.value)
    assert "the-code" not in str(info.value)


def test_no_refresh_before_it_is_due(
    connected: TokenManager, endpoint: FakeTokenEndpoint, clock: FakeClock
) -> None:
    clock.advance(569)
    assert connected.access_token() == "access-token-1"
    assert endpoint.refreshes == 0


def test_refresh_when_due_rotates_and_persists(
    connected: TokenManager, endpoint: FakeTokenEndpoint, store: Store, credential_id: str, clock: FakeClock
) -> None:
    clock.advance(570)
    assert connected.access_token() == "access-token-2"
    assert endpoint.forms[-1] == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-token-1",
        "client_id": APP.client_id,
        "client_secret": APP.client_secret,
    }
    row = store.tokens(credential_id)
    assert row is not None and row.generation == 2 and row.access_expires_at == clock.now() + 600
    assert connected.access_token() == "access-token-2"
    assert endpoint.refreshes == 1


def test_too_early_keeps_the_current_token_and_pauses_retries(
    connected: TokenManager, endpoint: FakeTokenEndpoint, clock: FakeClock
) -> None:
    endpoint.guard = 580.0  # Exact's clock is a little behind ours
    clock.advance(571)
    assert connected.access_token() == "access-token-1"
    calls = len(endpoint.forms)
    for _ in range(5):
        assert connected.access_token() == "access-token-1"
    assert len(endpoint.forms) == calls  # no token call burnt per API call
    clock.advance(10)
    assert connected.access_token() == "access-token-2"


def test_old_refresh_token_flags_the_credential_for_reauthorisation(
    connected: TokenManager, endpoint: FakeTokenEndpoint, store: Store, credential_id: str, clock: FakeClock
) -> None:
    endpoint.refresh = "someone-else-rotated-it"
    clock.advance(600)
    with pytest.raises(ReauthorizationRequired) as info:
        connected.access_token()
    message = str(info.value)
    assert "'Acme'" in message and "Old refresh token used." in message
    assert "exactmate vault connect Acme" in message
    assert info.value.credential == "Acme"
    status, reason = _status(store, credential_id)
    assert status == "needs_reauthorization" and reason is not None and "Old refresh token used." in reason
    assert store.tokens(credential_id) is None
    calls = len(endpoint.forms)
    with pytest.raises(ReauthorizationRequired, match="needs re-authorisation"):
        connected.access_token()
    assert len(endpoint.forms) == calls  # refused locally: no call


def test_expired_refresh_token_flags_the_credential(
    connected: TokenManager, endpoint: FakeTokenEndpoint, store: Store, credential_id: str, clock: FakeClock
) -> None:
    text = "The refresh token expired at 10/11/2022 9:18:20 PM and it is now 10/28/2022 4:15:50 PM."
    endpoint.fail_next = lambda r: httpx.Response(
        400, json={"error": "invalid_request", "error_description": text}
    )
    clock.advance(600)
    with pytest.raises(ReauthorizationRequired, match="refresh token expired"):
        connected.access_token()
    assert _status(store, credential_id)[0] == "needs_reauthorization"


def test_lost_token_response_ends_in_reauthorisation_not_a_loop(
    connected: TokenManager, endpoint: FakeTokenEndpoint, store: Store, credential_id: str, clock: FakeClock
) -> None:
    endpoint.fail_next = endpoint.rotate_and_drop
    clock.advance(575)
    with pytest.raises(APIConnectionError, match="RemoteProtocolError"):
        connected.access_token()
    with pytest.raises(ReauthorizationRequired, match="Old refresh token used"):
        connected.access_token()
    calls = len(endpoint.forms)
    for _ in range(3):
        with pytest.raises(ReauthorizationRequired):
            connected.access_token()
    assert len(endpoint.forms) == calls
    assert _status(store, credential_id)[0] == "needs_reauthorization"


def test_reconnecting_clears_the_flag(
    connected: TokenManager,
    endpoint: FakeTokenEndpoint,
    store: Store,
    box: SecretBox,
    credential_id: str,
    http: httpx.Client,
    clock: FakeClock,
) -> None:
    endpoint.refresh = "gone"
    clock.advance(600)
    with pytest.raises(ReauthorizationRequired):
        connected.access_token()
    endpoint.codes.add("new-code")
    sign_in(store, box, credential_id, http, clock, "new-code")
    assert _status(store, credential_id) == ("connected", None)
    assert connected.access_token() == "access-token-2"


@pytest.mark.parametrize(
    ("fail", "error", "message"),
    [
        (httpx.ConnectError("connection refused"), APIConnectionError, "cannot reach Exact's token endpoint"),
        (httpx.ReadTimeout("timed out"), APITimeoutError, "did not answer in time"),
    ],
)
def test_network_failures_keep_the_tokens(
    connected: TokenManager,
    endpoint: FakeTokenEndpoint,
    store: Store,
    credential_id: str,
    clock: FakeClock,
    fail: httpx.TransportError,
    error: type[Exception],
    message: str,
) -> None:
    def raise_it(request: httpx.Request) -> httpx.Response:
        raise fail

    endpoint.fail_next = raise_it
    clock.advance(580)
    with pytest.raises(error, match=message):
        connected.access_token()
    assert _status(store, credential_id)[0] == "connected"
    assert connected.access_token() == "access-token-2"  # the next attempt succeeds


@pytest.mark.parametrize(
    ("response", "error", "message"),
    [
        (httpx.Response(429, text="Too many token calls"), RateLimitError, "token endpoint limit"),
        (httpx.Response(503, text="down"), ServerError, "token endpoint failed"),
        (
            httpx.Response(400, json={"error": "invalid_client"}),
            AuthError,
            "check the credential's client id",
        ),
        (httpx.Response(400, text="<html>"), AuthError, "HTTP 400"),
    ],
)
def test_other_refusals_raise_without_flagging(
    connected: TokenManager,
    endpoint: FakeTokenEndpoint,
    store: Store,
    credential_id: str,
    clock: FakeClock,
    response: httpx.Response,
    error: type[Exception],
    message: str,
) -> None:
    endpoint.fail_next = lambda r: response
    clock.advance(580)
    with pytest.raises(error, match=message) as info:
        connected.access_token()
    assert not isinstance(info.value, ReauthorizationRequired)
    assert _status(store, credential_id)[0] == "connected"
    if isinstance(info.value, RateLimitError):
        assert info.value.scope == "token"


def test_refresh_after_401_refreshes_once_unless_someone_already_did(
    connected: TokenManager, endpoint: FakeTokenEndpoint, clock: FakeClock
) -> None:
    clock.advance(575)
    assert connected.refresh_after_401("access-token-1") == "access-token-2"
    assert endpoint.refreshes == 1
    # a second thread that was also rejected with the old token gets the new one, no new refresh
    assert connected.refresh_after_401("access-token-1") == "access-token-2"
    assert endpoint.refreshes == 1


def test_refresh_after_401_refreshes_even_when_not_due(
    connected: TokenManager, endpoint: FakeTokenEndpoint, clock: FakeClock
) -> None:
    endpoint.guard = 0.0
    clock.advance(100)
    assert connected.refresh_after_401("access-token-1") == "access-token-2"


def test_forget_disconnects(
    connected: TokenManager, store: Store, box: SecretBox, credential_id: str
) -> None:
    CredentialTokens(store, box, credential_id).forget("tokens removed")
    assert store.tokens(credential_id) is None
    assert _status(store, credential_id) == ("disconnected", "tokens removed")
    with pytest.raises(ReauthorizationRequired, match="is not connected"):
        connected.access_token()


def test_unknown_credential(store: Store, box: SecretBox, http: httpx.Client, clock: FakeClock) -> None:
    with pytest.raises(AuthError, match="no longer exists"):
        _manager(store, box, "missing", http, clock).access_token()


def test_no_secret_reaches_logs_or_messages(
    connected: TokenManager, endpoint: FakeTokenEndpoint, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    clock.advance(600)
    connected.access_token()
    endpoint.fail_next = lambda r: httpx.Response(
        400, json={"error": "invalid_client", "error_description": f"bad {APP.client_secret} refresh-token-2"}
    )
    clock.advance(600)
    with pytest.raises(AuthError) as info:
        connected.access_token()
    messages.append(str(info.value))
    endpoint.fail_next = endpoint.rotate_and_drop
    with pytest.raises(APIConnectionError) as conn_info:
        connected.access_token()
    messages.append(str(conn_info.value))
    with pytest.raises(ReauthorizationRequired) as reauth:
        connected.access_token()
    messages.append(str(reauth.value))
    text = caplog.text + "\n".join(messages)
    assert "***" in messages[0]  # Exact's description was redacted, not dropped
    for secret in (APP.client_secret, "the-code", "access-token-", "refresh-token-"):
        assert secret not in text


# -- one token-endpoint client, one refusal type ----------------------------------------------------

EARLY = "Rate limit exceeded: access_token not expired"


@pytest.mark.parametrize(
    ("status", "body", "reason", "early", "dead"),
    [
        (
            400,
            {"error": "access_denied", "error_description": EARLY},
            f"TooEarlyToRefreshTokens: {EARLY}",
            True,
            False,
        ),
        (
            400,
            {"error": "access_denied", "error_description": "Rate limit"},
            "TooEarlyToRefreshTokens",
            True,
            False,
        ),
        (400, {"error": "access_denied", "error_description": EARLY}, "", True, False),
        (
            401,
            {"error": "unauthorized_client", "error_description": "Old refresh token used."},
            "",
            False,
            True,
        ),
        (400, {"error": "invalid_grant"}, "", False, True),
        (
            400,
            {"error": "invalid_request", "error_description": "The refresh token expired at 9:18"},
            "",
            False,
            True,
        ),
        (400, {"error": "invalid_request", "error_description": "Missing grant_type"}, "", False, False),
        (400, {"error": "invalid_client"}, "", False, False),
        (401, "<html>denied</html>", "", False, False),
    ],
)
def test_a_refusal_carries_exacts_words_and_what_they_mean(
    clock: FakeClock, status: int, body: object, reason: str, early: bool, dead: bool
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"Reason": reason} if reason else {}
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    with (
        httpx.Client(transport=httpx.MockTransport(answer)) as http,
        pytest.raises(TokenEndpointRefused) as info,
    ):
        exchange_refresh_token(APP, "refresh-1", http, clock)
    refusal = info.value
    expected = body if isinstance(body, dict) else {}
    assert (refusal.status, refusal.grant_type, refusal.reason) == (status, "refresh_token", reason)
    assert (refusal.error, refusal.description) == (
        expected.get("error", ""),
        expected.get("error_description", ""),
    )
    assert (refusal.too_early, refusal.refresh_token_dead) == (early, dead)
    assert "refused the refresh token" in str(refusal)
    assert (refusal.error or f"HTTP {status}") in str(refusal)


def test_a_refusal_never_echoes_a_secret(clock: FakeClock) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        said = " ".join(form.values())
        return httpx.Response(
            400, json={"error": f"bad {said}", "error_description": f"got {said}"}, headers={"Reason": said}
        )

    with httpx.Client(transport=httpx.MockTransport(echo)) as http:
        with pytest.raises(TokenEndpointRefused) as by_code:
            exchange_code(APP, "the-secret-code", http, clock)
        with pytest.raises(TokenEndpointRefused) as by_refresh:
            exchange_refresh_token(APP, "the-secret-refresh-token", http, clock)
    for refusal in (by_code.value, by_refresh.value):
        said = " ".join(
            (str(refusal), refusal.error, refusal.description, refusal.reason, refusal.hint or "")
        )
        assert "***" in refusal.error and "***" in refusal.description and "***" in refusal.reason
        for secret in (APP.client_secret, "the-secret-code", "the-secret-refresh-token"):
            assert secret not in said
    assert by_code.value.grant_type == "authorization_code" and "single-use" in (by_code.value.hint or "")


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(429, text="slow down"), RateLimitError),
        (httpx.Response(502, text="gateway"), ServerError),
    ],
)
def test_a_sign_in_and_a_refresh_meet_the_same_limits(
    clock: FakeClock, response: httpx.Response, error: type[Exception]
) -> None:
    with httpx.Client(transport=httpx.MockTransport(lambda r: response)) as http:
        with pytest.raises(error, match="token endpoint"):
            exchange_code(APP, "code", http, clock)
        with pytest.raises(error, match="token endpoint"):
            exchange_refresh_token(APP, "refresh", http, clock)


# -- the token store: the refresh token is opened only under the lock ---------------------------------


class CountingBox(SecretBox):
    """Counts the refresh tokens it decrypts."""

    refresh_opened = 0

    def decrypt(self, blob: bytes, aad: str) -> str:
        if '"refresh_token"' in aad:
            self.refresh_opened += 1
        return super().decrypt(blob, aad)


def test_the_refresh_token_is_opened_only_under_the_lock(
    connected: TokenManager, store: Store, box: SecretBox, credential_id: str
) -> None:
    held = CredentialTokens(store, box, credential_id)
    loaded = held.load()
    assert "refresh-token" not in repr(loaded) and "access-token" not in repr(loaded)
    with pytest.raises(AuthError, match="only under the credential's refresh lock"):
        loaded.refresh_token()
    with held.lock():
        assert held.load().refresh_token() == "refresh-token-1"
    with pytest.raises(AuthError, match="only under"):  # the lock is released again
        loaded.refresh_token()


def test_the_refresh_token_is_decrypted_only_when_a_refresh_is_due(
    connected: TokenManager,
    endpoint: FakeTokenEndpoint,
    store: Store,
    box: SecretBox,
    credential_id: str,
    http: httpx.Client,
    clock: FakeClock,
) -> None:
    counting = CountingBox(box.keyring)
    manager = TokenManager(
        tokens=CredentialTokens(store, counting, credential_id), app=APP, http=http, clock=clock
    )
    for _ in range(3):
        assert manager.access_token() == "access-token-1"
    assert counting.refresh_opened == 0
    clock.advance(575)
    assert _hammer([manager], threads=8, calls=3) == {"access-token-2"}
    assert (counting.refresh_opened, endpoint.refreshes) == (1, 1)


def test_the_vault_is_the_only_writer_of_the_tokens_table() -> None:
    """Every token write goes through ``vault.tokens.CredentialTokens`` (over the store's own SQL)."""
    import exactmate

    root = Path(exactmate.__file__).parent
    writes = re.compile(r"\b(put_tokens|delete_tokens)\(|\b(insert|update|delete)\(tokens\)")
    writers = {p.relative_to(root).as_posix() for p in root.rglob("*.py") if writes.search(p.read_text())}
    assert writers == {"vault/tokens.py", "store/database.py"}


# -- concurrency ---------------------------------------------------------------------------------------


def _hammer(managers: list[TokenManager], threads: int, calls: int) -> set[str]:
    barrier = threading.Barrier(threads)
    seen: set[str] = set()
    errors: list[BaseException] = []
    guard = threading.Lock()

    def work(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(calls):
                token = managers[i % len(managers)].access_token()
                with guard:
                    seen.add(token)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    return seen


def test_sixteen_threads_around_expiry_refresh_exactly_once_per_due_moment(
    connected: TokenManager, endpoint: FakeTokenEndpoint, clock: FakeClock
) -> None:
    for round_no in range(1, 6):
        clock.advance(575 if round_no == 1 else 571)
        seen = _hammer([connected], threads=16, calls=5)
        assert endpoint.refreshes == round_no
        assert seen == {f"access-token-{round_no + 1}"}
    assert not any(f.get("refresh_token") == "stale" for f in endpoint.forms)
    assert len(endpoint.forms) == 1 + 5  # the exchange plus one refresh per round: no refusals


class _YieldingClock(FakeClock):
    """Lease polls yield to the holder instead of moving time: the holder needs real microseconds,
    and fake seconds piling up from many pollers would expire its lease."""

    def sleep(self, seconds: float) -> None:
        time.sleep(0)


def test_threads_on_separate_stores_share_one_refresh_through_the_lease(
    db_url: str,
    box: SecretBox,
    credential_id: str,
    connected: TokenManager,
    endpoint: FakeTokenEndpoint,
    http: httpx.Client,
    clock: FakeClock,
) -> None:
    """Like separate processes: each store object has its own in-memory locks, only the lease is shared."""
    lease_clock = _YieldingClock()
    stores = [Store(db_url, clock=lease_clock) for _ in range(4)]
    managers = [_manager(s, box, credential_id, http, clock) for s in stores]
    for round_no in range(1, 4):
        clock.advance(575)
        seen = _hammer(managers, threads=12, calls=4)
        assert endpoint.refreshes == round_no
        assert seen == {f"access-token-{round_no + 1}"}
    for s in stores:
        s.close()


# -- against the emulator ------------------------------------------------------------------------------


@pytest.fixture
def emulated(store: Store, box: SecretBox, clock: FakeClock) -> Iterator[tuple[TokenManager, httpx.Client]]:
    """A TokenManager signed in to the in-process emulator: 4-second tokens, refresh allowed after 3 s."""
    from exactmate.emulator.config import EmulatorConfig
    from exactmate.emulator.core import Emulator
    from exactmate.emulator.transport import EmulatorTransport
    from tests.emulator_helpers import authorization_code, redirect_uri_for

    config = EmulatorConfig(records=10, token_seconds=4, refresh_guard_seconds=3)
    emulator = Emulator(config, clock, sleep=lambda s: None)
    client = httpx.Client(transport=EmulatorTransport(emulator), base_url=config.base_url)
    app = OAuthApp(config.base_url, config.client_id, config.client_secret, redirect_uri_for(config))
    cid = new_id()
    store.insert_credential(
        id=cid,
        name="Emulated",
        server_url=app.server_url,
        client_id=app.client_id,
        client_secret=box.encrypt(app.client_secret, f"credential:{cid}:client_secret"),
        redirect_uri=app.redirect_uri,
    )
    held = CredentialTokens(store, box, cid)
    manager = TokenManager(tokens=held, app=app, http=client, clock=clock)
    with held.lock():
        held.save(exchange_code(app, authorization_code(client, config), client, clock))
    yield manager, client
    client.close()
    emulator.close()


def _me_status(client: httpx.Client, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return client.get("/api/v1/current/Me", headers=headers).status_code


def test_emulator_rotation_under_sixteen_threads(
    emulated: tuple[TokenManager, httpx.Client], clock: FakeClock
) -> None:
    manager, client = emulated
    assert _me_status(client, manager.access_token()) == 200
    for round_no in range(1, 6):
        clock.advance(3.7)
        seen = _hammer([manager], threads=16, calls=5)
        assert len(seen) == 1
        assert _me_status(client, seen.pop()) == 200
        stats = client.get("/_emulator/stats").json()
        assert (stats["refresh_granted"], stats["refresh_refused"]) == (round_no, 0)


def test_emulator_lost_token_response_flags_the_credential(
    emulated: tuple[TokenManager, httpx.Client], store: Store, clock: FakeClock
) -> None:
    manager, client = emulated
    assert (
        client.post("/_emulator/faults", json={"kind": "lose_token_response", "count": 1}).status_code == 201
    )
    clock.advance(3.7)
    with pytest.raises(APIConnectionError):
        manager.access_token()
    with pytest.raises(ReauthorizationRequired, match="exactmate vault connect Emulated"):
        manager.access_token()
    with pytest.raises(ReauthorizationRequired):
        manager.access_token()
    stats = client.get("/_emulator/stats").json()
    assert stats["token_calls"] == 3  # exchange, lost refresh, the refused one: then no more calls
    row = store.credential_by_name("Emulated")
    assert row is not None and row.status == "needs_reauthorization"


class CountingTokens(CredentialTokens):
    """Counts the reads of the stored pair."""

    loads = 0

    def load(self) -> HeldTokens:
        self.loads += 1
        return super().load()


def test_a_fast_loop_of_calls_reads_the_stored_pair_once_a_second(
    connected: TokenManager,
    store: Store,
    box: SecretBox,
    credential_id: str,
    http: httpx.Client,
    clock: FakeClock,
) -> None:
    tokens = CountingTokens(store, box, credential_id)
    manager = TokenManager(tokens=tokens, app=APP, http=http, clock=clock)
    assert {manager.access_token() for _ in range(50)} == {"access-token-1"}
    assert tokens.loads == 1
    clock.advance(REREAD_SECONDS)
    manager.access_token()
    assert tokens.loads == 2


def test_what_another_process_changes_shows_at_the_next_read(
    connected: TokenManager,
    endpoint: FakeTokenEndpoint,
    store: Store,
    box: SecretBox,
    credential_id: str,
    http: httpx.Client,
    clock: FakeClock,
) -> None:
    elsewhere = _manager(store, box, credential_id, http, clock)
    assert connected.access_token() == "access-token-1"
    clock.advance(575)  # due: this process reads the store again under the lock before refreshing
    assert elsewhere.access_token() == "access-token-2"
    assert connected.access_token() == "access-token-2" and endpoint.refreshes == 1
    CredentialTokens(store, box, credential_id).forget("disconnected elsewhere")
    assert connected.access_token() == "access-token-2"  # the pair read less than a second ago
    clock.advance(REREAD_SECONDS)
    with pytest.raises(ReauthorizationRequired, match="is not connected"):
        connected.access_token()
