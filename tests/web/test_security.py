"""Who may use the UI (loopback, or the access token on every request), CSRF on every form, and the
headers that keep the page to its own assets."""

from __future__ import annotations

import ipaddress
import re
import ssl
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import httpx
import pytest
from tests.web.conftest import browser, csrf

from exactmate.clock import FakeClock
from exactmate.config import Settings
from exactmate.errors import ConfigError
from exactmate.web import create_app
from exactmate.web.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    TOKEN_ENV,
    AccessPolicy,
    is_loopback_host,
)
from exactmate.web.server import UiServer

TOKEN = "correct-horse-battery-staple-42"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.20", False),
        ("exactmate.example", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_binding_beyond_loopback_needs_a_long_enough_token() -> None:
    with pytest.raises(ConfigError, match=TOKEN_ENV) as missing:
        AccessPolicy.for_bind("0.0.0.0", env={})
    assert "127.0.0.1" in str(missing.value)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        AccessPolicy.for_bind("0.0.0.0", env={TOKEN_ENV: "short"})
    policy = AccessPolicy.for_bind("0.0.0.0", env={TOKEN_ENV: TOKEN})
    assert policy.fixed and not policy.loopback_only
    assert TOKEN not in repr(policy)
    made = AccessPolicy.for_bind("127.0.0.1", env={})  # loopback: a new token each start
    assert not made.fixed and len(made.token) >= 32 and made.token != AccessPolicy.for_bind("127.0.0.1").token
    assert made.token not in repr(made)


def test_create_app_refuses_a_public_bind_without_a_token(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=TOKEN_ENV):
        create_app(settings, host="0.0.0.0")


def test_loopback_mode_refuses_other_machines_and_foreign_host_names(settings: Settings) -> None:
    app = create_app(settings)
    with browser(app, host="192.168.1.50", signed_in=False) as remote:
        refused = remote.get("/vault")
    assert refused.status_code == 403 and "this machine only" in refused.text
    with browser(app, base_url="http://attacker.example:8400", signed_in=False) as rebound:
        answer = rebound.get("/vault")
    assert answer.status_code == 421  # DNS rebinding: a loopback client, but a foreign Host
    with browser(app, base_url="http://localhost:8400") as local:
        assert local.get("/vault").status_code == 200


def test_every_answer_carries_the_security_headers(ui) -> None:
    for path in ("/vault", "/static/app.css", "/api/endpoints", "/no-such-page"):
        answer = ui.get(path)
        policy = answer.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_a_post_without_the_csrf_token_is_refused(ui) -> None:
    csrf(ui)  # the browser has its cookie
    assert ui.post("/vault/test", data={"name": "x"}).status_code == 403
    assert ui.post("/vault/test", data={"name": "x", "csrf_token": "forged"}).status_code == 403
    wrong = ui.post(
        "/vault/test", data={"name": "x"}, headers={"X-CSRF-Token": "0" * 64, "Accept": "application/json"}
    )
    assert wrong.status_code == 403
    assert "security token" in wrong.json()["error"]


def test_a_token_from_another_browser_or_a_cross_site_post_is_refused(ui) -> None:
    token = csrf(ui)
    with browser(ui.app) as other:
        csrf(other)
        assert other.post("/vault/test", data={"csrf_token": token}).status_code == 403
    cross = ui.post("/vault/test", data={"csrf_token": token}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "another site" in cross.text
    same = ui.post("/vault/test", data={"csrf_token": token}, headers={"Origin": "http://127.0.0.1:8400"})
    assert same.status_code == 400  # past the guard: the form itself is incomplete


def test_every_form_on_every_page_carries_the_csrf_token(ui) -> None:
    token = csrf(ui)
    for path in ("/vault", "/vault/new", "/actions"):
        page = ui.get(path).text
        forms = re.findall(r'<form[^>]*method="post"[^>]*>.*?</form>', page, flags=re.DOTALL)
        for form in forms:
            assert f'name="csrf_token" value="{token}"' in form, (path, form[:200])
        assert f'<meta name="csrf-token" content="{token}">' in page


def test_token_mode_asks_for_the_token_on_every_request(settings: Settings) -> None:
    app = create_app(settings, host="0.0.0.0", ui_token=TOKEN)
    with browser(app, host="10.1.2.3", base_url="http://ui.example:8400", signed_in=False) as remote:
        page = remote.get("/vault", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fvault"
        assert remote.get("/api/endpoints").status_code == 401
        assert remote.get("/api/endpoints", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert remote.get("/api/endpoints", headers={"Authorization": "Bearer nope"}).status_code == 401

        token = csrf(remote, "/login")
        wrong = remote.post("/login", data={"csrf_token": token, "token": "not it", "next": "/vault"})
        assert wrong.status_code == 401 and "not the access token" in wrong.text
        right = remote.post("/login", data={"csrf_token": token, "token": TOKEN, "next": "/vault"})
        assert right.status_code == 303 and right.headers["location"] == "/vault"
        cookie = remote.cookies.get(SESSION_COOKIE)
        assert cookie and TOKEN not in cookie
        assert remote.get("/vault").status_code == 200

        copied = remote.cookies.get(SESSION_COOKIE)
        out = remote.post("/logout", data={"csrf_token": csrf(remote)})
        assert out.status_code == 303
        assert remote.get("/api/endpoints").status_code == 401
    with browser(app, host="10.1.2.3", base_url="http://ui.example:8400", signed_in=False) as thief:
        thief.cookies.set(SESSION_COOKIE, copied or "")
        assert thief.get("/api/endpoints").status_code == 401  # signing out revoked the session itself


def test_on_loopback_too_only_the_owner_gets_in_through_the_one_time_link(settings: Settings) -> None:
    app = create_app(settings)
    link = app.state.ui.sessions.login_path()
    assert link and link.startswith("/login?code=")
    with browser(app, signed_in=False) as other_user:  # another account on this machine
        assert other_user.get("/actions").status_code == 401
        assert other_user.get("/vault", headers={"Accept": "text/html"}).status_code == 303
    with browser(app, signed_in=False) as owner:
        entered = owner.get(link)
        assert entered.status_code == 303 and entered.headers["location"] == "/"
        assert owner.get("/actions").status_code == 200
    with browser(app, signed_in=False) as late:
        again = late.get(link)  # from the browser's history, say
        assert again.status_code == 401 and "used already" in again.text
        assert late.get("/actions").status_code == 401
    assert app.state.ui.sessions.login_path() is None


def test_wrong_tokens_are_throttled(settings: Settings) -> None:
    clock = FakeClock(1_000_000.0)
    app = create_app(settings, host="0.0.0.0", ui_token=TOKEN, clock=clock)
    with browser(app, host="10.1.2.3", base_url="http://ui.example:8400", signed_in=False) as guesser:
        token = csrf(guesser, "/login")
        for _ in range(5):
            wrong = guesser.post("/login", data={"csrf_token": token, "token": "guess-guess-guess"})
            assert wrong.status_code == 401
        held = guesser.post("/login", data={"csrf_token": token, "token": TOKEN})
        assert held.status_code == 429 and "try again in 60 s" in held.text
        clock.advance(61)
        assert guesser.post("/login", data={"csrf_token": token, "token": TOKEN}).status_code == 303


def test_login_never_redirects_off_site(settings: Settings) -> None:
    app = create_app(settings, host="0.0.0.0", ui_token=TOKEN)
    with browser(app, host="10.1.2.3", base_url="http://ui.example:8400", signed_in=False) as remote:
        token = csrf(remote, "/login")
        for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
            answer = remote.post("/login", data={"csrf_token": token, "token": TOKEN, "next": target})
            assert answer.headers["location"] == "/", target


def test_the_csrf_cookie_is_http_only_and_same_site(ui) -> None:
    with browser(ui.app, signed_in=False) as fresh:
        answer = fresh.get("/login")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_no_asset_is_fetched_from_another_site() -> None:
    package = resources.files("exactmate.web")
    texts = [
        p.read_text("utf-8") for folder in ("templates", "static") for p in package.joinpath(folder).iterdir()
    ]
    for text in texts:
        assert not re.search(r'(src|href)="(https?:)?//', text)
        assert "@import" not in text and "url(http" not in text
        assert 'style="' not in text  # the CSP allows no inline styles
        assert "<script>" not in text  # nor inline scripts


def test_a_refused_fetch_gets_a_piece_of_page_to_show_in_place(ui) -> None:
    csrf(ui, "/actions")
    answer = ui.post("/actions/run", data={"action": "get"}, headers={"X-CSRF-Token": "stale"})
    assert answer.status_code == 403
    assert answer.text.startswith('<div class="notice bad" role="alert">') and "<html" not in answer.text


def test_an_unexpected_error_shows_no_traceback(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import exactmate.web.vault_pages as vault_pages

    def broken(*_args: object, **_kwargs: object) -> list[object]:
        raise RuntimeError("internal detail that must not reach the page")

    monkeypatch.setattr(vault_pages, "list_credentials", broken)
    with browser(create_app(settings), raise_server_exceptions=False) as client:
        page = client.get("/vault")
        api = client.get("/api/endpoints", params={"q": "x"})
    assert page.status_code == 500 and "Something went wrong" in page.text
    assert "internal detail" not in page.text and "Traceback" not in page.text
    assert api.status_code == 200  # other routes keep working


def test_a_vault_whose_key_does_not_match_is_explained(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import os

    from exactmate.vault import Vault

    with Vault.open(settings) as vault:
        vault.create(
            vault.new_values("Acme", server_url="http://127.0.0.1:9", client_id="app", client_secret="s3cret")
        )
    other_key = Settings.from_env(master_key=base64.b64encode(os.urandom(32)).decode())
    with browser(create_app(other_key), raise_server_exceptions=False) as client:
        listing = client.get("/vault").text
        match = re.search(r'href="/vault/([0-9a-f-]{36})/edit"', listing)
        assert match, listing
        page = client.post(f"/vault/{match.group(1)}/reauthorize", data={"csrf_token": csrf(client)})
    assert page.status_code == 500 and "exactmate cannot do this" in page.text
    assert "key" in page.text.lower() and "s3cret" not in page.text


def _self_signed(folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files (made here: no network, no openssl)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    loopback = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(loopback, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "ui.crt", folder / "ui.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


def test_the_ui_serves_https_and_its_cookies_are_secure_there(settings: Settings, tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    app = create_app(settings)
    with UiServer(app, port=0, certfile=certfile, keyfile=keyfile) as server:
        assert server.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=certfile)
        with httpx.Client(base_url=server.url, verify=trusted, follow_redirects=False, timeout=10) as https:
            entered = https.get(app.state.ui.sessions.login_path())
            assert entered.status_code == 303
            cookies = entered.headers.get_list("set-cookie")
            assert all("; Secure" in cookie for cookie in cookies) and len(cookies) == 2  # CSRF and session
            assert https.get("/vault").status_code == 200
    with pytest.raises(ConfigError, match="certificate and its key"):
        UiServer(app, port=0, certfile=certfile)


def test_cookies_over_plain_http_on_loopback_are_not_marked_secure(ui) -> None:
    with browser(ui.app, signed_in=False) as fresh:
        entered = fresh.get(ui.app.state.ui.sessions.login_path() or "/login")
    assert all("Secure" not in cookie for cookie in entered.headers.get_list("set-cookie"))
