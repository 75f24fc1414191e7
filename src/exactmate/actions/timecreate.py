"""Create Project Time Transactions: one entry or many, validated first, never booked twice.

1. Every entry is checked before the first call (fields, types, mandatory fields, "one of Account,
   Project or Subscription", the writable HourStatus values); all problems of all rows are reported
   together, with row numbers, and nothing is sent.
2. Each entry goes to its division: the ``--division`` given, or the row's own ``Division`` column
   (``Division`` is read-only on the endpoint, so in a row it only says where the entry goes).
3. Entries are created through the create journal (``exactmate.actions.journal``) under their row
   identity (``exactmate.actions.identity``), so an entry booked once is recognised whatever else
   changed in the file: rerunning, editing or appending to a file, or two runs of it at once, book
   nothing twice. Divisions run in parallel, each within its own rate limits; the entries of one
   division go one after another, as Exact asks.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exactmate.actions.context import ActionContext
from exactmate.actions.divisions import DivisionChoice, DivisionInput, parse_division
from exactmate.actions.dryrun import plan
from exactmate.actions.fields import prepare_record
from exactmate.actions.identity import KEY_COLUMN, RowIdentity, check_explicit_key, row_identity
from exactmate.actions.journal import BOOKED_EARLIER, CreateJournal, CreateOutcome, SafeCreator, is_stopping
from exactmate.actions.references import Lookup, Resolver, lookups_in, resolved, with_placeholders
from exactmate.actions.sources import EntrySource, Row
from exactmate.actions.timerules import CREATE_RULES, DEFAULT_MATCH_FIELDS, TIME_TRANSACTIONS
from exactmate.catalogue import Endpoint
from exactmate.clock import utc
from exactmate.errors import CatalogueError, ExactmateError, RateLimitError, ValidationError, local_time
from exactmate.governor import daily_calls_left

Progress = Callable[[CreateOutcome], None]
DEFAULT_SCOPE = "entries"
INTERRUPTED = "not sent: the run was interrupted; a rerun books it"


@dataclass(frozen=True)
class PreparedEntry:
    """A validated entry: its row number, the body to send, the division it goes to (None: the
    division chosen for the run) and its ``Key`` column when it has one."""

    row: int
    body: dict[str, Any]
    division: int | None
    key: str | None = None


@dataclass(frozen=True)
class CreateResult:
    """Every entry's outcome, in row order, and the journal source the run was recorded under."""

    source: str
    outcomes: tuple[CreateOutcome, ...]
    dry_run: bool = False

    def _with(self, *statuses: str) -> list[CreateOutcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def created(self) -> list[CreateOutcome]:
        """Entries created by this run (answered or found by lookup after a lost answer)."""
        return self._with("created", "recovered")

    @property
    def skipped(self) -> list[CreateOutcome]:
        """Entries booked earlier with the same values."""
        return self._with("skipped")

    @property
    def changed(self) -> list[CreateOutcome]:
        """Entries booked earlier with other values: reported, not booked again."""
        return self._with("changed")

    @property
    def pending(self) -> list[CreateOutcome]:
        """Entries whose answer was lost (or that another run is booking): a later run settles them."""
        return self._with("pending")

    @property
    def failed(self) -> list[CreateOutcome]:
        return self._with("failed")

    @property
    def stopped(self) -> list[CreateOutcome]:
        """Entries not sent because the run was interrupted (Ctrl-C): a rerun books them."""
        return self._with("stopped")

    @property
    def ok(self) -> bool:
        """Whether every entry is booked (now or earlier): nothing failed, pending, changed or stopped."""
        return not (self.failed or self.pending or self.changed or self.stopped)

    def summary(self) -> dict[str, Any]:
        """Plain data: counts, created IDs by row, and the failures with their reasons."""
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "entries": len(self.outcomes),
            "created": len(self.created),
            "skipped": len(self.skipped),
            "changed": len(self.changed),
            "pending": len(self.pending),
            "failed": len(self.failed),
            "stopped": len(self.stopped),
            "created_ids": {o.row: o.record_id for o in self.created},
            "failures": {o.row: o.message for o in self.failed + self.pending + self.changed},
        }


def create_time_transactions(
    conn: ActionContext,
    entries: EntrySource | Iterable[Mapping[str, Any]] | Mapping[str, Any],
    *,
    division: DivisionInput | DivisionChoice = None,
    key: str | None = None,
    match_on: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    rebook_changed: bool = False,
    scope: str = DEFAULT_SCOPE,
    stop: threading.Event | None = None,
) -> CreateResult:
    """Create time transactions in ``division`` (a number, ``current`` or None; ``all`` is refused:
    a new entry belongs to one division, so say which, or give each row a ``Division``).

    ``entries``: a file's rows (``sources.read_entries``), or mappings of field names to values (text
    is coerced by type); a ``Key`` column gives a row its identity. ``key`` gives every row the
    identity ``key`` plus its row number instead. ``match_on``: the fields a lost answer is looked up
    by. ``rebook_changed``: book an entry booked earlier with other values again, as a new entry.
    ``scope``: the journal's namespace for identities (a flow uses its own). ``progress`` is called
    with each entry's outcome as it is known (from worker threads). Once ``stop`` is set (Ctrl-C),
    no further entry is sent: the ones in flight finish and are journaled, the rest come back
    ``stopped``. Raises ``ValidationError`` listing every problem of every row before anything is
    sent.
    """
    endpoint = conn.client.catalogue.endpoint(TIME_TRANSACTIONS)
    choice = parse_division(division)
    if choice.mode == "all":
        raise ValidationError(
            "A new time transaction belongs to one division, so --division all cannot create entries",
            hint="pass --division N, or give every row a Division column",
        )
    rows = _rows(entries)
    run_key = check_explicit_key(key, "--key") if key is not None else None
    matches = resolve_match_fields(endpoint, match_on)
    lookups = _lookups(endpoint, rows)
    prepared = prepare_entries(endpoint, rows, lookups)  # every local problem, before any call
    source = journal_source(conn.credential_name, scope)
    journal = CreateJournal(conn.store, credential=conn.credential_name, endpoint=endpoint.path)
    default_division = _run_division(conn, choice, prepared)
    if any(lookups.values()):
        rows = _look_up(conn, rows, lookups, prepared, default_division)
        prepared = prepare_entries(endpoint, rows)
    groups: dict[int, list[tuple[PreparedEntry, RowIdentity]]] = {}
    for entry in prepared:
        number = entry.division if entry.division is not None else default_division
        assert number is not None
        explicit = entry.key if entry.key is not None else (f"{run_key}#{entry.row}" if run_key else None)
        groups.setdefault(number, []).append((entry, row_identity(entry.body, number, explicit)))
    _refuse_twins(groups)
    if not dry_run:
        _refuse_beyond_daily_limit(conn, journal, source, groups)
    legacy = (
        journal_source(conn.credential_name, entries.source_id) if isinstance(entries, EntrySource) else None
    )
    run = _Run(conn, journal, source, matches, rebook_changed, legacy, stop or threading.Event())
    outcomes = run.plan_all(endpoint, groups) if dry_run else run.run_all(groups, progress)
    ordered = tuple(sorted(outcomes, key=lambda o: o.row))
    return CreateResult(source=source, outcomes=ordered, dry_run=dry_run)


def journal_source(credential: str, scope: str = DEFAULT_SCOPE) -> str:
    """The journal namespace of a credential's entries: identities are unique within it. Tied to the
    credential, since a journal row is only valid for its own Exact."""
    owner = hashlib.sha256(credential.strip().lower().encode()).hexdigest()[:16]
    return f"{scope}@{owner}"


def _refuse_twins(groups: Mapping[int, list[tuple[PreparedEntry, RowIdentity]]]) -> None:
    """Two rows that are the same entry (one identity) cannot both be booked unless a Key column
    tells them apart: say so before anything is sent, instead of booking one and skipping the other."""
    problems: list[str] = []
    for pairs in groups.values():
        seen: dict[str, int] = {}
        for entry, identity in pairs:
            first = seen.setdefault(identity.key, entry.row)
            if first != entry.row:
                problems.append(f"row {entry.row} is the same entry as row {first} ({identity.described})")
    if problems:
        raise ValidationError(
            "Some rows are the same entry; nothing was sent",
            problems=problems,
            hint=f"remove the repeated rows, or give each row its own {KEY_COLUMN} column value to book both",
        )


def _refuse_beyond_daily_limit(
    conn: ActionContext,
    journal: CreateJournal,
    source: str,
    groups: Mapping[int, list[tuple[PreparedEntry, RowIdentity]]],
) -> None:
    """Refuse, before anything is sent, entries that need more calls in a division than its daily
    limit has left (as the last answer from that division said): booked half-way, they would stop
    at a random row when the limit runs out. Entries the journal knows as booked cost no call and
    are not counted; a division nothing was read from yet today is not checked (its limit is not
    known)."""
    booked = {entry.row_key for entry in journal.entries(source) if entry.state == "created"}
    problems: list[str] = []
    resets: list[float] = []
    now = conn.store.clock.now()
    for number, pairs in sorted(groups.items()):
        needed = sum(1 for _, identity in pairs if identity.key not in booked)
        left, reset = daily_calls_left(conn.store.ledger(conn.client.client_id, number), now)
        if left is not None and needed > left:
            when = f" (it resets at {local_time(utc(reset))})" if reset is not None else ""
            problems.append(f"division {number}: {needed} entries to send, {left} calls left today{when}")
            resets += [reset] if reset is not None else []
    if problems:
        raise RateLimitError(
            "These entries would use more calls than today's limit has left; nothing was sent. "
            + "; ".join(problems),
            scope="daily",
            reset_at=utc(min(resets)) if resets else None,
            hint="book fewer rows now and the rest after the reset (rows booked are never booked twice)",
        )


def resolve_match_fields(endpoint: Endpoint, match_on: Sequence[str] | None) -> tuple[str, ...]:
    """The match fields in the catalogue's spelling; every unknown name reported at once."""
    if match_on is None:
        return DEFAULT_MATCH_FIELDS
    names = [n.strip() for n in match_on if n.strip()]
    if not names:
        raise ValidationError("--match-on names no field", hint="e.g. --match-on Date,Item,Quantity,Notes")
    try:
        resolved = endpoint.resolve_fields(names)
    except CatalogueError as exc:
        raise CatalogueError("Unknown --match-on field(s)", problems=exc.problems) from None
    return tuple(dict.fromkeys(resolved))


def prepare_entries(
    endpoint: Endpoint, rows: Sequence[Row], lookups: Mapping[int, LookupProblems] | None = None
) -> list[PreparedEntry]:
    """Every row validated and coerced; one ``ValidationError`` with all problems, by row number.
    Values to look up (``lookups``, by row number) are checked as placeholders: no call is made."""
    prepared: list[PreparedEntry] = []
    problems: list[str] = []
    for row in rows:
        found_lookups, lookup_problems = (lookups or {}).get(row.number, ({}, []))
        values = with_placeholders(row.values, found_lookups)
        division, division_problem = _row_division(values)
        key, key_problem = _row_key(values)
        record, found = prepare_record(endpoint, values, creating=True, extra_rules=CREATE_RULES)
        found[:0] = [p for p in (division_problem, key_problem, *lookup_problems) if p]
        problems.extend(f"row {row.number}: {p}" for p in found)
        prepared.append(PreparedEntry(row.number, record, division, key))
    if problems:
        bad = len({p.split(":", 1)[0] for p in problems})
        raise ValidationError(
            f"{bad} of {len(rows)} entries cannot be created as they are; nothing was sent",
            problems=problems,
            hint="fix the rows listed and run again; the fields: exactmate fields project/TimeTransactions",
        )
    return prepared


LookupProblems = tuple[dict[str, Lookup], list[str]]


def _lookups(endpoint: Endpoint, rows: Sequence[Row]) -> dict[int, LookupProblems]:
    """Each row's values given as ``code:…`` / ``name:…`` in reference fields, by row number."""
    return {row.number: lookups_in(row.values, endpoint) for row in rows}


def _look_up(
    conn: ActionContext,
    rows: Sequence[Row],
    lookups: Mapping[int, LookupProblems],
    prepared: Sequence[PreparedEntry],
    default_division: int | None,
) -> list[Row]:
    """The rows with every lookup replaced by its GUID (one call per distinct value and division);
    a ``ValidationError`` naming every lookup that finds none or several, before anything is created."""
    resolver = Resolver(conn)
    division_of = {entry.row: entry.division or default_division for entry in prepared}
    out: list[Row] = []
    problems: list[str] = []
    for row in rows:
        found = lookups.get(row.number, ({}, []))[0]
        division = division_of[row.number]
        assert division is not None
        values, failed = resolved(row.values, found, resolver, division) if found else (dict(row.values), [])
        problems.extend(f"row {row.number}: {p}" for p in failed)
        out.append(Row(row.number, values))
    if problems:
        raise ValidationError(
            f"{len(problems)} looked-up value(s) do not name one record; nothing was created",
            problems=problems,
            hint="give the code or name exactly as Exact has it, or the record's GUID",
        )
    return out


def _row_division(values: dict[str, Any]) -> tuple[int | None, str | None]:
    """Take a row's ``Division`` routing value out of its fields."""
    name = next((k for k in values if str(k).strip().lower() == "division"), None)
    if name is None:
        return None, None
    raw = values.pop(name)
    text = str(raw).strip()
    if raw is None or text == "":
        return None, None
    try:
        return parse_division(int(text) if text.isascii() and text.isdigit() else raw).number, None
    except ValidationError:
        return None, f"Division {text[:40]!r} is not a division code (a positive whole number)"


def _row_key(values: dict[str, Any]) -> tuple[str | None, str | None]:
    """Take a row's ``Key`` column (its identity in the create journal) out of its fields."""
    name = next((k for k in values if str(k).strip().lower() == KEY_COLUMN.lower()), None)
    if name is None:
        return None, None
    raw = values.pop(name)
    if raw is None or str(raw).strip() == "":
        return None, None
    try:
        return check_explicit_key(raw, KEY_COLUMN), None
    except ValidationError as exc:
        return None, exc.message


def _rows(entries: EntrySource | Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> list[Row]:
    if isinstance(entries, EntrySource):
        return list(entries.rows)
    items = [entries] if isinstance(entries, Mapping) else list(entries)
    rows: list[Row] = []
    problems: list[str] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            problems.append(f"row {number}: expected a mapping of Field: value, not {type(item).__name__}")
            item = {}
        rows.append(Row(number, dict(item)))
    if problems:
        raise ValidationError("Some entries are not records; nothing was sent", problems=problems)
    if not rows:
        raise ValidationError("No entries to create", hint="give at least one entry (--set or --file)")
    return rows


def _run_division(
    conn: ActionContext, choice: DivisionChoice, prepared: Sequence[PreparedEntry]
) -> int | None:
    """The run's division for rows without their own; ``current/Me`` is asked only when needed."""
    if choice.mode == "number":
        return choice.number
    if all(entry.division is not None for entry in prepared):
        return None
    return conn.client.current_division()


class _Run:
    """One run's entries going through the create journal: planned (dry run) or sent."""

    def __init__(
        self,
        conn: ActionContext,
        journal: CreateJournal,
        source: str,
        match_on: tuple[str, ...],
        rebook_changed: bool,
        legacy_source: str | None,
        stop: threading.Event,
    ) -> None:
        self.conn = conn
        self.journal = journal
        self.source = source
        self.match_on = match_on
        self.rebook_changed = rebook_changed
        self.legacy_source = legacy_source
        self.stop = stop

    def adopt_legacy(self, entry: PreparedEntry, identity: RowIdentity, division: int) -> None:
        """Carry over a booking journaled by an older exactmate under the file's content hash and row:
        the same bytes hold the same row, so it is this entry."""
        if self.legacy_source is None:
            return
        old = self.journal.get(self.legacy_source, f"{entry.row}@{division}")
        if old is not None and old.state == "created" and old.record_key:
            self.journal.adopt(
                self.source,
                identity.key,
                division=division,
                content_hash=identity.content_hash,
                record_key=old.record_key,
            )

    def plan_all(
        self, endpoint: Endpoint, groups: Mapping[int, list[tuple[PreparedEntry, RowIdentity]]]
    ) -> list[CreateOutcome]:
        outcomes: list[CreateOutcome] = []
        for number, pairs in groups.items():
            for entry, identity in pairs:
                done = self.journal.get(self.source, identity.key)
                booked = done is not None and done.state == "created"
                if done is not None and booked and done.request_hash == identity.content_hash:
                    skipped = CreateOutcome(entry.row, number, "skipped", done.record_key, BOOKED_EARLIER)
                    outcomes.append(skipped)
                    continue
                if done is not None and booked and not self.rebook_changed:
                    message = (
                        f"booked earlier as {done.record_key} with other values; a run does not book it "
                        "again but says how to update it (or books it anew with --rebook-changed)"
                    )
                    outcomes.append(CreateOutcome(entry.row, number, "changed", done.record_key, message))
                    continue
                request = plan(self.conn.server_url, "POST", endpoint, number, body=entry.body)
                outcomes.append(CreateOutcome(entry.row, number, "planned", request=request))
        return outcomes

    def run_all(
        self, groups: Mapping[int, list[tuple[PreparedEntry, RowIdentity]]], progress: Progress | None
    ) -> list[CreateOutcome]:
        """Each division's entries in order; divisions in parallel on the client's pool."""
        done: dict[int, CreateOutcome] = {}
        lock = threading.Lock()

        def report(outcome: CreateOutcome) -> None:
            with lock:
                done[outcome.row] = outcome
            if progress is not None:
                progress(outcome)

        def run_division(number: int) -> None:
            creator = SafeCreator(
                self.conn.client.resource(TIME_TRANSACTIONS, number),
                self.journal,
                source=self.source,
                match_on=self.match_on,
                division=number,
                settle_seconds=self.conn.settle_seconds,
                rebook_changed=self.rebook_changed,
            )
            halt: CreateOutcome | None = None
            for entry, identity in groups[number]:
                if self.stop.is_set():
                    report(CreateOutcome(entry.row, number, "stopped", message=INTERRUPTED))
                    continue
                if halt is not None:
                    why = f"not tried: {halt.message}"
                    report(CreateOutcome(entry.row, number, "failed", message=why, error=halt.error))
                    continue
                self.adopt_legacy(entry, identity, number)
                outcome = creator.create(entry.row, identity, entry.body)
                report(outcome)
                if outcome.status == "failed" and is_stopping(outcome.error):
                    halt = outcome

        for number, result in self.conn.client.fan_out(list(groups), run_division):
            if isinstance(result, Exception) and not isinstance(result, ExactmateError):
                raise result
            if isinstance(result, ExactmateError):
                for entry, _ in groups[number]:
                    if entry.row not in done:
                        report(CreateOutcome(entry.row, number, "failed", message=str(result), error=result))
        return list(done.values())
