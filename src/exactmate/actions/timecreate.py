"""Create Project Time Transactions: one entry or many, validated first, never booked twice.

1. Every entry is checked before the first call (fields, types, mandatory fields, "one of Account,
   Project or Subscription", the writable HourStatus values); all problems of all rows are reported
   together, with row numbers, and nothing is sent.
2. Each entry goes to its division: the ``--division`` given, or the row's own ``Division`` column
   (``Division`` is read-only on the endpoint, so in a row it only says where the entry goes).
3. Entries are created through the create journal (``exactmate.actions.journal``), so rerunning the
   same source after a crash or a timeout creates nothing twice. Divisions run in parallel, each
   within its own rate limits; the entries of one division go one after another, as Exact asks.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exactmate.actions.connection import Connection
from exactmate.actions.divisions import DivisionChoice, DivisionInput, parse_division
from exactmate.actions.dryrun import json_default, plan
from exactmate.actions.fields import prepare_record
from exactmate.actions.journal import CreateJournal, CreateOutcome, SafeCreator, is_stopping, request_hash
from exactmate.actions.sources import EntrySource, Row
from exactmate.actions.timerules import CREATE_RULES, DEFAULT_MATCH_FIELDS, TIME_TRANSACTIONS
from exactmate.catalogue import Endpoint
from exactmate.errors import CatalogueError, ExactmateError, ValidationError

Progress = Callable[[CreateOutcome], None]
MAX_KEY_LENGTH = 100


@dataclass(frozen=True)
class PreparedEntry:
    """A validated entry: its row number, the body to send and the division it goes to (None: the
    division chosen for the run)."""

    row: int
    body: dict[str, Any]
    division: int | None


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
        """Entries an earlier run of the same source already created."""
        return self._with("skipped")

    @property
    def failed(self) -> list[CreateOutcome]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> dict[str, Any]:
        """Plain data: counts, created IDs by row, and the failures with their reasons."""
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "entries": len(self.outcomes),
            "created": len(self.created),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "created_ids": {o.row: o.record_id for o in self.created},
            "failures": {o.row: o.message for o in self.failed},
        }


def create_time_transactions(
    conn: Connection,
    entries: EntrySource | Iterable[Mapping[str, Any]] | Mapping[str, Any],
    *,
    division: DivisionInput | DivisionChoice = None,
    key: str | None = None,
    match_on: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> CreateResult:
    """Create time transactions in ``division`` (a number, ``current`` or None; ``all`` is refused:
    a new entry belongs to one division, so say which, or give each row a ``Division``).

    ``entries``: a file's rows (``sources.read_entries``), or mappings of field names to values (text
    is coerced by type). ``key`` names the run in the create journal instead of the content of the
    entries; ``match_on`` the fields a lost answer is looked up by. ``progress`` is called with each
    entry's outcome as it is known (from worker threads). Raises ``ValidationError`` listing every
    problem of every row before anything is sent.
    """
    endpoint = conn.client.catalogue.endpoint(TIME_TRANSACTIONS)
    choice = parse_division(division)
    if choice.mode == "all":
        raise ValidationError(
            "A new time transaction belongs to one division, so --division all cannot create entries",
            hint="pass --division N, or give every row a Division column",
        )
    rows = _rows(entries)
    matches = resolve_match_fields(endpoint, match_on)
    prepared = prepare_entries(endpoint, rows)
    source = _source(conn, entries, rows, key)
    journal = CreateJournal(conn.store, credential=conn.credential, endpoint=endpoint.path)
    default_division = _run_division(conn, choice, prepared)
    groups: dict[int, list[PreparedEntry]] = {}
    for entry in prepared:
        number = entry.division if entry.division is not None else default_division
        assert number is not None
        groups.setdefault(number, []).append(entry)
    if dry_run:
        outcomes = _plan_all(conn, endpoint, journal, source, groups)
    else:
        outcomes = _run_all(conn, journal, source, groups, matches, progress)
    ordered = tuple(sorted(outcomes, key=lambda o: o.row))
    return CreateResult(source=source, outcomes=ordered, dry_run=dry_run)


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


def prepare_entries(endpoint: Endpoint, rows: Sequence[Row]) -> list[PreparedEntry]:
    """Every row validated and coerced; one ``ValidationError`` with all problems, by row number."""
    prepared: list[PreparedEntry] = []
    problems: list[str] = []
    for row in rows:
        values = dict(row.values)
        division, division_problem = _row_division(values)
        record, found = prepare_record(endpoint, values, creating=True, extra_rules=CREATE_RULES)
        if division_problem:
            found.insert(0, division_problem)
        problems.extend(f"row {row.number}: {p}" for p in found)
        prepared.append(PreparedEntry(row.number, record, division))
    if problems:
        bad = len({p.split(":", 1)[0] for p in problems})
        raise ValidationError(
            f"{bad} of {len(rows)} entries cannot be created as they are; nothing was sent",
            problems=problems,
            hint="fix the rows listed and run again; the fields: exactmate fields project/TimeTransactions",
        )
    return prepared


def _row_division(values: dict[str, Any]) -> tuple[int | None, str | None]:
    """Take a row's ``Division`` routing value out of its fields."""
    name = next((k for k in values if str(k).strip().lower() == "division"), None)
    if name is None:
        return None, None
    raw = values.pop(name)
    text = str(raw).strip()
    if raw is None or text == "":
        return None, None
    if isinstance(raw, bool) or not text.isdigit() or int(text) <= 0:
        return None, f"Division {raw!r} is not a division code (a positive whole number)"
    return int(text), None


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


def _source(conn: Connection, entries: object, rows: Sequence[Row], key: str | None) -> str:
    """The journal name of this run: the explicit key, the file's content hash, or the hash of the
    entries themselves; tied to the credential, since a journal row is only valid for its own Exact."""
    if key is not None:
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValidationError(
                f"--key must be 1 to {MAX_KEY_LENGTH} characters", hint="e.g. --key payroll-2026-03"
            )
        base = f"key:{key}"
    elif isinstance(entries, EntrySource):
        base = entries.source_id
    else:
        text = json.dumps([dict(r.values) for r in rows], sort_keys=True, default=json_default)
        base = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    owner = hashlib.sha256(conn.credential.strip().lower().encode()).hexdigest()[:16]
    return f"{base}@{owner}"


def _run_division(conn: Connection, choice: DivisionChoice, prepared: Sequence[PreparedEntry]) -> int | None:
    """The run's division for rows without their own; ``current/Me`` is asked only when needed."""
    if choice.mode == "number":
        return choice.number
    if all(entry.division is not None for entry in prepared):
        return None
    return conn.client.current_division()


def _row_key(entry: PreparedEntry, division: int) -> str:
    return f"{entry.row}@{division}"


def _plan_all(
    conn: Connection,
    endpoint: Endpoint,
    journal: CreateJournal,
    source: str,
    groups: Mapping[int, list[PreparedEntry]],
) -> list[CreateOutcome]:
    outcomes: list[CreateOutcome] = []
    for number, group in groups.items():
        for entry in group:
            done = journal.get(source, _row_key(entry, number))
            if done is not None and done.state == "created" and done.request_hash == request_hash(entry.body):
                outcomes.append(
                    CreateOutcome(
                        entry.row,
                        number,
                        "skipped",
                        done.record_key,
                        "created by an earlier run (create journal)",
                    )
                )
                continue
            request = plan(conn.server_url, "POST", endpoint, number, body=entry.body)
            outcomes.append(CreateOutcome(entry.row, number, "planned", request=request))
    return outcomes


def _run_all(
    conn: Connection,
    journal: CreateJournal,
    source: str,
    groups: Mapping[int, list[PreparedEntry]],
    match_on: tuple[str, ...],
    progress: Progress | None,
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
        resource = conn.client.resource(TIME_TRANSACTIONS, number)
        creator = SafeCreator(resource, journal, source=source, match_on=match_on, division=number)
        stop: CreateOutcome | None = None
        for entry in groups[number]:
            if stop is not None:
                report(
                    CreateOutcome(
                        entry.row, number, "failed", message=f"not tried: {stop.message}", error=stop.error
                    )
                )
                continue
            outcome = creator.create(entry.row, _row_key(entry, number), entry.body)
            report(outcome)
            if outcome.status == "failed" and is_stopping(outcome.error):
                stop = outcome

    for number, result in conn.client.fan_out(list(groups), run_division):
        if isinstance(result, Exception) and not isinstance(result, ExactmateError):
            raise result
        if isinstance(result, ExactmateError):
            for entry in groups[number]:
                if entry.row not in done:
                    report(CreateOutcome(entry.row, number, "failed", message=str(result), error=result))
    return list(done.values())
