"""A catalogue read from data makes each endpoint (and twin group) on first use, and answers exactly
as one made eagerly from every ``Endpoint``: same endpoints, fields, twins, suggestions and errors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

import exactmate.catalogue as catalogue_module
from exactmate.catalogue import ROW_TWINS, TWINS, Catalogue, Endpoint, RowTwin, Twins
from exactmate.catalogue import _endpoint_from_entry as endpoint_from_entry
from exactmate.errors import CatalogueError


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    text = resources.files("exactmate.data").joinpath("catalogue.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def _eager(data: dict[str, Any]) -> Catalogue:
    """The catalogue as it was made before it was lazy: every Endpoint first, fields shared."""
    made: dict[Any, Any] = {}
    return Catalogue([endpoint_from_entry(path, entry, made) for path, entry in data["endpoints"].items()])


def _built(catalogue: Catalogue) -> int:
    return len(catalogue._endpoints)


def _at_once(asks: list[Callable[[], Any]]) -> dict[int, Any]:
    """What each of ``asks`` gave, each run in a thread of its own, all at once."""
    got: dict[int, Any] = {}
    running = [threading.Thread(target=lambda i=i: got.update({i: asks[i]()})) for i in range(len(asks))]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return got


def test_nothing_is_made_until_asked_and_a_lookup_makes_one(data: dict[str, Any]) -> None:
    lazy = Catalogue.from_data(data)
    assert _built(lazy) == 0
    assert len(lazy) == 455 and "crm/accounts" in lazy and "crm/Nope" not in lazy
    assert lazy.suggest("crm/Acounts")[0] == "crm/Accounts"
    with pytest.raises(CatalogueError, match="Did you mean: crm/Accounts"):
        lazy.endpoint("crm/Acounts")
    assert _built(lazy) == 0  # none of that made an endpoint
    accounts = lazy.endpoint("CRM/accounts")
    assert _built(lazy) == 1
    group = lazy.twins("crm/Accounts")
    assert group.base is accounts and _built(lazy) == 3  # base, bulk and sync twin
    assert lazy.twins("logistics/Items").bulk is not None and _built(lazy) == 6


def test_load_and_one_lookup_make_a_handful_of_endpoints() -> None:
    """In a fresh process: ``Catalogue.load()`` is shared and cached, so other tests may have made
    all of it here."""
    code = (
        "from exactmate.catalogue import Catalogue\n"
        "c = Catalogue.load(); c.endpoint('crm/Accounts'); c.twins('crm/Accounts')\n"
        "print(len(c._endpoints), len(c._groups))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["3", "1"]


def test_a_lookup_before_and_after_iteration_gives_the_same_object(data: dict[str, Any]) -> None:
    lazy = Catalogue.from_data(data)
    before = lazy.endpoint("project/TimeTransactions")
    group = lazy.twins("crm/Accounts")
    every = {endpoint.path: endpoint for endpoint in lazy}
    assert every["project/TimeTransactions"] is before is lazy.endpoint("project/timetransactions")
    assert every["bulk/CRM/Accounts"] is group.bulk and lazy.twins("sync/CRM/Accounts") is group
    assert lazy.search("project/TimeTransactions") == [before]
    assert _built(lazy) == 455


def test_every_endpoint_twin_and_answer_equals_the_eager_build(data: dict[str, Any]) -> None:
    lazy, eager = Catalogue.from_data(data), _eager(data)
    assert [e.path for e in eager] == list(data["endpoints"])
    assert list(lazy) == list(eager)  # Endpoint equality compares every field description too
    assert [dict(e.fields) for e in lazy] == [dict(e.fields) for e in eager]
    assert lazy._by_name == eager._by_name
    for typo in ("Acounts", "crm/Acount", "bulk/crm/acounts", "TimeTransaction", "salesinvoice/lines"):
        assert lazy.suggest(typo) == eager.suggest(typo)
    assert lazy.search("crm", method="POST") == eager.search("crm", method="POST")
    assert lazy.search(include_removed=True) == eager.search(include_removed=True)
    # Twin groups: equal, and shared by the same members (a row twin gives its base a group apart).
    kept: list[Twins] = []  # held, so that no group's id is reused
    lazy_ids: dict[str, int] = {}
    eager_ids: dict[str, int] = {}
    for endpoint in eager:
        mine, theirs = lazy.twins(endpoint.path), eager.twins(endpoint.path)
        assert mine == theirs, endpoint.path
        kept += [mine, theirs]
        lazy_ids[endpoint.path], eager_ids[endpoint.path] = id(mine), id(theirs)
    assert _partition(lazy_ids) == _partition(eager_ids)
    rows = lazy.twins("project/TimeTransactions")
    assert rows.rows is lazy.endpoint(ROW_TWINS["project/TimeTransactions"].path)
    assert rows.row_rule is ROW_TWINS["project/TimeTransactions"]


def _partition(ids: dict[str, int]) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for path, group in ids.items():
        groups.setdefault(group, set()).add(path)
    return {frozenset(paths) for paths in groups.values()}


def test_msgspec_parses_the_catalogue_as_json_does(data: dict[str, Any]) -> None:
    assert list(Catalogue.load()) == list(Catalogue.from_data(data))


def test_a_wrong_twin_table_still_fails_when_the_catalogue_is_made(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = {**TWINS, "crm/Accounts": ("bulk/CRM/Acounts", "sync/CRM/Accounts")}
    monkeypatch.setattr(catalogue_module, "TWINS", wrong)
    with pytest.raises(
        CatalogueError, match=r"Unknown endpoint 'bulk/CRM/Acounts'\. Did you mean: bulk/CRM/Accounts"
    ):
        Catalogue.from_data(data)
    monkeypatch.setattr(catalogue_module, "TWINS", {**TWINS, "crm/Acounts": (None, "sync/CRM/Accounts")})
    with pytest.raises(CatalogueError, match="Unknown endpoint 'crm/Acounts'"):
        Catalogue.from_data(data)
    monkeypatch.setattr(catalogue_module, "TWINS", TWINS)
    monkeypatch.setattr(
        catalogue_module, "ROW_TWINS", {"project/TimeTransactions": RowTwin("sync/Nope", "Type", 1)}
    )
    with pytest.raises(CatalogueError, match="Unknown endpoint 'sync/Nope'"):
        Catalogue.from_data(data)
    monkeypatch.setattr(
        catalogue_module, "ROW_TWINS", {"project/Nope": ROW_TWINS["project/TimeTransactions"]}
    )
    with pytest.raises(CatalogueError, match="Unknown endpoint 'project/Nope'"):
        Catalogue.from_data(data)


def test_bad_entries_and_duplicates_still_fail_when_the_catalogue_is_made() -> None:
    entry = {"service": "x", "methods": ["GET"], "key": "ID", "key_type": "guid", "fields": {}}
    with pytest.raises(CatalogueError, match="X/y appears twice"):
        Catalogue.from_data({"endpoints": {"x/Y": entry, "X/y": entry}})
    with pytest.raises(KeyError):  # no service: fails now, as when every endpoint was made at once
        Catalogue.from_data({"endpoints": {"x/Y": {"methods": ["GET"], "fields": {}}}})
    with pytest.raises(KeyError):  # no fields
        Catalogue.from_data({"endpoints": {"x/Y": {"service": "x", "methods": ["GET"]}}})


def _race(lazy: Catalogue, paths: list[str], threads: int = 8) -> dict[int, list[Endpoint | Twins]]:
    """Each thread's endpoints and twin groups, asked for at once, each thread starting elsewhere."""
    start = threading.Barrier(threads)
    seen: dict[int, list[Endpoint | Twins]] = {}

    def look(turn: int) -> list[Endpoint | Twins]:
        start.wait()
        mine = paths[turn:] + paths[:turn]
        return [*(lazy.endpoint(p) for p in mine), *(lazy.twins(p) for p in mine)]

    seen.update(_at_once([lambda turn=turn: look(turn) for turn in range(threads)]))
    return seen


def test_concurrent_first_lookups_share_one_object(data: dict[str, Any]) -> None:
    paths = [p for base, (bulk, sync) in TWINS.items() for p in (base, bulk, sync) if p][:40]
    for _ in range(5):
        lazy = Catalogue.from_data(data)
        seen = _race(lazy, paths)
        assert len(seen) == 8
        for turn, answers in seen.items():
            mine = paths[turn:] + paths[:turn]
            for i, path in enumerate(mine):
                assert answers[i] is lazy.endpoint(path)
                assert answers[len(mine) + i] is lazy.twins(path)
        for path in paths:  # fields stay shared however the endpoints were raced: the one stored
            endpoint = lazy.endpoint(path)
            for name, raw in data["endpoints"][endpoint.path]["fields"].items():
                assert endpoint.fields[name] is lazy._made[(name, tuple(raw.items()))]


def test_two_threads_making_one_endpoint_at_once_both_get_the_one_stored_first(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced: both threads are inside making the endpoint (and the group) before either stores it."""
    both = threading.Barrier(2, timeout=5)
    make_endpoint, make_group = catalogue_module._endpoint_from_entry, catalogue_module.Twins

    def endpoint_together(*args: Any) -> Endpoint:
        both.wait()
        return make_endpoint(*args)

    def group_together(**members: Any) -> Twins:
        both.wait()
        return make_group(**members)

    monkeypatch.setattr(catalogue_module, "_endpoint_from_entry", endpoint_together)
    lazy = Catalogue.from_data(data)
    seen: dict[int, Endpoint | Twins] = {}
    asks = [lambda: lazy.endpoint("crm/Accounts"), lambda: lazy.endpoint("CRM/accounts")]
    seen.update(_at_once(asks))
    assert seen[0] is seen[1] is lazy.endpoint("crm/Accounts")
    monkeypatch.setattr(catalogue_module, "_endpoint_from_entry", make_endpoint)
    monkeypatch.setattr(catalogue_module, "Twins", group_together)
    asks = [lambda: lazy.twins("crm/Accounts"), lambda: lazy.twins("bulk/CRM/Accounts")]
    seen.update(_at_once(asks))
    assert seen[0] is seen[1] is lazy.twins("sync/CRM/Accounts")
