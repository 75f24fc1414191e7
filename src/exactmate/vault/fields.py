"""What each field of a credential may hold: checked and normalised before anything is stored.

Every check names the field, what was wrong and how to fix it; :func:`check_fields` runs them all
and reports every problem at once, so a user fixes a form (or a command line) in one go.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from exactmate.errors import ValidationError

log = logging.getLogger("exactmate.vault")

AUTH_TYPES = ("oauth2-code", "refresh-token")
"""``oauth2-code``: sign in in a browser (the authorization code flow). ``refresh-token``: start from
an existing refresh token read on standard input, for servers without a browser."""
DEFAULT_AUTH_TYPE = "oauth2-code"

DEFAULT_REDIRECT_URI = "http://127.0.0.1:8400/oauth/callback"
"""The address the web UI serves its OAuth callback on, so that registering this one redirect URI in
Exact's App Center serves both the command line and the web page."""

EXACT_HOSTS: dict[str, str] = {
    "nl": "https://start.exactonline.nl",
    "be": "https://start.exactonline.be",
    "de": "https://start.exactonline.de",
    "uk": "https://start.exactonline.co.uk",
    "us": "https://start.exactonline.com",
    "es": "https://start.exactonline.es",
    "fr": "https://start.exactonline.fr",
}
"""Exact Online's seven country hosts by short name; OAuth and REST live on the same host."""
_ALIASES = {"co.uk": "uk", "gb": "uk", "com": "us"}

MAX_NAME = 200
MAX_URL = 400
MAX_CLIENT_ID = 100
MAX_SECRET = 2_000

_GUID = re.compile(
    r"^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOSTS_TEXT = ", ".join(EXACT_HOSTS.values())

T = TypeVar("T")


class _Problem(Exception):
    """One field's problem, collected by :func:`check_fields`."""


@dataclass(frozen=True)
class CredentialFields:
    """A credential's non-secret values, each checked and normalised."""

    name: str
    auth_type: str
    server_url: str
    client_id: str
    redirect_uri: str


def is_loopback(host: str | None) -> bool:
    """True for this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_exact_host(server_url: str) -> bool:
    """True when the URL names one of Exact Online's own hosts (any ``exactonline`` domain)."""
    host = (urlsplit(server_url).hostname or "").lower()
    return host == "exactonline" or ".exactonline." in f".{host}."


def _name(value: str) -> str:
    name = (value or "").strip()
    if not name:
        raise _Problem("Connector Name is required, e.g. acme-nl")
    if len(name) > MAX_NAME:
        raise _Problem(f"Connector Name is {len(name)} characters long; use at most {MAX_NAME}")
    if _CONTROL.search(name):
        raise _Problem("Connector Name cannot contain control characters such as tabs or line breaks")
    return name


def _auth_type(value: str | None) -> str:
    text = (value or DEFAULT_AUTH_TYPE).strip().lower().replace("_", "-")
    if text not in AUTH_TYPES:
        raise _Problem(f"Authentication Type {value!r} is not one of {', '.join(AUTH_TYPES)}")
    return text


def _server_url(value: str, allow_custom_host: bool = False) -> str:
    text = (value or "").strip()
    if not text:
        raise _Problem(f"Server URL is required: one of {_HOSTS_TEXT}, or a custom https URL")
    short = _ALIASES.get(text.lower(), text.lower())
    if short in EXACT_HOSTS:
        return EXACT_HOSTS[short]
    parts = _url_parts(text, "Server URL", "https://start.exactonline.nl")
    if parts.query or parts.fragment:
        raise _Problem(f"Server URL {text!r} cannot have a query or fragment: give just the host")
    base = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    if is_exact_host(base):
        exact = base if parts.scheme.lower() == "https" else "https" + base[len(parts.scheme) :]
        if exact in EXACT_HOSTS.values():
            if exact != base:
                raise _Problem(f"Server URL {text!r} must use https: {exact}")
            return exact
        raise _Problem(f"Server URL {text!r} is not one of Exact Online's hosts: {_HOSTS_TEXT}")
    _require_https_unless_loopback(parts.scheme, parts.hostname, "Server URL", text)
    if len(base) > MAX_URL:
        raise _Problem(f"Server URL is {len(base)} characters long; use at most {MAX_URL}")
    if not is_loopback(parts.hostname):
        if not allow_custom_host:
            raise _Problem(
                f"Server URL {text!r} is neither one of Exact Online's hosts ({_HOSTS_TEXT}) nor this "
                "machine; Test Connect would send the client secret there. If it really is your "
                "Exact Online (a proxy in front of it), allow a custom host (--allow-custom-host)"
            )
        log.warning("the server URL %s is a custom host: its client secret will be sent there", base)
    return base


def _client_id(value: str, server_url: str | None) -> str:
    text = (value or "").strip()
    if not text:
        raise _Problem("Client ID is required: copy it from the app's page in Exact's App Center")
    if server_url is not None and is_exact_host(server_url):
        match = _GUID.match(text)
        if not match:
            raise _Problem(
                f"Client ID {text!r} is not a GUID; Exact's App Center shows it as "
                "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
            )
        return "-".join(match.groups()).lower()
    if len(text) > MAX_CLIENT_ID:
        raise _Problem(f"Client ID is {len(text)} characters long; use at most {MAX_CLIENT_ID}")
    if _CONTROL.search(text) or " " in text:
        raise _Problem("Client ID cannot contain spaces or control characters")
    return text


def _redirect_uri(value: str | None) -> str:
    text = (value or "").strip() or DEFAULT_REDIRECT_URI
    parts = _url_parts(text, "Redirect URI", DEFAULT_REDIRECT_URI)
    if parts.fragment:
        raise _Problem(f"Redirect URI {text!r} cannot have a #fragment")
    _require_https_unless_loopback(parts.scheme, parts.hostname, "Redirect URI", text)
    if len(text) > MAX_URL:
        raise _Problem(f"Redirect URI is {len(text)} characters long; use at most {MAX_URL}")
    return text


def _url_parts(text: str, label: str, example: str) -> _Parts:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _Problem(f"{label} {text!r} is not a valid URL, e.g. {example}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _Problem(f"{label} {text!r} must be an absolute http(s) URL, e.g. {example}")
    if parts.username or parts.password:
        raise _Problem(f"{label} cannot carry a user name or password")
    return _Parts(parts.scheme, parts.netloc, parts.hostname, port, parts.path, parts.query, parts.fragment)


@dataclass(frozen=True)
class _Parts:
    scheme: str
    netloc: str
    hostname: str
    port: int | None
    path: str
    query: str
    fragment: str


def _require_https_unless_loopback(scheme: str, host: str | None, label: str, text: str) -> None:
    if scheme.lower() == "http" and not is_loopback(host):
        raise _Problem(
            f"{label} {text!r} uses plain http, which is allowed only on this machine "
            "(127.0.0.1 or localhost); use https"
        )


def _secret(value: str | None) -> str:
    if value is None or not value.strip():
        raise _Problem("Client Secret is required: copy it from the app's page in Exact's App Center")
    if len(value) > MAX_SECRET:
        raise _Problem(f"Client Secret is {len(value)} characters long; use at most {MAX_SECRET}")
    if _CONTROL.search(value):
        raise _Problem("Client Secret cannot contain control characters such as line breaks")
    return value


def _webhook_secret(value: str | None) -> str:
    if value is None or not value.strip():
        raise _Problem(
            "Webhook Secret is empty: copy it from the app's Webhooks section in Exact's App Center"
        )
    if len(value) > MAX_SECRET:
        raise _Problem(f"Webhook Secret is {len(value)} characters long; use at most {MAX_SECRET}")
    if _CONTROL.search(value):
        raise _Problem("Webhook Secret cannot contain control characters such as line breaks")
    return value


def _single(check: Callable[[], T]) -> T:
    try:
        return check()
    except _Problem as problem:
        raise ValidationError(str(problem)) from None


def check_name(value: str) -> str:
    """The Connector Name, trimmed; ValidationError if empty, too long or with control characters."""
    return _single(lambda: _name(value))


def check_auth_type(value: str | None) -> str:
    """One of :data:`AUTH_TYPES` (case and ``_``/``-`` ignored); None means the default."""
    return _single(lambda: _auth_type(value))


def check_server_url(value: str, *, allow_custom_host: bool = False) -> str:
    """A country host (also by short name: ``nl``, ``be``, ``uk``, …), this machine (the emulator,
    where plain http is accepted too), or, only with ``allow_custom_host``, any other https URL.

    Test Connect sends the client secret to the server URL, so a host that is neither Exact's nor
    this machine's (a typo'd domain, a cloud metadata address, an intranet box) must be asked for.
    """
    return _single(lambda: _server_url(value, allow_custom_host))


def check_client_id(value: str, server_url: str | None) -> str:
    """A GUID (lower-cased, hyphenated) on Exact's hosts; any non-empty token elsewhere."""
    return _single(lambda: _client_id(value, server_url))


def check_redirect_uri(value: str | None) -> str:
    """An absolute http(s) URL (http only on loopback); None or blank means the default."""
    return _single(lambda: _redirect_uri(value))


def check_secret(value: str | None) -> str:
    """The client secret as given; ValidationError if missing, too long or with control characters.

    The message never repeats the value.
    """
    return _single(lambda: _secret(value))


def check_webhook_secret(value: str | None) -> str:
    """The app's webhook secret as given (what Exact signs its notifications with); ValidationError
    if empty, too long or with control characters. The message never repeats the value."""
    return _single(lambda: _webhook_secret(value))


def check_fields(
    *,
    name: str,
    server_url: str,
    client_id: str,
    auth_type: str | None = None,
    redirect_uri: str | None = None,
    allow_custom_host: bool = False,
) -> CredentialFields:
    """Every field checked; one ValidationError listing all problems if any field is wrong."""
    problems: list[str] = []

    def run(check: Callable[[], T]) -> T | None:
        try:
            return check()
        except _Problem as problem:
            problems.append(str(problem))
            return None

    checked_name = run(lambda: _name(name))
    checked_type = run(lambda: _auth_type(auth_type))
    checked_url = run(lambda: _server_url(server_url, allow_custom_host))
    checked_id = run(lambda: _client_id(client_id, checked_url))
    checked_redirect = run(lambda: _redirect_uri(redirect_uri))
    if problems:
        raise ValidationError(
            "the credential's values are not valid",
            problems=problems,
            hint="fix the values listed and try again",
        )
    assert checked_name and checked_type and checked_url and checked_id and checked_redirect
    return CredentialFields(checked_name, checked_type, checked_url, checked_id, checked_redirect)
