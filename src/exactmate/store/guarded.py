"""Inserting a row that a concurrent writer may insert first (PostgreSQL's row locks cannot lock a
row that does not exist yet)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError


def insert_guarded(conn: Connection, stmt: Any) -> bool:
    """Insert inside a savepoint; False if a concurrent writer inserted the same key first.

    Only PostgreSQL can get here with a duplicate: on SQLite the IMMEDIATE transaction already
    excluded every other writer between the caller's check and this insert.
    """
    try:
        with conn.begin_nested():
            conn.execute(stmt)
    except IntegrityError:
        return False
    return True
