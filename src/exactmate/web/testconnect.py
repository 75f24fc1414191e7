"""Test Connect for the page, over :mod:`exactmate.connect`.

In a terminal the sign-in and the test happen in one call. In the browser they are split in two:
first the sign-in page is probed (so a wrong country host or an unregistered redirect URI is named
at once, instead of leaving the user on Exact's error page) and the browser is sent to sign in;
then, when Exact redirects to ``/oauth/callback`` with a code, that code is handed to the same
``Connector`` the command line uses (as a :class:`~exactmate.connect.GivenConsent`), which exchanges
it, calls ``current/Me`` and the divisions, and names the cause of any failure.
"""

from __future__ import annotations

import httpx

from exactmate.auth import OAuthApp, TokenSet
from exactmate.connect import ConnectCheck, Connector, Consent, probe_authorization
from exactmate.vault import CredentialFields, Vault
from exactmate.web.context import UiContext
from exactmate.web.pending_tests import CandidateValues


def connector(context: UiContext, vault: Vault, consent: Consent | None = None) -> Connector:
    """The library's ``Connector`` with this app's settings, clock and transport."""
    return Connector(
        vault,
        settings=context.settings,
        consent=consent,
        clock=context.clock,
        transport=context.transport,
        catalogue=context.catalogue,
    )


def oauth_app(values: CandidateValues) -> OAuthApp:
    """The app registration the values describe (the secret stays inside, hidden from repr)."""
    return OAuthApp(
        server_url=values.server_url,
        client_id=values.client_id,
        client_secret=values.secret,
        redirect_uri=values.redirect_uri,
    )


def probe(context: UiContext, values: CandidateValues) -> ConnectCheck | None:
    """A failed result when Exact's sign-in page would refuse these values, else None (no API call)."""
    with httpx.Client(
        transport=context.transport, timeout=context.settings.timeout, follow_redirects=False
    ) as http:
        found = probe_authorization(oauth_app(values), http, check_redirect=values.auth_type == "oauth2-code")
    if found is None:
        return None
    return ConnectCheck(
        ok=False, summary=found.summary, cause=found.cause, hint=found.hint, tested_at=context.clock.now()
    )


def check_candidate(
    context: UiContext, vault: Vault, values: CandidateValues, consent: Consent, candidate_id: str
) -> tuple[ConnectCheck, TokenSet | None]:
    """Test values that are not saved yet, signing in through ``consent``; the result and the tokens
    the sign-in obtained (kept for Connect & Create, which must save the very tokens its test
    obtained: a second sign-in would be needed otherwise). Nothing is stored.
    """
    fields = CredentialFields(
        name=values.name,
        auth_type=values.auth_type,
        server_url=values.server_url,
        client_id=values.client_id,
        redirect_uri=values.redirect_uri,
    )
    return connector(context, vault, consent).check_candidate(fields, values.secret, candidate_id, None)
