"""The vault as the pages use it: opened per request, and the labels the forms show.

A vault is opened for each request and closed with it (a few milliseconds on SQLite): no database
connection outlives a request, so the UI and the command line can share one database file safely.
"""

from __future__ import annotations

from exactmate.vault import EXACT_HOSTS, STATUS_LABELS, Credential, Vault
from exactmate.web.context import UiContext

__all__ = ["AUTH_LABELS", "HOST_LABELS", "STATUS_LABELS", "list_credentials", "open_vault"]

AUTH_LABELS: dict[str, str] = {
    "oauth2-code": "OAuth 2.0 (Authorization Code)",
    "refresh-token": "OAuth 2.0 (existing refresh token)",
}

_COUNTRIES = {
    "nl": "Netherlands",
    "be": "Belgium",
    "de": "Germany",
    "uk": "United Kingdom",
    "us": "United States / international",
    "es": "Spain",
    "fr": "France",
}
HOST_LABELS: list[tuple[str, str]] = [
    (url, _COUNTRIES.get(short, short)) for short, url in EXACT_HOSTS.items()
]
"""Exact Online's country hosts as (URL, country), in the order the Server URL list shows them."""


def open_vault(context: UiContext) -> Vault:
    """The vault of the app's settings; use it in a ``with`` block."""
    return Vault.open(context.settings, clock=context.clock)


def list_credentials(context: UiContext, search: str | None = None) -> list[Credential]:
    """Every credential (or those matching ``search``), nothing decrypted."""
    with open_vault(context) as vault:
        return vault.list(search)
