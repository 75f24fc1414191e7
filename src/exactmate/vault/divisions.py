"""The divisions a credential's user can access, as Exact last listed them.

Exact answers a call in a division the user cannot reach with a 403 that counts against the hourly
error budget. The list is known after every Test Connect and every read of ``system/Divisions``
(``--division all``), so it is kept with the credential and a division outside it is refused
before any call, naming the ones that are accessible. Access granted since the list was learnt is
picked up by the next Test Connect, which the refusal names.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

from sqlalchemy import delete, insert, select

from exactmate.errors import ValidationError, local_time
from exactmate.store import Store, credentials, known_divisions


@dataclass(frozen=True)
class DivisionList:
    """Division codes with their names, and when Exact listed them (epoch seconds)."""

    names: Mapping[int, str]
    learned_at: float

    def describe(self, limit: int = 10) -> str:
        """``100001 (Demo BV), 100002 (Other BV)``, the first ``limit`` of them."""
        shown = [f"{code} ({name})" if name else str(code) for code, name in sorted(self.names.items())]
        more = len(shown) - limit
        return ", ".join(shown[:limit]) + (f" and {more} more" if more > 0 else "")


class KnownDivisions:
    """One credential's remembered divisions: read once from the store, replaced whenever Exact lists
    them again. Thread-safe; the store is the caller's."""

    def __init__(self, store: Store, credential_id: str, credential_name: str) -> None:
        self._store = store
        self._credential_id = credential_id
        self.credential_name = credential_name
        self._lock = threading.Lock()
        self._cached: DivisionList | None = None
        self._loaded = False

    def get(self) -> DivisionList | None:
        """The remembered list, or None when Exact has not listed them for this credential yet."""
        with self._lock:
            if not self._loaded:
                self._cached = self._load()
                self._loaded = True
            return self._cached

    def check(self, division: int) -> None:
        """``ValidationError`` naming the accessible divisions when ``division`` is not one of them;
        nothing when it is, or when Exact has not listed them yet (then Exact itself decides)."""
        known = self.get()
        if known is None or division in known.names:
            return
        learned = local_time(datetime.fromtimestamp(known.learned_at, UTC))
        raise ValidationError(
            f"Division {division} is not one credential {self.credential_name!r} can access; it can "
            f"access {known.describe()}. Nothing was sent.",
            hint=(
                "pass one of those with --division; if access was granted after "
                f"{learned}, refresh the list with: exactmate vault test {shlex.quote(self.credential_name)}"
            ),
        )

    def remember(self, divisions: Iterable[tuple[int, str]]) -> None:
        """Replace the list with ``divisions`` (code, name) as Exact just listed them."""
        rows = {int(code): str(name or "") for code, name in divisions}
        at = self._store.clock.now()
        table = known_divisions
        with self._store.transaction() as conn:
            # PostgreSQL: the credential's row locked, so two lists for it queue as under SQLite's
            # BEGIN IMMEDIATE (NO KEY UPDATE: inserts that refer to the row still go ahead)
            owner_row = credentials.c.id == self._credential_id
            conn.execute(select(credentials.c.id).where(owner_row).with_for_update(key_share=True))
            conn.execute(delete(table).where(table.c.credential_id == self._credential_id))
            if rows:
                owner = self._credential_id
                values = [
                    {"credential_id": owner, "code": code, "description": name, "learned_at": at}
                    for code, name in rows.items()
                ]
                conn.execute(insert(table), values)
        with self._lock:
            self._cached = DivisionList(MappingProxyType(rows), at) if rows else None
            self._loaded = True

    def _load(self) -> DivisionList | None:
        table = known_divisions
        stmt = select(table.c.code, table.c.description, table.c.learned_at).where(
            table.c.credential_id == self._credential_id
        )
        with self._store.reading() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return None
        names = {int(code): str(name) for code, name, _ in rows}
        return DivisionList(MappingProxyType(names), min(float(at) for _, _, at in rows))
