"""``Store``: the engine, transactions, the lease lock and small typed row helpers."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, delete, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from exactmate.clock import Clock, SystemClock
from exactmate.config import Settings, describe_db_url
from exactmate.errors import StoreError, VaultError
from exactmate.store import ledger, revision, sqlite
from exactmate.store.guarded import insert_guarded
from exactmate.store.lease import Leases, new_owner
from exactmate.store.revision import SchemaState
from exactmate.store.schema import (
    CREDENTIAL_STATUSES,
    CredentialRow,
    LedgerRow,
    TokenRow,
    credentials,
    error_blocks,
    error_budget,
    known_divisions,
    name_key,
    rate_ledger,
    row_to,
    tokens,
)

if TYPE_CHECKING:  # imported when a schema is not at HEAD: the usual start needs no Alembic
    from exactmate.store.upgrade import Upgraded

T = TypeVar("T")
log = logging.getLogger("exactmate.store")
_UPDATABLE = {c.name for c in credentials.columns} - {"id", "name_key", "created_at", "updated_at"}


class Store:
    """The database, built once per process from a URL and shared by all of its threads.

    SQLite files get mode 0600, WAL and ``BEGIN IMMEDIATE`` write transactions, which makes them
    safe for several processes at once; other URLs (PostgreSQL) lock the rows a decision reads
    with ``SELECT … FOR UPDATE``. Database failures surface as StoreError, never with SQL
    parameters (which may hold ciphertexts) in the message.

    Opening checks the schema revision (``_open_schema``); ``check_schema=False`` opens the database
    as it is, for ``exactmate db status`` and ``db upgrade``.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock | None = None,
        busy_timeout: float = 30.0,
        check_schema: bool = True,
    ) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self._busy_timeout = busy_timeout
        self._pid = os.getpid()
        self._engine = self._create_engine()
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._driver_error: type[Exception] = self._engine.dialect.loaded_dbapi.Error
        self._driver_ledger = ledger.DriverLedger(self._engine.dialect)
        self._leases = Leases(self.transaction, self.clock)
        try:
            if check_schema:
                self._open_schema()
        except BaseException:
            self._engine.dispose()  # a refused database (too new, unreachable) leaves no connection open
            raise

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock | None = None, check_schema: bool = True
    ) -> Store:
        """The store at ``settings.db_url``."""
        return cls(settings.db_url, clock=clock, check_schema=check_schema)

    def __repr__(self) -> str:
        return f"Store({describe_db_url(self.url)!r})"

    @property
    def engine(self) -> Engine:
        """The engine; in a forked child, the parent's pooled connections are dropped first."""
        if os.getpid() != self._pid:
            self._engine.dispose(close=False)
            self._leases.forget_local()
            self._pid = os.getpid()
        return self._engine

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def _create_engine(self) -> Engine:
        try:
            url = make_url(self.url)
        except ArgumentError:
            raise StoreError(
                "the database URL is not one SQLAlchemy understands",
                hint="use e.g. sqlite:////absolute/path/exactmate.db",
            ) from None
        try:
            if url.get_backend_name() != "sqlite":
                return create_engine(url, pool_pre_ping=True, hide_parameters=True)
            sqlite.prepare_file(url.database)
            engine = create_engine(url, hide_parameters=True, connect_args={"timeout": self._busy_timeout})
        except (ImportError, SQLAlchemyError) as exc:
            raise StoreError(
                f"cannot use the database at {describe_db_url(self.url)}: {_reason(exc)}",
                hint="install the database driver the URL names, or fix EXACTMATE_DB",
            ) from None
        sqlite.install_transaction_control(engine, self._busy_timeout)
        return engine

    def schema_status(self) -> revision.SchemaStatus:
        """The database's schema against this code's (``exactmate db status``); changes nothing."""
        with self.reading() as conn:
            found = revision.read(conn)
        state = revision.state_of(found, _known_revision)
        return revision.SchemaStatus(describe_db_url(self.url), found, state)

    def upgrade_schema(self) -> Upgraded:
        """Bring the schema to ``revision.HEAD`` (``exactmate db upgrade``): an empty database gets
        every table, an older one its migrations, one at HEAD nothing. Concurrent upgrades queue."""
        from exactmate.store import upgrade  # Alembic, only now

        with self._errors("upgrade"):
            return upgrade.to_head(self.engine, describe_db_url(self.url))

    def _open_schema(self) -> None:
        """The policy on opening: HEAD is used as it is, an empty database is created at HEAD, an older
        SQLite file is upgraded (one machine, no operator: its write lock serialises concurrent
        starts), an older PostgreSQL database is refused until ``exactmate db upgrade`` (workers on
        several machines must not migrate behind an operator's back), and a schema this code does not
        know is refused on both."""
        with self.reading() as conn:
            found = revision.read(conn)
        if found.revision == revision.HEAD:
            return
        status = revision.SchemaStatus(
            describe_db_url(self.url), found, revision.state_of(found, _known_revision)
        )
        if status.state is SchemaState.empty or (
            status.state is SchemaState.older and self.engine.dialect.name == "sqlite"
        ):
            done = self.upgrade_schema()
            if done.changed:
                log.info(
                    "upgraded the database at %s from %s to %s",
                    done.database,
                    done.before.describe(),
                    done.after.describe(),
                )
            return
        raise revision.refusal(status)

    # -- transactions and the lock ----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success, else rolled back."""
        with self._errors("write to"), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction: a consistent snapshot that takes no write lock."""
        with self._errors("read"), self.engine.connect() as conn:
            conn.execution_options(exactmate_begin="DEFERRED")
            with conn.begin():
                yield conn

    def renew_lock(self, name: str, owner: str, *, ttl: float = 120.0) -> None:
        """Extend the lease ``name`` that ``owner`` (what ``lock`` yielded) holds by ``ttl`` seconds."""
        self._leases.renew(name, owner, ttl)

    @contextmanager
    def lock(
        self,
        name: str,
        *,
        owner: str | None = None,
        timeout: float = 60.0,
        ttl: float = 120.0,
        poll: float = 0.05,
        sleep: Callable[[float], None] | None = None,
    ) -> Iterator[str]:
        """Hold the exclusive lock ``name`` across threads and processes; yields the owner id.

        Threads of this process queue on an in-memory lock first (no polling, ``timeout`` in real
        seconds); one at a time then takes the lease row in the database, polling every ``poll``
        seconds with ``sleep`` (default: the store clock's) until ``timeout`` by the store clock.
        The lease expires ``ttl`` seconds after it was taken, so a crashed holder cannot block
        the others forever: keep the held section well under ``ttl``. StoreError on timeout.
        """
        with self._leases.hold(
            name,
            owner=owner or new_owner(),
            timeout=timeout,
            ttl=ttl,
            poll=poll,
            sleep=sleep or self.clock.sleep,
        ) as held:
            yield held

    @contextmanager
    def _driver_transaction(self) -> Iterator[Any]:
        """A write transaction on a pooled connection's driver cursor, for the per-call path only
        (``ledger.DriverLedger``): the same locks as :meth:`transaction`, committed on success."""
        with self._errors("write to"):
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                try:
                    if self._sqlite:
                        sqlite.begin_write(cursor)
                    yield cursor
                except BaseException:
                    raw.rollback()
                    raise
                raw.commit()
                cursor.close()
            finally:
                raw.close()

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except (SQLAlchemyError, self._driver_error) as exc:
            raise StoreError(
                f"cannot {action} the database at {describe_db_url(self.url)}: {_reason(exc)}",
                hint="check that the file and its directory exist and are writable, or fix EXACTMATE_DB",
            ) from None

    @contextmanager
    def _write(self, conn: Connection | None) -> Iterator[Connection]:
        """The caller's transaction if it passed one, else a new write transaction."""
        if conn is not None:
            yield conn
        else:
            with self.transaction() as fresh:
                yield fresh

    def _read_one(self, stmt: Any, conn: Connection | None) -> Any:
        if conn is not None:
            return conn.execute(stmt).first()
        with self.reading() as fresh:
            return fresh.execute(stmt).first()

    # -- credentials ---------------------------------------------------------------------------

    def insert_credential(
        self,
        *,
        id: str,
        name: str,
        server_url: str,
        client_id: str,
        client_secret: bytes,
        redirect_uri: str,
        auth_type: str = "oauth2-code",
        status: str = "disconnected",
        is_default: bool = False,
        webhook_secret: bytes | None = None,
        conn: Connection | None = None,
    ) -> CredentialRow:
        """Add a credential; ``client_secret`` is already sealed with ``credential_secret_aad(id)``.

        VaultError if the name (trimmed, case-insensitive) is taken.
        """
        _check_status(status)
        now = self.clock.now()
        row = CredentialRow(
            id=id,
            name=name.strip(),
            name_key=name_key(name),
            auth_type=auth_type,
            server_url=server_url,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            status=status,
            status_reason=None,
            is_default=is_default,
            last_test_at=None,
            last_test_ok=None,
            last_test_message=None,
            created_at=now,
            updated_at=now,
            webhook_secret=webhook_secret,
        )
        with self._write(conn) as c:
            taken = c.execute(select(credentials.c.id).where(credentials.c.name_key == row.name_key)).first()
            if taken or not insert_guarded(c, insert(credentials).values(**_values(row))):
                raise VaultError(
                    f"a credential named {row.name!r} already exists",
                    hint="pick another name or remove that one",
                )
        return row

    def credential(self, credential_id: str, *, conn: Connection | None = None) -> CredentialRow | None:
        """The credential with this id, or None."""
        row = self._read_one(select(credentials).where(credentials.c.id == credential_id), conn)
        return row_to(CredentialRow, row) if row else None

    def credential_by_name(self, name: str) -> CredentialRow | None:
        """The credential with this name (trimmed, case-insensitive), or None."""
        row = self._read_one(select(credentials).where(credentials.c.name_key == name_key(name)), None)
        return row_to(CredentialRow, row) if row else None

    def list_credentials(self) -> list[CredentialRow]:
        """Every credential, by name. Nothing is decrypted."""
        with self.reading() as conn:
            rows = conn.execute(select(credentials).order_by(credentials.c.name_key)).all()
        return [row_to(CredentialRow, r) for r in rows]

    def update_credential(
        self, credential_id: str, *, conn: Connection | None = None, **changes: Any
    ) -> None:
        """Change columns of a credential (a new ``name`` also sets ``name_key``).

        VaultError for an unknown id or a name that is taken; ValueError for a column that cannot
        change (a programming error).
        """
        bad = set(changes) - _UPDATABLE
        if bad:
            raise ValueError(f"cannot update credential column(s) {sorted(bad)}")
        if "status" in changes:
            _check_status(changes["status"])
        if "name" in changes:
            changes["name"], changes["name_key"] = changes["name"].strip(), name_key(changes["name"])
        stmt = update(credentials).where(credentials.c.id == credential_id)
        with self._write(conn) as c:
            try:
                with c.begin_nested():
                    done = c.execute(stmt.values(**changes, updated_at=self.clock.now()))
            except IntegrityError:
                raise VaultError(
                    f"a credential named {changes.get('name')!r} already exists", hint="pick another name"
                ) from None
            if done.rowcount == 0:
                raise VaultError(f"no credential with id {credential_id!r}")

    def set_credential_status(
        self, credential_id: str, status: str, reason: str | None = None, *, conn: Connection | None = None
    ) -> None:
        """Set ``status`` (one of ``CREDENTIAL_STATUSES``) and the reason for it."""
        self.update_credential(credential_id, status=status, status_reason=reason, conn=conn)

    def set_default_credential(self, credential_id: str) -> None:
        """Make this credential the only default one."""
        with self.transaction() as conn:
            conn.execute(
                update(credentials).where(credentials.c.is_default.is_(True)).values(is_default=False)
            )
            self.update_credential(credential_id, is_default=True, conn=conn)

    def delete_credential(self, credential_id: str) -> bool:
        """Remove a credential and its tokens; False if there was no such credential."""
        with self.transaction() as conn:
            conn.execute(delete(tokens).where(tokens.c.credential_id == credential_id))
            conn.execute(delete(known_divisions).where(known_divisions.c.credential_id == credential_id))
            return conn.execute(delete(credentials).where(credentials.c.id == credential_id)).rowcount > 0

    # -- tokens ------------------------------------------------------------------------------------

    def tokens(self, credential_id: str, *, conn: Connection | None = None) -> TokenRow | None:
        """The stored (encrypted) tokens of a credential, or None."""
        row = self._read_one(select(tokens).where(tokens.c.credential_id == credential_id), conn)
        return row_to(TokenRow, row) if row else None

    def put_tokens(
        self,
        credential_id: str,
        *,
        access_token: bytes,
        refresh_token: bytes,
        access_expires_at: float,
        access_issued_at: float,
        refresh_issued_at: float,
        conn: Connection | None = None,
    ) -> int:
        """Store a (rotated) pair of sealed tokens; returns the new generation (previous + 1)."""
        values = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "access_expires_at": access_expires_at,
            "access_issued_at": access_issued_at,
            "refresh_issued_at": refresh_issued_at,
            "updated_at": self.clock.now(),
        }
        where = tokens.c.credential_id == credential_id
        with self._write(conn) as c:
            current = c.execute(select(tokens.c.generation).where(where).with_for_update()).scalar()
            if current is None:
                c.execute(insert(tokens).values(credential_id=credential_id, generation=1, **values))
                return 1
            c.execute(update(tokens).where(where).values(generation=current + 1, **values))
            return int(current) + 1

    def delete_tokens(self, credential_id: str, *, conn: Connection | None = None) -> None:
        """Forget a credential's tokens."""
        with self._write(conn) as c:
            c.execute(delete(tokens).where(tokens.c.credential_id == credential_id))

    # -- rate ledger and error budget --------------------------------------------------------------

    def modify_ledger(
        self, client_id: str, division: int, decide: Callable[[LedgerRow | None], tuple[LedgerRow | None, T]]
    ) -> T:
        """Read, decide and write one ledger row atomically, for threads and processes alike.

        ``decide`` gets the current row (None if there is none yet) and returns the row to write
        (None: no change) and a result handed back to the caller; it may raise to abort.
        """
        for _attempt in range(3):
            with self.transaction() as conn:
                done, result = ledger.modify(conn, client_id, division, now=self.clock.now(), decide=decide)
            if done:
                return result
            # PostgreSQL only: another process inserted the row first; decide again on it.
        raise StoreError(f"the rate ledger row of client {client_id}, division {division} keeps conflicting")

    def reserve_call(
        self,
        client_id: str,
        division: int,
        endpoint: str,
        *,
        since: float,
        now: float,
        decide: ledger.Decide[T],
    ) -> T:
        """Before a call, in one write transaction: the scope's announced block (None: none, or over
        by ``now``), its errors after ``since`` and its ledger row go to ``decide``, and the row it
        returns is written (see ``store/ledger.py``). ``decide`` may raise to refuse the call."""
        with self._driver_transaction() as cursor:
            reserved = self._driver_ledger.reserve(
                cursor, client_id, division, endpoint, since=since, now=now, decide=decide
            )
        if reserved is not None:
            return reserved[0]
        for _attempt in range(3):  # a ledger row to insert (see ledger.DriverLedger)
            with self.transaction() as conn:
                done, result = ledger.reserve(
                    conn, client_id, division, endpoint, since=since, now=now, decide=decide
                )
            if done:
                return result
        raise StoreError(f"the rate ledger row of client {client_id}, division {division} keeps conflicting")

    def ledger(self, client_id: str, division: int) -> LedgerRow | None:
        """The ledger row of (client id, division), or None."""
        key = (rate_ledger.c.client_id == client_id) & (rate_ledger.c.division == division)
        row = self._read_one(select(rate_ledger).where(key), None)
        return row_to(LedgerRow, row) if row else None

    def block_errors(self, client_id: str, division: int, endpoint: str, until: float) -> None:
        """Remember that Exact blocked this app's calls to ``endpoint`` in ``division`` until ``until``."""
        scope = _block_scope(client_id, division, endpoint)
        with self.transaction() as conn:
            conn.execute(delete(error_blocks).where(scope))
            values = {"client_id": client_id, "division": division, "endpoint": endpoint, "until": until}
            if not insert_guarded(conn, insert(error_blocks).values(**values)):
                # PostgreSQL: another process recorded a block here meanwhile; this answer came later
                conn.execute(update(error_blocks).where(scope).values(until=until))

    def error_state(
        self, client_id: str, division: int, endpoint: str, *, since: float, now: float
    ) -> tuple[float | None, list[float]]:
        """In one read: when a block Exact announced for this scope ends (None: none, or over by
        ``now``), and when the errors counted here after ``since`` happened, oldest first."""
        block = select(error_blocks.c.until).where(_block_scope(client_id, division, endpoint))
        scope = _error_scope(client_id, division, endpoint)
        errors = select(error_budget.c.at).where(scope, error_budget.c.at > since).order_by(error_budget.c.at)
        with self.reading() as conn:
            until = conn.execute(block).scalar()
            times = [float(at) for at in conn.execute(errors).scalars()]
        return (float(until) if until is not None and until > now else None), times

    def record_error(
        self, credential: str, division: int, endpoint: str, status: int, at: float, *, forget_before: float
    ) -> None:
        """Count one error answer; this scope's errors older than ``forget_before`` are dropped."""
        scope = _error_scope(credential, division, endpoint)
        with self.transaction() as conn:
            conn.execute(delete(error_budget).where(scope, error_budget.c.at < forget_before))
            conn.execute(
                insert(error_budget).values(
                    credential=credential, division=division, endpoint=endpoint, status=status, at=at
                )
            )

    def recent_errors(self, client_id: str, division: int, endpoint: str, since: float) -> list[float]:
        """When the errors counted for this scope after ``since`` happened, oldest first."""
        return self.error_state(client_id, division, endpoint, since=since, now=since)[1]


def _values(row: Any) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in fields(row)}


def _error_scope(credential: str, division: int, endpoint: str) -> Any:
    return (
        (error_budget.c.credential == credential)
        & (error_budget.c.division == division)
        & (error_budget.c.endpoint == endpoint)
    )


def _block_scope(client_id: str, division: int, endpoint: str) -> Any:
    return (
        (error_blocks.c.client_id == client_id)
        & (error_blocks.c.division == division)
        & (error_blocks.c.endpoint == endpoint)
    )


def _check_status(status: str) -> None:
    if status not in CREDENTIAL_STATUSES:
        raise ValueError(f"credential status must be one of {CREDENTIAL_STATUSES}, not {status!r}")


def _known_revision(rev: str) -> bool:
    from exactmate.store import upgrade  # Alembic's script directory: only for a revision not at HEAD

    return upgrade.known(rev)


def _reason(exc: BaseException) -> str:
    """The driver's own message, never SQL parameters (which may hold ciphertexts)."""
    orig = getattr(exc, "orig", None)
    return str(orig) if orig is not None else f"{type(exc).__name__}: {exc}".split("\n")[0]
