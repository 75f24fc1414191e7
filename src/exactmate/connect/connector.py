"""Test Connect, connect, disconnect, Connect & Create and edit: the vault's operations that talk to Exact.

A credential is saved only after a successful test of exactly the values being saved, together with
the tokens that test obtained (``skip_test`` saves untested and says what it skipped). Testing a
stored credential obtains tokens first when it has none, which is where the user signs in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import httpx

from exactmate.auth import OAuthApp, TokenManager, TokenSet, exchange_code, exchange_refresh_token
from exactmate.catalogue import Catalogue
from exactmate.client import ExactClient
from exactmate.clock import Clock, SystemClock
from exactmate.config import Settings
from exactmate.connect.consent import Consent, TerminalConsent
from exactmate.connect.diagnosis import Diagnosis, diagnose, probe_authorization
from exactmate.connect.inspection import DIVISIONS_ENDPOINT, HeaderWatch, Probe, inspect
from exactmate.connect.result import Cause, ConnectCheck, SaveResult
from exactmate.connect.tokens import MemoryTokens
from exactmate.errors import (
    ConfigError,
    ExactmateError,
    SecretBoxError,
    StoreError,
    ValidationError,
    VaultError,
    connect_command,
)
from exactmate.governor import Governor
from exactmate.http import TokenSource
from exactmate.store import new_id
from exactmate.vault import (
    Credential,
    CredentialEdit,
    CredentialFields,
    LastTest,
    NewCredential,
    Vault,
)

LOCAL_ERRORS = (ConfigError, ValidationError, VaultError, SecretBoxError, StoreError)
"""Problems on this machine, not with the connection: raised, never turned into a diagnosis."""

SKIPPED_NOTE = (
    "Saved without Test Connect (--skip-test): nobody signed in, no tokens were obtained, and the "
    "server URL, client ID, client secret and redirect URI were not checked against Exact. "
    "Sign in with: {command}"
)


@dataclass(frozen=True)
class _Target:
    """What one test is about: the app, its authentication type, and the credential (if stored)."""

    app: OAuthApp
    auth_type: str
    name: str
    credential_id: str
    stored: bool


class Connector:
    """The vault's operations that need Exact: test, connect, disconnect, create, edit."""

    def __init__(
        self,
        vault: Vault,
        *,
        settings: Settings | None = None,
        consent: Consent | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.vault = vault
        self.settings = settings or Settings.from_env()
        self.consent: Consent = consent or TerminalConsent()
        self.clock: Clock = clock or SystemClock()
        self._transport = transport
        self._catalogue = catalogue

    # -- stored credentials ------------------------------------------------------------------------

    def test(self, name: str, *, division: int | None = None) -> ConnectCheck:
        """Test Connect of a stored credential, signing in first if it has no usable tokens.

        ``division``: also check access to this division (default: the current one). The outcome is
        kept with the credential.
        """
        credential = self.vault.get(name)
        fresh = not credential.has_tokens or credential.status == "needs_reauthorization"
        return self._test_stored(credential, division, fresh)

    def connect(self, name: str, *, division: int | None = None) -> ConnectCheck:
        """Sign in again (always), store the new tokens, then test."""
        return self._test_stored(self.vault.get(name), division, fresh=True)

    def disconnect(self, name: str) -> Credential:
        """Forget the credential's tokens (under its refresh lock); the credential stays."""
        credential = self.vault.get(name)
        with self._refresh_lock(credential.id):
            return self.vault.forget_tokens(credential.name)

    # -- new values --------------------------------------------------------------------------------

    def create(
        self,
        values: NewCredential,
        *,
        make_default: bool | None = None,
        skip_test: bool = False,
        division: int | None = None,
    ) -> SaveResult:
        """Connect & Create: test these checked values (signing in), and save them only on success.

        ``values`` come from ``Vault.new_values`` or the web form; they are not checked again.
        """
        self.vault.check_key()
        if skip_test:
            saved = self.vault.create(values, make_default=make_default)
            return SaveResult(True, saved, None, SKIPPED_NOTE.format(command=connect_command(saved.name)))
        cid = new_id()
        result, tokens = self.check_candidate(values.fields, values.secret, cid, division)
        if not result.ok:
            return SaveResult(False, None, result, "Nothing was saved: Test Connect failed.")
        saved = self.vault.create(
            values, make_default=make_default, tokens=tokens, last_test=_last(result), credential_id=cid
        )
        self.vault.remember_divisions(saved, result.divisions)
        return SaveResult(True, saved, result, "Saved after a successful Test Connect.")

    def edit(
        self, change: CredentialEdit, *, skip_test: bool = False, division: int | None = None
    ) -> SaveResult:
        """Make a checked change (``Vault.plan_edit``); new connection values are tested (an unchanged
        secret with the stored one) and saved, with the test's tokens, only on success. A change
        that keeps the connection (a rename) needs no test and keeps the tokens."""
        current = change.current
        if not change.reconnects or skip_test:
            saved = self.vault.apply_edit(change)
            note = (
                SKIPPED_NOTE.format(command=connect_command(saved.name))
                if change.reconnects
                else "Saved (no connection value changed)."
            )
            return SaveResult(True, saved, None, note)
        self.vault.check_key()
        test_secret = change.secret if change.secret is not None else self.vault.client_secret(current)
        result, tokens = self.check_candidate(change.fields, test_secret, current.id, division)
        if not result.ok:
            return SaveResult(False, current, result, "Nothing was changed: Test Connect failed.")
        saved = self.vault.apply_edit(change, tokens=tokens, last_test=_last(result))
        self.vault.remember_divisions(saved, result.divisions)
        return SaveResult(True, saved, result, "Saved after a successful Test Connect.")

    # -- internals ---------------------------------------------------------------------------------

    def _test_stored(self, credential: Credential, division: int | None, fresh: bool) -> ConnectCheck:
        target = _Target(
            app=self._app(credential, self.vault.client_secret(credential)),
            auth_type=credential.auth_type,
            name=credential.name,
            credential_id=credential.id,
            stored=True,
        )
        with self._http() as http:
            result, _tokens = self._run(target, http, division, fresh=fresh)
        self.vault.record_test(credential.name, _last(result))
        if result.ok:
            self.vault.remember_divisions(credential, result.divisions)
        return result

    def check_candidate(
        self, fields: CredentialFields, secret: str, credential_id: str, division: int | None
    ) -> tuple[ConnectCheck, TokenSet | None]:
        """Test Connect of values not saved yet (``credential_id`` is the id they will be saved
        under), returning the tokens the test obtained so Connect & Create can keep them."""
        target = _Target(
            app=self._app(fields, secret),
            auth_type=fields.auth_type,
            name=fields.name,
            credential_id=credential_id,
            stored=False,
        )
        with self._http() as http:
            return self._run(target, http, division, fresh=True)

    def _run(
        self, target: _Target, http: httpx.Client, division: int | None, *, fresh: bool
    ) -> tuple[ConnectCheck, TokenSet | None]:
        """Probe the sign-in page, sign in when ``fresh``, then inspect; a diagnosis on failure."""
        check_redirect = target.auth_type == "oauth2-code"
        problem = probe_authorization(target.app, http, check_redirect=check_redirect)
        warnings: tuple[str, ...] = ()
        if problem is not None:
            if fresh or problem.cause != Cause.REDIRECT_URI_NOT_REGISTERED:
                return self._failed(problem), None
            warnings = (problem.summary,)  # tokens still work; the next sign-in will not
        tokens: TokenSet | None = None
        signing_in = fresh
        try:
            if fresh:
                tokens = self._sign_in(target, http)
            signing_in = False
            result = self._inspect(target, http, tokens, division)
        except LOCAL_ERRORS:
            raise
        except ExactmateError as exc:
            scope = self._catalogue_().endpoint(DIVISIONS_ENDPOINT).scope
            found = diagnose(
                exc,
                target.app,
                http,
                credential=target.name,
                division=division,
                scope_needed=scope,
                signing_in=signing_in,
            )
            return self._failed(found), tokens
        return _with_warnings(result, warnings), tokens

    def _sign_in(self, target: _Target, http: httpx.Client) -> TokenSet:
        """New tokens from the user's consent (or a given refresh token); stored at once when the
        credential is, under its refresh lock so no concurrent refresh can overwrite them."""
        if target.auth_type == "refresh-token":
            given = self.consent.refresh_token(target.name)
            tokens = exchange_refresh_token(target.app, given, http, self.clock)
        else:
            code = self.consent.authorization_code(target.app)
            tokens = exchange_code(target.app, code, http, self.clock)
        if target.stored:
            with self._refresh_lock(target.credential_id):
                self.vault.save_tokens(target.name, tokens)
        return tokens

    def _inspect(
        self, target: _Target, http: httpx.Client, tokens: TokenSet | None, division: int | None
    ) -> ConnectCheck:
        source: TokenSource
        if target.stored:
            source = TokenManager(
                tokens=self.vault.tokens_of(target.credential_id), app=target.app, http=http, clock=self.clock
            )
        else:
            assert tokens is not None
            source = MemoryTokens(tokens)
        watch = HeaderWatch(Governor(self.vault.store, self.clock))
        client = ExactClient(
            server_url=target.app.server_url,
            client_id=target.app.client_id,
            tokens=source,
            credential_id=target.credential_id,
            governor=watch,
            clock=self.clock,
            http_client=http,
            catalogue=self._catalogue_(),
            settings=self.settings,
        )

        def issued() -> float | None:  # read after the calls: a refresh may have rotated the tokens
            if target.stored:
                return self.vault.get(target.name).tokens_issued_at
            return tokens.issued_at if tokens is not None else None

        with client:
            return inspect(client, watch, Probe(division, issued, self.clock))

    def _failed(self, found: Diagnosis) -> ConnectCheck:
        return ConnectCheck(
            ok=False, summary=found.summary, cause=found.cause, hint=found.hint, tested_at=self.clock.now()
        )

    def _app(self, values: Credential | CredentialFields, secret: str) -> OAuthApp:
        return OAuthApp(
            server_url=values.server_url,
            client_id=values.client_id,
            client_secret=secret,
            redirect_uri=values.redirect_uri,
        )

    @contextmanager
    def _http(self) -> Iterator[httpx.Client]:
        with httpx.Client(
            transport=self._transport, timeout=self.settings.timeout, follow_redirects=False
        ) as http:
            yield http

    @contextmanager
    def _refresh_lock(self, credential_id: str) -> Iterator[None]:
        """The lock ``exactmate.auth.TokenManager`` refreshes under."""
        with self.vault.tokens_of(credential_id).lock():
            yield

    def _catalogue_(self) -> Catalogue:
        if self._catalogue is None:
            self._catalogue = Catalogue.load()
        return self._catalogue


def _last(result: ConnectCheck) -> LastTest:
    return LastTest(ok=result.ok, message=result.summary, at=result.tested_at or 0.0)


def _with_warnings(result: ConnectCheck, warnings: tuple[str, ...]) -> ConnectCheck:
    return replace(result, warnings=result.warnings + warnings) if warnings else result
