"""``exactmate db status`` and ``exactmate db upgrade``: the store's schema described (never its
password) and brought to this exactmate's, on SQLite and on a PostgreSQL database an operator
upgrades."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exactmate.store import HEAD
from tests.cli.conftest import run
from tests.old_stores import build_legacy, build_revision, execute, query

FIRST = "0001_schema_3"


def test_status_of_a_fresh_home_creates_nothing(tmp_path: Path) -> None:
    shown = run("db", "status")
    home = tmp_path / "exactmate-home"
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        f"database  sqlite:///{home / 'exactmate.db'}",
        "revision  no tables yet",
        f"head      {HEAD}",
        "state     empty: exactmate creates its tables on first use",
    ]
    assert not home.exists()


def test_upgrade_creates_a_fresh_store_then_changes_nothing(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'exactmate-home' / 'exactmate.db'}"
    first = run("db", "upgrade")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == f"upgraded {database}: no tables yet → {HEAD}\n"
    again = run("db", "upgrade")
    assert again.exit_code == 0 and again.stdout == f"{database} is up to date: {HEAD}\n"
    status = json.loads(run("db", "status", "--format", "json").stdout)
    assert status == {
        "database": database,
        "revision": HEAD,
        "legacy_schema_version": None,
        "head": HEAD,
        "state": "current",
        "summary": "up to date",
    }


@pytest.fixture
def pg_with_password(pg_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``EXACTMATE_DB`` at the throwaway database with a password in the URL (the test server trusts
    127.0.0.1, so it is accepted and ignored): no output may show it."""
    url = pg_database.replace("postgres@", "postgres:s3cret-pw@")
    monkeypatch.setenv("EXACTMATE_DB", url)
    return url


def test_an_operator_upgrades_a_postgresql_database_from_revision_1(pg_with_password: str) -> None:
    build_revision(pg_with_password, FIRST)
    shown = pg_with_password.replace("s3cret-pw", "***")

    refused = run("journal", "list")  # a worker's command, on the older schema
    assert refused.exit_code == 12
    assert refused.stderr == (
        f"error: the database at {shown} has schema {FIRST}; this exactmate needs revision {HEAD} "
        "(a PostgreSQL database is upgraded only when an operator says so) (exactmate db upgrade)\n"
    )
    status = run("db", "status")
    assert status.exit_code == 0
    assert status.stdout.splitlines() == [
        f"database  {shown}",
        f"revision  {FIRST}",
        f"head      {HEAD}",
        "state     needs upgrade: exactmate db upgrade",
    ]
    upgraded = run("db", "upgrade")  # the hint, as pasted
    assert upgraded.exit_code == 0 and upgraded.stdout == f"upgraded {shown}: {FIRST} → {HEAD}\n"
    assert run("db", "upgrade").stdout == f"{shown} is up to date: {HEAD}\n"
    listed = run("journal", "list", "--format", "json")  # the worker's command works again
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    assert query(pg_with_password, "SELECT name FROM credentials") == [("Acme",)]
    for result in (refused, status, upgraded, listed):
        assert "s3cret-pw" not in result.stdout + result.stderr


def test_an_operator_adopts_a_postgresql_database_made_before_the_migrations(pg_with_password: str) -> None:
    build_legacy(pg_with_password, 2)
    status = json.loads(run("db", "status", "--format", "json").stdout)
    assert status["state"] == "older" and status["legacy_schema_version"] == 2 and status["revision"] is None
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0
    assert upgraded.stdout.endswith(f": schema version 2 (an exactmate before Alembic migrations) → {HEAD}\n")
    assert query(pg_with_password, "SELECT name FROM credentials") == [("Acme",)]


def test_a_newer_schema_is_described_and_never_upgraded(pg_with_password: str) -> None:
    build_revision(pg_with_password, HEAD)
    execute(pg_with_password, "UPDATE alembic_version SET version_num = '0099_later'")
    status = run("db", "status")
    assert status.exit_code == 0 and "state     newer than this exactmate: upgrade exactmate" in status.stdout
    refused = run("db", "upgrade")
    assert refused.exit_code == 12 and refused.stdout == ""
    assert "has schema 0099_later, which this exactmate does not know" in refused.stderr
    assert "Traceback" not in refused.stderr and "s3cret-pw" not in refused.stderr
    assert query(pg_with_password, "SELECT version_num FROM alembic_version") == [("0099_later",)]
