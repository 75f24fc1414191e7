"""Shared fixtures. An autouse fixture keeps every test away from the developer's environment."""

from __future__ import annotations

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
