"""The store's schema through Alembic, on SQLite and PostgreSQL: created at HEAD, databases of earlier
exactmates adopted with their rows, the opening policy (an older SQLite file upgraded, an older
PostgreSQL database refused, an unknown schema refused on both), and concurrent starts and upgrades."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Column, Integer, MetaData, create_engine, select

from exactmate.errors import StoreError
from exactmate.store import HEAD, SchemaState, Store, audit_log, create_journal, metadata, upgrade
from tests.old_stores import (
    CREDENTIAL,
    NOW,
    build_legacy,
    build_revision,
    execute,
    query,
    schema_diff,
    table_names,
)

FIRST = "0001_schema_3"


@pytest.fixture
def url(db_url: str) -> str:
    """An empty database (its SQLite directory made, so literal SQL can build an old one there)."""
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return db_url


def _revision(url: str) -> list[str]:
    return [row[0] for row in query(url, "SELECT version_num FROM alembic_version")]


def test_head_is_the_head_of_the_migrations_and_their_history_one_line() -> None:
    scripts = upgrade.script()
    assert scripts.get_heads() == [HEAD]  # store/revision.py's constant cannot drift from Alembic's
    history = [s.revision for s in scripts.walk_revisions()]
    assert history == [HEAD, "0002_no_schema_version", FIRST]
    assert upgrade.known(FIRST) and not upgrade.known("0001")  # exact ids, never Alembic's prefixes


def test_an_empty_database_is_created_at_head(url: str) -> None:
    store = Store(url)
    try:
        assert store.schema_status().state is SchemaState.current
    finally:
        store.close()
    assert _revision(url) == [HEAD]
    assert table_names(url) == set(metadata.tables) | {"alembic_version"}  # no schema_version left


def test_the_migrations_build_exactly_the_schema_the_code_declares(url: str) -> None:
    Store(url).close()
    assert schema_diff(url) == []
    other = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(other)
    other.tables["locks"].append_column(Column("extra", Integer))
    assert schema_diff(url, other)  # the comparison sees a difference when there is one
    engine = create_engine(url)
    try:  # down to revision 1 (what schema version 3 was), to nothing, and up again
        with engine.begin() as conn:
            command.downgrade(upgrade.config(conn), FIRST)
        assert query(url, "SELECT version FROM schema_version") == [(3,)]
        with engine.begin() as conn:
            command.downgrade(upgrade.config(conn), "base")
        assert table_names(url) <= {"alembic_version"}
        with engine.begin() as conn:
            command.upgrade(upgrade.config(conn), "head")
    finally:
        engine.dispose()
    assert schema_diff(url) == []


def _assert_rows_kept(store: Store, version: int) -> None:
    credential = store.credential(CREDENTIAL)
    assert credential is not None and credential.name == "Acme"
    assert credential.client_secret == b"sealed-secret"
    tokens = store.tokens(CREDENTIAL)
    assert tokens is not None and tokens.generation == 4 and tokens.refresh_token == b"sealed-refresh"
    ledger = store.ledger("app-1", 7)
    assert ledger is not None and ledger.daily_remaining == 4000
    assert store.recent_errors("app-1", 7, "crm/Accounts", since=0) == [NOW]
    with store.reading() as conn:
        assert conn.execute(select(create_journal.c.record_key)).scalars().all() == ["guid-1"]
        assert conn.execute(select(audit_log.c.before)).scalars().all() == ['{"Name": "Old"}']
    blocked, _ = store.error_state("app-1", 7, "crm/Accounts", since=0, now=NOW)
    assert blocked == (NOW + 3600 if version >= 2 else None)
    store.block_errors("app-1", 8, "crm/Accounts", NOW + 60)  # the tables the version lacked work
    with store.transaction() as conn:
        conn.exec_driver_sql(
            "INSERT INTO known_divisions VALUES (%s, 8, 'New BV', 1)"
            if conn.dialect.name == "postgresql"
            else "INSERT INTO known_divisions VALUES (?, 8, 'New BV', 1)",
            (CREDENTIAL,),
        )


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_database_made_before_the_migrations_is_adopted_with_its_rows(url: str, version: int) -> None:
    build_legacy(url, version)
    if url.startswith("postgresql"):
        with pytest.raises(StoreError) as refused:
            Store(url)
        assert f"schema version {version}" in refused.value.message and HEAD in refused.value.message
        assert refused.value.hint == "exactmate db upgrade"
        assert query(url, "SELECT version FROM schema_version") == [(version,)]  # untouched
        opened = Store(url, check_schema=False)
        done = opened.upgrade_schema()
        opened.close()
        assert done.before.legacy_version == version and done.after.revision == HEAD
    store = Store(url)  # SQLite: upgraded on opening, as a one-machine user's file is
    try:
        _assert_rows_kept(store, version)
    finally:
        store.close()
    assert _revision(url) == [HEAD]
    assert "schema_version" not in table_names(url)
    assert schema_diff(url) == []


def test_an_older_revision_is_upgraded_on_sqlite_and_refused_on_postgresql(url: str) -> None:
    build_revision(url, FIRST)
    if url.startswith("postgresql"):
        with pytest.raises(StoreError) as refused:
            Store(url)
        assert refused.value.message.endswith(
            f"has schema {FIRST}; this exactmate needs revision {HEAD} "
            "(a PostgreSQL database is upgraded only when an operator says so)"
        )
        assert refused.value.hint == "exactmate db upgrade"
        assert _revision(url) == [FIRST]
        status = Store(url, check_schema=False)
        assert status.schema_status().summary == "needs upgrade: exactmate db upgrade"
        status.close()
        return
    store = Store(url)
    try:
        assert store.credential(CREDENTIAL) is not None
    finally:
        store.close()
    assert _revision(url) == [HEAD]


@pytest.mark.parametrize(
    ("made", "shown"),
    [
        ("revision", "schema 0099_from_a_newer_exactmate, which this exactmate does not know"),
        ("legacy", "schema schema version 4 (an exactmate before Alembic migrations), which"),
    ],
)
def test_a_schema_this_exactmate_does_not_know_is_refused_and_left_alone(
    url: str, made: str, shown: str
) -> None:
    if made == "revision":
        Store(url).close()
        execute(url, "UPDATE alembic_version SET version_num = '0099_from_a_newer_exactmate'")
    else:
        build_legacy(url, 4)
    before = table_names(url)
    with pytest.raises(StoreError) as refused_on_opening:
        Store(url)
    unchecked = Store(url, check_schema=False)
    try:
        with pytest.raises(StoreError) as refused_upgrade:
            unchecked.upgrade_schema()
        assert unchecked.schema_status().state is SchemaState.newer
    finally:
        unchecked.close()
    for refused in (refused_on_opening, refused_upgrade):
        assert shown in refused.value.message
        assert refused.value.hint == "upgrade exactmate to the version that upgraded this database"
    assert table_names(url) == before


def test_tables_without_a_schema_record_are_left_alone(url: str) -> None:
    execute(url, "CREATE TABLE credentials (id VARCHAR(36) PRIMARY KEY)")
    with pytest.raises(StoreError, match="no record of their schema"):
        Store(url)
    assert table_names(url) == {"credentials"}


def test_upgrading_a_database_at_head_changes_nothing(url: str) -> None:
    Store(url).close()
    store = Store(url)
    try:
        first, second = store.upgrade_schema(), store.upgrade_schema()
    finally:
        store.close()
    assert not first.changed and not second.changed and second.after.revision == HEAD


def _open_at_once(url: str, barrier: Any, results: Any) -> None:
    """Run in a child process: open the store the moment the other child does."""
    barrier.wait(timeout=60)
    store = Store(url)
    results.put(store.credential(CREDENTIAL) is not None)
    store.close()


def _upgrade_at_once(url: str, barrier: Any, results: Any) -> None:
    barrier.wait(timeout=60)
    store = Store(url, check_schema=False)
    results.put(store.upgrade_schema().changed)
    store.close()


def _race(target: Any, url: str) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    return sorted(results.get(timeout=5) for _ in procs)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_two_processes_opening_an_old_sqlite_file_at_once_upgrade_it_once(url: str) -> None:
    build_legacy(url, 2)
    assert _race(_open_at_once, url) == [True, True]
    assert _revision(url) == [HEAD]
    assert query(url, "SELECT name FROM credentials") == [("Acme",)]


def test_concurrent_upgrades_queue_and_one_does_the_work(url: str) -> None:
    """On PostgreSQL the advisory lock, on SQLite the write lock: the second finds HEAD and waits for
    nothing else; without the lock both would run revision 2 and one would fail."""
    build_revision(url, FIRST)
    assert _race(_upgrade_at_once, url) == [False, True]
    assert _revision(url) == [HEAD]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_workers_starting_at_once_on_an_empty_postgresql_database_create_it_once(url: str) -> None:
    execute(url, "CREATE TABLE not_exactmates (id INTEGER)")  # someone else's: still empty of the store's
    assert _race(_open_at_once, url) == [False, False]  # no credential in a new store
    assert _revision(url) == [HEAD]


def test_opening_a_store_at_head_imports_no_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    Store(url).close()
    script = (
        "import sys\n"
        "from exactmate.store import Store\n"
        f"Store({url!r}).close()\n"
        "print('alembic' in sys.modules)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "False"
