"""Duplicate-safe creates: the create journal, and how a create whose answer was lost is resolved.

Exact has no idempotency key, so a POST whose answer never arrived (a dropped connection, a timeout,
a 5xx) may or may not have created the record. Sending it again could book the same hours twice, so
exactmate never does that blindly. Every entry is recorded in the store's ``create_journal`` under
its run source (a file's content hash, or an explicit key) and its row, *before* it is sent:

- ``pending``: about to be sent, or sent without a usable answer;
- ``created``: Exact answered with the new record (its key is kept);
- ``failed``: Exact refused it, or it was never sent; a rerun tries it again.

A ``pending`` entry, now or in a later run, is resolved by looking the record up on its match fields
(default Employee, Date, Item, Quantity, Project or Account, Notes): one match is taken as created,
none means it was not created (send it again), several stop that row with a clear message, since
guessing could book twice or lose hours.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import and_, insert, select, update

from exactmate.actions.dryrun import json_default
from exactmate.actions.timerules import match_fields
from exactmate.clock import Clock
from exactmate.errors import (
    APIConnectionError,
    APIStatusError,
    AuthError,
    BudgetExceeded,
    ExactmateError,
    ForbiddenError,
    RateLimitError,
    ServerError,
    StoreError,
    UnauthorizedError,
)
from exactmate.resource import Resource
from exactmate.store import Store, create_journal

JournalState = Literal["pending", "created", "failed"]
Status = Literal["created", "recovered", "skipped", "failed", "planned"]

MAX_SENDS = 3
"""How often one entry is sent when each lost answer is resolved as "not created"."""

# Errors after which the rest of a division's entries are not even tried: each would fail the same
# way, and Exact counts 401/403 answers against its hourly error budget.
STOPPING_ERRORS: tuple[type[ExactmateError], ...] = (
    AuthError,
    UnauthorizedError,
    ForbiddenError,
    BudgetExceeded,
    RateLimitError,
    StoreError,
)


@dataclass(frozen=True)
class JournalEntry:
    """One row of the create journal."""

    source: str
    row_key: str
    state: JournalState
    division: int | None
    record_key: str | None
    request_hash: str
    updated_at: float


@dataclass(frozen=True)
class CreateOutcome:
    """What happened to one entry. ``status``: ``created`` (sent and answered), ``recovered`` (an
    answer was lost and the lookup found the record), ``skipped`` (created by an earlier run),
    ``failed`` (``message`` says why), ``planned`` (dry run: ``request`` is what would be sent)."""

    row: int
    division: int
    status: Status
    record_id: str | None = None
    message: str | None = None
    sends: int = 0
    request: Any = None
    error: ExactmateError | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for output: row, division, status, record ID, message."""
        out: dict[str, Any] = {"row": self.row, "division": self.division, "status": self.status}
        if self.record_id is not None:
            out["ID"] = self.record_id
        if self.message:
            out["message"] = self.message
        if self.request is not None and hasattr(self.request, "as_dict"):
            out["request"] = self.request.as_dict()
        return out


def request_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 of the body's canonical JSON: tells whether a journal key is reused for another entry."""
    text = json.dumps(dict(body), sort_keys=True, default=json_default, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CreateJournal:
    """The journal rows of one credential's creates on one endpoint."""

    def __init__(self, store: Store, *, credential: str, endpoint: str, clock: Clock | None = None) -> None:
        self._store = store
        self._clock = clock or store.clock
        self.credential = credential
        self.endpoint = endpoint

    def get(self, source: str, row_key: str) -> JournalEntry | None:
        """The journal row of ``(source, row_key)``, or None."""
        with self._store.reading() as conn:
            row = conn.execute(select(create_journal).where(_key(source, row_key))).first()
        if row is None:
            return None
        m = row._mapping
        return JournalEntry(
            m["source"],
            m["row_key"],
            m["state"],
            m["division"],
            m["record_key"],
            m["request_hash"],
            float(m["updated_at"]),
        )

    def entries(self, source: str) -> list[JournalEntry]:
        """Every journal row of ``source``, by row key."""
        with self._store.reading() as conn:
            rows = conn.execute(
                select(create_journal.c.row_key).where(create_journal.c.source == source)
            ).scalars()
            keys = sorted(rows)
        return [entry for key in keys if (entry := self.get(source, key)) is not None]

    def begin(self, source: str, row_key: str, *, division: int, body_hash: str) -> None:
        """Record the entry as ``pending`` before it is sent."""
        now = self._clock.now()
        with self._store.transaction() as conn:
            exists = conn.execute(select(create_journal.c.state).where(_key(source, row_key))).first()
            if exists is None:
                conn.execute(
                    insert(create_journal).values(
                        source=source,
                        row_key=row_key,
                        credential=self.credential,
                        division=division,
                        endpoint=self.endpoint,
                        state="pending",
                        record_key=None,
                        request_hash=body_hash,
                        created_at=now,
                        updated_at=now,
                    )
                )
            else:
                conn.execute(
                    update(create_journal)
                    .where(_key(source, row_key))
                    .values(state="pending", request_hash=body_hash, division=division, updated_at=now)
                )

    def finish(self, source: str, row_key: str, state: JournalState, record_key: str | None = None) -> None:
        """Record the entry as ``created`` (with its key) or ``failed``."""
        with self._store.transaction() as conn:
            conn.execute(
                update(create_journal)
                .where(_key(source, row_key))
                .values(state=state, record_key=record_key, updated_at=self._clock.now())
            )


def _key(source: str, row_key: str) -> Any:
    return and_(create_journal.c.source == source, create_journal.c.row_key == row_key)


@dataclass(frozen=True)
class _Found:
    """A lookup's answer: the keys of the matching records (at most two are asked for)."""

    keys: tuple[str, ...]


def find_matches(resource: Resource, body: Mapping[str, Any], match_on: Sequence[str]) -> _Found:
    """The records in ``resource`` that look like ``body`` on its match fields (at most two)."""
    names = match_fields(tuple(match_on), body)
    key = resource.endpoint.key or "ID"
    if not names:
        raise ExactmateError(
            "This entry sets none of the match fields, so a lost answer cannot be resolved",
            hint="choose fields the entries set with --match-on, e.g. --match-on Date,Item,Quantity,Notes",
        )
    wanted = {name: body[name] for name in names}
    records = resource.list(select=[key], filter=wanted, top=2)
    return _Found(tuple(str(r.get(key)) for r in records))


class SafeCreator:
    """Sends entries to one resource (endpoint and division) so that none is ever created twice."""

    def __init__(
        self,
        resource: Resource,
        journal: CreateJournal,
        *,
        source: str,
        match_on: Sequence[str],
        division: int,
    ) -> None:
        self._resource = resource
        self._journal = journal
        self._source = source
        self._match_on = tuple(match_on)
        self._division = division

    def create(self, row: int, row_key: str, body: Mapping[str, Any]) -> CreateOutcome:
        """Create the entry of ``row`` unless the journal says an earlier run already did."""
        body_hash = request_hash(body)
        entry = self._journal.get(self._source, row_key)
        if entry is not None and entry.request_hash != body_hash:
            return self._failed(
                row, "its key was used before for a different entry; nothing sent (use a new --key)"
            )
        if entry is not None and entry.state == "created":
            return CreateOutcome(
                row, self._division, "skipped", entry.record_key, "created by an earlier run (create journal)"
            )
        if entry is not None and entry.state == "pending":
            resolved = self._resolve(row, row_key, body, sends=0)
            if resolved is not None:
                return resolved
        self._journal.begin(self._source, row_key, division=self._division, body_hash=body_hash)
        return self._send(row, row_key, body)

    def _send(self, row: int, row_key: str, body: Mapping[str, Any]) -> CreateOutcome:
        sends = 0
        while True:
            sends += 1
            try:
                created = self._resource.create(body)
            except (APIConnectionError, ServerError) as exc:
                lost = f"the answer was lost ({type(exc).__name__})"
            except ExactmateError as exc:
                self._journal.finish(self._source, row_key, "failed")
                return self._failed(row, str(exc), exc, sends)
            else:
                key = created.get(self._resource.endpoint.key or "ID")
                if key:
                    self._journal.finish(self._source, row_key, "created", str(key))
                    return CreateOutcome(row, self._division, "created", str(key), sends=sends)
                lost = "Exact answered without the new record's key"
            resolved = self._resolve(row, row_key, body, sends=sends, why=lost)
            if resolved is not None:
                return resolved
            if sends >= MAX_SENDS:
                self._journal.finish(self._source, row_key, "failed")
                return self._failed(
                    row,
                    f"{lost} {sends} times and the record was not created; rerun the same file to try again",
                    sends=sends,
                )

    def _resolve(
        self,
        row: int,
        row_key: str,
        body: Mapping[str, Any],
        *,
        sends: int,
        why: str = "an earlier run left it unanswered",
    ) -> CreateOutcome | None:
        """Settle a pending entry by lookup: an outcome, or None when it was not created (send again)."""
        try:
            found = find_matches(self._resource, body, self._match_on)
        except ExactmateError as exc:
            return self._failed(
                row,
                f"{why}, and looking it up failed ({exc}); rerun the same source to settle it",
                exc,
                sends,
            )
        if len(found.keys) == 1:
            self._journal.finish(self._source, row_key, "created", found.keys[0])
            return CreateOutcome(
                row,
                self._division,
                "recovered",
                found.keys[0],
                f"{why}; the lookup found the record it created",
                sends=sends,
            )
        if len(found.keys) > 1:
            fields = ", ".join(match_fields(self._match_on, body))
            return self._failed(
                row,
                f"{why}, and {len(found.keys)} or more records match it on {fields}: not sent again, "
                "to avoid booking it twice",
                sends=sends,
                hint="check these entries in Exact, or choose --match-on fields that tell them apart",
            )
        return None

    def _failed(
        self,
        row: int,
        message: str,
        error: ExactmateError | None = None,
        sends: int = 0,
        *,
        hint: str | None = None,
    ) -> CreateOutcome:
        if error is None:
            error = ExactmateError(message, hint=hint)
        text = f"{message} ({hint})" if hint else message
        return CreateOutcome(row, self._division, "failed", None, text, sends, error=error)


def is_stopping(error: ExactmateError | None) -> bool:
    """Whether the rest of a division's entries should not be tried after ``error``."""
    if isinstance(error, RateLimitError):
        return error.scope != "minutely"
    if isinstance(error, APIStatusError) and not isinstance(error, UnauthorizedError | ForbiddenError):
        return False
    return isinstance(error, STOPPING_ERRORS)
