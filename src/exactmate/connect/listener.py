"""A one-shot local web server that receives the browser's redirect at the end of an OAuth sign-in.

It listens on the redirect URI's loopback host and port, answers the first request to the redirect
URI's path with a small "you can close this tab" page, hands the authorization code (after checking
``state``) to the waiting thread, and stops. Requests are never logged: their query holds the code.
"""

from __future__ import annotations

import html
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from exactmate.auth import parse_redirect
from exactmate.errors import AuthError
from exactmate.vault import is_loopback

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - exactmate</title>
<style>body{{font-family:system-ui,sans-serif;background:#f3f5f8;color:#1b2430}}
main{{max-width:28rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.12)}}</style></head>
<body><main><h1>{title}</h1><p>{message}</p></main></body></html>
"""


def can_listen(redirect_uri: str) -> bool:
    """True when the redirect URI is plain http on this machine, so a local listener can receive it."""
    parts = urlsplit(redirect_uri)
    return parts.scheme.lower() == "http" and is_loopback(parts.hostname)


class _Server(ThreadingHTTPServer):
    """Threads, so that a browser's idle pre-connection cannot hold up the real redirect."""

    daemon_threads = True
    listener: CallbackListener


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10.0  # seconds a connection may stay silent

    def do_GET(self) -> None:
        listener = self.server.listener
        if urlsplit(self.path).path != listener.path:
            self._reply(404, "Not found", "This address is not the sign-in callback.")
            return
        if listener.finished:
            self._reply(410, "Already done", "This sign-in was already received; you can close this tab.")
            return
        try:
            code = parse_redirect(listener.base + self.path, listener.state)
        except AuthError as exc:
            listener.finish(error=exc)
            self._reply(400, "Sign-in failed", f"{exc} Return to the terminal for details.")
            return
        listener.finish(code=code)
        self._reply(200, "Signed in", "exactmate received the sign-in. You can close this tab.")

    def _reply(self, status: int, title: str, message: str) -> None:
        body = _PAGE.format(title=html.escape(title), message=html.escape(message)).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line carries the authorization code."""


class CallbackListener:
    """Receives one redirect on ``redirect_uri`` (http on loopback); ``wait`` returns its code.

    ``with CallbackListener(uri, state) as listener: ...open the browser...; code = listener.wait(300)``
    """

    def __init__(self, redirect_uri: str, state: str) -> None:
        parts = urlsplit(redirect_uri)
        if not can_listen(redirect_uri) or parts.hostname is None:
            raise AuthError(
                f"cannot receive the sign-in on {redirect_uri}: only http addresses on this machine can be "
                "listened on",
                hint="use --no-browser and paste the address the browser ends on",
            )
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.base = f"http://{parts.netloc}"
        self.state = state
        self._done = threading.Event()
        self._code: str | None = None
        self._error: AuthError | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def finish(self, *, code: str | None = None, error: AuthError | None = None) -> None:
        """Called by the request handler with the code or the reason the sign-in failed."""
        if self._done.is_set():
            return
        self._code, self._error = code, error
        self._done.set()

    def start(self) -> CallbackListener:
        """Bind the port and serve on a background thread; AuthError if the port is taken."""
        server_class = _Server6 if ":" in self.host else _Server
        try:
            server = server_class((self.host, self.port), _Handler)
        except OSError as exc:
            raise AuthError(
                f"cannot listen on {self.host}:{self.port} for the sign-in's redirect: {exc.strerror}",
                hint="stop what uses that port (the exactmate web UI?), or use --no-browser and paste "
                "the address the browser ends on",
            ) from None
        server.listener = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="oauth-callback", daemon=True
        )
        self._thread.start()
        return self

    def wait(self, timeout: float) -> str:
        """The authorization code; AuthError if the sign-in failed or did not arrive in time."""
        if not self._done.wait(timeout):
            raise AuthError(
                f"no sign-in arrived at {self.base}{self.path} within {timeout:.0f} seconds",
                hint="try again; if the browser cannot reach this machine, use --no-browser",
            )
        if self._error is not None:
            raise self._error
        assert self._code is not None
        return self._code

    def close(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CallbackListener:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
