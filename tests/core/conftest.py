"""Fixtures shared by the core tests: a fake clock, a store (SQLite in a temp dir, and PostgreSQL: the
store, governor and token tests run on both), a secret box."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exactmate.clock import FakeClock
from exactmate.secretbox import KeyRing, SecretBox
from exactmate.store import Store

TEST_KEY = bytes(range(32))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database the store supports: a SQLite file, and a throwaway PostgreSQL database."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_database"))
    return f"sqlite:///{tmp_path / 'data' / 'exactmate.db'}"


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[Store]:
    s = Store(db_url, clock=clock)
    yield s
    s.close()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(KeyRing.from_master_key(TEST_KEY))
