"""Proof 4 (test version): 8 processes, one credential, one SQLite store, real token expiry.

The emulator is a real uvicorn server on 127.0.0.1 whose access tokens live 4 seconds and which
refuses a refresh within 3 seconds of the last one. Each process builds its own
``ExactClient.from_credential`` and makes calls at a steady pace for 7 seconds, so the token expires
(and must be refreshed by exactly one of them) about twice during the run. Real time is the thing
under test here, so this test takes about 10 seconds; ``bench/client_tokens.py`` is the 2,000-call run.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.server import BackgroundServer
from tests.proofs.harness import Home, connect_to, credential_status, run_token_workers, stats, summarise

PROCESSES = 8
CALLS = 320
DURATION = 7.0
TOKEN_SECONDS = 4


def test_eight_processes_share_one_credential_through_token_expiry(tmp_path: Path) -> None:
    config = EmulatorConfig(
        port=0,
        records=100,
        divisions=1,
        token_seconds=TOKEN_SECONDS,
        refresh_guard_seconds=3,
        minutely_limit=1_000_000,
        daily_limit=1_000_000,
    )
    home = Home(str(tmp_path / "home"))
    with BackgroundServer(config) as server:
        connect_to(home, config, server.base_url)
        connected_at = time.monotonic()
        before = stats(server.base_url)

        reports = run_token_workers(
            home,
            division=config.accessible_divisions[0],
            processes=PROCESSES,
            calls=CALLS,
            duration=DURATION,
        )

        elapsed = time.monotonic() - connected_at
        after = stats(server.base_url)

    answered, errors = summarise(reports)
    assert not errors, [m for r in reports for m in r.messages]
    assert answered == CALLS  # no call lost
    assert len({r.pid for r in reports}) == PROCESSES
    assert min(r.seconds for r in reports) >= DURATION * (1 - 1 / (CALLS / PROCESSES))
    # Every call answered 200: no 401 for a token that expired under a process's feet.
    assert after["by_endpoint"]["crm/accounts"] == {"200": CALLS}
    statuses = {s for s, n in after["by_status"].items() if n != before["by_status"].get(s, 0)}
    assert statuses == {"200"}
    # The tokens expired during the run and were refreshed, each time by exactly one process: a
    # second refresh of the same moment would have been refused (too early, or old refresh token).
    granted = after["refresh_granted"] - before["refresh_granted"]
    assert granted >= math.floor(DURATION / TOKEN_SECONDS)
    assert granted <= math.ceil(elapsed / (TOKEN_SECONDS * 0.9))
    assert after["refresh_refused"] == 0  # no "Old refresh token used", no "too early"
    assert after["code_exchanged"] == before["code_exchanged"] == 1  # no re-authorisation
    assert credential_status(home) == ("connected", None)
