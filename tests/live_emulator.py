"""The emulator served for real on a free 127.0.0.1 port, and a user's browser for its consent page.

```python
with serve_emulator(EmulatorConfig(client_secret="s3")) as (base_url, emulator):
    location = consent(authorization_url)      # GET the page, POST the sign-in form, 302 Location
```
"""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from exactmate.emulator.clock import TimeSource
from exactmate.emulator.config import DEMO_PASSWORD, DEMO_USERNAME, EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.server import BackgroundServer

_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE | re.DOTALL)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Live:
    """One emulator served on a real port."""

    base_url: str
    emulator: Emulator
    config: EmulatorConfig

    def stats(self) -> dict[str, Any]:
        return self.emulator.stats.snapshot()


def free_port() -> int:
    """A port nothing listens on right now (bound once by the OS, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_emulator(
    config: EmulatorConfig | None = None, *, clock: TimeSource | None = None
) -> Iterator[tuple[str, Emulator]]:
    """uvicorn on a thread serving a fresh ``Emulator`` on a free 127.0.0.1 port.

    Yields the base URL and the emulator (for its stats, faults and OAuth state).
    """
    config = replace(config or EmulatorConfig(), host="127.0.0.1", port=0)
    emulator = Emulator(config, clock)
    try:
        with BackgroundServer(config, emulator=emulator) as server:
            yield server.base_url, emulator
    finally:
        emulator.close()


def form_fields(page: str) -> list[tuple[str, str]]:
    """The hidden inputs and ticked checkboxes of the page's form, as a browser would submit them."""
    fields: list[tuple[str, str]] = []
    for tag in _INPUT.findall(page):
        attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
        kind = attrs.get("type", "text").lower()
        if "name" not in attrs:
            continue
        if kind == "hidden" or (kind == "checkbox" and re.search(r"\bchecked\b", tag)):
            fields.append((attrs["name"], attrs.get("value", "")))
    return fields


def consent(
    authorization_url: str,
    *,
    divisions: Iterable[int] | None = None,
    action: str = "approve",
    username: str = DEMO_USERNAME,
    password: str = DEMO_PASSWORD,
) -> str:
    """Do what a user does on the consent page: open it, sign in, (un)tick divisions, press Allow or
    Deny. Returns the ``Location`` the browser is sent to; AssertionError if the page refuses."""
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        page = client.get(authorization_url)
        if page.status_code != 200 or "<form" not in page.text:
            raise AssertionError(f"consent page: {page.status_code} {page.text[:500]}")
        fields = form_fields(page.text)
        if divisions is not None:
            fields = [(k, v) for k, v in fields if k != "division"] + [
                ("division", str(d)) for d in divisions
            ]
        fields += [("username", username), ("password", password), ("action", action)]
        form_url = str(page.url.join("/api/oauth2/auth"))
        answer = client.post(form_url, data=_multi(fields))
    if answer.status_code != 302:
        raise AssertionError(f"consent form: {answer.status_code} {answer.text[:500]}")
    return answer.headers["location"]


def _multi(fields: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields:
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


@dataclass
class Browser:
    """A stand-in for ``webbrowser.open``: signs in on the consent page, then follows the redirect
    (to a local callback listener, as a real browser would)."""

    divisions: Iterable[int] | None = None
    action: str = "approve"
    opened: list[str] = field(default_factory=list)
    landed: list[httpx.Response] = field(default_factory=list)

    def __call__(self, url: str, *_args: Any, **_kwargs: Any) -> bool:
        self.opened.append(url)
        location = consent(url, divisions=self.divisions, action=self.action)
        self.landed.append(httpx.get(location, timeout=10))
        return True
