"""SQLite specifics: a private database file, WAL, a busy timeout and ``BEGIN IMMEDIATE``."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event

from exactmate.errors import StoreError

log = logging.getLogger("exactmate.store")


def prepare_file(database: str | None) -> None:
    """Create the SQLite file with mode 0600 (and a missing directory with 0700) before SQLite does.

    SQLite would create it with the process umask, typically world-readable; its -wal and -shm
    files copy the main file's mode. An existing file others can read or write (a copy, a restore,
    a umask of 0) is set back to 0600 with a warning: the file holds the vault. An existing
    directory keeps its mode, since it may be shared, but one that anybody may write to is warned
    about: anybody could replace the database there.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        raise StoreError(
            "an in-memory SQLite database cannot be shared by threads and processes",
            hint="use a file: sqlite:////absolute/path/exactmate.db",
        )
    path = Path(database).expanduser()
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
        _warn_open_directory(path.parent)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        for owned in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            _tighten(owned)
        return
    except OSError as exc:
        raise StoreError(
            f"cannot create the database file {path}: {exc.strerror}",
            hint="make the directory writable, or point EXACTMATE_HOME / EXACTMATE_DB elsewhere",
        ) from None
    os.close(fd)


def _tighten(path: Path) -> None:
    """Set a database file others can read or write back to 0600, and say so."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if os.name != "posix" or not mode & 0o077:
            return
        path.chmod(0o600)
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("%s can be read by other users (mode %o) and could not be changed: %s", path, mode, exc)
        return
    log.warning("%s could be read by other users (mode %o); exactmate set it to 0600", path, mode)


def _warn_open_directory(directory: Path) -> None:
    try:
        mode = stat.S_IMODE(directory.stat().st_mode)
    except OSError:
        return
    if os.name == "posix" and mode & 0o002 and not mode & stat.S_ISVTX:
        log.warning(
            "%s can be written by any user (mode %o): anybody could replace exactmate's database there; "
            "run: chmod 700 %s",
            directory,
            mode,
            directory,
        )


def install_transaction_control(engine: Engine, busy_timeout: float) -> None:
    """Take over BEGIN from the sqlite3 driver so write transactions start with ``BEGIN IMMEDIATE``.

    The driver's default defers the write lock to the first write, so two processes could both
    read a value and then both write a decision based on it; IMMEDIATE takes the lock first and
    makes every read-decide-write sequence atomic. A connection given the execution option
    ``exactmate_begin="DEFERRED"`` starts a plain read transaction instead. WAL lets readers go on
    while one writer holds the lock; the busy timeout makes writers queue instead of failing.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("exactmate_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def use_wal(cursor: Any) -> None:
    """Put the file in WAL mode (the mode stays with the file, so this switches once). The switch needs
    the file to itself, and SQLite refuses it at once, without the busy timeout, while another
    connection holds it: a process that finds it busy leaves the switch to the one holding it (two
    processes opening a file made elsewhere at the same moment), and the next connection switches."""
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise


def begin_write(cursor: Any) -> None:
    """Start a write transaction on a driver cursor of a connection from this engine's pool (one
    the engine's ``begin`` event does not see): ``BEGIN IMMEDIATE``, as every write transaction."""
    cursor.execute("BEGIN IMMEDIATE")
