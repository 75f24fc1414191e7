"""How the user's consent reaches exactmate: an authorization code, or an existing refresh token.

:class:`TerminalConsent` is the command line's: it opens the browser on Exact's sign-in page and takes
the redirect on a local listener, or (``no_browser``, or a redirect URI that cannot be listened on)
prints the sign-in address on a line by itself and reads the address the browser ended on, pasted
on standard input. :class:`GivenConsent` serves callers that obtained the code some other way (the
web UI's own callback route).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from exactmate import browser
from exactmate.auth import OAuthApp, authorization_url, new_state, parse_redirect
from exactmate.connect.listener import CallbackListener, can_listen
from exactmate.errors import AuthError


class Consent(Protocol):
    """Where an authorization code or a refresh token comes from."""

    def authorization_code(self, app: OAuthApp) -> str:
        """Have the user sign in and approve ``app``; the authorization code Exact redirected with."""
        ...

    def refresh_token(self, credential: str) -> str:
        """An existing refresh token for ``credential`` (authentication type ``refresh-token``)."""
        ...


def _stdout(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _open_browser(url: str) -> bool:
    """``browser.open_browser``, looked up when called (so it can be replaced, e.g. in tests)."""
    return browser.open_browser(url)


def _read_line() -> str:
    return sys.stdin.readline()


def _read_hidden(prompt: str) -> str:
    """A hidden prompt on a terminal; a plain line when standard input is a pipe or file."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline()


@dataclass
class TerminalConsent:
    """Consent at a terminal. Every way of talking to the user is injectable, for tests."""

    no_browser: bool = False
    timeout: float = 300.0
    open_browser: Callable[[str], bool] = field(default=_open_browser)
    read_line: Callable[[], str] = field(default=_read_line)
    read_hidden: Callable[[str], str] = field(default=_read_hidden)
    show_url: Callable[[str], None] = field(default=_stdout)
    say: Callable[[str], None] = field(default=_stderr)

    def authorization_code(self, app: OAuthApp) -> str:
        """The sign-in in a browser, answered through the listener or by pasting."""
        state = new_state()
        url = authorization_url(app, state)
        if self.no_browser:
            return self._pasted(app, url, state)
        if not can_listen(app.redirect_uri):
            self.say(
                f"The redirect URI {app.redirect_uri} is not on this machine, so exactmate cannot "
                "receive the sign-in itself."
            )
            return self._pasted(app, url, state, open_it=True)
        with CallbackListener(app.redirect_uri, state) as listener:
            self.say("Sign in to Exact Online in the browser and allow access. If no browser opens, open:")
            self.show_url(url)
            self._open(url)
            self.say(f"Waiting for the sign-in to come back to {app.redirect_uri} ...")
            return listener.wait(self.timeout)

    def refresh_token(self, credential: str) -> str:
        """One line from standard input (hidden on a terminal)."""
        token = self.read_hidden(f"Refresh token for {credential}: ").strip()
        if not token:
            raise AuthError(
                f"no refresh token was given for {credential!r}",
                hint="pass an existing refresh token on standard input, e.g. "
                "exactmate vault connect NAME < refresh-token.txt",
            )
        return token

    def _pasted(self, app: OAuthApp, url: str, state: str, *, open_it: bool = False) -> str:
        self.say("Open this address in a browser, sign in to Exact Online and allow access:")
        self.show_url(url)
        if open_it:
            self._open(url)
        self.say(
            f"Then paste here the whole address the browser was sent to (it starts with {app.redirect_uri}):"
        )
        pasted = self.read_line().strip()
        if not pasted:
            raise AuthError(
                "no address was pasted",
                hint="paste the full address of the page the browser ended on after allowing access",
            )
        return parse_redirect(pasted, state)

    def _open(self, url: str) -> None:
        try:
            opened = self.open_browser(url)
        except Exception:  # webbrowser may fail in many platform-specific ways; the URL is shown anyway
            opened = False
        if not opened:
            self.say("(No browser could be opened: open the address above yourself.)")


@dataclass(frozen=True)
class GivenConsent:
    """A code or refresh token the caller already has (e.g. from the web UI's callback route)."""

    code: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def authorization_code(self, app: OAuthApp) -> str:
        if not self.code:
            raise AuthError("no authorization code was given", hint="sign in again")
        return self.code

    def refresh_token(self, credential: str) -> str:
        if not self.token:
            raise AuthError(f"no refresh token was given for {credential!r}")
        return self.token
