"""Proof 7: the error budget guard, end to end. Exact blocks an app for an hour after 10 answers of
400/401/403/404 on one endpoint within an hour; exactmate stops itself at 9, so Exact never does.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from exactmate.client import ExactClient
from exactmate.clock import utc
from exactmate.emulator.config import EmulatorConfig
from exactmate.errors import BudgetExceeded, NotFoundError, local_time
from tests.emulator_helpers import authorize, bearer
from tests.proofs.conftest import WorldFactory
from tests.proofs.harness import connect


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
    assert "exactmate stops at 9" in str(refused) and local_time(refused.reopens_at) in str(refused)
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


def test_two_credentials_of_one_app_share_its_budget_and_a_block_is_never_retried(
    make_world: WorldFactory,
) -> None:
    # Exact counts failures per app: two vault credentials with the same client id spend one budget.
    world = make_world(EmulatorConfig(records=50, divisions=1))
    second = replace(world.home, credential="Same app, other name")
    connect(second, world.config, world.control, base_url=world.config.base_url, clock=world.clock)
    other = ExactClient.from_credential(
        second.credential, settings=second.settings(), clock=world.clock, transport=world.recorder
    )
    clients = [world.client, other]
    before = world.stats()
    refused = 0
    for n in range(20):
        try:
            clients[n % 2].resource("crm/Accounts", division=world.division).get(uuid.uuid4())
        except NotFoundError:
            continue
        except BudgetExceeded:
            refused += 1
    sent = world.stats()
    earlier = before["by_endpoint"].get("crm/accounts", {}).get("404", 0)
    assert sent["by_endpoint"]["crm/accounts"]["404"] - earlier == 9
    assert refused == 11 and sent["error_budget_blocks"] == 0  # Exact never blocked the app

    # A block Exact announces anyway (another tool on the same app spent the budget) is remembered
    # and never retried: later calls there are refused locally until it ends.
    world.clock.advance(3600)
    outsider = bearer(authorize(world.control, world.config))
    answers = []
    for _ in range(12):
        missing = f"/api/v1/{world.division}/crm/Contacts(guid'{uuid.uuid4()}')"
        answers.append(world.control.get(missing, headers=outsider).status_code)
    assert answers[-1] == 429  # Exact blocked the app
    contacts = world.client.resource("crm/Contacts", division=world.division)
    seen = len(world.recorder.api())
    with pytest.raises(BudgetExceeded, match="Exact blocked this app's calls to crm/Contacts"):
        contacts.count()
    assert [e.status for e in world.recorder.api()[seen:]] == [429]  # one answer, no retry
    for client in clients:  # every credential of the app: refused without a call
        with pytest.raises(BudgetExceeded, match="sends none until the block ends"):
            client.resource("crm/Contacts", division=world.division).count()
    assert len(world.recorder.api()) == seen + 1
    other.close()
