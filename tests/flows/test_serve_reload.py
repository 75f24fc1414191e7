"""``flow serve`` reads its directory again as files change: a new or changed valid file is applied,
an invalid change is reported with its problems and the version read before stays in force, and a
removed file's flow stops. (The engine here only answers the catch-up question: the files are what
is under test.)"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from exactmate.cli.flow import _Served
from exactmate.flows import Flow

NIGHTLY = """\
name: nightly
trigger: {{schedule: "{cron}"}}
steps:
  - {{id: say, action: log, with: {{message: night}}}}
"""


class CatchUpNothing:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def catch_up(self, flow: Flow, now: datetime) -> list[str]:
        self.asked.append(flow.name)
        return []


def _write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))  # a distinct modification time, as a later edit has


def test_changes_are_applied_invalid_ones_keep_the_valid_version_and_removals_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served, engine = _Served(tmp_path), CatchUpNothing()
    path = tmp_path / "nightly.yaml"
    _write(path, NIGHTLY.format(cron="0 2 * * *"), 1_000)
    assert served.reload(engine) is True
    assert served.flows[path].trigger.options["cron"] == "0 2 * * *" and engine.asked == ["nightly"]
    assert served.reload(engine) is False  # nothing changed: nothing read again

    _write(path, NIGHTLY.format(cron="0 3 * * *"), 2_000)
    assert served.reload(engine) is True
    assert served.flows[path].trigger.options["cron"] == "0 3 * * *"

    _write(path, NIGHTLY.format(cron="0 99 * * *"), 3_000)
    assert served.reload(engine) is False
    said: Any = capsys.readouterr()
    assert "nightly.yaml: not valid (the version read before stays in force)" in said.err
    assert "line 2" in said.err
    assert served.flows[path].trigger.options["cron"] == "0 3 * * *"

    path.unlink()
    assert served.reload(engine) is True and path not in served.flows
    assert "nightly.yaml: removed; its schedule stops" in capsys.readouterr().out
