"""``exactmate demo`` from start to end: emulator, credential, consent, Test Connect, four actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exactmate.config import Settings
from exactmate.vault import Vault
from tests.cli.conftest import run


def test_the_demo_runs_to_the_end_without_touching_the_users_vault() -> None:
    result = run("demo", "--records", "40")
    assert result.exit_code == 0, result.stderr + result.stdout
    out = result.stdout
    for step in (
        "Step 1: start the Exact Online emulator",
        "Step 2: add a vault credential and connect",
        "Step 3: Test Connect",
        "Step 4: Create Project Time Transactions",
        "Step 5: Update Project Time Transaction",
        "Step 6: List or Get Endpoint",
        "Step 7: Delete Endpoint with ID",
        "Step 8: done",
    ):
        assert step in out
    assert "consent (done for you): opened the sign-in page, signed in as demo@exactmate.test" in out
    assert "Connected as Dana Demo" in out
    assert out.count(": created in division 100001") == 3
    assert "the same file again: 0 created, 3 already created" in out
    assert "a bad entry is refused locally, costing no call" in out
    assert "a final entry is refused before any write" in out
    assert "Quantity: 7.5 -> 6.0" in out
    assert "division 100002: project" in out
    assert "deleted: True (DELETE http://127.0.0.1:" in out
    with Vault.open(Settings.from_env()) as vault:
        assert vault.list() == []  # the demo used its own temporary home


def test_the_demo_keeps_its_vault_with_home_and_hands_it_to_the_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exactmate.web.server as web_server

    served: list[Any] = []
    monkeypatch.setattr(web_server, "serve_ui", lambda settings, **kw: served.append(settings))
    home = tmp_path / "demo-home"
    result = run("demo", "--records", "20", "--home", str(home), "--ui")
    assert result.exit_code == 0, result.stderr + result.stdout
    assert "opening the web UI on the demo's vault" in result.stdout
    [settings] = served
    assert settings.home == home.resolve()
    with Vault.open(settings) as vault:
        [credential] = vault.list()
    assert credential.name == "Exact demo" and credential.has_tokens
