"""The create journal's claim, on SQLite and on PostgreSQL: each state moves on only as it may."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exactmate.actions.journal import CreateJournal
from exactmate.clock import FakeClock
from exactmate.store import Store

SETTLE = 90.0


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[CreateJournal, FakeClock]]:
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else f"sqlite:///{tmp_path}/j.db"
    clock = FakeClock(1_800_000_000.0)
    store = Store(url, clock=clock)
    yield CreateJournal(store, credential="c", endpoint="project/TimeTransactions"), clock
    store.close()


def claim(journal: CreateJournal, content: str = "h1", rebook: bool = False) -> str:
    found = journal.claim(
        "src", "1:abc", division=1, content_hash=content, settle_seconds=SETTLE, rebook_changed=rebook
    )
    return found.kind


def test_a_claim_moves_through_its_states(journal: tuple[CreateJournal, FakeClock]) -> None:
    book, clock = journal
    assert claim(book) == "send"
    assert claim(book) == "busy"  # being sent, or sent without an answer: not again
    clock.advance(SETTLE)
    assert claim(book) == "settle"  # the settle delay passed: look it up, then send
    assert claim(book) == "busy"  # taken over by that settler
    book.finish("src", "1:abc", "created", "guid-1")
    assert claim(book) == "created"
    assert claim(book, "h2") == "changed"
    assert claim(book, "h2", rebook=True) == "send"
    book.finish("src", "1:abc", "failed")
    assert claim(book) == "send"  # refused by Exact earlier: booked like a new entry
    assert [e.state for e in book.entries("src")] == ["pending"]
