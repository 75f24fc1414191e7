"""Shared fixtures. An autouse fixture keeps every test away from the developer's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's exactmate settings or writes to their data directory."""

    for name in list(os.environ):
        if name.startswith("EXACTMATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EXACTMATE_HOME", str(tmp_path / "exactmate-home"))
    yield


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for one test (a SQLAlchemy URL), dropped afterwards with the
    flows' system database DBOS may have made beside it (``<name>_flows``).

    The server is the one ``scripts/postgres.sh`` makes sure of (127.0.0.1:5432, trust auth); a run
    without it fails here, loudly, rather than skipping what it cannot prove."""
    import psycopg

    from tests.proofs.harness import PG_ADMIN, throwaway_pg_database

    try:
        database = throwaway_pg_database()
        url = database.__enter__()
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL at {PG_ADMIN} ({exc}); run: bash scripts/postgres.sh", pytrace=False)
    try:
        yield url
    finally:
        database.__exit__(None, None, None)
