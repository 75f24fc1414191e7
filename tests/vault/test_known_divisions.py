"""The divisions a credential can access, remembered in the store (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exactmate.clock import FakeClock
from exactmate.errors import ValidationError
from exactmate.store import Store, new_id
from exactmate.vault.divisions import KnownDivisions


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else f"sqlite:///{tmp_path}/x.db"
    opened = Store(url, clock=FakeClock(1_800_000_000.0))
    try:
        yield opened
    finally:
        opened.close()


def _credential(store: Store, name: str) -> str:
    cid = new_id()
    store.insert_credential(
        id=cid, name=name, server_url="https://start.exactonline.nl", client_id="c", client_secret=b"x",
        redirect_uri="http://127.0.0.1:8765/callback",
    )
    return cid


def test_nothing_known_lets_exact_decide(store: Store) -> None:
    known = KnownDivisions(store, _credential(store, "Acme"), "Acme")
    assert known.get() is None
    known.check(999)  # no list yet: no refusal


def test_a_division_outside_the_list_is_refused_with_the_list_and_the_command(store: Store) -> None:
    cid = _credential(store, "Acme NL")
    KnownDivisions(store, cid, "Acme NL").remember([(100002, "Two BV"), (100001, "One BV")])
    known = KnownDivisions(store, cid, "Acme NL")  # a later process reads it back
    listed = known.get()
    assert listed is not None and dict(listed.names) == {100001: "One BV", 100002: "Two BV"}
    known.check(100001)
    with pytest.raises(ValidationError) as caught:
        known.check(100003)
    assert "it can access 100001 (One BV), 100002 (Two BV)" in caught.value.message
    assert caught.value.hint is not None and caught.value.hint.endswith("exactmate vault test 'Acme NL'")


def test_a_new_list_replaces_the_old_and_each_credential_has_its_own(store: Store) -> None:
    first, second = _credential(store, "A"), _credential(store, "B")
    KnownDivisions(store, first, "A").remember([(1, "x"), (2, "y")])
    KnownDivisions(store, second, "B").remember([(3, "z")])
    KnownDivisions(store, first, "A").remember([(2, "y")])
    assert set(KnownDivisions(store, first, "A").get().names) == {2}  # type: ignore[union-attr]
    assert set(KnownDivisions(store, second, "B").get().names) == {3}  # type: ignore[union-attr]
    store.delete_credential(first)
    assert KnownDivisions(store, first, "A").get() is None
