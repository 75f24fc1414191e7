"""The connect tests share the vault tests' fixtures: a vault in this test's home, a fake clock, and
emulators on free loopback ports."""

from __future__ import annotations

from tests.vault.conftest import clock, redirect_uri, serve, settings, vault  # noqa: F401  (fixtures)
