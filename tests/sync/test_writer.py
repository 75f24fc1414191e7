"""The sync's writer process (``exactmate.sync.writer``): a load's pages written in a process of their
own store exactly what the sync writes in its own process, a failed write stops the feed with its
cause and keeps whole pages, and a writer whose sync went away keeps nothing it had not committed."""

from __future__ import annotations

import os
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, text

from exactmate.errors import StoreError
from exactmate.sync import run as sync_run
from exactmate.sync import sync_endpoints
from exactmate.sync.tables import cursor_table
from exactmate.sync.writer import Statements, Writer, WriterError, upsert_statement
from tests.actions.conftest import D1, build_world
from tests.sync.test_sync import _committed, feed_pages

PATH = "project/TimeTransactions"


def stored(target: str) -> list[tuple[Any, ...]]:
    """Every row of the time entries' table, but when it was synced, in key order."""
    engine = create_engine(target)
    try:
        with engine.connect() as db:
            columns = list(db.execute(text("SELECT * FROM project_timetransactions")).keys())
            kept = ", ".join(f'"{c}"' for c in columns if c != "_synced_at")
            query = text(f'SELECT {kept} FROM project_timetransactions ORDER BY "_division", "ID"')
            return [tuple(row) for row in db.execute(query)]
    finally:
        engine.dispose()


def test_the_writer_stores_what_the_sync_stores_itself_and_counts_inserts_and_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = f"sqlite:///{tmp_path / 'here.db'}", f"sqlite:///{tmp_path / 'there.db'}"
    started: list[str] = []
    monkeypatch.setattr(sync_run, "Writer", lambda database: started.append(database) or Writer(database))
    for world in build_world(tmp_path, records=3_000, divisions=1):
        with monkeypatch.context() as inside:
            inside.setattr(sync_run, "WRITER_ROWS", 10**9)
            assert sync_endpoints(world.conn, [PATH], here, division=D1).ok
        assert started == []
        loaded = sync_endpoints(world.conn, [PATH], there, division=D1)
        assert started == [str(tmp_path / "there.db")]
        assert loaded.ok and (loaded.reports[0].inserted, loaded.reports[0].updated) == (3_000, 0)
        rows = stored(there)
        assert len(rows) == 3_000 and rows == stored(here)  # value for value, column for column

        engine = create_engine(there)  # the cursor back to the start: every entry comes again
        with engine.begin() as db:
            db.execute(text("UPDATE exactmate_sync_cursors SET cursor = 1"))
        engine.dispose()
        again = sync_endpoints(world.conn, [PATH], there, division=D1)
        assert again.ok and (again.reports[0].inserted, again.reports[0].updated) == (0, 3_000)
        assert len(started) == 2 and stored(there) == rows


def test_a_write_the_writer_fails_stops_the_feed_with_its_cause_and_keeps_whole_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync_run, "COMMIT_ROWS", 1)  # each page committed alone
    target = f"sqlite:///{tmp_path / 'exact.db'}"
    for world in build_world(tmp_path, records=2_500, divisions=1):
        first = feed_pages(world, PATH, D1)[0]
        engine = create_engine(target)
        cursor_table(MetaData()).create(engine)
        with engine.begin() as db:  # the second page's cursor cannot be written: its page is not whole
            db.execute(
                text(
                    "CREATE TRIGGER full_disk BEFORE UPDATE ON exactmate_sync_cursors "
                    f"WHEN NEW.cursor > {first[1]} BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
                )
            )
        result = sync_endpoints(world.conn, [PATH], target, division=D1)
        error = result.reports[0].error
        assert not result.ok and isinstance(error, StoreError)
        assert "the disk is full" in str(error) and "project/TimeTransactions" in str(error)
        assert "next run" in (error.hint or "")
        rows, top, cursor = _committed(target)
        assert (rows, cursor) == first and top <= cursor  # the first page alone, none of the second's rows
        assert result.reports[0].inserted == rows  # what was committed, not what was handed over

        with engine.begin() as db:
            db.execute(text("DROP TRIGGER full_disk"))
        engine.dispose()
        again = sync_endpoints(world.conn, [PATH], target, division=D1)
        assert again.ok and again.reports[0].inserted == 2_500 - rows
        assert _committed(target)[0] == 2_500


def _writer_on(path: Path) -> tuple[Writer, Statements]:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
        db.execute("CREATE TABLE c (f TEXT PRIMARY KEY, cursor INTEGER)")
    quote = '"{}"'.format
    statements = Statements(
        upsert_statement(quote, "t", ["k", "v"], ["k"]),
        upsert_statement(quote, "c", ["f", "cursor"], ["f"]),
        '"t"',
        (10**9, 3600.0),  # nothing commits before the feed ends
    )
    writer = Writer(str(path))
    writer.feed(statements)
    return writer, statements


def _table(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT k, v FROM t ORDER BY k").fetchall()


def test_a_writer_whose_sync_went_away_rolls_back_what_it_held_and_ends(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer, _ = _writer_on(path)
    writer.page([("a", 1), ("b", 2)], 2, ("feed", 5))
    writer._channel.close()  # what kill -9 of the sync's process leaves the writer with
    assert writer._process.wait(timeout=30) == 0
    assert _table(path) == []  # the page it held, uncommitted, is read again by the next run


def test_the_writer_commits_at_a_feeds_end_counts_and_is_out_of_reach_of_ctrl_c(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer, _ = _writer_on(path)
    try:
        # Ctrl-C at a terminal signals its foreground process group: the sync's, not the writer's
        assert os.getpgid(writer._process.pid) not in (os.getpgid(0), os.getpid())
        assert os.getpgid(writer._process.pid) == writer._process.pid
        writer.page([("a", 1), ("b", 2)], 2, ("feed", 5))
        writer.page([("b", 3), ("c", 4)], 2, ("feed", 9))
        writer.end()
        assert writer.committed() == (3, 1) and writer.committed() == (0, 0)
        assert _table(path) == [("a", 1), ("b", 3), ("c", 4)]
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT f, cursor FROM c").fetchall() == [("feed", 9)]
    finally:
        writer.close()
    assert writer._process.returncode == 0


def test_a_writer_that_ended_is_reported_not_waited_for(tmp_path: Path) -> None:
    writer, _ = _writer_on(tmp_path / "t.db")
    writer._process.kill()
    writer._process.wait()
    with pytest.raises(WriterError, match="writer process ended"):
        for _ in range(100):  # the socket may take a page or two before it tells
            writer.page([("a", 1)] * 1000, 1, None)
        writer.end()
    writer.close()


@pytest.mark.parametrize(
    ("url", "written_apart"),
    [
        ("sqlite:///{tmp}/exact.db", True),
        ("sqlite://", False),
        ("sqlite:///file:{tmp}/exact.db?mode=ro&uri=true", False),
        ("postgresql+psycopg://nobody@127.0.0.1/none", False),
    ],
)
def test_only_a_sqlite_file_gets_a_writer_process(tmp_path: Path, url: str, written_apart: bool) -> None:
    engine = create_engine(url.format(tmp=tmp_path))
    writers = sync_run._Writers(engine)
    assert (writers.database is not None) is written_apart
    if not written_apart:
        with pytest.raises(ValueError, match="SQLite file"):
            writers.get()
    engine.dispose()


def test_a_page_cut_off_on_its_way_is_never_committed_and_nothing_hangs(tmp_path: Path) -> None:
    """Ctrl-C in the middle of handing a page over leaves the writer a message with no end: the
    sync says nothing more to it, and closing makes it roll back and end."""
    path = tmp_path / "t.db"
    writer, _ = _writer_on(path)
    writer.page([("a", 1)], 1, ("feed", 5))
    def cut_off(data: Any) -> None:  # the length of the whole message, then half of it
        whole = bytes(data)
        os.write(writer._channel.fileno(), struct.pack("!i", len(whole)) + whole[: len(whole) // 2])
        raise KeyboardInterrupt

    writer._channel.send_bytes = cut_off  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        writer.page([("b", 2)] * 50, 1, ("feed", 9))
    with pytest.raises(WriterError, match="cut off"):
        writer.end()
    writer.close()
    assert writer._process.returncode == 0
    assert _table(path) == []  # neither the first page nor the half one


def test_the_writer_starts_whatever_the_working_directory_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file named like a module the writer imports, where the sync runs, is not what it imports."""
    here = tmp_path / "work"
    here.mkdir()
    (here / "sqlite3.py").write_text("raise ImportError('the working directory was imported from')\n")
    (here / "exactmate.py").write_text("raise ImportError('the working directory was imported from')\n")
    monkeypatch.chdir(here)
    path = tmp_path / "t.db"
    writer, _ = _writer_on(path)
    try:
        writer.page([("a", 1)], 1, ("feed", 5))
        writer.end()
        assert writer.committed() == (1, 0) and _table(path) == [("a", 1)]
    finally:
        writer.close()
