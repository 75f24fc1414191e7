"""The process's TLS context (``exactmate.tls``): httpx's default, made once, ahead of need in a thread
when prepared, and used by every client built without a transport of its own."""

from __future__ import annotations

import ssl
import threading

import httpx
import pytest

from exactmate import tls
from exactmate.http import HttpPolicy
from tests.loaded_modules import loaded_after


class _Tokens:
    def access_token(self) -> str:
        return "token"

    def refresh_after_401(self, rejected: str) -> str:
        return "token"


def test_the_context_verifies_as_httpxs_default_and_is_made_once() -> None:
    made = tls.context()
    assert isinstance(made, ssl.SSLContext)
    assert made.verify_mode is ssl.CERT_REQUIRED and made.check_hostname
    assert made.cert_store_stats()["x509_ca"] > 0  # the CA certificates are loaded
    tls.prepare()  # once made, preparing again changes nothing
    assert tls.context() is made


def test_a_client_without_a_transport_of_its_own_uses_it() -> None:
    policy = HttpPolicy(tokens=_Tokens())
    try:
        pool = policy._client._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context is tls.context()
    finally:
        policy.close()


def test_prepared_it_is_made_in_a_thread_and_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    makers: list[str] = []
    real = httpx.create_ssl_context

    def slow() -> ssl.SSLContext:
        makers.append(threading.current_thread().name)
        release.wait(timeout=30)
        return real()

    monkeypatch.setattr(httpx, "create_ssl_context", slow)
    context = tls._Context()
    context.prepare()
    context.prepare()
    got: list[ssl.SSLContext] = []
    asker = threading.Thread(target=lambda: got.append(context.get()))
    asker.start()
    assert got == [] and not context._done.is_set()  # the asker waits for the thread that makes it
    release.set()
    asker.join(timeout=30)
    assert makers == ["exactmate-tls"] and len(got) == 1 and context.get() is got[0]


def test_an_error_making_it_is_raised_where_it_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> ssl.SSLContext:
        raise FileNotFoundError("SSL_CERT_FILE names no file")

    monkeypatch.setattr(httpx, "create_ssl_context", broken)
    context = tls._Context()
    context.prepare()
    for _ in range(2):
        with pytest.raises(FileNotFoundError, match="SSL_CERT_FILE"):
            context.get()


def test_preparing_it_loads_neither_the_store_nor_sqlalchemy() -> None:
    script = "from exactmate import tls\ntls.prepare()\ntls.context()\n"
    names = ["exactmate.tls", "sqlalchemy", "exactmate.store", "exactmate.http"]
    assert loaded_after(script, names) == ["exactmate.tls"]
