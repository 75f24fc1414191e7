"""What every route of one web app shares: settings, clock, catalogue, and the app's in-memory state.

One :class:`UiContext` lives on ``app.state.ui``, the app's only state attribute. Nothing in it is
global to the process, so tests can run several apps side by side, each with its own
``EXACTMATE_HOME``, clock and transport.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import httpx
from starlette.requests import Request

from exactmate.catalogue import Catalogue
from exactmate.clock import Clock
from exactmate.config import Settings
from exactmate.store import Store
from exactmate.web.security import AccessPolicy, Sessions, Signer

if TYPE_CHECKING:  # their modules read the context through ui(), so they are built by create_app
    from exactmate.web.flow_starts import FlowStarts
    from exactmate.web.lookups import DivisionCache
    from exactmate.web.pending_tests import PendingTests
    from exactmate.web.results import ResultStore
    from exactmate.web.uploads import Uploads

Level = Literal["ok", "warn", "bad"]


class Flashes:
    """One-time notices shown on the next page a browser opens (after a POST-redirect-GET).

    Kept in memory per browser (keyed by its CSRF cookie seed), never in the URL, so nobody can
    craft a link that makes the page say something it did not.
    """

    def __init__(self, max_browsers: int = 200) -> None:
        self._notes: OrderedDict[str, list[tuple[Level, str]]] = OrderedDict()
        self._max = max_browsers
        self._lock = threading.Lock()

    def add(self, request: Request, level: Level, text: str) -> None:
        seed = str(request.scope["state"]["csrf_seed"])
        with self._lock:
            self._notes.setdefault(seed, []).append((level, text))
            self._notes.move_to_end(seed)
            while len(self._notes) > self._max:
                self._notes.popitem(last=False)

    def pop(self, request: Request) -> list[tuple[Level, str]]:
        seed = str(request.scope["state"]["csrf_seed"])
        with self._lock:
            return self._notes.pop(seed, [])


@dataclass
class UiContext:
    """The app's collaborators and in-memory state; ``transport`` (tests) replaces the network for
    every call to Exact."""

    settings: Settings
    clock: Clock
    catalogue: Catalogue
    policy: AccessPolicy
    signer: Signer
    sessions: Sessions
    divisions: DivisionCache
    tests: PendingTests
    results: ResultStore
    uploads: Uploads
    flow_starts: FlowStarts
    transport: httpx.BaseTransport | None = None
    flashes: Flashes = field(default_factory=Flashes)


def ui(request: Request) -> UiContext:
    """The context of the app serving ``request``."""
    context: UiContext = request.app.state.ui
    return context


@contextmanager
def open_store(context: UiContext) -> Iterator[Store]:
    """The local database alone (the audit log, the create journal), opened for one request."""
    store = Store.from_settings(context.settings, clock=context.clock)
    try:
        yield store
    finally:
        store.close()
