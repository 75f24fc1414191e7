"""An unknown field in a mapping or builder ``$filter`` is refused locally, like ``$select``,
``$orderby`` and ``$expand`` names: a typo costs no call and no place in the hourly error budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exactmate.emulator.config import EmulatorConfig
from exactmate.errors import CatalogueError
from exactmate.odata import F
from exactmate.resource import Resource
from tests.proofs.conftest import WorldFactory


@pytest.mark.parametrize(
    "read",
    [
        lambda r: r.count(filter={"Nmae": "O'Brien"}),
        lambda r: list(r.list(select=["ID"], filter=F("Nmae") == "O'Brien")),
    ],
    ids=["mapping", "builder"],
)
def test_an_unknown_filter_field_costs_no_call(
    make_world: WorldFactory, read: Callable[[Resource], Any]
) -> None:
    world = make_world(EmulatorConfig(records=100, divisions=1))
    accounts = world.client.resource("crm/Accounts", division=world.division)
    before = world.stats()["total_requests"]
    with pytest.raises(CatalogueError, match="Nmae"):
        read(accounts)
    assert world.stats()["total_requests"] == before
