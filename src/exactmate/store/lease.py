"""Exclusive leases across threads and processes, kept as rows of the ``locks`` table.

A lease rather than a database lock held open: holding a write transaction for the length of a
token refresh would stall every other writer (the rate ledger) in every process. A lease expires,
so a crashed holder cannot block the others forever; and a holder on this machine whose process is
gone (``kill -9``) is known to be gone, so its lease is taken over at once instead of at expiry.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from exactmate.clock import Clock
from exactmate.errors import StoreError
from exactmate.store.schema import locks

log = logging.getLogger("exactmate.store")


def new_owner() -> str:
    """An owner id unique to one acquisition: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _gone(owner: str) -> bool:
    """Whether ``owner`` (``new_owner``'s host:pid:…) was a process of this machine that has ended.
    Another machine's holder is never judged: its lease runs until it expires."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


class Leases:
    """Takes and releases leases through the store's write transactions."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Connection]], clock: Clock) -> None:
        self._transaction = transaction
        self._clock = clock
        self._guard = threading.Lock()
        self._local: dict[str, threading.Lock] = {}

    def forget_local(self) -> None:
        """Drop the in-process locks (after a fork, where their holders do not exist)."""
        self._guard = threading.Lock()
        self._local = {}

    @contextmanager
    def hold(
        self,
        name: str,
        *,
        owner: str,
        timeout: float,
        ttl: float,
        poll: float,
        sleep: Callable[[float], None],
    ) -> Iterator[str]:
        """Hold lease ``name`` as ``owner``; see :meth:`exactmate.store.Store.lock`."""
        with self._guard:
            local = self._local.setdefault(name, threading.Lock())
        if not local.acquire(timeout=max(timeout, 0.0)):
            raise StoreError(f"timed out after {timeout:g} s waiting for lock {name!r} in this process")
        try:
            self._acquire(name, owner, timeout, ttl, poll, sleep)
            try:
                yield owner
            finally:
                self._release(name, owner)
        finally:
            local.release()

    def _acquire(
        self, name: str, owner: str, timeout: float, ttl: float, poll: float, sleep: Callable[[float], None]
    ) -> None:
        deadline = self._clock.now() + timeout
        while True:
            holder = self._try(name, owner, ttl)
            if holder is None:
                return
            left = deadline - self._clock.now()
            if left <= 0:
                raise StoreError(
                    f"timed out after {timeout:g} s waiting for lock {name!r}, held by {holder}",
                    hint=f"if that process is gone, the lock frees itself within {ttl:g} s",
                )
            sleep(min(poll, left))

    def _try(self, name: str, owner: str, ttl: float) -> str | None:
        """Take the lease if it is free or expired: None on success, else who holds it."""
        with self._transaction() as conn:
            now = self._clock.now()
            row = conn.execute(select(locks).where(locks.c.name == name).with_for_update()).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(locks).values(name=name, owner=owner, expires_at=now + ttl))
                except IntegrityError:  # PostgreSQL: another process inserted it first
                    return "another process"
            elif row.expires_at <= now or row.owner == owner or _gone(str(row.owner)):
                conn.execute(
                    update(locks).where(locks.c.name == name).values(owner=owner, expires_at=now + ttl)
                )
            else:
                return str(row.owner)
        return None

    def renew(self, name: str, owner: str, ttl: float) -> None:
        """Extend ``owner``'s lease ``name`` to ``ttl`` seconds from now: a long holder renews as it
        goes, so a short ``ttl`` frees the lease soon after a holder is killed. StoreError when the
        lease was lost meanwhile (it expired and another process took it)."""
        holder = self._try(name, owner, ttl)
        if holder is not None:
            raise StoreError(f"lost the lock {name!r} to {holder}: it expired before it was renewed")

    def _release(self, name: str, owner: str) -> None:
        """Drop the lease; if the database fails right now, the lease still expires on its own.

        Raising here would hide whatever the held section raised (or turn its success into an error).
        """
        try:
            with self._transaction() as conn:
                conn.execute(delete(locks).where(locks.c.name == name, locks.c.owner == owner))
        except StoreError as exc:
            log.warning("could not release lock %r (it expires by itself): %s", name, exc)
