"""The two operations most callers need, as functions that open the vault themselves when not given one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from exactmate.clock import Clock
from exactmate.config import Settings
from exactmate.connect.connector import Connector
from exactmate.connect.consent import Consent
from exactmate.connect.result import ConnectCheck, SaveResult
from exactmate.vault import Vault


@contextmanager
def _connector(
    vault: Vault | None,
    settings: Settings | None,
    consent: Consent | None,
    clock: Clock | None,
    transport: httpx.BaseTransport | None,
) -> Iterator[Connector]:
    settings = settings or Settings.from_env()
    opened = vault is None
    active = vault or Vault.open(settings, clock=clock)
    try:
        yield Connector(active, settings=settings, consent=consent, clock=clock, transport=transport)
    finally:
        if opened:
            active.close()


def run_test_connect(
    name: str,
    *,
    division: int | None = None,
    vault: Vault | None = None,
    settings: Settings | None = None,
    consent: Consent | None = None,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ConnectCheck:
    """Test Connect of the stored credential ``name`` (see :meth:`Connector.test`)."""
    with _connector(vault, settings, consent, clock, transport) as connector:
        return connector.test(name, division=division)


def connect_and_create(
    name: str,
    *,
    server_url: str,
    client_id: str,
    client_secret: str,
    auth_type: str | None = None,
    redirect_uri: str | None = None,
    make_default: bool | None = None,
    skip_test: bool = False,
    division: int | None = None,
    vault: Vault | None = None,
    settings: Settings | None = None,
    consent: Consent | None = None,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
) -> SaveResult:
    """Connect & Create (see :meth:`Connector.create`)."""
    with _connector(vault, settings, consent, clock, transport) as connector:
        values = connector.vault.new_values(
            name,
            server_url=server_url,
            client_id=client_id,
            client_secret=client_secret,
            auth_type=auth_type,
            redirect_uri=redirect_uri,
        )
        return connector.create(values, make_default=make_default, skip_test=skip_test, division=division)
