"""A sync's writes to a SQLite target, in a process of their own.

Parsing Exact's pages and binding their rows into SQLite's statements both need the interpreter's
lock, so in one process a load's reading and writing take turns on one CPU however many the machine
has. A feed that brings a full page (a first load, a big catch-up: more pages follow) hands its
rows to the run's ``Writer``: a child process (``exactmate.sync.writer``'s ``main``) with its own
connection to the target file, which upserts each page, moves the cursor with it in the same
transaction and commits every ``COMMIT_ROWS`` rows or ``COMMIT_SECONDS``, exactly as the sync does
in-process (``sync/run.py``, whose SQLite statements are built here: ``upsert_statement``,
``upsert_counted``). Meanwhile the sync's process parses the next page.

The two talk over a socket pair (``multiprocessing.connection``'s framing) in ``marshal``'s format:
the writer runs the same interpreter, and a page of rows (text, numbers, None) is marshalled in a
quarter of the time pickle takes, time the sync's process would not spend parsing. To the writer:
``("feed", statements)`` before a feed's pages, ``("page", rows, distinct, cursor_row)``, ``("end",)``
after a feed's last page (it commits and answers ``("ended", inserted, updated)``) and ``("close",)``.
From the writer: ``("committed", inserted, updated)`` after each commit, ``("failed", message)``
when a write failed (the open transaction rolled back; the feed's later pages are dropped until its
``end``). The sync reads those answers after each page it hands over, so a failure stops the feed
at once, and the counts reported are those committed.

Crash-safe as the in-process writes: whole pages commit with their cursor, nothing else does. When
the sync's process dies (``kill -9``) the socket closes, and the writer rolls back the pages it
holds and ends: the next run reads them again. The writer runs in a process group of its own, so
Ctrl-C at the terminal reaches the sync's process alone, which decides (it ends the feed: whole
pages are kept).
"""

from __future__ import annotations

import marshal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

COMMIT_ROWS = 10_000
"""Rows of a feed's pages written in one transaction, at most: a commit per 10 pages of 1,000 writes
an index page changed by several of them once (the writes of a 200,000-row load into SQLite: 4.01 s
against 5.16 s with a commit per page, bench/sync_sqlite.py), and a run killed reads at most 10
pages again."""
COMMIT_SECONDS = 1.0
"""How long pages wait for their commit, at most (slow calls: the rows reach readers within this)."""

WRITER_ROWS = 1_000
"""A feed page of this many records (a full page of a sync feed: more follow) hands the feed's
writes to the writer process. Smaller reads (the usual incremental run) are written in the sync's
own process: starting the writer costs more (about 50 ms) than they take."""

SQLITE_LOADING = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "cache_size": -16_384,
    "wal_autocheckpoint": 10_000,
}
"""The pragmas of every connection a sync makes to a SQLite target. WAL: readers (a report, a BI
tool) go on reading while a sync writes, and a commit costs no fsync (``synchronous=NORMAL`` stays
crash-safe in WAL: a killed process loses nothing committed). A 16 MiB page cache (2 MiB by default)
holds the primary-key index of a few hundred thousand rows, whose random GUIDs touch a leaf page
each. A checkpoint every 10,000 WAL pages (40 MiB; 1,000 by default) copies an index page changed
by many commits to the file once, and fsyncs a tenth as often (together 0.65x the writes' time of a
200,000-row load, bench/sync_sqlite.py)."""

PAGE_BUFFER = 4 * 1024 * 1024
"""Bytes the socket to the writer holds (Linux allows up to ``net.core.wmem_max``, often 4 MiB): a
page's rows (about 1 MiB pickled) wait there while the writer writes the page before, so the sync
goes on parsing instead of waiting for the writer."""

BUSY_SECONDS = 5.0
"""How long a write waits for another connection's write to the same file (SQLAlchemy's default)."""


def for_loading(cursor: Any) -> None:
    """Set ``SQLITE_LOADING`` on a DB-API connection's cursor."""
    for name, value in SQLITE_LOADING.items():
        cursor.execute(f"PRAGMA {name}={value}")


@dataclass(frozen=True)
class Statements:
    """What a feed's pages are written with: the page's upsert, the cursor's upsert, the table
    (quoted), whose rowids tell the rows inserted from those updated, and when to commit: rows and
    seconds (``COMMIT_ROWS``, ``COMMIT_SECONDS``, the sync's own)."""

    upsert: str
    cursor: str
    table: str
    commit: tuple[int, float] = (COMMIT_ROWS, COMMIT_SECONDS)


def upsert_statement(
    quote: Callable[[str], str], table: str, names: Sequence[str], keys: Sequence[str]
) -> str:
    """SQLite's insert-or-update of rows of ``names`` (positional parameters) by ``keys``."""
    columns = ", ".join(quote(name) for name in names)
    marks = ", ".join("?" for _ in names)
    changes = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in names if name not in keys)
    conflict = ", ".join(quote(key) for key in keys)
    return (
        f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {changes}"
    )


def upsert_counted(cursor: Any, table: str, statement: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run ``statement`` (an ``upsert_statement`` into ``table``, quoted) for ``rows`` through the
    driver's own executemany, and tell how many rows it inserted. A row inserted takes a rowid above
    every rowid in the table (SQLite's rule while the largest is below 2**63 - 1), a row updated
    keeps its own: the rows above the largest rowid before are those inserted. Two steps on the rowid
    b-tree instead of a lookup per key in the primary-key index beforehand (bench/sync_sqlite.py)."""
    top = cursor.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    cursor.executemany(statement, rows)
    return int(cursor.execute(f"SELECT count(*) FROM {table} WHERE rowid > ?", (top,)).fetchone()[0] or 0)


class WriterError(Exception):
    """The writer process failed a write, or stopped: what it said, or how it ended."""


class Writer:
    """The sync's side of the writer process of one SQLite target file."""

    def __init__(self, database: str) -> None:
        mine, theirs = socket.socketpair()
        for end in (mine, theirs):  # a page waits in the socket while the writer writes the last one
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PAGE_BUFFER)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PAGE_BUFFER)
        package_root = str(Path(__file__).resolve().parents[2])
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-c", _START, package_root, str(theirs.fileno()), database],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                process_group=0,  # Ctrl-C at the terminal is the sync's to handle
            )
        self._channel = Connection(mine.detach())
        self._inserted = self._updated = 0
        self._failure: str | None = None
        self._broken = False  # a message was cut off (Ctrl-C mid-send): nothing more is said

    def feed(self, statements: Statements) -> None:
        """The next pages are a new feed's, written with ``statements``."""
        self._failure = None
        texts = (str(statements.upsert), str(statements.cursor), str(statements.table))  # no str subclass
        self._send(("feed", *texts, *statements.commit))

    def page(self, rows: list[tuple[Any, ...]], distinct: int, cursor_row: tuple[Any, ...] | None) -> None:
        """Hand over a page's rows (``distinct`` keys among them) and the cursor row that goes with
        them; raise ``WriterError`` when the writer failed an earlier page of this feed."""
        self._send(("page", rows, distinct, cursor_row))
        while self._channel.poll():
            self._answer(self._receive())
        if self._failure is not None:
            raise WriterError(self._failure)

    def committed(self) -> tuple[int, int]:
        """Rows inserted and updated by the commits since the last time this was asked."""
        counts = (self._inserted, self._updated)
        self._inserted = self._updated = 0
        return counts

    def end(self) -> None:
        """After a feed's last page: the whole pages held are committed (``committed`` tells the
        rows); raise ``WriterError`` when a write of the feed failed."""
        if self._broken:
            raise WriterError(
                "a page was cut off on its way to the writer process: the pages it held are not "
                "committed, and are read again by the next run"
            )
        self._send(("end",))
        while True:
            answer = self._receive()
            if answer[0] == "ended":
                self._inserted += answer[1]
                self._updated += answer[2]
                break
            self._answer(answer)
        if self._failure is not None:
            raise WriterError(self._failure)

    def close(self) -> None:
        """Let the writer end (it holds nothing uncommitted after ``end``), and wait for it."""
        if not self._broken:
            with suppress(OSError):
                self._channel.send_bytes(marshal.dumps(("close",)))
        self._channel.close()  # the writer reads the end of its input: it rolls back what it holds
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _answer(self, answer: tuple[Any, ...]) -> None:
        if answer[0] == "committed":
            self._inserted += answer[1]
            self._updated += answer[2]
        elif answer[0] == "failed":
            self._failure = answer[1]

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self._channel.send_bytes(marshal.dumps(message))
        except OSError:
            raise WriterError(self._stopped()) from None
        except BaseException:  # interrupted part way: the writer would read the rest as garbage
            self._broken = True
            raise

    def _receive(self) -> tuple[Any, ...]:
        try:
            answer: tuple[Any, ...] = marshal.loads(self._channel.recv_bytes())
        except (EOFError, OSError):
            raise WriterError(self._stopped()) from None
        except BaseException:
            self._broken = True
            raise
        return answer

    def _stopped(self) -> str:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the writer process stopped answering"
        return f"the writer process ended (exit code {code})"


class _Target:
    """The writer's side: its connection to the target, the open transaction and what it holds."""

    def __init__(self, channel: Connection, database: str) -> None:
        self.channel = channel
        self.db = sqlite3.connect(database, isolation_level=None, timeout=BUSY_SECONDS)
        for_loading(self.db)
        self.statements: Statements | None = None
        self.failed = False
        self.rows = self.inserted = self.updated = 0
        self.opened = 0.0

    def page(self, rows: list[tuple[Any, ...]], distinct: int, cursor_row: tuple[Any, ...] | None) -> None:
        if self.failed or self.statements is None:
            return
        try:
            if not self.db.in_transaction:
                self.db.execute("BEGIN")
                self.rows, self.opened = 0, time.monotonic()
            inserted = upsert_counted(self.db, self.statements.table, self.statements.upsert, rows)
            if cursor_row is not None:
                self.db.execute(self.statements.cursor, cursor_row)
        except sqlite3.Error as exc:
            self._fail(exc)
            return
        self.inserted += inserted
        self.updated += distinct - inserted
        self.rows += len(rows)
        most, seconds = self.statements.commit
        due = self.rows >= most or time.monotonic() - self.opened >= seconds
        if due and self._commit():
            self._send(("committed", *self._counts()))

    def end(self) -> None:
        if self.db.in_transaction and not self.failed:
            self._commit()
        self._send(("ended", *self._counts()))
        self.failed = False

    def abandon(self) -> None:
        """The sync's process is gone: the pages not committed are read again by the next run."""
        if self.db.in_transaction:
            self.db.rollback()
        self.db.close()

    def _commit(self) -> bool:
        try:
            self.db.commit()
        except sqlite3.Error as exc:
            self._fail(exc)
            return False
        return True

    def _send(self, message: tuple[Any, ...]) -> None:
        self.channel.send_bytes(marshal.dumps(message))

    def _counts(self) -> tuple[int, int]:
        counts = (self.inserted, self.updated)
        self.inserted = self.updated = 0
        return counts

    def _fail(self, exc: sqlite3.Error) -> None:
        if self.db.in_transaction:
            self.db.rollback()
        self.failed = True
        self.inserted = self.updated = 0
        self._send(("failed", f"{type(exc).__name__}: {exc}"))


def serve(channel: Connection, database: str) -> None:
    """The writer process: messages from the sync until it closes the channel or goes away."""
    target = _Target(channel, database)
    while True:
        try:
            message = marshal.loads(channel.recv_bytes())
        except (EOFError, OSError):
            target.abandon()
            return
        kind = message[0]
        if kind == "page":
            target.page(message[1], message[2], message[3])
        elif kind == "feed":
            upsert, cursor, table, rows, seconds = message[1:]
            target.statements = Statements(upsert, cursor, table, (rows, seconds))
            target.failed = False
        elif kind == "end":
            target.end()
        elif kind == "close":
            target.abandon()
            return


_START = "import sys; sys.path.append(sys.argv[1]); from exactmate.sync.writer import main; main()"
"""How the writer process starts: ``-P`` keeps the working directory off its import path, and the
directory this exactmate was imported from comes last, so the writer finds the same exactmate as
the sync (installed, or on ``PYTHONPATH``, which it inherits) and never shadows the standard library."""


def main() -> None:
    """The writer process's entry: ``[package root,] socket descriptor, database``."""
    serve(Connection(int(sys.argv[-2])), sys.argv[-1])


if __name__ == "__main__":
    main()
