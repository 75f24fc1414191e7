"""Proof 7: the error budget guard, end to end. Exact blocks an app for an hour after 10 answers of
400/401/403/404 on one endpoint within an hour; exactmate stops itself at 9, so Exact never does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from exactmate.clock import utc
from exactmate.emulator.config import EmulatorConfig
from exactmate.errors import BudgetExceeded, NotFoundError
from tests.proofs.conftest import WorldFactory


def test_nine_failures_then_the_tenth_is_refused_locally(make_world: WorldFactory) -> None:
    world = make_world(EmulatorConfig(records=200, divisions=1))
    accounts = world.client.resource("crm/Accounts", division=world.division)
    started = world.clock.now()
    before = world.stats()

    for _ in range(9):
        with pytest.raises(NotFoundError):
            accounts.get(uuid.uuid4())  # a well-formed key no record has: Exact answers 404
    sent = world.stats()
    assert sent["total_requests"] - before["total_requests"] == 9
    assert sent["by_endpoint"]["crm/accounts"]["404"] == 9

    with pytest.raises(BudgetExceeded) as caught:
        accounts.get(uuid.uuid4())
    refused = caught.value
    assert world.stats()["total_requests"] == sent["total_requests"]  # refused without a call
    assert refused.endpoint.lower() == "crm/accounts" and refused.division == world.division
    assert refused.reopens_at == utc(started) + timedelta(hours=1)
    assert "exactmate stops at 9" in str(refused) and refused.reopens_at.isoformat() in str(refused)
    # The guard keeps the whole endpoint shut, good calls included: Exact would count them as blocked.
    with pytest.raises(BudgetExceeded):
        accounts.count()
    assert world.stats()["total_requests"] == sent["total_requests"]

    # Other endpoints are not affected.
    assert world.client.resource("crm/Contacts", division=world.division).count() > 0
    # Exact (the emulator) never blocked the app.
    after = world.stats()
    assert after["error_budget_blocks"] == before["error_budget_blocks"] == 0
    assert after["error_budget_refusals"] == 0 and after["rate_limited"] == 0

    # An hour after the first failure, the endpoint reopens.
    world.clock.advance(3600)
    assert accounts.count() == 200
    assert world.stats()["error_budget_blocks"] == 0
