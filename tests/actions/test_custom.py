"""The custom call's path: dot segments would escape the endpoint and division checks."""

from __future__ import annotations

import pytest

from exactmate.actions.custom import custom_call
from exactmate.errors import ValidationError
from tests.actions.conftest import D1, World


@pytest.mark.parametrize(
    "path",
    [
        "read/project/HoursByDate/../../../system/Divisions",
        "crm/Accounts(guid'00000000-0000-0000-0000-000000000001')/../../../100002/crm/Accounts",
        "crm/Accounts/%2e%2e/%2E%2E/system/Divisions",
        "crm/Accounts/./$count",
        "crm/Accounts\\..\\..\\system\\Divisions",
    ],
)
def test_dot_segments_are_refused_without_a_call(world: World, path: str) -> None:
    with pytest.raises(ValidationError, match="segment") as info:
        custom_call(world.conn, "GET", path, division=D1)
    assert "read/project/HoursByDate" in (info.value.hint or "")
    assert world.sent() == []
