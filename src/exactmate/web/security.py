"""Who may use the web UI, and proof that a form was sent by the UI's own page.

Every request must prove it comes from the UI's owner, the way Jupyter does it: the access token is
``EXACTMATE_UI_TOKEN`` when set, else a random one made at each start. A request carries it as
``Authorization: Bearer <token>`` or as the session cookie a sign-in sets: typing the token on the
``/login`` page, or opening the one-time sign-in link the command prints and opens (its code works
once, so the link left in the browser's history opens nothing). The cookie holds a session id and
a keyed hash of it, never the token; signing out revokes that session on the server. Wrong tokens
are throttled. On loopback (the default, ``127.0.0.1``) a request must also come from a loopback
address *and* name a loopback host in its ``Host`` header; the second check stops DNS rebinding,
where a web page on the internet makes the browser send requests to 127.0.0.1 under the attacker's
own host name. Any other address needs ``EXACTMATE_UI_TOKEN`` set on purpose.

On top of that, every POST, and every GET that spends calls to Exact, must carry a CSRF token (a
hidden ``csrf_token`` field or an ``X-CSRF-Token`` header): an HMAC of a random per-browser cookie
under a per-process key, so a page on another site can neither read nor forge it. Requests whose
``Origin`` is another site are refused too.
Every answer carries headers that forbid framing, inline scripts and external assets, and keep the
OAuth callback's code out of ``Referer`` headers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData, Headers, UploadFile
from starlette.requests import Request, cookie_parser
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exactmate.errors import ConfigError

CSRF_COOKIE = "exactmate_csrf"
SESSION_COOKIE = "exactmate_ui"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
TOKEN_ENV = "EXACTMATE_UI_TOKEN"
MIN_TOKEN_LENGTH = 16
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Reachable without the access token: the sign-in page itself and the static files it needs.
PUBLIC_PREFIXES = ("/login", "/static/")
# GETs that call Exact (and so spend its limits): a page on another site must not be able to cause them.
COSTLY_GETS = ("/api/divisions", "/api/references")
LOGIN_ATTEMPTS = 5  # wrong tokens within LOGIN_WINDOW seconds, then sign-in waits
LOGIN_WINDOW = 60.0
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    # The OAuth callback URL carries a one-time code: it must never leave in a Referer header to
    # another site. "same-origin" rather than "no-referrer": with no-referrer, browsers send
    # "Origin: null" on form posts, which the cross-site check would have to refuse.
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin-allow-popups"),
)

_TOKEN_HINT = (
    'set EXACTMATE_UI_TOKEN to a long random value, e.g. python -c "import secrets; '
    'print(secrets.token_urlsafe(32))", and type it on the sign-in page'
)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AccessPolicy:
    """How requests are admitted: with the access token, and on loopback from this machine only.
    ``fixed``: the token was given (``EXACTMATE_UI_TOKEN``), not made for this start."""

    bind_host: str = "127.0.0.1"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    fixed: bool = False

    @classmethod
    def for_bind(
        cls, host: str, token: str | None = None, env: Mapping[str, str] | None = None
    ) -> AccessPolicy:
        """The policy for a server bound to ``host``; the token comes from ``token`` or the environment.

        Binding to anything but a loopback address without a token is refused: the UI can read and
        change credentials and records, so it must not be open to a network without a password.
        """
        env = os.environ if env is None else env
        chosen = token if token is not None else (env.get(TOKEN_ENV) or None)
        if chosen is not None:
            chosen = chosen.strip()
            if len(chosen) < MIN_TOKEN_LENGTH:
                raise ConfigError(
                    f"{TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} characters long", hint=_TOKEN_HINT
                )
        if chosen is None and not is_loopback_host(host):
            raise ConfigError(
                f"binding the web UI to {host} makes it reachable from other machines, "
                f"so it needs an access token in {TOKEN_ENV}",
                hint=_TOKEN_HINT + "; or bind to 127.0.0.1",
            )
        if chosen is None:
            return cls(bind_host=host)
        return cls(bind_host=host, token=chosen, fixed=True)

    @property
    def loopback_only(self) -> bool:
        return is_loopback_host(self.bind_host)

    def token_matches(self, candidate: str) -> bool:
        """Constant-time comparison with the access token."""
        return hmac.compare_digest(candidate.strip().encode(), self.token.encode())


class Sessions:
    """The signed-in browsers of one UI process, the one-time sign-in code, and the throttle on
    wrong tokens. In memory: a restart signs everybody out."""

    def __init__(self, signer: Signer, now: Callable[[], float]) -> None:
        self._signer = signer
        self._now = now
        self._live: set[str] = set()
        self._code: str | None = secrets.token_urlsafe(24)
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def login_path(self) -> str | None:
        """The one-time sign-in link (a path) while its code is unused, else None."""
        with self._lock:
            code = self._code
        return None if code is None else f"/login?code={code}"

    def use_code(self, code: str) -> bool:
        """Whether ``code`` is the sign-in code, which it then stops being."""
        with self._lock:
            if self._code is None or not hmac.compare_digest(code.encode(), self._code.encode()):
                return False
            self._code = None
            return True

    def open(self) -> str:
        """A new session: the value for its cookie."""
        sid = secrets.token_urlsafe(18)
        with self._lock:
            self._live.add(sid)
        return f"{sid}.{self._signer.sign('session', sid)}"

    def valid(self, value: str) -> bool:
        sid, _, signature = value.partition(".")
        with self._lock:
            live = sid in self._live
        return live and self._signer.verify("session", sid, signature)

    def close(self, value: str) -> None:
        """Sign a session out: its cookie, wherever it was copied to, opens nothing any more."""
        with self._lock:
            self._live.discard(value.partition(".")[0])

    def wait_before_login(self) -> float:
        """Seconds a sign-in must wait after too many wrong tokens (0: it may try now)."""
        now = self._now()
        with self._lock:
            while self._failures and self._failures[0] <= now - LOGIN_WINDOW:
                self._failures.popleft()
            if len(self._failures) < LOGIN_ATTEMPTS:
                return 0.0
            return self._failures[0] + LOGIN_WINDOW - now

    def failed_login(self) -> None:
        with self._lock:
            self._failures.append(self._now())


class Signer:
    """Keyed hashes under one random per-process key: CSRF tokens and the session cookie's value."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def __repr__(self) -> str:
        return "Signer(<key hidden>)"

    def sign(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    def verify(self, purpose: str, value: str, signature: str) -> bool:
        return bool(value) and hmac.compare_digest(self.sign(purpose, value), signature)


def browser_id(request: Request) -> str:
    """Which browser sent ``request``: its CSRF cookie's seed (what the pages tie per-browser state to)."""
    return str(request.scope["state"]["csrf_seed"])


def csrf_token(request: Request) -> str:
    """The CSRF token to put into the page answering ``request`` (see :class:`SecurityMiddleware`)."""
    signer: Signer = request.app.state.ui.signer  # the UiContext (web/context.py)
    return signer.sign("csrf", str(request.scope["state"]["csrf_seed"]))


async def verify_csrf(request: Request) -> None:
    """FastAPI dependency on every route: an unsafe method, or a GET that spends calls to Exact,
    must carry this browser's CSRF token.

    Runs as a dependency rather than in the middleware because reading the form there would consume
    the body before the route sees it; here the parsed form is cached on the request.
    """
    if request.method not in UNSAFE_METHODS and not request.url.path.startswith(COSTLY_GETS):
        return
    _check_origin(request)
    seed = request.cookies.get(CSRF_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    form: FormData | None = None
    if not sent and _is_form(request):
        form = await request.form(max_files=1)  # no form here takes more than one file
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    signer: Signer = request.app.state.ui.signer  # the UiContext (web/context.py)
    if not sent or not signer.verify("csrf", seed, sent):
        if form is not None:
            await form.close()  # a refused upload's temporary file goes at once
        raise CsrfError("The form's security token is missing or stale. Reload the page and try again.")


MAX_UPLOAD_BYTES = 10 * 1024 * 1024
"""The largest file the page accepts (about 50,000 time entries); larger ones are for the command line."""
UPLOAD_FIELDS = 20
"""Form fields next to an upload at most (the Create form sends a handful)."""


class UploadTooLarge(Exception):
    """A file larger than ``MAX_UPLOAD_BYTES`` (answered 413, before the body is read where possible)."""


async def read_upload(request: Request, field_name: str) -> tuple[str, bytes, FormData]:
    """The name and bytes of the one file in ``field_name`` and the rest of the form (see
    ``read_uploads``)."""
    files, form = await read_uploads(request, [field_name])
    name, data = files.get(field_name, ("", b""))
    return name, data, form


async def read_uploads(
    request: Request, field_names: Sequence[str]
) -> tuple[dict[str, tuple[str, bytes]], FormData]:
    """The name and bytes of the file in each of ``field_names`` that has one, and the rest of the form.

    A request whose ``Content-Length`` already exceeds the limit is refused before its body is read;
    a file over the limit is cut off at it. Starlette spools the file parts to temporary files;
    they are closed (and so deleted) here, whatever happens."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise UploadTooLarge(_too_large())
    form = await request.form(max_files=max(1, len(field_names)), max_fields=UPLOAD_FIELDS)
    parts = [(name, part) for name in field_names if isinstance(part := form.get(name), UploadFile)]
    files: dict[str, tuple[str, bytes]] = {}
    try:
        total = 0
        for name, part in parts:
            data = await part.read(MAX_UPLOAD_BYTES + 1)
            total += len(data)
            if total > MAX_UPLOAD_BYTES:
                raise UploadTooLarge(_too_large())
            files[name] = (part.filename or "upload", data)
        return files, form
    finally:
        for _, part in parts:
            await part.close()


def _too_large() -> str:
    size = MAX_UPLOAD_BYTES // (1024 * 1024)
    return (
        f"The file is larger than the {size} MB the page accepts: split it, or book it from the "
        "command line with `exactmate time create --file FILE`"
    )


class CsrfError(Exception):
    """A state-changing request without a valid CSRF token (answered 403)."""


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or an old one: the CSRF token alone decides
        return
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin.rstrip("/").lower() != own.lower():
        raise CsrfError(f"A form from another site ({origin}) cannot change anything here.")


class SecurityMiddleware:
    """Admission (loopback or access token), the CSRF cookie, and security headers on every answer."""

    def __init__(self, app: ASGIApp, *, policy: AccessPolicy, sessions: Sessions) -> None:
        self.app = app
        self.policy = policy
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._admit(scope)
        if refusal is not None:
            await refusal(scope, receive, _with_headers(send, []))
            return
        seed = _cookies(scope).get(CSRF_COOKIE, "")
        set_cookies: list[str] = []
        if not _valid_seed(seed):
            seed = secrets.token_urlsafe(32)
            set_cookies.append(_cookie_header(CSRF_COOKIE, seed, secure=scope.get("scheme") == "https"))
        scope.setdefault("state", {})["csrf_seed"] = seed
        await self.app(scope, receive, _with_headers(send, set_cookies))

    def _admit(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        path = str(scope.get("path", "/"))
        if self.policy.loopback_only:
            client = scope.get("client") or ("", 0)
            if not is_loopback_host(str(client[0])):
                return PlainTextResponse("The exactmate UI answers this machine only.", status_code=403)
            host = urlsplit(f"//{headers.get('host', '')}").hostname or ""
            if not is_loopback_host(host):
                return PlainTextResponse(
                    f"Host {headers.get('host', '')!r} is not this machine. Open the UI at "
                    "http://127.0.0.1 (with its port) instead.",
                    status_code=421,
                )
        if path.startswith(PUBLIC_PREFIXES):
            return None
        if self._has_token(headers, _cookies(scope)):
            return None
        if scope.get("method") == "GET" and "text/html" in headers.get("accept", ""):
            target = path + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return PlainTextResponse(
            "The exactmate UI needs its access token: open the sign-in link `exactmate ui` printed, "
            "send 'Authorization: Bearer <token>', or sign in at /login.",
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="exactmate"'},
        )

    def _has_token(self, headers: Headers, cookies: Mapping[str, str]) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.policy.token_matches(value):
            return True
        return self.sessions.valid(cookies.get(SESSION_COOKIE, ""))


def session_cookie_header(value: str, *, secure: bool) -> str:
    """A ``Set-Cookie`` value for the sign-in session (or its removal when ``value`` is empty);
    ``secure`` when the page is served over https (directly, or behind a proxy that says so)."""
    return _cookie_header(SESSION_COOKIE, value, max_age=None if value else 0, secure=secure)


def _cookie_header(name: str, value: str, max_age: int | None = None, *, secure: bool = False) -> str:
    # Lax, not Strict: the OAuth callback is a cross-site navigation that must still carry them.
    # Secure over https, so the browser never sends them over plain http to the same host.
    text = f"{name}={value}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    return text + (f"; Max-Age={max_age}" if max_age is not None else "")


def _with_headers(send: Send, set_cookies: list[str]) -> Send:
    """``send`` that adds the security headers (and ``set_cookies``) to the response's start."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            _add_headers(headers, set_cookies)
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _add_headers(headers: list[Any], set_cookies: list[str]) -> None:
    present = {bytes(name).lower() for name, _ in headers}
    for name, value in SECURITY_HEADERS:
        if name.encode() not in present:
            headers.append((name.encode(), value.encode()))
    for cookie in set_cookies:
        headers.append((b"set-cookie", cookie.encode("latin-1")))


def _cookies(scope: Scope) -> dict[str, str]:
    return cookie_parser(Headers(scope=scope).get("cookie", ""))


def _valid_seed(seed: str) -> bool:
    return 20 <= len(seed) <= 100 and all(c.isalnum() or c in "-_" for c in seed)
