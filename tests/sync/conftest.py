"""Fixtures of the sync tests: a target database of each kind a sync is tested on."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql", "duckdb"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file, a throwaway PostgreSQL database (``pg_database``) and a DuckDB file."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_database"))
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'exact.duckdb'}"
    return f"sqlite:///{tmp_path / 'exact.db'}"
