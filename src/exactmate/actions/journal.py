"""Duplicate-safe creates: the create journal, and how a create whose answer was lost is settled.

Exact has no idempotency key, so a POST whose answer never arrived (a dropped connection, a timeout,
a 5xx) may or may not have created the record, and may even still be *running* at Exact: a create
that times out on the client can commit seconds later. Every entry is therefore claimed in the
store's ``create_journal`` under its identity (``exactmate.actions.identity``: which entry it is, in
which division, for which credential and scope) *before* it is sent:

- ``pending``: claimed and about to be sent, or sent without a usable answer;
- ``created``: Exact answered with the new record (its key is kept), or a lookup found it;
- ``failed``: Exact refused it; a later run books it like a new entry.

The claim is one atomic insert (or compare-and-set on a failed row), so two runs of the same rows at
once (a cron overlap, a second terminal, two workers) never both send an entry: the second sees it
``pending`` and reports it so.

An answer lost to a timeout or a server error is **ambiguous until proven otherwise**. The entry is
looked up at once on its match fields (default Employee, Date, Item, Quantity, Project or Account,
Notes): one match is taken as created. None is *not* proof, since Exact may not have stored it yet,
so the entry stays ``pending`` and is reported as pending, and the run as incomplete. A later run
settles it once the **settle delay** has passed since the last send (the client timeout plus 60 s
by default, ``EXACTMATE_SETTLE_SECONDS``), a time after which no request Exact is still processing
can commit: it looks the record up again, takes it as created when found, and only then, when it is
still absent, sends it again. Several matches stop that row with a clear message, since guessing
could book twice or lose hours.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from sqlalchemy import Connection, RowMapping, and_, desc, func, insert, or_, select, update

from exactmate.actions.identity import RowIdentity
from exactmate.actions.presentation import local_iso
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
    ValidationError,
)
from exactmate.odata import format_datetime
from exactmate.store import Store, create_journal

if TYPE_CHECKING:  # listing the journal needs neither the client nor httpx
    from exactmate.resource import Resource

JournalState = Literal["pending", "created", "failed"]
Status = Literal["created", "recovered", "skipped", "changed", "pending", "failed", "planned", "stopped"]

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
    credential: str | None = None
    endpoint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for output: the row with its time as local ISO text (``updated``)."""
        return {
            "source": self.source,
            "row_key": self.row_key,
            "state": self.state,
            "credential": self.credential,
            "division": self.division,
            "endpoint": self.endpoint,
            "record_key": self.record_key,
            "updated": local_iso(self.updated_at),
        }


JOURNAL_STATES: tuple[JournalState, ...] = ("pending", "created", "failed")


def journal_entries(
    store: Store,
    *,
    credential: str | None = None,
    source: str | None = None,
    state: str | None = None,
    limit: int = 50,
) -> list[JournalEntry]:
    """The create journal's rows, most recently changed first: optionally those of one credential
    (any case), one source (the whole ``scope@owner`` text, or only its scope, e.g. ``entries``) or one
    state (``pending``, ``created`` or ``failed``)."""
    if state is not None and state not in JOURNAL_STATES:
        raise ValidationError(
            f"{state!r} is not a journal state", hint=f"use one of: {', '.join(JOURNAL_STATES)}"
        )
    if limit < 1:
        raise ValidationError(f"The limit must be at least 1, not {limit}", hint="e.g. --limit 50")
    columns = create_journal.c
    stmt = select(create_journal).order_by(desc(columns.updated_at), columns.row_key).limit(limit)
    if credential is not None:
        stmt = stmt.where(func.lower(columns.credential) == credential.strip().lower())
    if source is not None:
        wanted = source.strip()
        scoped = columns.source.startswith(wanted + "@", autoescape=True)
        stmt = stmt.where(or_(columns.source == wanted, scoped))
    if state is not None:
        stmt = stmt.where(columns.state == state)
    with store.reading() as conn:
        rows = conn.execute(stmt).all()
    return [_entry(row._mapping) for row in rows]


@dataclass(frozen=True)
class CreateOutcome:
    """What happened to one entry. ``status``: ``created`` (sent and answered), ``recovered`` (an
    answer was lost and the lookup found the record), ``skipped`` (booked earlier with the same
    values), ``changed`` (booked earlier as ``record_id`` with other values: not booked again),
    ``pending`` (its answer was lost, or another run is booking it: settled by a later run),
    ``failed`` (``message`` says why), ``planned`` (dry run: ``request`` is what would be sent),
    ``stopped`` (not sent: the run was interrupted before it; a rerun books it)."""

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
        return self.status not in ("failed", "pending", "changed", "stopped")

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


ClaimKind = Literal["send", "settle", "created", "changed", "busy"]
BOOKED_EARLIER = "booked earlier (create journal)"


@dataclass(frozen=True)
class Claim:
    """What the journal says about an entry about to be booked.

    ``send``: this run now holds it (new, or failed before): send it. ``settle``: it was left pending
    longer than the settle delay and this run took it over: look it up before sending. ``created``:
    booked earlier with the same content. ``changed``: booked earlier with other content. ``busy``:
    pending, claimed or sent less than the settle delay ago (``entry.updated_at``)."""

    kind: ClaimKind
    entry: JournalEntry | None = None


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
        return None if row is None else _entry(row._mapping)

    def entries(self, source: str) -> list[JournalEntry]:
        """Every journal row of ``source``, by row key."""
        with self._store.reading() as conn:
            rows = conn.execute(
                select(create_journal)
                .where(create_journal.c.source == source)
                .order_by(create_journal.c.row_key)
            ).all()
        return [_entry(row._mapping) for row in rows]

    def claim(
        self,
        source: str,
        row_key: str,
        *,
        division: int,
        content_hash: str,
        settle_seconds: float,
        rebook_changed: bool = False,
    ) -> Claim:
        """Claim the entry ``(source, row_key)`` for sending, atomically across threads and processes.

        A new entry is inserted ``pending`` by an insert that does nothing when the row exists (so of
        two runs claiming at once exactly one inserts); an existing row is read under the write lock
        (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's ``FOR UPDATE``) and moved on only from a state
        that allows it."""
        now = self._clock.now()
        values = {
            "source": source,
            "row_key": row_key,
            "credential": self.credential,
            "division": division,
            "endpoint": self.endpoint,
            "state": "pending",
            "record_key": None,
            "request_hash": content_hash,
            "created_at": now,
            "updated_at": now,
        }
        with self._store.transaction() as conn:
            if _insert_if_absent(conn, values):
                return Claim("send")
            row = conn.execute(select(create_journal).where(_key(source, row_key)).with_for_update()).one()
            entry = _entry(row._mapping)
            take = update(create_journal).where(_key(source, row_key))
            if entry.state == "failed" or (
                entry.state == "created" and entry.request_hash != content_hash and rebook_changed
            ):
                again = {"request_hash": content_hash, "division": division, "record_key": None}
                conn.execute(take.values(state="pending", updated_at=now, **again))
                return Claim("send", entry)
            if entry.state == "created":
                return Claim("created" if entry.request_hash == content_hash else "changed", entry)
            if now - entry.updated_at >= settle_seconds:
                conn.execute(take.values(request_hash=content_hash, updated_at=now))
                return Claim("settle", entry)
            return Claim("busy", entry)

    def adopt(self, source: str, row_key: str, *, division: int, content_hash: str, record_key: str) -> None:
        """Record an entry as created when it is not in the journal yet (one booked under the file-hash
        keys of exactmate before the row identity rule)."""
        now = self._clock.now()
        values = {
            "source": source,
            "row_key": row_key,
            "credential": self.credential,
            "division": division,
            "endpoint": self.endpoint,
            "state": "created",
            "record_key": record_key,
            "request_hash": content_hash,
            "created_at": now,
            "updated_at": now,
        }
        with self._store.transaction() as conn:
            _insert_if_absent(conn, values)

    def learn(self, source: str, row_key: str, content_hash: str) -> None:
        """Record that a created entry now holds other content (it was updated in Exact)."""
        with self._store.transaction() as conn:
            conn.execute(
                update(create_journal)
                .where(_key(source, row_key), create_journal.c.state == "created")
                .values(request_hash=content_hash, updated_at=self._clock.now())
            )

    def touch(self, source: str, row_key: str) -> float:
        """Restart a pending entry's settle delay: it was just sent without a usable answer."""
        now = self._clock.now()
        with self._store.transaction() as conn:
            conn.execute(update(create_journal).where(_key(source, row_key)).values(updated_at=now))
        return now

    def finish(self, source: str, row_key: str, state: JournalState, record_key: str | None = None) -> None:
        """Record the entry as ``created`` (with its key) or ``failed``."""
        with self._store.transaction() as conn:
            conn.execute(
                update(create_journal)
                .where(_key(source, row_key))
                .values(state=state, record_key=record_key, updated_at=self._clock.now())
            )


def _insert_if_absent(conn: Connection, values: Mapping[str, Any]) -> bool:
    """Insert a journal row unless its key exists; whether it was inserted. One statement, so two
    claimants racing on PostgreSQL cannot both insert (the loser's insert does nothing)."""
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        # RETURNING tells whether a row went in: rowcount is not reliable for ON CONFLICT DO NOTHING.
        # The dialects' modules are imported here: listing the journal does not need them.
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = upsert(create_journal).values(**values).on_conflict_do_nothing()
        return conn.execute(statement.returning(create_journal.c.row_key)).first() is not None
    exists = conn.execute(select(create_journal.c.state).where(_key(values["source"], values["row_key"])))
    if exists.first() is not None:
        return False
    conn.execute(insert(create_journal).values(**values))
    return True


def _entry(m: RowMapping) -> JournalEntry:
    return JournalEntry(
        m["source"],
        m["row_key"],
        m["state"],
        m["division"],
        m["record_key"],
        m["request_hash"],
        float(m["updated_at"]),
        m["credential"],
        m["endpoint"],
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
        settle_seconds: float,
        rebook_changed: bool = False,
    ) -> None:
        self._resource = resource
        self._journal = journal
        self._source = source
        self._match_on = tuple(match_on)
        self._division = division
        self._settle = settle_seconds
        self._rebook = rebook_changed

    def create(self, row: int, identity: RowIdentity, body: Mapping[str, Any]) -> CreateOutcome:
        """Create the entry of ``row`` unless the journal says it was booked, or is being booked."""
        claim = self._journal.claim(
            self._source,
            identity.key,
            division=self._division,
            content_hash=identity.content_hash,
            settle_seconds=self._settle,
            rebook_changed=self._rebook,
        )
        earlier = claim.entry
        if claim.kind == "created" and earlier is not None:
            return CreateOutcome(row, self._division, "skipped", earlier.record_key, BOOKED_EARLIER)
        if claim.kind == "changed" and earlier is not None:
            return self._changed(row, identity, earlier.record_key, body)
        if claim.kind == "busy" and earlier is not None:
            return self._pending(row, "another run is booking it, or its answer was lost", earlier.updated_at)
        if claim.kind == "settle":
            settled = self._look_up(row, identity, body, sends=0, why="an earlier run left it unanswered")
            if settled is not None:
                return settled
        return self._send(row, identity, body)

    def _send(self, row: int, identity: RowIdentity, body: Mapping[str, Any]) -> CreateOutcome:
        try:
            created = self._resource.create(body)
        except (APIConnectionError, ServerError) as exc:
            lost = f"the answer was lost ({type(exc).__name__})"
        except ExactmateError as exc:
            self._journal.finish(self._source, identity.key, "failed")
            return self._failed(row, str(exc), exc, 1)
        else:
            key = created.get(self._resource.endpoint.key or "ID")
            if key:
                self._journal.finish(self._source, identity.key, "created", str(key))
                return CreateOutcome(row, self._division, "created", str(key), sends=1)
            lost = "Exact answered without the new record's key"
        sent_at = self._journal.touch(self._source, identity.key)
        found = self._look_up(row, identity, body, sends=1, why=lost)
        if found is not None:
            return found
        return self._pending(row, f"{lost} and Exact may still be storing it", sent_at, sends=1)

    def _look_up(
        self, row: int, identity: RowIdentity, body: Mapping[str, Any], *, sends: int, why: str
    ) -> CreateOutcome | None:
        """Settle an entry by lookup: an outcome when found (or when the lookup cannot tell), None when
        no record matches."""
        try:
            found = find_matches(self._resource, body, self._match_on)
        except ExactmateError as exc:
            return self._failed(
                row, f"{why}, and looking it up failed ({exc}); rerun to settle it", exc, sends
            )
        if len(found.keys) == 1:
            self._journal.finish(self._source, identity.key, "created", found.keys[0])
            message = f"{why}; the lookup found the record"
            return CreateOutcome(row, self._division, "recovered", found.keys[0], message, sends=sends)
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

    def _pending(self, row: int, why: str, since: float, sends: int = 0) -> CreateOutcome:
        reopen = datetime.fromtimestamp(since + self._settle).astimezone().strftime("%H:%M:%S")
        message = f"pending: {why}; not sent again now. Rerun after {reopen} to settle it"
        error = ExactmateError(message)
        return CreateOutcome(row, self._division, "pending", None, message, sends, error=error)

    def _changed(
        self, row: int, identity: RowIdentity, record_key: str | None, body: Mapping[str, Any]
    ) -> CreateOutcome:
        """An entry booked earlier with other values. When Exact's record already holds this row's
        values (the user updated it, e.g. with the command this message suggests), the journal
        learns them and the entry counts as booked; otherwise it is reported, not booked again."""
        content = {name: body[name] for name in identity.content_fields}
        key_field = self._resource.endpoint.key or "ID"
        try:
            found = self._resource.list(select=[key_field, *content], filter={key_field: record_key}, top=1)
            current = list(found)
        except ExactmateError as exc:
            return self._failed(row, f"booked earlier as {record_key}; reading it back failed ({exc})", exc)
        if not current:
            message = (
                f"booked earlier as {record_key}, which is no longer in Exact; not booked again. "
                "Book it anew with --rebook-changed"
            )
            return self._not_booked(row, record_key, message)
        if all(_same(current[0].get(name), value) for name, value in content.items()):
            self._journal.learn(self._source, identity.key, identity.content_hash)
            message = f"{BOOKED_EARLIER}; updated in Exact since to these values"
            return CreateOutcome(row, self._division, "skipped", record_key, message)
        sets = " ".join(f"--set {shlex.quote(f'{name}={_text(value)}')}" for name, value in content.items())
        message = (
            f"booked earlier as {record_key} with other values; not booked again. Update it with: "
            f"exactmate time update {record_key} --division {self._division} {sets}, "
            "or book it as a new entry with --rebook-changed"
        )
        return self._not_booked(row, record_key, message)

    def _not_booked(self, row: int, record_key: str | None, message: str) -> CreateOutcome:
        error = ExactmateError(message)
        return CreateOutcome(row, self._division, "changed", record_key, message, error=error)

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


def _same(held: object, wanted: object) -> bool:
    """Whether Exact's value ``held`` is the value ``wanted`` a row sets (numbers by value, times to
    the second in Dutch time, text as is)."""
    if isinstance(wanted, bool) or isinstance(held, bool):
        return held == wanted
    if isinstance(wanted, int | float | Decimal) and isinstance(held, int | float | Decimal):
        return abs(float(held) - float(wanted)) < 1e-9
    if isinstance(wanted, datetime | date) and isinstance(held, datetime | date):
        return format_datetime(held) == format_datetime(wanted)
    if isinstance(wanted, UUID) or isinstance(held, UUID):
        return str(held).lower() == str(wanted).lower()
    return held == wanted


def _text(value: object) -> str:
    """A field value as ``--set`` takes it back."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def is_stopping(error: ExactmateError | None) -> bool:
    """Whether the rest of a division's entries should not be tried after ``error``."""
    if isinstance(error, RateLimitError):
        return error.scope != "minutely"
    if isinstance(error, APIStatusError) and not isinstance(error, UnauthorizedError | ForbiddenError):
        return False
    return isinstance(error, STOPPING_ERRORS)
