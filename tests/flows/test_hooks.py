"""The http trigger: a POST with the flow's token starts one run with the body as ``trigger.body``;
a wrong or missing token, an unknown flow, a body that is not JSON or too large starts none; a
delivery sent twice starts one run; the token is shown once and kept hashed."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from exactmate.config import Settings
from exactmate.flows import load_flow
from exactmate.flows.engine import FlowEngine
from exactmate.flows.history import RunHistory
from exactmate.flows.hooks import MAX_BODY, HookTokens, receiver
from tests.cli.conftest import run

INTAKE = """\
name: intake
trigger: {http: {}}
steps:
  - id: each
    action: log
    for_each: "{{ trigger.body.entries }}"
    with: {message: "{{ item.hours }} h on {{ item.project }}"}
"""


@pytest.fixture
def hooks() -> Iterator[tuple[TestClient, FlowEngine, str]]:
    settings = Settings.from_env()
    token = HookTokens(settings.home).issue("intake")
    flows = {
        "intake": load_flow(INTAKE),
        "manual": load_flow(INTAKE.replace("intake", "manual").replace("http: {}", "manual: {}")),
    }
    with (
        FlowEngine(settings) as engine,
        TestClient(receiver(engine, lambda: flows, HookTokens(settings.home))) as client,
    ):
        yield client, engine, token


def test_a_post_with_the_token_starts_one_run_with_its_body(
    hooks: tuple[TestClient, FlowEngine, str],
) -> None:
    client, engine, token = hooks
    body = {"entries": [{"project": "P1", "hours": 2}, {"project": "P2", "hours": 3.5}]}
    answer = client.post("/hooks/intake", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 202
    run_id = answer.json()["run"]
    assert run_id.startswith("intake:http:")
    items = engine.wait(run_id)["outputs"]["each"]["items"]
    assert items == [{"message": "2 h on P1"}, {"message": "3.5 h on P2"}]
    once = {"Authorization": f"Bearer {token}", "X-Delivery-Id": "delivery-77"}
    first = client.post("/hooks/intake", json=body, headers=once).json()["run"]
    again = client.post("/hooks/intake", json=body, headers=once).json()["run"]
    assert first == again == "intake:http:delivery-77"
    engine.wait(first)
    assert len(RunHistory(Settings.from_env()).runs("intake")) == 2
    assert client.get("/health").json() == {"ok": True, "flows": 2}


def test_what_starts_no_run(hooks: tuple[TestClient, FlowEngine, str]) -> None:
    client, _, token = hooks
    good = {"Authorization": f"Bearer {token}"}
    assert client.post("/hooks/intake", json={}).status_code == 401
    assert (
        client.post(
            "/hooks/intake", json={}, headers={"Authorization": "Bearer " + token[:-1] + "x"}
        ).status_code
        == 401
    )
    assert client.post("/hooks/manual", json={}, headers=good).status_code == 404  # not an http trigger
    assert client.post("/hooks/nothing", json={}, headers=good).status_code == 404
    assert client.post("/hooks/intake", content=b"{not json", headers=good).status_code == 400
    big = b'{"x": "' + b"a" * MAX_BODY + b'"}'
    assert client.post("/hooks/intake", content=big, headers=good).status_code == 413
    bad_id = {**good, "X-Delivery-Id": "../../etc"}
    assert client.post("/hooks/intake", json={}, headers=bad_id).status_code == 400
    assert RunHistory(Settings.from_env()).runs("intake") == []


def test_the_token_is_shown_once_and_kept_hashed() -> None:
    result = run("flow", "token", "intake")
    assert result.exit_code == 0
    token = result.stdout.strip()
    store = HookTokens(Settings.from_env().home)
    kept = store.path.read_text(encoding="utf-8")
    assert token not in kept and store.accepts("intake", token)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    renewed = run("flow", "token", "intake").stdout.strip()
    assert not store.accepts("intake", token) and store.accepts("intake", renewed)
    assert run("flow", "token", "Not A Name").exit_code == 3
