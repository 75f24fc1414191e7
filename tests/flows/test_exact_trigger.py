"""The exact trigger end to end on real ports: the emulator on 127.0.0.1 sends its signed webhooks to
the receiver on 127.0.0.1, the trigger reads the topic's sync/ feed from its cursor, and DBOS starts
the runs. exactmate's own time (the debounce, the reconciliation interval) is a FakeClock the test
moves; waits for the other side are polls with a deadline."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from exactmate.clock import FakeClock
from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.flows import load_flow
from exactmate.flows.definition import Flow
from exactmate.flows.engine import FlowEngine
from exactmate.flows.events import ExactEvents, callback_key, signed_content
from exactmate.flows.history import RunHistory
from exactmate.flows.hooks import HookTokens, receiver
from exactmate.vault import Vault
from tests.cli.conftest import CREDENTIAL, D1, Emu, connected
from tests.emulator_helpers import authorize, bearer
from tests.live_emulator import free_port, serve_emulator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "flows"
DEADLINE = 10.0

ENTRIES = """\
name: entries
division: {division}
trigger:
  exact: {{topic: TimeTransactions, reconcile: 5m}}
steps:
  - id: tell
    action: log
    with: {{message: "{{{{ trigger.action }}}} {{{{ trigger.key }}}}"}}
"""

BANK = """\
name: bank
division: {division}
trigger:
  exact: {{topic: BankAccounts}}
steps:
  - id: tell
    action: log
    with: {{message: "{{{{ trigger.action }}}} {{{{ trigger.key }}}}"}}
"""


@dataclass
class Live:
    """The emulator, the trigger on a FakeClock, its receiver on a real port, and another client."""

    emu: Emu
    emulator: Emulator
    engine: FlowEngine
    events: ExactEvents
    clock: FakeClock
    receiver_url: str
    other: httpx.Client  # another client of the same Exact company, signed in on its own

    def settle(self) -> None:
        """Every notification the emulator queued has been answered by the receiver."""
        self.emulator.flush_webhooks()

    def reconcile(self, seconds: float = 301.0) -> None:
        self.clock.advance(seconds)
        self.events.wake()

    def runs(self, flow: str) -> list[str]:
        return [r.run_id for r in RunHistory(Settings.from_env()).runs(flow, limit=5000)]

    def wait_for_runs(self, flow: str, count: int, *, stable: Callable[[], bool] = lambda: True) -> list[str]:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            found = self.runs(flow)
            if len(found) >= count and stable():
                return found
            self.events.wake()
            time.sleep(0.02)
        return self.runs(flow)

    def feed_calls(self) -> int:
        per = self.emulator.stats.snapshot()["by_endpoint"]
        keys = ("sync/project/timecosttransactions", "sync/deleted")
        return sum(sum(per.get(key, {}).values()) for key in keys)


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Live]]:
    monkeypatch.setenv("EXACTMATE_MAX_RETRIES", "0")
    stack: list[Callable[[], None]] = []

    def start(
        flow_texts: list[str],
        *,
        debounce: float = 0.0,
        with_secret: bool = True,
        since: datetime | None = None,
    ) -> Live:
        config = EmulatorConfig(records=60, divisions=2, minutely_limit=100_000, daily_limit=1_000_000)
        emulator_cm = serve_emulator(config)
        base_url, emulator = emulator_cm.__enter__()
        stack.append(lambda: emulator_cm.__exit__(None, None, None))
        emu = connected(Emu(base_url, emulator.config))
        if with_secret:
            with Vault.open(Settings.from_env()) as vault:
                vault.apply_edit(vault.plan_edit(CREDENTIAL, webhook_secret=emulator.config.webhook_secret))
        settings = Settings.from_env()
        engine = FlowEngine(settings).open()
        stack.append(engine.close)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        clock = FakeClock(time.time())
        events = ExactEvents(engine, settings, public_url=url, clock=clock, debounce=debounce, since=since)
        stack.append(events.close)
        app = receiver(engine, dict, HookTokens(settings.home), events.routes())
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        stack.append(lambda: (setattr(server, "should_exit", True), thread.join()))
        deadline = time.monotonic() + DEADLINE
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        flows = [load_flow(text.format(division=D1)) for text in flow_texts]
        said = events.apply(flows)
        assert not [line for line in said if "not served" in line], said
        events.start()
        _until(lambda: events.reads >= len(events.scopes))  # each scope's first read, made at once
        other = httpx.Client(base_url=base_url, timeout=10)
        stack.append(other.close)
        other.headers.update(bearer(authorize(other, emulator.config)))
        return Live(emu, emulator, engine, events, clock, url, other)

    yield start
    for undo in reversed(stack):
        undo()


def _until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < deadline, "not done within the deadline"
        time.sleep(0.01)


def _item(live: Live) -> str:
    answer = live.other.get(
        f"/api/v1/{D1}/logistics/Items", params={"$filter": "IsTime eq 1", "$select": "ID", "$top": "1"}
    )
    return str(answer.json()["d"]["results"][0]["ID"])


def _project(live: Live) -> str:
    answer = live.other.get(f"/api/v1/{D1}/project/Projects", params={"$select": "ID", "$top": "1"})
    return str(answer.json()["d"]["results"][0]["ID"])


def _create(live: Live, item: str, project: str, notes: str) -> str:
    body = {"Item": item, "Project": project, "Quantity": 1.5, "Date": "2026-11-20T00:00:00", "Notes": notes}
    answer = live.other.post(
        f"/api/v1/{D1}/project/TimeTransactions", json=body, headers={"Prefer": "return=representation"}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["d"]["ID"])


def _update(live: Live, key: str, notes: str) -> None:
    answer = live.other.put(f"/api/v1/{D1}/project/TimeTransactions(guid'{key}')", json={"Notes": notes})
    assert answer.status_code == 204, answer.text


def _delete(live: Live, key: str) -> None:
    answer = live.other.delete(f"/api/v1/{D1}/project/TimeTransactions(guid'{key}')")
    assert answer.status_code == 204, answer.text


def test_a_time_entry_made_by_another_client_starts_exactly_one_run(live: Callable[..., Live]) -> None:
    running = live([ENTRIES])
    subscriptions = running.other.get(f"/api/v1/{D1}/webhooks/WebhookSubscriptions").json()["d"]["results"]
    key = callback_key(_credential_id())
    assert [(s["Topic"], s["CallbackURL"]) for s in subscriptions] == [
        ("TimeTransactions", f"{running.receiver_url}/events/{key}")
    ]
    assert running.runs("entries") == []  # the entries that existed before start nothing
    made = _create(running, _item(running), _project(running), "made elsewhere")
    running.settle()
    runs = running.wait_for_runs("entries", 1)
    assert len(runs) == 1 and made in runs[0]
    result = running.engine.wait(runs[0], timeout=DEADLINE)
    assert result["outputs"]["tell"]["message"] == f"Create {made}"
    trigger = RunHistory(Settings.from_env()).show(runs[0]).as_dict()
    assert made in json.dumps(trigger)
    running.reconcile()  # a reconciliation later: the change is not run again
    running.settle()
    assert running.wait_for_runs("entries", 2) == runs


def test_a_second_start_creates_no_subscription_and_repairs_a_missing_one(live: Callable[..., Live]) -> None:
    running = live([ENTRIES])
    path = f"/api/v1/{D1}/webhooks/WebhookSubscriptions"
    first = running.other.get(path).json()["d"]["results"]
    assert len(first) == 1
    assert any(
        "subscribed already" in line
        for line in running.events.apply([load_flow(ENTRIES.format(division=D1))])
    )
    assert running.other.get(path).json()["d"]["results"] == first
    assert running.other.delete(f"{path}(guid'{first[0]['ID']}')").status_code == 204
    said = running.events.apply([load_flow(ENTRIES.format(division=D1))])
    assert any(line.endswith(f"subscribed ({first[0]['CallbackURL']})") for line in said), said
    assert len(running.other.get(path).json()["d"]["results"]) == 1


def _credential_id() -> str:
    with Vault.open(Settings.from_env()) as vault:
        return vault.get(CREDENTIAL).id


def _notification(secret: str, key: str, topic: str = "BankAccounts", action: str = "Update") -> bytes:
    content = json.dumps(
        {
            "Topic": topic,
            "ClientId": "x",
            "Division": D1,
            "Action": action,
            "Key": key,
            "ExactOnlineEndpoint": f"https://example.invalid/api/v1/{D1}/crm/{topic}(guid'{key}')",
            "EventCreatedOn": "2026-12-04T07:00:00.123",
        },
        separators=(",", ":"),
    ).encode()
    signature = hmac.new(secret.encode(), content, hashlib.sha256).hexdigest().upper()
    return b'{"Content":' + content + b',"HashCode":"' + signature.encode() + b'"}'


def test_a_changed_byte_a_wrong_secret_or_a_repeat_starts_no_run(
    live: Callable[..., Live], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="exactmate.flows.events")
    running = live([BANK])  # BankAccounts has no sync/ feed: a notification starts its run itself
    url = f"{running.receiver_url}/events/{callback_key(_credential_id())}"
    secret = running.emulator.config.webhook_secret
    key = "6f1c1a52-59f0-4f43-a7a6-0c9d16a8f7e1"
    good = _notification(secret, key)
    tampered = good.replace(b'"Action":"Update"', b'"Action":"Updatf"')
    assert len(tampered) == len(good) and sum(a != b for a, b in zip(good, tampered, strict=True)) == 1
    signature_cut = good[:-3] + b'"}'
    with httpx.Client(timeout=10) as http:
        assert http.post(url, content=tampered).status_code == 401
        assert http.post(url, content=_notification("another secret", key)).status_code == 401
        assert http.post(url, content=signature_cut).status_code == 401
        assert http.post(url, content=good.replace(b',"HashCode"', b',"Hash"')).status_code == 401
        assert http.post(url, content=b"").status_code == 200  # the check Exact makes on subscribing
        assert running.runs("bank") == []
        assert running.events.refused == 4
        refusals = [r.getMessage() for r in caplog.records if "refused a notification" in r.getMessage()]
        assert len(refusals) == 4 and all("HashCode is missing or does not match" in m for m in refusals)
        assert secret not in caplog.text
        assert http.post(url, content=good).status_code == 200
        runs = running.wait_for_runs("bank", 1)
        assert len(runs) == 1
        assert http.post(url, content=good).status_code == 200  # the same notification again
        assert http.post(url, content=good).status_code == 200
        running.engine.wait(runs[0], timeout=DEADLINE)
    assert running.runs("bank") == runs


def test_the_signature_is_over_the_content_as_received() -> None:
    raw = _notification("s3", "k")
    assert signed_content(raw, "s3") is not None
    spaced = raw.replace(b'"Topic":"BankAccounts"', b'"Topic": "BankAccounts"')
    assert signed_content(spaced, "s3") is None  # the same JSON, other bytes: not what was signed
    assert signed_content(raw.replace(b'"HashCode"', b'"hashcode"'), "s3") is None


def test_with_30_percent_of_notifications_dropped_every_change_starts_exactly_one_run(
    live: Callable[..., Live],
) -> None:
    running = live([ENTRIES], debounce=1.0)
    item, project = _item(running), _project(running)
    pool = [_create(running, item, project, f"before {i}") for i in range(150)]
    running.settle()
    running.reconcile()  # the pool's own creates are changes too: run and counted apart
    running.settle()
    before_pool = running.wait_for_runs("entries", 150)
    assert len(before_pool) == 150
    running.emu.control("POST", "faults", {"kind": "drop_notification", "rate": 0.3})
    rng = random.Random(14)
    expected: set[str] = set()
    untouched = list(pool)
    rng.shuffle(untouched)
    for i in range(300):
        kind = rng.choice(["create", "update", "delete"]) if untouched else "create"
        if kind == "create":
            expected.add(f"Create:{_create(running, item, project, f'burst {i}')}")
        elif kind == "update":
            key = untouched.pop()
            _update(running, key, f"changed {i}")
            expected.add(f"Update:{key}")
        else:
            key = untouched.pop()
            _delete(running, key)
            expected.add(f"Delete:{key}")
    running.settle()
    stats = running.emulator.stats.snapshot()
    assert 60 <= stats["webhooks_lost"] <= 120  # about 30% of 300 never reached the receiver
    calls_before = running.feed_calls()
    running.reconcile()  # one reconciliation
    runs = running.wait_for_runs("entries", 450)
    new = [run for run in runs if run not in before_pool]
    triggers = _triggers(new)
    seen = {f"{trigger['action']}:{trigger['key']}" for trigger in triggers}
    assert len(new) == 300 == len(seen)  # none twice
    assert seen == expected  # none missed
    calls = running.feed_calls() - calls_before
    assert calls <= math.ceil(300 / 1000) + 2, calls


def test_a_create_notification_arriving_late_does_not_make_the_next_change_a_create(
    live: Callable[..., Live],
) -> None:
    """Exact's Create notification can reach the receiver after a reconciliation already started the
    record's run; the record's next change is still its Update."""
    running = live([ENTRIES])
    item, project = _item(running), _project(running)
    running.emu.control("POST", "faults", {"kind": "drop_notification", "rate": 1.0})
    key = _create(running, item, project, "late create")
    running.settle()
    running.reconcile()
    assert len(running.wait_for_runs("entries", 1)) == 1
    url = f"{running.receiver_url}/events/{callback_key(_credential_id())}"
    late = _notification(
        running.emulator.config.webhook_secret, key, topic="TimeTransactions", action="Create"
    )
    with httpx.Client(timeout=10) as http:
        assert http.post(url, content=late).status_code == 200
    _update(running, key, "changed after")
    running.settle()
    running.reconcile()
    runs = running.wait_for_runs("entries", 2)
    assert sorted(t["action"] for t in _triggers(runs)) == ["Create", "Update"]


def test_the_example_flow_reads_each_new_time_entry(live: Callable[..., Live]) -> None:
    text = (EXAMPLES / "new-time-entry.yaml").read_text()
    flow: Flow = load_flow(text.replace("division: current", f"division: {D1}"))
    running = live([])
    said = running.events.apply([flow])
    assert any("subscribed" in line for line in said), said
    made = _create(running, _item(running), _project(running), "example")
    running.settle()
    runs = running.wait_for_runs("new-time-entry", 1)
    assert len(runs) == 1
    result = running.engine.wait(runs[0], timeout=DEADLINE)
    assert "1.5 h on" in result["outputs"]["tell"]["message"]
    assert made in runs[0]


def test_from_a_date_backfills_the_changes_since_then_once(live: Callable[..., Live]) -> None:
    running = live([ENTRIES], since=datetime(2000, 1, 1, tzinfo=UTC))
    count = int(running.other.get(f"/api/v1/{D1}/project/TimeTransactions/$count").text)
    assert count > 0
    running.reconcile()
    runs = running.wait_for_runs("entries", count)
    assert len(runs) == count == len({run.split(":")[4] for run in runs})
    assert {trigger["action"] for trigger in _triggers(runs)} <= {"Create", "Update"}
    for trigger, run in zip(_triggers(runs), runs, strict=True):
        assert trigger["record"]["ID"] == trigger["key"] and trigger["key"] in run
        assert trigger["division"] == D1 and trigger["topic"] == "TimeTransactions"
    flow = load_flow(ENTRIES.format(division=D1))
    reloaded = running.events.apply([flow])  # a file read again: the cursor is not moved back again
    assert not any("2000-01-01" in line for line in reloaded), reloaded
    restarted = ExactEvents(  # a restart with --from again reads every change again, and runs none twice
        running.engine,
        Settings.from_env(),
        public_url=None,
        clock=running.clock,
        since=datetime(2000, 1, 1, tzinfo=UTC),
    )
    try:
        said = restarted.apply([flow])
        assert any("reconciles from 2000-01-01" in line for line in said), said
        report = restarted.read(restarted.scopes[0])
        assert report.changes == count and sorted(report.runs) == sorted(runs)
    finally:
        restarted.close()
    running.reconcile()
    assert running.wait_for_runs("entries", count + 1) == runs  # each change ran once, not twice


def test_without_a_webhook_secret_no_subscription_is_made_and_reconciliation_still_runs(
    live: Callable[..., Live],
) -> None:
    running = live([], with_secret=False)
    said = running.events.apply([load_flow(ENTRIES.format(division=D1))])
    assert any("has no webhook secret" in line and "--webhook-secret-stdin" in line for line in said), said
    _until(lambda: running.events.reads >= 1)  # its first read, at once
    assert running.other.get(f"/api/v1/{D1}/webhooks/WebhookSubscriptions").json()["d"]["results"] == []
    made = _create(running, _item(running), _project(running), "no secret")
    running.reconcile()
    runs = running.wait_for_runs("entries", 1)
    assert len(runs) == 1 and made in runs[0]


def _triggers(run_ids: list[str]) -> list[dict[str, Any]]:
    """The trigger each run was started with (the workflow's second argument), from DBOS, in order."""
    from dbos import DBOS

    found = {s.workflow_id: s for s in DBOS.list_workflows(workflow_ids=run_ids, load_output=False)}
    assert set(found) == set(run_ids)
    inputs = [found[run].input for run in run_ids]
    return [dict(given["args"][1]) for given in inputs if given is not None]


def test_flow_serve_starts_one_run_within_two_seconds_of_a_change(
    live: Callable[..., Live], tmp_path: Path
) -> None:
    """``exactmate flow serve`` itself, in its own process on its own port: the subscription, the
    signed notification and the feed read end in one run (real time: the process owns its clock)."""
    running = live([])  # the emulator and a connected credential with its webhook secret
    running.events.close()
    running.engine.close()  # the served process opens the engine of this home
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "entries.yaml").write_text(ENTRIES.format(division=D1), encoding="utf-8")
    port = free_port()
    exe = Path(sys.executable).with_name("exactmate")
    serving = subprocess.Popen(
        [str(exe), "flow", "serve", "--flows", str(flows), "--port", str(port), "--reload-seconds", "0.2"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        path = f"/api/v1/{D1}/webhooks/WebhookSubscriptions"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not running.other.get(path).json()["d"]["results"]:
            assert serving.poll() is None, serving.communicate()
            time.sleep(0.05)
        subscribed = running.other.get(path).json()["d"]["results"]
        assert [s["CallbackURL"] for s in subscribed] == [
            f"http://127.0.0.1:{port}/events/{callback_key(_credential_id())}"
        ]
        made = _create(running, _item(running), _project(running), "served")
        created = time.monotonic()
        history = RunHistory(Settings.from_env())
        while time.monotonic() < created + 2.0 and not history.runs("entries"):
            time.sleep(0.02)
        found = [r.run_id for r in history.runs("entries")]
        assert len(found) == 1 and made in found[0], found
    finally:
        serving.send_signal(signal.SIGTERM)
        out, err = serving.communicate(timeout=30)
    assert "subscribed (" in out and "stopping" in out, (out, err)
    assert len(RunHistory(Settings.from_env()).runs("entries")) == 1
