"""Proof 3's groundwork: what ``bench/client_parse.py`` times is the real read.

The benchmark replays recorded pages through ``httpx.MockTransport`` to a client built with explicit
settings. This test shows that replay gives exactly what the live read gave (all fields, dates
converted to aware Europe/Amsterdam datetimes, every page followed), so the rate the benchmark
measures is the rate of reading, not of something easier.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from exactmate.catalogue import Catalogue
from exactmate.client import ExactClient
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.transport import EmulatorTransport
from exactmate.odata import AMSTERDAM
from tests.proofs.conftest import WorldFactory
from tests.proofs.harness import Home, Recorder, StaticTokens, replaying

PATH = "project/TimeTransactions"
# Every field, named: Price is among them and not in the 1,000-row time-and-cost feed, so the read
# pages 60 at a time, as the benchmark that replays it does.
FIELDS = [name for name, field in Catalogue.load().endpoint(PATH).fields.items() if not field.is_collection]


def test_replayed_pages_read_exactly_like_the_live_ones(make_world: WorldFactory, tmp_path: Path) -> None:
    world = make_world(EmulatorConfig(records=700, divisions=1))
    recorder = Recorder(EmulatorTransport(world.emulator), world.clock, keep_bodies=True)
    with ExactClient.from_credential(
        world.home.credential, settings=world.home.settings(), clock=world.clock, transport=recorder
    ) as live_client:
        live = list(live_client.resource(PATH, division=world.division).list(select=FIELDS))
    pages = [e for e in recorder.api() if e.path.endswith("/project/TimeTransactions")]
    assert len(pages) == 12 == len(recorder.bodies)  # 700 records, 60 a page, no bulk twin

    replay = ExactClient(
        server_url=world.config.base_url,
        client_id=world.config.client_id,
        tokens=StaticTokens(),
        transport=replaying(recorder.bodies),
        settings=Home(str(tmp_path / "replay")).settings(),
    )
    with replay:
        replayed = list(replay.resource(PATH, division=world.division).list(select=FIELDS))

    assert replayed == live
    assert sorted(r["ID"] for r in replayed) == sorted(world.keys("project/timetransactions"))
    fields = world.client.catalogue.endpoint(PATH).fields
    dates = [name for name, field in fields.items() if field.type == "Edm.DateTime"]
    first = replayed[0]
    assert "__metadata" not in first and len(first) == len(fields)  # every field, no envelope
    converted = [name for name in dates if isinstance(first[name], datetime)]
    assert {"Date", "Created", "Modified"} <= set(converted)
    assert all(first[name].tzinfo == AMSTERDAM for name in converted)


def test_replay_refuses_a_page_it_never_recorded(tmp_path: Path) -> None:
    """The replay answers recorded URLs only, so a benchmark cannot silently time a different read."""
    emulator = Emulator(EmulatorConfig(records=10, divisions=1))
    try:
        client = ExactClient(
            server_url="http://127.0.0.1:8555",
            client_id="replay",
            tokens=StaticTokens(),
            transport=replaying({}),
            settings=Home(str(tmp_path / "replay")).settings(),
        )
        with client:
            try:
                next(client.resource(PATH, division=100001).list(select=FIELDS))
            except KeyError as missing:
                assert "project/TimeTransactions" in str(missing)
            else:
                raise AssertionError("an unrecorded URL was answered")
    finally:
        emulator.close()
