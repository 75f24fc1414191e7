"""Serving the web UI with uvicorn: in the foreground (``exactmate ui``, ``exactmate demo --ui``) or on
a background thread (tests, and callers that run something else meanwhile).

The listening socket is bound here, before uvicorn starts, so a port already in use is a clear
``ConfigError`` rather than a log line and an exit from inside uvicorn.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from exactmate import browser
from exactmate.config import Settings
from exactmate.errors import ConfigError
from exactmate.web.app import create_app
from exactmate.web.security import is_loopback_host

log = logging.getLogger("exactmate.web")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8400


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use (another exactmate ui?)",
                hint="stop the other program, or pass --port with a free port (the redirect URI "
                "registered in Exact's App Center must then use that port too)",
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def browser_url(host: str, port: int, *, tls: bool = False) -> str:
    """The address to open: a wildcard bind is opened through loopback."""
    shown = DEFAULT_HOST if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


class UiServer:
    """The UI under uvicorn on an already bound socket. ``start()`` runs it on a thread; ``run()``
    in the foreground until Ctrl+C."""

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        log_level: str = "warning",
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        """``certfile`` / ``keyfile`` (PEM): serve https, as a UI reachable from other machines must."""
        if (certfile is None) != (keyfile is None):
            raise ConfigError("https needs a certificate and its key", hint="pass --certfile and --keyfile")
        for path in (certfile, keyfile):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"No such file: {path}", hint="check --certfile and --keyfile")
        self.host = host
        self.tls = certfile is not None
        self._socket = bind(host, port)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            lifespan="off",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return browser_url(self.host, self.port, tls=self.tls)

    def run(self, on_started: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until interrupted; ``on_started(url)`` once the server accepts calls."""
        if on_started is not None:
            threading.Thread(target=self._when_started, args=(on_started,), daemon=True).start()
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def start(self, timeout: float = 10.0) -> UiServer:
        """Serve on a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.run, name="exactmate-ui", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the web UI did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> UiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _when_started(self, callback: Callable[[str], None], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._server.started:
            callback(self.url)


def serve_ui(
    settings: Settings | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    *,
    ui_token: str | None = None,
    announce: Callable[[str, str], None] | None = None,
    log_level: str = "warning",
    certfile: str | None = None,
    keyfile: str | None = None,
) -> None:
    """Serve the UI in the foreground until Ctrl+C (``exactmate ui``; ``exactmate demo --ui``).

    ``announce(url, sign_in)`` is called once the UI answers, with its address and the one-time
    sign-in link (e.g. to print them); with ``open_browser`` the sign-in link is then opened in the
    user's browser, which signs it in. Binding to a non-loopback ``host`` needs ``ui_token`` or
    ``EXACTMATE_UI_TOKEN`` (``ConfigError`` otherwise).
    """
    app = create_app(settings, host=host, ui_token=ui_token)
    server = UiServer(app, host=host, port=port, log_level=log_level, certfile=certfile, keyfile=keyfile)
    if not is_loopback_host(host):
        log.warning("the web UI listens on %s: reachable from other machines, token required", host)
        if not server.tls:
            log.warning(
                "the web UI on %s is plain http: the access token and session cross the network readable; "
                "serve it with --certfile/--keyfile or behind a TLS reverse proxy (docs/deploy.md)",
                host,
            )

    def started(url: str) -> None:
        sign_in = url.rstrip("/") + (app.state.ui.sessions.login_path() or "/login")
        if announce is not None:
            announce(url, sign_in)
        if open_browser:
            browser.open_browser(sign_in)

    try:
        server.run(on_started=started)
    finally:
        app.state.ui.uploads.close()  # a booking in progress finishes; uploaded files are removed
        app.state.ui.flow_starts.close()  # a run in progress is handed back (see web/flow_starts.py)
