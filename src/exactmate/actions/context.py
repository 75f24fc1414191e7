"""A connection for the actions: a client for one stored credential, and the store for the journal
and the audit log.

Every action takes an ``ActionContext``. ``open_connection(name)`` builds one from the vault; with no
name it takes the only credential, or the default one, and otherwise says how to choose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from exactmate.client import ExactClient
from exactmate.clock import Clock, SystemClock
from exactmate.config import DEFAULT_TIMEOUT, Settings
from exactmate.errors import VaultError
from exactmate.store import CredentialRow, Store
from exactmate.vault.credential import unknown_credential

SETTLE_MARGIN = 60.0
"""Seconds added to the client's timeout for the settle delay of a create whose answer was lost."""


@dataclass
class ActionContext:
    """What an action needs: the client to call Exact with, the store the create journal and the audit
    log live in, the credential's name (``credential_name``, recorded with each journal and audit
    row) and its server URL (shown in dry runs)."""

    client: ExactClient
    store: Store
    credential_name: str
    server_url: str
    settle_seconds: float = DEFAULT_TIMEOUT + SETTLE_MARGIN
    """How long after a create's lost answer it may still commit at Exact (see ``actions.journal``)."""
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Close what ``open_connection`` opened (a connection built by hand leaves its parts open)."""
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            close()

    def __enter__(self) -> ActionContext:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def pick_credential(store: Store, name: str | None) -> CredentialRow:
    """The credential called ``name``; without a name the only one, or else the default one."""
    if name is not None and name.strip():
        row = store.credential_by_name(name)
        if row is None:
            raise unknown_credential(name, (r.name for r in store.list_credentials()))
        return row
    rows = store.list_credentials()
    if len(rows) == 1:
        return rows[0]
    default = [r for r in rows if r.is_default]
    if default:
        return default[0]
    if not rows:
        raise VaultError(
            "The vault holds no credential yet",
            hint="add one with: exactmate vault add NAME --server-url … --client-id …",
        )
    names = ", ".join(r.name for r in rows)
    raise VaultError(
        f"The vault holds several credentials ({names}) and none is the default",
        hint="pass --credential NAME, or choose a default with: exactmate vault default NAME",
    )


def open_connection(
    credential: str | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ActionContext:
    """A connection for the stored credential ``credential`` (see ``pick_credential``)."""
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    store = Store.from_settings(settings, clock=clock)
    try:
        row = pick_credential(store, credential)
        client = ExactClient.from_credential(
            row.name, settings=settings, store=store, clock=clock, transport=transport
        )
    except BaseException:
        store.close()
        raise
    return ActionContext(
        client=client,
        store=store,
        credential_name=row.name,
        server_url=row.server_url,
        settle_seconds=settings.timeout + SETTLE_MARGIN,
        _closers=[store.close, client.close],
    )
