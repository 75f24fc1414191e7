"""End to end: ExactClient.from_credential over the in-process emulator, with a fake clock throughout.

The full stack runs for real: vault row and encrypted tokens in a SQLite store, TokenManager, Governor,
HttpPolicy, resources, and the emulator's OAuth, rate limits, paging and faults. Nothing sleeps: the
library and the emulator share one FakeClock, whose ``sleep`` moves time on.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from exactmate.auth import TokenSet
from exactmate.client import ExactClient
from exactmate.clock import FakeClock
from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.transport import EmulatorTransport
from exactmate.errors import (
    APIConnectionError,
    CatalogueError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from exactmate.odata import AMSTERDAM, F
from exactmate.secretbox import SecretBox
from exactmate.store import SecretBinding, Store, new_id
from exactmate.vault import CredentialTokens
from tests.emulator_helpers import authorize, redirect_uri_for


class Recording(httpx.BaseTransport):
    """The emulator's transport, remembering every request and response status the library sent."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, int | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            self.calls.append((request.method, request.url.path, None))
            raise
        self.calls.append((request.method, request.url.path, response.status_code))
        return response

    def api_calls(self) -> list[tuple[str, str, int | None]]:
        return [c for c in self.calls if c[1].startswith("/api/v1/")]


@dataclass
class World:
    clock: FakeClock
    config: EmulatorConfig
    emulator: Emulator
    transport: Recording
    client: ExactClient
    control: httpx.Client

    @property
    def division(self) -> int:
        return self.config.accessible_divisions[0]

    def fault(self, **spec: object) -> None:
        assert self.control.post("/_emulator/faults", json=spec).status_code in (200, 201)


def build_world(tmp_path: Path, config: EmulatorConfig, max_retries: int = 2) -> World:
    clock = FakeClock()
    emulator = Emulator(config, clock=clock, sleep=clock.sleep)
    transport = Recording(EmulatorTransport(emulator))
    control = httpx.Client(transport=EmulatorTransport(emulator), base_url=config.base_url)
    tokens = authorize(control, config)
    settings = Settings.from_env(
        home=tmp_path, master_key=base64.b64encode(bytes(range(32))).decode(), max_retries=max_retries
    )
    store = Store.from_settings(settings, clock=clock)
    box = SecretBox.from_settings(settings)
    credential_id = new_id()
    store.insert_credential(
        id=credential_id,
        name="Emulated",
        server_url=config.base_url,
        client_id=config.client_id,
        client_secret=box.encrypt(
            config.client_secret,
            SecretBinding(credential_id, config.base_url, config.client_id, redirect_uri_for(config)).aad(
                "client_secret"
            ),
        ),
        redirect_uri=redirect_uri_for(config),
        status="connected",
    )
    CredentialTokens(store, box, credential_id).save(TokenSet.from_response(tokens, clock.now()))
    client = ExactClient.from_credential("emulated", settings=settings, clock=clock, transport=transport)
    return World(clock, config, emulator, transport, client, control)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = build_world(tmp_path, EmulatorConfig(records=2500, divisions=2))
    yield made
    made.client.close()
    made.control.close()
    made.emulator.close()


def test_me_and_divisions(world: World) -> None:
    me = world.client.me()
    assert me["CurrentDivision"] == world.division
    assert "__metadata" not in me
    codes = {d["Code"] for d in world.client.divisions()}
    assert set(world.config.accessible_divisions) <= codes


def test_reading_every_account_costs_at_most_ceil_n_over_1000_plus_2_calls(world: World) -> None:
    accounts = world.client.resource("crm/Accounts")
    records = list(accounts.list(select=["ID", "Name", "Code", "Created"]))
    calls = len(world.transport.api_calls())
    total = accounts.count()
    assert len(records) == total >= 2500
    assert len({r["ID"] for r in records}) == total
    assert calls <= math.ceil(total / 1000) + 2
    listing = [path for _, path, _ in world.transport.api_calls()[:calls] if path != "/api/v1/current/Me"]
    assert listing == [f"/api/v1/{world.division}/bulk/CRM/Accounts"] * math.ceil(total / 1000)
    created = records[0]["Created"]
    assert isinstance(created, datetime) and created.tzinfo == AMSTERDAM


def test_the_twin_gives_the_same_records_and_fields_as_the_base_endpoint(world: World) -> None:
    accounts = world.client.resource("crm/Accounts")
    fields = ["ID", "Name", "Code", "Created", "Blocked"]
    via_twin = sorted(accounts.list(select=fields), key=lambda r: r["ID"])
    # A filter that matches everything keeps the read on crm/Accounts itself (60 rows a call).
    via_base = sorted(accounts.list(select=fields, filter=F("Name") != "\u0000"), key=lambda r: r["ID"])
    assert via_twin == via_base
    paths = {path.split("/", 4)[4] for _, path, _ in world.transport.api_calls() if "/current/" not in path}
    assert paths == {"bulk/CRM/Accounts", "crm/Accounts"}


def test_whole_read_without_select_matches_the_twins_shared_fields(world: World) -> None:
    record = next(world.client.resource("crm/Accounts").list())
    base = world.client.catalogue.endpoint("crm/Accounts")
    assert set(record) == {name for name, field in base.fields.items() if not field.is_collection}


def test_sync_twin_read(world: World) -> None:
    employees = list(world.client.resource("payroll/Employees").list(select=["ID", "FullName"]))
    assert employees and all(set(e) == {"ID", "FullName"} for e in employees)
    last = world.transport.api_calls()[-1][1]
    assert last.endswith("/sync/Payroll/Employees")


def test_time_transaction_create_get_update_delete(world: World) -> None:
    client = world.client
    hour_type = next(client.resource("logistics/Items").list(select=["ID"], filter={"IsTime": 1}, top=1))
    project = next(client.resource("project/Projects").list(select=["ID"], top=1))
    times = client.resource("project/TimeTransactions")
    when = datetime(2026, 3, 30, 0, 0)
    created = times.create({"Item": hour_type["ID"], "Project": project["ID"], "Quantity": 2.5, "Date": when})
    assert created["Quantity"] == 2.5
    assert created["Date"] == when.replace(tzinfo=AMSTERDAM)
    fetched = times.get(created["ID"])
    assert fetched["ID"] == created["ID"] and fetched["Date"] == created["Date"]
    times.update(created["ID"], {"Notes": "refined", "Quantity": 3.0})
    assert times.get(created["ID"])["Notes"] == "refined"
    times.delete(created["ID"])
    with pytest.raises(NotFoundError):
        times.get(created["ID"])


def test_rate_limits_are_waited_out_never_hit(tmp_path: Path) -> None:
    world = build_world(
        tmp_path, EmulatorConfig(records=700, divisions=1, minutely_limit=5, window_seconds=60)
    )
    try:
        started = world.clock.now()
        records = list(
            world.client.resource("project/TimeTransactions").list(select=["ID"], filter={"Type": 1})
        )
        statuses = [status for _, path, status in world.transport.api_calls() if "/current/" not in path]
        assert len(records) == 700 and 429 not in statuses
        assert len(statuses) == math.ceil(700 / 60)  # more calls than two windows of 5 allow
        windows = math.ceil(len(statuses) / 5)
        assert world.clock.now() - started >= 60 * (windows - 1)
    finally:
        world.client.close()
        world.emulator.close()


def test_an_expired_access_token_is_refreshed_without_a_401(world: World) -> None:
    world.client.me()
    world.clock.advance(3600)
    assert world.client.resource("crm/Accounts").count() >= 2500
    statuses = [status for _, _, status in world.transport.calls]
    assert 401 not in statuses
    assert ("POST", "/api/oauth2/token", 200) in world.transport.calls


def test_listing_survives_server_errors_and_dropped_connections(tmp_path: Path) -> None:
    world = build_world(tmp_path, EmulatorConfig(records=2500, divisions=1), max_retries=6)
    try:
        expected = world.client.resource("crm/Accounts").count()
        world.fault(kind="500", rate=0.1)
        world.fault(kind="drop_before", rate=0.1)
        records = list(
            world.client.resource("crm/Accounts").list(select=["ID"], filter=F("Name") != "\u0000")
        )
        assert len(records) == expected and len({r["ID"] for r in records}) == expected
        failures = [c for c in world.transport.api_calls() if c[2] is None or c[2] == 500]
        assert failures, "the faults should have fired"
    finally:
        world.client.close()
        world.emulator.close()


def test_a_division_outside_the_consent_is_forbidden_with_exacts_reason(world: World) -> None:
    with pytest.raises(ForbiddenError) as caught:
        world.client.resource("crm/Accounts", division=world.config.forbidden_division).count()
    assert caught.value.reason == "NoDivisionAccess"


def test_fan_out_over_divisions(world: World) -> None:
    divisions = world.config.accessible_divisions
    results = dict(world.client.fan_out(divisions, lambda r: r.count(), path="crm/Accounts"))
    assert set(results) == set(divisions)
    one_by_one = {d: world.client.resource("crm/Accounts", division=d).count() for d in divisions}
    assert results == one_by_one


def test_bad_input_costs_no_call(world: World) -> None:
    world.client.me()
    before = len(world.transport.calls)
    client = world.client
    with pytest.raises(CatalogueError, match="Did you mean"):
        client.resource("project/TimeTransaction")
    with pytest.raises(CatalogueError):
        client.resource("payroll/Employees").create({"FullName": "x"})
    with pytest.raises(ValidationError):
        client.resource("project/TimeTransactions").get("12345")
    with pytest.raises(ValidationError):
        client.resource("system/Divisions").get("one")
    with pytest.raises(CatalogueError):
        client.resource("crm/Accounts").list(select=["ID", "Nmae"])
    with pytest.raises(ValidationError):
        client.resource("crm/Accounts").count(filter={"ID": "x' or 1 eq 1 or Name eq '"})
    assert len(world.transport.calls) == before


def test_a_create_whose_answer_is_lost_is_not_sent_again(world: World) -> None:
    client = world.client
    hour_type = next(client.resource("logistics/Items").list(select=["ID"], filter={"IsTime": 1}, top=1))
    project = next(client.resource("project/Projects").list(select=["ID"], top=1))
    times = client.resource("project/TimeTransactions")
    before = times.count()
    world.fault(kind="drop_after_commit", count=1, path="TimeTransactions")
    with pytest.raises(APIConnectionError):
        times.create({"Item": hour_type["ID"], "Project": project["ID"], "Quantity": 1.0})
    posts = [c for c in world.transport.api_calls() if c[0] == "POST"]
    assert posts == [("POST", f"/api/v1/{world.division}/project/TimeTransactions", None)]
    assert times.count() == before + 1  # stored once by the server, never sent twice
