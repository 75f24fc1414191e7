"""The catalogue shipped as package data is complete and matches the shared research copy."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "exact-online" / "catalogue.json"


def _package_data() -> dict:
    return json.loads(resources.files("exactmate.data").joinpath("catalogue.json").read_text("utf-8"))


def test_package_data_has_every_endpoint_with_path_methods_and_key() -> None:
    data = _package_data()
    endpoints = data["endpoints"]
    assert len(endpoints) == 455
    for path, entry in endpoints.items():
        assert entry["path"] == path
        assert entry["methods"], path
        assert set(entry["methods"]) <= {"GET", "POST", "PUT", "DELETE"}, path
        assert "fields" in entry, path


def test_package_data_matches_shared_copy_when_present() -> None:
    if not SHARED.exists():
        # A clean clone without ../shared still checks the committed copy is self-consistent.
        assert len(_package_data()["source_sha256"]) == 64
        return
    assert _package_data()["source_sha256"] == hashlib.sha256(SHARED.read_bytes()).hexdigest()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_catalogue.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", ["project/TimeTransactions", "bulk/CRM/Accounts", "sync/Deleted"])
def test_well_known_endpoints_present(path: str) -> None:
    assert path in _package_data()["endpoints"]
