"""One sync run: each endpoint's changes since its cursor into its table, then the deletions.

Per division, per endpoint: the change feed (``Resource.changes``: the endpoint's sync twin, or the
time-and-cost feed for time entries) is read from the cursor, 1,000 records a call. Each page is
written (an upsert on ``(_division, key)``) and the cursor moved to the page's largest Timestamp in
the same transaction; a transaction takes pages until ``COMMIT_ROWS`` rows or ``COMMIT_SECONDS``
(``_Batch``), and commits the pages it holds when the feed stops with an error. A run killed at any
moment resumes exactly where the last committed page ended: no gap and no duplicate.

Then ``sync/Deleted`` is read once per division, from the smallest of the synced endpoints' delete
cursors, and each deletion is applied to its endpoint's table (rows removed,
or marked ``_deleted`` with ``keep_deleted``), each endpoint's delete cursor moving with it.

A feed that brings a full page into a SQLite file hands its writes to the run's writer process
(``sync/writer.py``), so that its pages are parsed while the last ones are written; it commits as
above, and a run killed loses no more.

A run holds a lease per (target, division, endpoint) in exactmate's store, so two syncs of the same
thing never interleave. A daily limit reached stops the run after the last committed page; the error
says when calls reopen and the next run goes on from there.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Connection as Database
from sqlalchemy import (
    DateTime,
    Engine,
    MetaData,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.engine import make_url

from exactmate.actions.context import ActionContext
from exactmate.actions.divisions import DivisionChoice, DivisionInput, division_numbers, parse_division
from exactmate.catalogue import Catalogue, Endpoint
from exactmate.config import Settings, describe_db_url
from exactmate.errors import ExactmateError, StoreError, ValidationError
from exactmate.odata import AMSTERDAM, F
from exactmate.readahead import read_ahead
from exactmate.resource import Page, change_feed
from exactmate.sync.deletes import DELETED, ENTITY_TYPES
from exactmate.sync.tables import DELETED as DELETED_COLUMN
from exactmate.sync.tables import (
    DIVISION,
    SYNCED_AT,
    TIMESTAMP,
    cursor_table,
    ensure,
    record_table,
    table_name,
)
from exactmate.sync.writer import (
    COMMIT_ROWS,
    COMMIT_SECONDS,
    WRITER_ROWS,
    Statements,
    Writer,
    WriterError,
    for_loading,
    upsert_counted,
    upsert_statement,
)

PAGE_TIMESTAMP = "Timestamp"
MODIFIED = "Modified"
MODIFIED_OVERLAP = 1.0  # seconds read again before the cursor, for records saved in the same instant
Progress = Callable[["EndpointReport"], None]


@dataclass
class EndpointReport:
    """What one (division, endpoint) sync did."""

    endpoint: str
    division: int
    table: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    calls: int = 0
    cursor: int = 1
    seconds: float = 0.0
    columns_added: tuple[str, ...] = ()
    error: ExactmateError | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "endpoint": self.endpoint,
            "division": self.division,
            "table": self.table,
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "calls": self.calls,
            "cursor": self.cursor,
            "seconds": round(self.seconds, 3),
        }
        if self.columns_added:
            out["columns_added"] = list(self.columns_added)
        if self.error is not None:
            out["error"] = str(self.error)
        return out


@dataclass(frozen=True)
class SyncReport:
    """Every (division, endpoint) report, and where the records went (the URL without a password)."""

    target: str
    reports: tuple[EndpointReport, ...]
    lost_divisions: tuple[int, ...] = ()
    """Divisions synced before (they have cursors) that Exact no longer lists as accessible: their
    rows are kept, and no longer brought up to date."""

    @property
    def ok(self) -> bool:
        return all(report.error is None for report in self.reports)

    def as_dict(self) -> dict[str, Any]:
        endpoints = [report.as_dict() for report in self.reports]
        out: dict[str, Any] = {"target": self.target, "ok": self.ok, "endpoints": endpoints}
        if self.lost_divisions:
            out["lost_divisions"] = list(self.lost_divisions)
        return out


def default_target(settings: Settings) -> str:
    """The database a sync writes to when none is named: ``sync.db`` beside exactmate's own."""
    return f"sqlite:///{Path(settings.home) / 'sync.db'}"


def syncable(conn: ActionContext) -> list[str]:
    """Every regular endpoint with a change feed (a sync/ twin, or a row twin): ``--all-syncable``."""
    return syncable_paths(conn.client.catalogue)


def syncable_paths(catalogue: Catalogue) -> list[str]:
    """``syncable`` from the catalogue alone."""
    found: list[str] = []
    for endpoint in catalogue:
        if endpoint.kind != "rest" or not endpoint.allows("GET"):
            continue
        twins = catalogue.twins(endpoint.path)
        if twins.base is endpoint and (twins.sync is not None or twins.rows is not None):
            found.append(endpoint.path)
    return found


def feed_endpoints(conn: ActionContext, paths: Sequence[str]) -> list[Endpoint]:
    """The endpoints named, each checked to have a change feed; every problem at once, no call."""
    catalogue = conn.client.catalogue
    found: list[Endpoint] = []
    problems: list[str] = []
    for path in paths:
        try:
            endpoint = catalogue.endpoint(path)
        except ExactmateError as exc:
            problems.append(exc.message)
            continue
        twins = catalogue.twins(endpoint.path)
        feedless = endpoint.kind != "sync" and twins.sync is None and twins.rows is None
        if feedless and not _by_modified(endpoint):
            problems.append(
                f"{endpoint.path} has neither a sync/ feed nor a Modified date to read changes by, "
                "so it cannot sync"
            )
        elif endpoint.path == DELETED:
            problems.append(f"{DELETED} is applied by every sync: name the endpoints whose deletions matter")
        elif endpoint not in found:
            found.append(endpoint)
    if not found and not problems:
        problems.append("no endpoint named")
    if problems:
        raise ValidationError(
            "Cannot sync these endpoints; nothing was read",
            problems=problems,
            hint="list the endpoints with a change feed: exactmate endpoints sync/",
        )
    return found


def sync_endpoints(
    conn: ActionContext,
    endpoints: Sequence[str],
    target: str,
    *,
    division: DivisionInput | DivisionChoice = None,
    full: bool = False,
    keep_deleted: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """Bring the tables of ``endpoints`` in ``target`` (a SQLAlchemy URL) up to date with Exact, in
    ``division`` (a number, ``current`` or ``all``). ``full`` starts the endpoints over (their rows
    of the division are replaced). ``progress`` is called with a report after each page, and once
    more after the deletions."""
    chosen = feed_endpoints(conn, endpoints)
    engine = open_target(target)
    run: _Run | None = None
    try:
        metadata = MetaData()
        cursors = cursor_table(metadata)
        cursors.create(engine, checkfirst=True)
        owner = cursor_owner(conn)
        tables = {endpoint.path: _table(conn, metadata, endpoint) for endpoint in chosen}
        added = {path: tuple(ensure(engine, table)) for path, table in tables.items()}
        reports: list[EndpointReport] = []
        run = _Run(conn, engine, cursors, owner, _Writers(engine))
        lease_key = hashlib.sha256(str(engine.url).encode()).hexdigest()[:16]
        choice = parse_division(division)
        numbers = division_numbers(conn.client, choice)
        lost: tuple[int, ...] = ()
        if choice.mode == "all":
            with engine.connect() as db:
                known = db.execute(select(cursors.c.division).where(cursors.c.credential == owner)).scalars()
                lost = tuple(sorted(set(known) - set(numbers)))
        for number in numbers:
            done: list[EndpointReport] = []
            for endpoint in chosen:
                report = EndpointReport(endpoint.path, number, tables[endpoint.path].name)
                report.columns_added = added[endpoint.path]
                lease = f"sync:{lease_key}:{number}:{endpoint.path}"
                job = _Feed(run, tables[endpoint.path], endpoint, report)
                _held(conn, lease, job, full=full, progress=progress)
                reports.append(report)
                if report.error is None:
                    done.append(report)
            if done:
                _Deletions(run, number, tables, keep_deleted).run(done)
                if progress is not None:
                    for report in done:  # the deletions and the sync/Deleted read, on each line
                        progress(report)
        return SyncReport(describe_db_url(target), tuple(reports), lost)
    finally:
        if run is not None:
            run.writers.close()
        engine.dispose()


def cursor_owner(conn: ActionContext) -> str:
    """Whose cursors these are: a digest of the credential's name (cursors are per credential)."""
    return hashlib.sha256(conn.credential_name.strip().lower().encode()).hexdigest()[:16]


DRIVER_EXTRAS = {"duckdb": "duckdb"}
"""Targets whose driver exactmate does not install by default, and the extra that brings it."""


def open_target(target: str) -> Engine:
    try:
        url = make_url(target)
    except Exception:  # SQLAlchemy raises several kinds for a malformed URL
        raise ValidationError(
            f"{describe_db_url(target)} is not a database URL",
            hint="e.g. --to sqlite:///exact.db or --to postgresql+psycopg://user@host/db",
        ) from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url)
    except Exception as exc:  # a missing driver, an unknown dialect
        extra = DRIVER_EXTRAS.get(url.get_backend_name())
        hint = f"pip install 'exactmate[{extra}]'" if extra else "install the database's SQLAlchemy driver"
        where = describe_db_url(target)
        message = f"cannot use the database at {where}: {exc}"
        raise StoreError(message, hint=f"{hint}, or pick another --to") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_for_loading)
    return engine


def _sqlite_for_loading(dbapi_connection: Any, _record: Any) -> None:
    """A SQLite target's connection set up for loading (``writer.SQLITE_LOADING``)."""
    cursor = dbapi_connection.cursor()
    for_loading(cursor)
    cursor.close()


def _by_modified(endpoint: Endpoint) -> bool:
    """Whether changes to ``endpoint`` can be read by its ``Modified`` date (no feed needed)."""
    field = endpoint.fields.get(MODIFIED)
    dated = field is not None and field.type == "Edm.DateTime"
    return endpoint.kind == "rest" and endpoint.allows("GET") and dated


def _table(conn: ActionContext, metadata: MetaData, endpoint: Endpoint) -> Table:
    catalogue = conn.client.catalogue
    if endpoint.kind == "sync":
        fields = [name for name, f in endpoint.fields.items() if not f.is_collection]
        return record_table(metadata, _as_record_endpoint(endpoint), fields)
    twins = catalogue.twins(endpoint.path)
    feed = twins.sync or twins.rows or twins.bulk
    if feed is None:
        plain = [name for name, field in endpoint.fields.items() if not field.is_collection]
        return record_table(metadata, endpoint, plain)
    return record_table(metadata, endpoint, twins.common_fields(feed))


def _as_record_endpoint(endpoint: Endpoint) -> Endpoint:
    """A sync/ endpoint's records are keyed by their own ID (its ``key`` is the Timestamp)."""
    return replace(endpoint, key=endpoint.record_id or "ID")


LEASE_SECONDS = 120.0
"""How long a sync's lease lasts without renewal: it is renewed after a page when ``RENEW_SECONDS``
have passed since the last renewal, so a sync killed mid-run frees its (database, division, endpoint)
for the next within two minutes."""
RENEW_SECONDS = 10.0
"""How often the lease is renewed, at most: a renewal is a write to exactmate's store (4 ms, its
commit waits for the disk), and renewing after each of a load's 1,000-record pages cost the feed
more than a tenth of a second per 30 pages (bench/sync_load.py)."""


class _Renewal:
    """``renew`` called after each page, done when ``every`` seconds have passed since the last."""

    def __init__(
        self, renew: Callable[[], None], every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._renew, self._every, self._clock = renew, every, clock
        self._last = clock()

    def __call__(self) -> None:
        now = self._clock()
        if now - self._last >= self._every:
            self._renew()
            self._last = self._clock()


def _held(conn: ActionContext, name: str, job: _Feed, *, full: bool, progress: Progress | None) -> None:
    try:
        with conn.store.lock(name, timeout=0.0, ttl=LEASE_SECONDS) as owner:

            def renew() -> None:
                conn.store.renew_lock(name, owner, ttl=LEASE_SECONDS)

            job.run(full=full, progress=progress, renew=_Renewal(renew, RENEW_SECONDS))
    except StoreError as exc:
        if "timed out" in str(exc):
            raise StoreError(
                f"another sync of {job.endpoint.path} in division {job.report.division} into the same "
                "database is running",
                hint=f"wait for it to end; one that was killed frees it within {LEASE_SECONDS:g} s",
            ) from None
        raise


class _Writers:
    """The run's writer process (``sync/writer.py``), started for the first feed that brings a full
    page, when the target is a SQLite file (the one a child process can open too)."""

    def __init__(self, engine: Engine) -> None:
        url = engine.url
        plain_file = url.database not in (None, "", ":memory:") and not url.query
        self.database = url.database if engine.dialect.name == "sqlite" and plain_file else None
        self._writer: Writer | None = None

    def get(self) -> Writer:
        if self.database is None:
            raise ValueError("only a SQLite file is written by a writer process")
        if self._writer is None:
            self._writer = Writer(self.database)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@dataclass(frozen=True)
class _Run:
    """What every part of one run shares: the connection to Exact, the target database, its cursor
    table, whose cursors they are and the writer process."""

    conn: ActionContext
    engine: Engine
    cursors: Table
    owner: str
    writers: _Writers


def _key_column(table: Table) -> str:
    """The record's own key column of a sync table (the primary key besides ``_division``)."""
    return next(column.name for column in table.primary_key.columns if column.name != DIVISION)


class _Feed:
    """One (division, endpoint): pages from the cursor, each committed with the cursor."""

    def __init__(self, run: _Run, table: Table, endpoint: Endpoint, report: EndpointReport) -> None:
        self.conn, self.engine, self.cursors, self.owner = run.conn, run.engine, run.cursors, run.owner
        self.writers = run.writers
        self.table, self.endpoint, self.report = table, endpoint, report
        self.key = _key_column(table)
        own = {DIVISION, TIMESTAMP, SYNCED_AT, DELETED_COLUMN}
        self._fields = [column.name for column in table.columns if column.name not in own]
        self._dates = [
            column.name
            for column in table.columns
            if column.name in self._fields and isinstance(column.type, DateTime)
        ]
        self._plain = [name for name in self._fields if name not in self._dates]
        # The table's columns, in the order a row of ``page_rows`` holds them.
        self.columns = [*self._plain, *self._dates, DIVISION, TIMESTAMP, SYNCED_AT, DELETED_COLUMN]
        self._as_named = _Reader(self._plain, self._dates)
        # the feed Resource.changes picks: through a row twin, its records come under the twin's names
        rule = None
        if run.conn is not None and endpoint.kind != "sync":
            twins = run.conn.client.catalogue.twins(endpoint.path)
            rule = twins.row_rule if change_feed(endpoint, twins) is twins.rows else None
        self._rows_renamed = rule is None
        rename = rule.twin_name if rule is not None else str
        self._as_fed = _Reader([rename(n) for n in self._plain], [rename(n) for n in self._dates])
        self._sqlite_dates = _Dates(_sqlite_value)
        self._utc_dates = _Dates(_utc)

    def run(self, *, full: bool, progress: Progress | None, renew: Callable[[], None] = lambda: None) -> None:
        report, number = self.report, self.report.division
        started = time.perf_counter()
        try:
            if full:
                with self.engine.begin() as db:
                    db.execute(delete(self.table).where(self.table.c[DIVISION] == number))
                    _set_cursor(db, self.cursors, self.owner, number, self.endpoint.path, 1)
            with self.engine.connect() as db:
                since = _cursor(db, self.cursors, self.owner, number, self.endpoint.path)
            report.cursor = since
            twins = self.conn.client.catalogue.twins(self.endpoint.path)
            if self.endpoint.kind != "sync" and twins.sync is None and twins.rows is None:
                self._by_modified(since, progress, renew)
                return
            resource = self.conn.client.resource(self.endpoint.path, number)
            # a row twin's records stay under its names: _rows reads them by those (_as_fed); each
            # next page is asked for while this one is parsed and written
            pages = resource.changes(since, renamed=self._rows_renamed, ahead=True)
            try:
                self._pages(pages, progress, renew)
            finally:
                close = getattr(pages, "close", None)
                if close is not None:
                    close()  # a feed stopped early stops asking for pages now
        except ExactmateError as exc:
            report.error = exc
        finally:
            report.seconds += time.perf_counter() - started

    def _pages(self, pages: Iterable[Page], progress: Progress | None, renew: Callable[[], None]) -> None:
        """Write each page: in this process, or from the first full page on by the writer process."""
        report = self.report
        with self.engine.connect() as db:
            batch = _Batch(db)
            handed: _Handed | None = None
            try:
                for page in pages:
                    report.calls += 1
                    full = len(page.records) >= WRITER_ROWS
                    if handed is None and full and self.writers.database is not None:
                        batch.end()  # the pages written here so far are committed first
                        handed = _Handed(self, self.writers.get())
                    if handed is not None:
                        handed.page(page.records)
                    elif page.records:
                        self._page(batch, page.records)
                    renew()
                    if progress is not None:
                        progress(report)
                if handed is not None:
                    handed.end()
            finally:
                batch.end()  # the whole pages written are kept, whatever stopped the feed
                if handed is not None and not handed.ended:  # the feed stopped with an error
                    with suppress(ExactmateError):  # that error is the one to report
                        handed.end()

    def _page(self, batch: _Batch, records: Sequence[Mapping[str, Any]]) -> None:
        """One page's rows and the cursor at its largest Timestamp, in the batch's transaction."""
        report, db = self.report, batch.db
        stamps = _stamps(records)
        batch.begin()
        inserted, updated = self._write(db, records, fed=True)
        if stamps:
            _set_cursor(db, self.cursors, self.owner, report.division, self.endpoint.path, max(stamps))
        batch.written(len(records))
        report.inserted += inserted
        report.updated += updated
        report.cursor = max([report.cursor, *stamps])

    def _by_modified(self, since: int, progress: Progress | None, renew: Callable[[], None]) -> None:
        """An endpoint without a feed: the records modified since the cursor (epoch ms of the latest
        ``Modified`` read, less ``MODIFIED_OVERLAP``, so a record saved in the same instant as the last
        one read is not missed), through the bulk twin when there is one (1,000 a call). Pages are
        not in ``Modified`` order, so the cursor moves only when the whole read is written: a run that
        stops reads the same changes again, and the upserts make that harmless. Exact logs no
        deletions for these endpoints: rows it deleted stay until a ``--full`` run."""
        report, number = self.report, self.report.division
        twins = self.conn.client.catalogue.twins(self.endpoint.path)
        source = twins.bulk or self.endpoint
        fields = [column for column in self._fields if column in source.fields]
        after = None
        if since > 1:
            after = datetime.fromtimestamp(since / 1000 - MODIFIED_OVERLAP, UTC).astimezone(AMSTERDAM)
        modified = F(MODIFIED) >= after if after is not None else None
        resource = self.conn.client.resource(source.path, number)
        latest = since
        for page in read_ahead(resource.pages(select=fields, filter=modified)):
            report.calls += 1
            if page.records:
                with self.engine.begin() as db:
                    inserted, updated = self._write(db, page.records)
                report.inserted += inserted
                report.updated += updated
                stamps = [r[MODIFIED] for r in page.records if isinstance(r.get(MODIFIED), datetime)]
                latest = max([latest, *(round(stamp.timestamp() * 1000) for stamp in stamps)])
            renew()
            if progress is not None:
                progress(report)
        with self.engine.begin() as db:
            _set_cursor(db, self.cursors, self.owner, number, self.endpoint.path, latest)
        report.cursor = latest

    def _write(
        self, db: Database, records: Sequence[Mapping[str, Any]], *, fed: bool = False
    ) -> tuple[int, int]:
        """Upsert a page's records: ``fed``, as the change feed gives them (a row twin's under its
        own names), else under the endpoint's names."""
        number = self.report.division
        names, rows, keys = self.page_rows(records, fed=fed)
        distinct = len(set(keys))
        if db.dialect.name == "sqlite":
            inserted = _sqlite_upsert_counted(db, self.table, names, rows, [DIVISION, self.key])
            return inserted, distinct - inserted
        existing = set(
            db.execute(
                select(self.table.c[self.key]).where(
                    self.table.c[DIVISION] == number,
                    self.table.c[self.key].in_(bindparam("keys", expanding=True)),
                ),
                {"keys": keys},
            ).scalars()
        )
        _upsert(db, self.table, [dict(zip(names, row, strict=True)) for row in rows], [DIVISION, self.key])
        updated = sum(1 for key in set(keys) if key in existing)
        return distinct - updated, updated

    def page_rows(
        self, records: Sequence[Mapping[str, Any]], *, fed: bool
    ) -> tuple[list[str], list[tuple[Any, ...]], list[Any]]:
        """A page's records as rows of every column (``fed``: read under the change feed's names, a
        row twin's own; else the endpoint's), and each row's key: the columns, the rows, the keys."""
        names, rows = self._rows(records, self.report.division, self._as_fed if fed else self._as_named)
        at = names.index(self.key)
        return names, rows, [row[at] for row in rows]

    def _rows(
        self, records: Sequence[Mapping[str, Any]], division: int, reader: _Reader
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names, and each record as a row of every column (absent fields None), dates in
        UTC (as SQLAlchemy's SQLite dialect writes them, for a SQLite target: see ``_sqlite_upsert``),
        each field read by ``reader``'s name for it. The loops are C's: the date columns come last
        (the statement names its columns, so their order is the statement's), each read for the
        whole page by one ``itemgetter`` and converted through ``_Dates`` (a dict: a date seen
        before, or None, is a lookup with no Python call); a row is the record's other fields, read
        with one ``itemgetter`` call, joined to its dates and the sync's own columns. A page with a
        record that lacks a field is read field by field."""
        names = self.columns
        dates = self._sqlite_dates if self.engine.dialect.name == "sqlite" else self._utc_dates
        count = len(records)
        now = dates.convert(datetime.now(UTC))
        try:
            heads = list(map(reader.plain_getter, records))
            columns = [list(map(dates.__getitem__, map(get, records))) for get in reader.dated_getters]
        except KeyError:
            heads = [tuple([record.get(name) for name in reader.plain]) for record in records]
            columns = [[dates[record.get(name)] for record in records] for name in reader.dated]
        stamps = map(_page_timestamp, records)
        own = (repeat(division, count), stamps, repeat(now, count), repeat(False, count))
        tails = zip(*columns, *own, strict=True)
        return names, list(map(tuple.__add__, heads, tails))


class _Handed:
    """A feed's pages handed to the writer process: their rows built here, written there with the
    cursor; the rows committed counted in the report as the writer says."""

    def __init__(self, feed: _Feed, writer: Writer) -> None:
        self.feed, self.writer, self.ended = feed, writer, False
        quote = feed.engine.dialect.identifier_preparer.quote
        upsert = upsert_statement(quote, feed.table.name, feed.columns, [DIVISION, feed.key])
        cursor = upsert_statement(quote, feed.cursors.name, CURSOR_COLUMNS, CURSOR_KEYS)
        commit = (COMMIT_ROWS, COMMIT_SECONDS)
        self._call(writer.feed, Statements(upsert, cursor, quote(feed.table.name), commit))

    def page(self, records: Sequence[Mapping[str, Any]]) -> None:
        if not records:
            return
        feed, report = self.feed, self.feed.report
        _, rows, keys = feed.page_rows(records, fed=True)
        distinct = len(set(keys))
        stamps = _stamps(records)
        moved = None
        if stamps:
            moved = _cursor_values(feed.owner, report.division, feed.endpoint.path, max(stamps), sqlite=True)
        self._call(self.writer.page, rows, distinct, moved)
        report.cursor = max([report.cursor, *stamps])
        self._count()

    def end(self) -> None:
        """The feed's last page was handed over: its whole pages committed, their rows counted."""
        self.ended = True
        self._call(self.writer.end)
        self._count()

    def _count(self) -> None:
        inserted, updated = self.writer.committed()
        self.feed.report.inserted += inserted
        self.feed.report.updated += updated

    def _call(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except WriterError as exc:
            self._count()  # the commits before the failure
            raise StoreError(
                f"writing {self.feed.endpoint.path} to the sync's database failed: {exc}",
                hint="the pages not written are read again by the next run; check the database file "
                "(free disk space, permissions), then run the same sync again",
            ) from None


class _Reader:
    """How a sync reads a record's fields into a row: the names its columns' fields go by in the
    records (the endpoint's, or a row twin's), those of the dates apart, each list read by
    ``itemgetter``."""

    def __init__(self, plain: list[str], dated: list[str]) -> None:
        self.plain, self.dated = plain, dated
        self.plain_getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = (
            itemgetter(*plain) if len(plain) > 1 else lambda record: tuple([record[name] for name in plain])
        )
        self.dated_getters = [itemgetter(name) for name in dated]


def _page_timestamp(record: Mapping[str, Any]) -> Any:
    return record.get(PAGE_TIMESTAMP)


def _stamps(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """A page's Timestamps (a record without one has none): the cursor moves to their largest."""
    return [stamp for stamp in map(_page_timestamp, records) if isinstance(stamp, int)]


class _Batch:
    """Pages of a feed written in one transaction until ``COMMIT_ROWS`` rows or ``COMMIT_SECONDS``.
    Each page's rows go with the cursor at its end, so every commit, and ``end`` whatever stopped the
    feed, leaves whole pages and their cursor: a page half written (its write failed) is rolled back."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._rows = 0
        self._opened = 0.0
        self._whole = True

    def begin(self) -> None:
        """Before a page's writes: a transaction if none is open."""
        if not self.db.in_transaction():
            self.db.begin()
            self._rows, self._opened = 0, time.monotonic()
        self._whole = False

    def written(self, rows: int) -> None:
        """After a page's writes and its cursor: commit when enough is held."""
        self._whole = True
        self._rows += rows
        if self._rows >= COMMIT_ROWS or time.monotonic() - self._opened >= COMMIT_SECONDS:
            self.db.commit()

    def end(self) -> None:
        """Commit the whole pages held; roll back a page interrupted mid-write."""
        if not self.db.in_transaction():
            return
        if self._whole:
            self.db.commit()
        else:
            self.db.rollback()


def _upsert(db: Database, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """Insert or replace ``rows`` (all with the same columns) by ``keys`` (SQLite's, PostgreSQL's and
    DuckDB's ON CONFLICT; elsewhere a delete and an insert in the same transaction)."""
    names = list(rows[0])
    filled = rows
    dialect = db.dialect.name
    if dialect == "sqlite":
        _sqlite_upsert(db, table, names, [tuple(row.values()) for row in rows], keys)
        return
    if dialect == "postgresql":
        pg = postgresql_insert(table)
        changes = {name: pg.excluded[name] for name in names if name not in keys}
        db.execute(pg.on_conflict_do_update(index_elements=keys, set_=changes), filled)
        return
    for row in filled:
        db.execute(delete(table).where(*(table.c[k] == row[k] for k in keys)))
    db.execute(insert(table), filled)


def _sqlite_upsert(
    db: Database, table: Table, names: list[str], rows: Sequence[Sequence[Any]], keys: list[str]
) -> None:
    """SQLite's upsert through the driver's own executemany: SQLAlchemy's per-row parameter work cost
    more than the writes (see bench/sync_load.py). Values are stored as SQLAlchemy stores them, so
    the tables read back through SQLAlchemy the same way: dates as naive UTC text."""
    statement = upsert_statement(db.dialect.identifier_preparer.quote, table.name, names, keys)
    db.exec_driver_sql(statement, list(rows))


def _sqlite_upsert_counted(
    db: Database, table: Table, names: list[str], rows: Sequence[Sequence[Any]], keys: list[str]
) -> int:
    """``_sqlite_upsert``, and how many rows it inserted (``writer.upsert_counted``)."""
    quote = db.dialect.identifier_preparer.quote
    statement = upsert_statement(quote, table.name, names, keys)
    cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return upsert_counted(cursor, quote(table.name), statement, rows)
    finally:
        cursor.close()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value


def _sqlite_value(value: datetime) -> str:
    """A date as SQLAlchemy's SQLite dialect stores it: naive UTC text, four-digit year, microseconds."""
    if value.tzinfo is not None:
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        value = value.replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


class _Dates(dict[Any, Any]):
    """A date conversion remembered for the dates seen last, as a dict so that a date seen before
    (a page's dates repeat: a day's entries share their Date, a new record its Created and Modified)
    is converted by ``__getitem__`` alone, in C; None stays None."""

    LIMIT = 4096

    def __init__(self, convert: Callable[[datetime], Any]) -> None:
        super().__init__()
        self.convert = convert
        self[None] = None

    def __missing__(self, value: datetime) -> Any:
        found = self.convert(value)
        if len(self) >= self.LIMIT:
            self.clear()
            self[None] = None
        self[value] = found
        return found


def _cursor(db: Database, cursors: Table, owner: str, division: int, feed: str) -> int:
    found = db.execute(
        select(cursors.c.cursor).where(
            cursors.c.credential == owner, cursors.c.division == division, cursors.c.feed == feed
        )
    ).scalar()
    return int(found) if found is not None else 1


CURSOR_COLUMNS = ("credential", "division", "feed", "cursor", "updated_at")
CURSOR_KEYS = ["credential", "division", "feed"]


def _cursor_values(owner: str, division: int, feed: str, value: int, *, sqlite: bool) -> tuple[Any, ...]:
    """A cursor row's values (``CURSOR_COLUMNS``), updated now: as text for SQLite (``_sqlite_value``)."""
    moment = datetime.now(UTC)
    return (owner, division, feed, value, _sqlite_value(moment) if sqlite else moment)


def _set_cursor(db: Database, cursors: Table, owner: str, division: int, feed: str, value: int) -> None:
    values = _cursor_values(owner, division, feed, value, sqlite=db.dialect.name == "sqlite")
    _upsert(db, cursors, [dict(zip(CURSOR_COLUMNS, values, strict=True))], CURSOR_KEYS)


class _Deletions:
    """``sync/Deleted`` read once for a division, applied to every table synced in it."""

    def __init__(self, run: _Run, division: int, tables: Mapping[str, Table], keep_deleted: bool) -> None:
        self.conn, self.engine, self.cursors, self.owner = run.conn, run.engine, run.cursors, run.owner
        self.division, self.tables, self.keep = division, tables, keep_deleted

    def run(self, reports: Iterable[EndpointReport]) -> None:
        by_path = {report.endpoint: report for report in reports}
        feeds = {path: f"{DELETED}:{path}" for path in by_path}
        with self.engine.connect() as db:
            owner, number = self.owner, self.division
            since = {path: _cursor(db, self.cursors, owner, number, feed) for path, feed in feeds.items()}
        started = time.perf_counter()
        resource = self.conn.client.resource(DELETED, self.division)
        try:
            fields = ["Timestamp", "EntityKey", "EntityType"]
            first = next(iter(by_path.values()))  # the division's deletion reads are counted once, here
            for page in resource.changes(min(since.values()), select=fields):
                first.calls += 1
                with self.engine.begin() as db:
                    for path, report in by_path.items():
                        report.deleted += self._apply(db, path, since[path], page.records)
                    top = max((r["Timestamp"] for r in page.records), default=None)
                    if top is not None:
                        for feed in feeds.values():
                            _set_cursor(db, self.cursors, self.owner, self.division, feed, top)
        except ExactmateError as exc:
            for report in by_path.values():
                report.error = report.error or exc
        finally:
            spent = time.perf_counter() - started
            for report in by_path.values():
                report.seconds += spent / len(by_path)

    def _apply(self, db: Database, path: str, since: int, records: Sequence[Mapping[str, Any]]) -> int:
        table = self.tables[path]
        key = _key_column(table)
        gone = [
            str(r["EntityKey"])
            for r in records
            if ENTITY_TYPES.get(int(r.get("EntityType") or 0)) == path and int(r["Timestamp"]) > since
        ]
        if not gone:
            return 0
        where = (table.c[DIVISION] == self.division, table.c[key].in_(gone))
        if self.keep:
            result = db.execute(update(table).where(*where).values({DELETED_COLUMN: True}))
        else:
            result = db.execute(delete(table).where(*where))
        return int(result.rowcount or 0)


__all__ = [
    "EndpointReport",
    "SyncReport",
    "cursor_owner",
    "default_target",
    "feed_endpoints",
    "sync_endpoints",
    "syncable",
    "table_name",
]
