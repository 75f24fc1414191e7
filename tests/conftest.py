"""Shared fixtures. An autouse fixture keeps every test away from the developer's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's exactmate settings or writes to their data directory."""
    import os

    for name in list(os.environ):
        if name.startswith("EXACTMATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EXACTMATE_HOME", str(tmp_path / "exactmate-home"))
    yield


PG_ADMIN = os.environ.get("EXACTMATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for one test (a SQLAlchemy URL), dropped afterwards with the
    flows' system database DBOS may have made beside it (``<name>_flows``).

    The server is the one ``scripts/postgres.sh`` makes sure of (127.0.0.1:5432, trust auth); a run
    without it fails here, loudly, rather than skipping what it cannot prove."""
    import secrets

    import psycopg

    name = f"exactmate_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL at {PG_ADMIN} ({exc}); run: bash scripts/postgres.sh", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}_flows" WITH (FORCE)')
