"""Proof 5: faults. Server errors and dropped connections cost retries, never records; a lost token
response ends in a clear "re-authorise" state, not in a loop of token calls.
"""

from __future__ import annotations

import pytest

from exactmate.client import ExactClient
from exactmate.emulator.config import EmulatorConfig
from exactmate.errors import APIConnectionError, ReauthorizationRequired
from tests.proofs.conftest import WorldFactory
from tests.proofs.harness import credential_status


@pytest.mark.parametrize(
    ("path", "table", "records"),
    [
        ("crm/Accounts", "crm/accounts", 6_000),  # through bulk/CRM/Accounts, 1000 a page
        ("project/TimeTransactions", "project/timetransactions", 1_500),  # no twin: 60 a page
    ],
)
def test_a_full_listing_under_faults_has_every_record_exactly_once(
    make_world: WorldFactory, path: str, table: str, records: int
) -> None:
    world = make_world(EmulatorConfig(records=records, divisions=1, minutely_limit=10_000), max_retries=8)
    world.client.me()
    world.fault(kind="500", rate=0.1)
    world.fault(kind="drop_before", rate=0.1)
    before = world.stats()

    listed = [record["ID"] for record in world.client.resource(path).list()]

    after = world.stats()
    assert sorted(listed) == sorted(world.keys(table))  # every record, each exactly once
    assert len(listed) == records
    statuses = [e.status for e in world.recorder.api()]
    assert after["dropped"] > before["dropped"] and None in statuses
    assert after["by_status"].get("500", 0) > before["by_status"].get("500", 0) and 500 in statuses
    assert statuses[-1] == 200


def test_a_lost_token_response_flags_the_credential_and_stops(make_world: WorldFactory) -> None:
    world = make_world(EmulatorConfig(records=100, divisions=1))
    accounts = world.client.resource("crm/Accounts", division=world.division)
    assert accounts.count() == 100
    world.fault(kind="lose_token_response", count=1)
    world.clock.advance(600)  # the access token has expired: the next call refreshes first
    before = world.stats()

    # Exact rotated the refresh token, but its answer never arrived.
    with pytest.raises(APIConnectionError):
        accounts.count()
    # The next refresh presents the rotated-out token: Exact says so, the credential is flagged.
    with pytest.raises(ReauthorizationRequired) as caught:
        accounts.count()
    message = str(caught.value)
    assert "Old refresh token used" in message
    assert "exactmate vault connect Emulated" in message
    # From now on the client refuses locally: no token call, no REST call, however often it is asked.
    for _ in range(5):
        with pytest.raises(ReauthorizationRequired, match="exactmate vault connect Emulated"):
            accounts.count()

    after = world.stats()
    assert after["token_calls"] - before["token_calls"] == 2
    assert after["refresh_granted"] - before["refresh_granted"] == 1  # the lost one
    assert after["refresh_refused"] - before["refresh_refused"] == 1  # "Old refresh token used"
    assert after["total_requests"] - before["total_requests"] == 2  # the two token calls, nothing else
    status, reason = credential_status(world.home)
    assert status == "needs_reauthorization"
    assert reason is not None and "Old refresh token used" in reason
    # A new client for the credential refuses before any call too.
    with pytest.raises(ReauthorizationRequired, match="exactmate vault connect Emulated"):
        ExactClient.from_credential(world.home.credential, settings=world.home.settings(), clock=world.clock)
    assert world.stats()["total_requests"] == after["total_requests"]
