"""The store: a private SQLite file, safe transactions, a cross-process lock, typed row helpers."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import make_url

from exactmate.clock import FakeClock
from exactmate.config import Settings, describe_db_url
from exactmate.errors import StoreError, VaultError
from exactmate.store import (
    LedgerRow,
    SecretBinding,
    Store,
    locks,
    name_key,
    new_id,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _add(store: Store, name: str = "Acme", **extra: object) -> str:
    cid = new_id()
    store.insert_credential(
        id=cid,
        name=name,
        server_url="https://start.exactonline.nl",
        client_id="client-1",
        client_secret=b"sealed-secret",
        redirect_uri="http://127.0.0.1:8765/callback",
        **extra,  # type: ignore[arg-type]
    )
    return cid


# -- the file and the engine ----------------------------------------------------------------------


def test_sqlite_file_is_private_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "exactmate.db"
    store = Store(f"sqlite:///{path}")
    _add(store)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    for sidecar in path.parent.glob("exactmate.db-*"):
        assert _mode(sidecar) == 0o600, sidecar
    with store.reading() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()


def test_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    Store(f"sqlite:///{tmp_path / 'x.db'}").close()
    assert _mode(tmp_path) == 0o755
    assert _mode(tmp_path / "x.db") == 0o600


def test_an_open_database_file_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "x.db"
    Store(f"sqlite:///{path}").close()
    os.chmod(path, 0o666)
    with caplog.at_level("WARNING", logger="exactmate"):
        Store(f"sqlite:///{path}").close()
    assert _mode(path) == 0o600
    assert f"{path} could be read by other users (mode 666); exactmate set it to 0600" in caplog.text


def test_a_directory_anybody_may_write_to_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with caplog.at_level("WARNING", logger="exactmate"):
        Store(f"sqlite:///{shared / 'x.db'}").close()
    assert f"{shared} can be written by any user (mode 777)" in caplog.text
    assert f"run: chmod 700 {shared}" in caplog.text
    assert _mode(shared) == 0o777  # a directory may be shared on purpose: only warned about


def test_from_settings_uses_the_db_url(tmp_path: Path) -> None:
    settings = Settings.from_env({}, home=tmp_path / "home")
    store = Store.from_settings(settings)
    assert store.url == settings.db_url
    assert (tmp_path / "home" / "exactmate.db").exists()
    store.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused_with_advice(url: str) -> None:
    with pytest.raises(StoreError, match="in-memory SQLite") as info:
        Store(url)
    assert "sqlite:////" in str(info.value)


def test_unusable_path_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError) as info:
        Store(f"sqlite:///{blocker / 'sub' / 'exactmate.db'}")
    assert "cannot create the database file" in str(info.value)
    assert "EXACTMATE_HOME" in str(info.value)


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match="cannot read the database at .*junk.db"):
        Store(f"sqlite:///{path}")


def test_unparseable_url_and_missing_driver_are_store_errors() -> None:
    with pytest.raises(StoreError, match="not one SQLAlchemy understands"):
        Store("::nope::")
    with pytest.raises(StoreError, match="install the database driver"):
        Store("nosuchdialect://user:pw@host/db")


def test_repr_names_the_database_and_hides_passwords(db_url: str, store: Store) -> None:
    database = str(make_url(db_url).database).rsplit("/", 1)[-1]
    assert database in repr(store)
    with_password = make_url(db_url).set(password="s3cret-pw")
    assert "s3cret-pw" not in describe_db_url(with_password.render_as_string(hide_password=False))


def test_reopening_keeps_the_data(db_url: str, store: Store) -> None:
    cid = _add(store)
    store.close()
    again = Store(db_url)
    assert again.credential(cid) is not None
    again.close()


# -- transactions -----------------------------------------------------------------------------------


def test_transaction_rolls_back_on_error(store: Store) -> None:
    cid = _add(store)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.set_credential_status(cid, "connected", conn=conn)
        raise RuntimeError("boom")
    row = store.credential(cid)
    assert row is not None and row.status == "disconnected"


def test_write_transactions_take_the_write_lock_up_front(tmp_path: Path, clock: FakeClock) -> None:
    """SQLite: a DEFERRED transaction would let another writer in between its read and its write
    (PostgreSQL's transactions lock rows as they write; see the concurrency proofs)."""
    path = tmp_path / "exactmate.db"
    store = Store(f"sqlite:///{path}", clock=clock)
    raw = sqlite3.connect(path, timeout=0)
    with store.transaction(), pytest.raises(sqlite3.OperationalError, match="locked"):
        raw.execute("BEGIN IMMEDIATE")
    raw.execute("BEGIN IMMEDIATE")  # free again after commit
    raw.rollback()
    with store.reading():  # a read transaction does not block writers
        raw.execute("BEGIN IMMEDIATE")
        raw.rollback()
    raw.close()
    store.close()


def test_read_decide_write_from_many_threads_loses_no_update(store: Store) -> None:
    def bump(row: LedgerRow | None) -> tuple[LedgerRow, None]:
        current = row or LedgerRow(client_id="c", division=1, daily_remaining=0)
        return LedgerRow(client_id="c", division=1, daily_remaining=(current.daily_remaining or 0) + 1), None

    def work() -> None:
        for _ in range(40):
            store.modify_ledger("c", 1, bump)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    row = store.ledger("c", 1)
    assert row is not None and row.daily_remaining == 320


# -- credentials and tokens ------------------------------------------------------------------------


def test_credentials_round_trip(store: Store, clock: FakeClock) -> None:
    cid = _add(store, "  Acme Main ")
    row = store.credential(cid)
    assert row is not None
    assert (row.name, row.name_key, row.status, row.is_default) == (
        "Acme Main",
        "acme main",
        "disconnected",
        False,
    )
    assert row.client_secret == b"sealed-secret"
    assert "sealed-secret" not in repr(row)
    assert row.created_at == row.updated_at == clock.now()
    by_name = store.credential_by_name("ACME main  ")
    assert by_name is not None and by_name.id == cid
    assert store.credential_by_name("other") is None
    assert store.credential("nope") is None


def test_duplicate_names_are_refused_case_and_space_insensitively(store: Store) -> None:
    _add(store, "Acme")
    with pytest.raises(VaultError, match="a credential named 'acme' already exists"):
        _add(store, " acme ")


def test_list_is_sorted_by_name(store: Store) -> None:
    for name in ("beta", "Alpha", "gamma"):
        _add(store, name)
    assert [c.name for c in store.list_credentials()] == ["Alpha", "beta", "gamma"]


def test_update_credential(store: Store, clock: FakeClock) -> None:
    cid = _add(store, "Acme")
    _add(store, "Other")
    clock.advance(5)
    store.update_credential(
        cid, name=" Renamed ", last_test_ok=True, last_test_message="ok", last_test_at=1.0
    )
    row = store.credential(cid)
    assert row is not None
    assert (row.name, row.name_key, row.last_test_ok, row.last_test_message) == (
        "Renamed",
        "renamed",
        True,
        "ok",
    )
    assert row.updated_at == row.created_at + 5
    with pytest.raises(VaultError, match="already exists"):
        store.update_credential(cid, name="OTHER")
    with pytest.raises(VaultError, match="no credential with id"):
        store.update_credential("missing", name="x")
    with pytest.raises(ValueError, match="cannot update"):
        store.update_credential(cid, id="new-id")
    with pytest.raises(ValueError, match="status must be one of"):
        store.set_credential_status(cid, "broken")


def test_status_and_default(store: Store) -> None:
    a, b = _add(store, "a", is_default=True), _add(store, "b")
    store.set_credential_status(a, "needs_reauthorization", "Old refresh token used.")
    row = store.credential(a)
    assert row is not None and (row.status, row.status_reason) == (
        "needs_reauthorization",
        "Old refresh token used.",
    )
    store.set_default_credential(b)
    assert [(c.name, c.is_default) for c in store.list_credentials()] == [("a", False), ("b", True)]


def test_tokens_rotate_with_a_generation_and_go_with_their_credential(store: Store) -> None:
    cid = _add(store)
    assert store.tokens(cid) is None
    kw: dict[str, Any] = {"access_expires_at": 600.0, "access_issued_at": 0.0, "refresh_issued_at": 0.0}
    assert store.put_tokens(cid, access_token=b"a1", refresh_token=b"r1", **kw) == 1
    # Values no random credential id (hex) can contain, so the repr check below cannot pass by luck.
    assert store.put_tokens(cid, access_token=b"access-zz", refresh_token=b"refresh-zz", **kw) == 2
    row = store.tokens(cid)
    assert row is not None
    assert (row.access_token, row.refresh_token, row.generation) == (b"access-zz", b"refresh-zz", 2)
    assert "access-zz" not in repr(row) and "refresh-zz" not in repr(row)
    store.delete_tokens(cid)
    assert store.tokens(cid) is None
    store.put_tokens(cid, access_token=b"a3", refresh_token=b"r3", **kw)
    assert store.delete_credential(cid) is True
    assert store.tokens(cid) is None
    assert store.delete_credential(cid) is False


def test_helpers_for_associated_data_and_names() -> None:
    bound = SecretBinding("abc", "https://start.exactonline.nl", "app", "http://127.0.0.1:8400/cb")
    assert bound.aad("refresh_token") == (
        '["exactmate/2","abc","refresh_token","https://start.exactonline.nl","app","http://127.0.0.1:8400/cb"]'
    )
    assert bound.legacy_aad("client_secret") == "credential:abc:client_secret"
    assert bound.legacy_aad("refresh_token") == "token:abc:refresh_token"
    assert name_key("  MiXed Case ") == "mixed case"
    assert len({new_id() for _ in range(100)}) == 100


def test_error_budget_rows_are_scoped_and_pruned(store: Store) -> None:
    for at in (10.0, 20.0, 30.0):
        store.record_error("acme", 1, "crm/Accounts", 404, at, forget_before=0.0)
    store.record_error("acme", 2, "crm/Accounts", 400, 15.0, forget_before=0.0)
    store.record_error("acme", 1, "crm/Contacts", 400, 15.0, forget_before=0.0)
    assert store.recent_errors("acme", 1, "crm/Accounts", since=10.0) == [20.0, 30.0]
    store.record_error("acme", 1, "crm/Accounts", 401, 40.0, forget_before=25.0)
    assert store.recent_errors("acme", 1, "crm/Accounts", since=0.0) == [30.0, 40.0]
    assert store.recent_errors("acme", 2, "crm/Accounts", since=0.0) == [15.0]


# -- the lock -----------------------------------------------------------------------------------------


def test_lock_excludes_threads(store: Store) -> None:
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(20):
            with store.lock("critical"):
                with guard:
                    inside += 1
                    most = max(most, inside)
                store.ledger("x", 1)  # give other threads a chance to run
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1


def test_lock_is_released_after_an_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.lock("l"):
        raise RuntimeError("boom")
    with store.reading() as conn:
        assert conn.execute(select(locks)).all() == []
    with store.lock("l", timeout=0):
        pass


def test_lock_held_elsewhere_times_out_naming_the_holder(db_url: str, clock: FakeClock) -> None:
    one, two = Store(db_url, clock=clock), Store(db_url, clock=clock)
    with one.lock("refresh", owner="proc-A"):
        start = clock.now()
        with (
            pytest.raises(StoreError, match="waiting for lock 'refresh', held by proc-A"),
            two.lock("refresh", timeout=2.0, poll=0.5),
        ):
            pass
        assert clock.now() - start == pytest.approx(2.0)  # polled with the store clock's sleep
        assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]
    with two.lock("refresh", timeout=0):
        pass
    one.close()
    two.close()


def test_lease_of_a_crashed_holder_expires(store: Store, clock: FakeClock) -> None:
    with store.transaction() as conn:
        conn.execute(insert(locks).values(name="refresh", owner="dead-process", expires_at=clock.now() + 10))
    with (
        pytest.raises(StoreError, match="frees itself within"),
        store.lock("refresh", timeout=1.0, poll=0.25),
    ):
        pass
    clock.advance(10)
    with store.lock("refresh", timeout=0) as owner:
        assert owner != "dead-process"


def test_the_lease_of_an_ended_process_of_this_machine_is_taken_over_at_once(
    store: Store, clock: FakeClock
) -> None:
    import socket
    import subprocess
    import sys

    script = [sys.executable, "-c", "import os; print(os.getpid())"]
    ended = subprocess.run(script, capture_output=True, text=True, check=True)
    dead = f"{socket.gethostname()}:{ended.stdout.strip()}:abc"  # as new_owner() writes it
    alive = f"{socket.gethostname()}:{os.getpid()}:def"
    elsewhere = "another-host:1:ghi"
    for holder, taken in ((dead, True), (alive, False), (elsewhere, False)):
        with store.transaction() as conn:
            conn.execute(delete(locks))
            conn.execute(insert(locks).values(name="sync", owner=holder, expires_at=clock.now() + 3600))
        if taken:
            with store.lock("sync", timeout=0) as owner:
                assert owner != holder
        else:
            with pytest.raises(StoreError, match="held by"), store.lock("sync", timeout=0):
                pass


def _increment_file_counter(db_url: str, counter: str, times: int) -> None:
    """Run in a child process: a read-modify-write of a plain file, safe only under the lock."""
    store = Store(db_url)
    for _ in range(times):
        with store.lock("counter", timeout=60.0, poll=0.001):
            value = int(Path(counter).read_text())
            store.ledger("x", 1)  # widen the window between read and write
            Path(counter).write_text(str(value + 1))
    store.close()


def test_lock_excludes_processes(db_url: str, tmp_path: Path) -> None:
    Store(db_url).close()
    counter = tmp_path / "counter.txt"
    counter.write_text("0")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_increment_file_counter, args=(db_url, str(counter), 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert counter.read_text() == "100"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_processes_recording_a_block_for_one_scope_at_once_both_succeed(
    db_url: str, store: Store
) -> None:
    """SQLite's BEGIN IMMEDIATE makes the second writer wait; on PostgreSQL its insert meets the first
    writer's row once that commits, and it updates that row instead of failing on the key."""
    from exactmate.store import error_blocks
    from tests.old_stores import wait_for_a_lock_wait

    failures: list[BaseException] = []

    def second() -> None:
        try:
            store.block_errors("app", 1, "crm/Accounts", 200.0)
        except BaseException as exc:
            failures.append(exc)

    first = Store(db_url)  # as another process
    thread = threading.Thread(target=second)
    with first.transaction() as conn:
        conn.execute(delete(error_blocks))
        scope = {"client_id": "app", "division": 1, "endpoint": "crm/Accounts"}
        conn.execute(insert(error_blocks).values(**scope, until=100.0))
        thread.start()
        wait_for_a_lock_wait(db_url, thread.is_alive)
    thread.join(timeout=30)
    first.close()
    assert failures == []
    assert store.error_state("app", 1, "crm/Accounts", since=0, now=0)[0] == 200.0  # the later answer's
