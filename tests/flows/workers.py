"""A cluster for the worker tests and the scale-out benchmark: one PostgreSQL store, the emulator on
127.0.0.1, and ``exactmate worker`` / ``exactmate flow run`` as real child processes.

```python
with Cluster.start(tmp_path, pg_url, EmulatorConfig(divisions=4)) as cluster:
    worker = cluster.worker("w1")
    run = cluster.flow_run(cluster.booking_flow("hours", division, rows))
```
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from exactmate.config import Settings
from exactmate.emulator.config import EmulatorConfig
from exactmate.emulator.core import Emulator
from exactmate.emulator.server import BackgroundServer
from exactmate.flows.history import RunHistory, RunSummary
from tests.proofs.harness import MASTER_KEY, Home, booking_flow, connect_to, emulator_keys

EXE = str(Path(sys.executable).with_name("exactmate"))

@dataclass
class Child:
    """A child process with its output in files (never a pipe that could fill up)."""

    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    name: str = ""

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0, *, err: bool = False) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in (self.stderr() if err else self.stdout()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no {text!r}:\n{self.stdout()}\n{self.stderr()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@dataclass
class Cluster:
    root: Path
    home: Home
    base_url: str
    emulator: Emulator
    config: EmulatorConfig
    children: list[Child] = field(default_factory=list)

    @classmethod
    @contextmanager
    def start(cls, root: Path, db_url: str, config: EmulatorConfig) -> Iterator[Cluster]:
        config = replace(config, host="127.0.0.1", port=0)
        emulator = Emulator(config)
        try:
            with BackgroundServer(config, emulator=emulator) as server:
                home = Home(str(root / "home"), db_url=db_url)
                connect_to(home, config, server.base_url)
                cluster = cls(root, home, server.base_url, emulator, config)
                try:
                    yield cluster
                finally:
                    for child in cluster.children:
                        child.end()
        finally:
            emulator.close()

    @property
    def settings(self) -> Settings:
        return self.home.settings()

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXACTMATE_")}
        env.update(EXACTMATE_HOME=self.home.path, EXACTMATE_MASTER_KEY=MASTER_KEY)
        env["EXACTMATE_DB"] = self.settings.db_url
        env.update(extra)
        return env

    def spawn(self, name: str, *args: str, **env: str) -> Child:
        out, err = self.root / f"{name}.out", self.root / f"{name}.err"
        with out.open("wb") as o, err.open("wb") as e:
            process = subprocess.Popen([EXE, *args], env=self.env(**env), stdout=o, stderr=e)
        child = Child(process, out, err, name)
        self.children.append(child)
        return child

    def worker(self, executor_id: str, *args: str, ready: bool = True, **env: str) -> Child:
        name = f"worker-{executor_id}-{len(self.children)}"
        child = self.spawn(name, "worker", "--executor-id", executor_id, *args, **env)
        if ready:
            child.wait_for(f"worker {executor_id}: taking runs")
        return child

    def flow_run(self, flow: Path, rows: Path, *args: str) -> Child:
        name = f"run-{flow.stem}-{len(self.children)}"
        return self.spawn(name, "flow", "run", str(flow), "--input-file", f"rows={rows}", *args)

    # -- the data ------------------------------------------------------------------------------------

    def project(self, division: int) -> str:
        return str(emulator_keys(self.emulator, division, "project/projects")[0])

    def booking(self, name: str, division: int, rows: int, *, tag: str | None = None) -> tuple[Path, Path]:
        """A flow file booking ``rows`` time entries in ``division`` (notes ``<tag> <n>``), and its CSV."""
        tag = tag or name
        flow = self.root / f"{name}.yaml"
        flow.write_text(booking_flow(name, division=division), encoding="utf-8")
        project = self.project(division)
        csv = self.root / f"{name}.csv"
        lines = ["project,hours,date,notes"] + [
            f"{project},{1 + n % 7},2026-11-{1 + n % 28:02d},{tag} {n}" for n in range(rows)
        ]
        csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return flow, csv

    def notes(self, division: int, tag: str) -> Counter[str]:
        """How many time entries of ``division`` the emulator holds per note starting with ``tag``."""
        table = self.emulator.data._store.existing(division, "project/timetransactions")  # type: ignore[attr-defined]
        if table is None:
            return Counter()
        notes = [str(row.get("Notes", "")) for row in list(table.rows())]
        return Counter(note for note in notes if note.startswith(tag + " "))

    def runs(self, flow: str) -> list[RunSummary]:
        return RunHistory(self.settings).runs(flow, limit=100)

    def executor_of(self, run_id: str) -> str | None:
        from dbos import DBOSClient

        from exactmate.flows.engine import system_database_url

        client = DBOSClient(system_database_url=system_database_url(self.settings))
        try:
            found = client.list_workflows(workflow_ids=[run_id], load_input=False, load_output=False)
            return found[0].executor_id if found else None
        finally:
            client.destroy()

    def wait_ended(self, flow: str, count: int, timeout: float = 180.0) -> list[RunSummary]:
        """The runs of ``flow`` once ``count`` of them have ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs(flow)
            if len(runs) >= count and all(r.status in ("succeeded", "failed", "cancelled") for r in runs):
                return runs
            time.sleep(0.2)
        raise AssertionError(f"runs of {flow} did not end: {self.runs(flow)}")


def run_status(summary: Any) -> str:
    return str(summary.status)
