"""Fixtures of the sync tests: a target database of each kind a sync is tested on."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file, and a throwaway PostgreSQL database (``pg_database``)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_database"))
    return f"sqlite:///{tmp_path / 'exact.db'}"
