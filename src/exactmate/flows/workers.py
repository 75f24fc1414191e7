"""Workers: processes that take flow runs from the shared queue (``exactmate worker``).

A worker is a flow engine (DBOS executor) under an *executor id* that stays the same across its
restarts, because DBOS ties the runs an executor holds (PENDING) to that id: a worker restarted under
the same id recovers them at its start, and ``exactmate worker --recover ID`` hands a dead
executor's runs to the queue from any living worker.

The default id is ``<host name>-<slot>``: the lowest slot number (0, 1, 2, …) no live worker of this
host holds. A worker holds its id as a lease in the store (``worker:<id>``) for as long as it runs,
so two live processes never share an id; a worker that was killed leaves its lease to the next worker
started on the same host (the store knows that process has ended), which therefore takes the same id
and recovers its runs. Where the host name is not stable (a container recreated), give the id:
``--executor-id``.

``check`` is the health check (``exactmate worker --check``): the store and DBOS's system database
reachable and at the schema this exactmate expects, starting no executor.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from exactmate.errors import ExactmateError, StoreError, ValidationError
from exactmate.flows.engine import (
    APP_NAME,
    FlowEngineError,
    quiet_dbos,
    system_database_url,
    without_secrets,
)

if TYPE_CHECKING:
    from exactmate.config import Settings
    from exactmate.store import Store

LEASE_PREFIX = "worker:"
LEASE_TTL = 300.0
"""Seconds a worker's lease on its executor id lasts unless renewed; a live worker renews it every
``RENEW_EVERY`` seconds. It only matters for a worker of another host that vanished: one of this
host that ended is known to have ended, and its id is free at once."""
RENEW_EVERY = 60.0
MAX_SLOTS = 256
MAX_ID_LENGTH = 100


def check_executor_id(executor_id: str) -> str:
    """An executor id given by the user: printable, no spaces, at most 100 characters."""
    text = executor_id.strip()
    if not text or len(text) > MAX_ID_LENGTH or not text.isprintable() or any(c.isspace() for c in text):
        raise ValidationError(
            f"{executor_id!r} cannot be an executor id: give 1 to {MAX_ID_LENGTH} printable characters "
            "without spaces",
            hint="e.g. exactmate worker --executor-id worker-1",
        )
    return text


class ExecutorId:
    """This process's executor id, held as a lease in the store while the worker runs."""

    def __init__(self, store: Store, wanted: str | None = None, *, host: str | None = None) -> None:
        self.store = store
        self.wanted = check_executor_id(wanted) if wanted is not None else None
        self.host = host or socket.gethostname()
        self.value = ""
        self._owner = ""
        self._stack = ExitStack()
        self._renewed = 0.0

    def take(self) -> str:
        """Take the given id, or the lowest free slot of this host; StoreError when the given id is
        held by a live worker."""
        if self.wanted is not None:
            try:
                return self._hold(self.wanted)
            except StoreError as exc:
                raise StoreError(
                    f"the executor id {self.wanted!r} is in use by a running worker ({exc.message})",
                    hint="give this worker another id: exactmate worker --executor-id ID",
                ) from None
        for slot in range(MAX_SLOTS):
            try:
                return self._hold(f"{self.host}-{slot}")
            except StoreError:
                continue
        raise StoreError(
            f"all {MAX_SLOTS} worker slots of host {self.host} are taken",
            hint="stop a worker, or give this one an id: exactmate worker --executor-id ID",
        )

    def _hold(self, executor_id: str) -> str:
        self._owner = self._stack.enter_context(
            self.store.lock(LEASE_PREFIX + executor_id, timeout=0, ttl=LEASE_TTL)
        )
        self.value = executor_id
        self._renewed = time.monotonic()
        return executor_id

    def renew(self) -> None:
        self.store.renew_lock(LEASE_PREFIX + self.value, self._owner, ttl=LEASE_TTL)
        self._renewed = time.monotonic()

    def keep(self) -> None:
        """Renew the lease when ``RENEW_EVERY`` seconds have passed since it was last renewed."""
        if time.monotonic() - self._renewed >= RENEW_EVERY:
            self.renew()

    def release(self) -> None:
        self._stack.close()


@contextmanager
def holding(settings: Settings, wanted: str | None = None) -> Iterator[ExecutorId]:
    """An executor id (``wanted``, or this host's lowest free slot) held for the ``with`` block."""
    from exactmate.store import Store

    store = Store(settings.db_url)
    held = ExecutorId(store, wanted)
    try:
        held.take()
        yield held
    finally:
        held.release()
        store.close()


@dataclass(frozen=True)
class Health:
    store: str
    system_database: str

    def line(self) -> str:
        return f"ok: store {self.store}, flows' system database {self.system_database}"


def check(settings: Settings) -> Health:
    """The store and DBOS's system database reachable and at the expected schema, or an
    ExactmateError saying which is not and why. Starts no executor and changes nothing in DBOS's
    database (the store, like every command, creates its tables on first use)."""
    from exactmate.config import describe_db_url
    from exactmate.store import Store

    try:
        Store(settings.db_url).close()
    except ExactmateError as exc:
        raise StoreError(f"the store is not usable: {exc.message}", hint=exc.hint) from None
    url = system_database_url(settings)
    _check_system_database(url)
    return Health(store=describe_db_url(settings.db_url), system_database=describe_db_url(url))


def _check_system_database(url: str) -> None:
    from dbos import DBOSClient

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise FlowEngineError(
            "the flows' system database does not exist yet (no flow engine has started on this home)",
            hint="start one: exactmate worker",
        )
    quiet_dbos()
    try:
        client = DBOSClient(system_database_url=url, application_name=APP_NAME, retry_connection_errors=False)
    except Exception as exc:
        if "database" in str(exc) and "does not exist" in str(exc):
            raise FlowEngineError(
                "the flows' system database does not exist yet (no worker has started on this database)",
                hint="start one: exactmate worker",
            ) from None
        raise FlowEngineError(
            f"the flows' system database cannot be reached: {_first_line(without_secrets(exc, url))}",
            hint="check EXACTMATE_DB and that the database server answers; a worker creates the database at "
            "its first start: exactmate worker",
        ) from None
    try:
        client._sys_db.verify_migrations()  # DBOS's check that creates and changes nothing
    except Exception as exc:
        raise FlowEngineError(
            f"the flows' system database is not at the schema this exactmate expects: "
            f"{_first_line(without_secrets(exc, url))}",
            hint="start a worker, which brings it up to date: exactmate worker",
        ) from None
    finally:
        client.destroy()


def _first_line(text: str) -> str:
    return text.strip().split("\n")[0]
