"""The TLS context of exactmate's HTTPS calls: made once per process, and ahead of need.

httpx's default context (certifi's CA certificates, or those ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
name) takes 17 ms to make, nearly all of it OpenSSL reading the certificates with the interpreter's
lock released. ``prepare()`` has a thread make it, so a command about to call Exact gets it while
its own start-up goes on (importing SQLAlchemy, opening the store: the other CPU's time, not the
command's); ``context()`` waits for it, or makes it when nothing prepared it. Clients built without
a transport of their own use it (``http.StatelessClient``'s callers): one ``ssl.SSLContext`` serves
every connection and thread of the process, as OpenSSL allows.
"""

from __future__ import annotations

import ssl
import threading

import httpx


class _Context:
    """The process's TLS context, being made or made (or the error making it raised)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started = False
        self._made: ssl.SSLContext | None = None
        self._failed: BaseException | None = None

    def prepare(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._make, name="exactmate-tls", daemon=True).start()

    def get(self) -> ssl.SSLContext:
        with self._lock:
            here = not self._started
            self._started = True
        if here:
            self._make()
        self._done.wait()
        if self._failed is not None:
            raise self._failed
        assert self._made is not None
        return self._made

    def _make(self) -> None:
        try:
            self._made = httpx.create_ssl_context()
        except BaseException as exc:  # raised where the context is asked for, as httpx would
            self._failed = exc
        finally:
            self._done.set()


_PROCESS = _Context()


def prepare() -> None:
    """Start making the TLS context in a thread (once per process; later calls do nothing)."""
    _PROCESS.prepare()


def context() -> ssl.SSLContext:
    """The TLS context (httpx's default): waits while ``prepare`` makes it, else makes it now."""
    return _PROCESS.get()


__all__ = ["context", "prepare"]
