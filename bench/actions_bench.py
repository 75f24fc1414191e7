"""Actions benchmark (issue 5 Proof): creates against the rate-limit bound, reruns under faults, and a
whole-endpoint ``get --all --format ndjson`` in flat memory.

1. **Throughput**: 1,000 time transactions over 4 divisions against ``exactmate emulator serve
   --divisions 4 --minutely-limit 60 --window-seconds 5``. The bound is 4 x 60 calls per 5 s = 48
   calls/s; every call the run makes (POSTs, lookups, ``current/Me``, refused ones) counts.
2. **Faults**: the same 1,000 entries with 10% injected 503s and ``drop_before`` and
   ``drop_after_commit`` faults on the time-transaction path; the same file is rerun until no row
   fails, then the entries in Exact are counted: exactly 1,000, no duplicate.
3. **Flat memory**: ``exactmate get crm/Accounts --all --format ndjson --output FILE`` of 200,000
   records (through the bulk twin) in a child process; its peak RSS against a 20,000-record run.

Each emulator runs as its own process (``exactmate emulator serve``), so client and server do not
share an interpreter lock. Run: ``.venv/bin/python -m bench.actions_bench [--write-docs]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from exactmate.actions import create_time_transactions, list_records, open_connection, read_entries
from exactmate.cli.demo_consent import EmulatorConsent
from exactmate.config import Settings
from exactmate.connect.connector import Connector
from exactmate.emulator import config as emulator_config
from exactmate.vault import Vault

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## Actions (issue 5)"
CREDENTIAL = "bench"
DIVISIONS = (100001, 100002, 100003, 100004)


@dataclass
class Emulator:
    base_url: str
    process: subprocess.Popen[bytes]

    def control(self, method: str, name: str, body: object = None) -> object:
        answer = httpx.request(method, f"{self.base_url}/_emulator/{name}", json=body, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def total_requests(self) -> int:
        stats = self.control("GET", "stats")
        assert isinstance(stats, dict)
        return int(stats["total_requests"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def emulator(*options: str) -> Iterator[Emulator]:
    """``exactmate emulator serve OPTIONS`` on a free loopback port, until the block ends."""
    port = _free_port()
    command = [
        sys.executable,
        "-c",
        "from exactmate.cli import main; main()",
        "emulator",
        "serve",
        "--port",
        str(port),
        *options,
    ]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/_emulator/stats", timeout=2).status_code == 200:
                    break
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {' '.join(command)}")
            time.sleep(0.1)
        yield Emulator(base_url, child)
    finally:
        child.terminate()
        child.wait(30)


def settings_for(home: Path) -> Settings:
    return Settings.from_env(home=home, db_url=f"sqlite:///{home / 'exactmate.db'}")


def add_credential(settings: Settings, base_url: str) -> None:
    """Connect & Create against the emulator, the consent page filled in as the demo does."""
    consent = EmulatorConsent(emulator_config.DEMO_USERNAME, emulator_config.DEMO_PASSWORD)
    with Vault.open(settings) as vault:
        saved = Connector(vault, settings=settings, consent=consent).create(
            CREDENTIAL,
            server_url=base_url,
            client_id=emulator_config.DEFAULT_CLIENT_ID,
            client_secret=emulator_config.DEFAULT_CLIENT_SECRET,
        )
    if not saved.saved:
        raise RuntimeError(f"could not connect to the emulator: {saved.test}")


def write_entries(settings: Settings, path: Path, count: int, marker: str) -> None:
    """``count`` bookings spread evenly over the four divisions (a Division column), unique Notes."""
    lines = ["Division,Item,Project,Quantity,Date,Notes"]
    with open_connection(CREDENTIAL, settings=settings) as conn:
        refs = {}
        for division in DIVISIONS:
            items = conn.client.resource("logistics/Items", division)
            item = next(items.list(select=["ID"], filter={"IsTime": 1}, top=1))["ID"]
            projects = conn.client.resource("project/Projects", division)
            project = next(projects.list(select=["ID"], top=1))["ID"]
            refs[division] = (item, project)
    for n in range(count):
        division = DIVISIONS[n % len(DIVISIONS)]
        item, project = refs[division]
        lines.append(f"{division},{item},{project},{1 + n % 8},2026-03-{1 + n % 28:02d},{marker} {n:05d}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def count_entries(settings: Settings, marker: str) -> tuple[int, int]:
    """(entries carrying ``marker`` in their Notes, how many Notes occur more than once)."""
    notes: Counter[str] = Counter()
    with open_connection(CREDENTIAL, settings=settings) as conn:
        for division in DIVISIONS:
            listing = list_records(
                conn,
                "project/TimeTransactions",
                division=division,
                all=True,
                select="Notes",
                filter=f"startswith(Notes,'{marker}') eq true",
            )
            notes.update(str(r["Notes"]) for r in listing)
    return sum(notes.values()), sum(1 for n in notes.values() if n > 1)


def throughput(entries: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        emulator(
            "--divisions", "4", "--minutely-limit", "60", "--window-seconds", "5", "--records", "200"
        ) as emu,
    ):
        settings = settings_for(Path(tmp))
        add_credential(settings, emu.base_url)
        path = Path(tmp) / "entries.csv"
        write_entries(settings, path, entries, "bench-rate")
        # Start at the beginning of a rate window, so the run gets no head start from a window the
        # setup left partly unused: the emulator's windows are aligned to multiples of 5 s.
        time.sleep(5.0 - time.time() % 5.0 + 0.01)
        before = emu.total_requests()
        started = time.perf_counter()
        with open_connection(CREDENTIAL, settings=settings) as conn:
            result = create_time_transactions(conn, read_entries(path))
        elapsed = time.perf_counter() - started
        calls = emu.total_requests() - before
        stats = emu.control("GET", "stats")
    assert isinstance(stats, dict)
    bound = len(DIVISIONS) * 60 / 5.0
    return {
        "created": len(result.created),
        "failed": len(result.failed),
        "calls": calls,
        "seconds": elapsed,
        "per_second": calls / elapsed,
        "bound": bound,
        "share": calls / elapsed / bound,
        "rate_limited": float(stats["rate_limited"]),
    }


def faults(entries: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        emulator(
            "--divisions", "4", "--minutely-limit", "100000", "--daily-limit", "1000000", "--records", "200"
        ) as emu,
    ):
        settings = settings_for(Path(tmp))
        add_credential(settings, emu.base_url)
        path = Path(tmp) / "entries.csv"
        write_entries(settings, path, entries, "bench-fault")
        for spec in (
            {"kind": "503", "rate": 0.10, "path": "TimeTransactions"},
            {"kind": "drop_before", "rate": 0.03, "path": "TimeTransactions"},
            {"kind": "drop_after_commit", "rate": 0.03, "path": "TimeTransactions"},
        ):
            emu.control("POST", "faults", spec)
        runs = 0
        recovered = 0
        while True:
            runs += 1
            with open_connection(CREDENTIAL, settings=settings) as conn:
                result = create_time_transactions(conn, read_entries(path))
            recovered += sum(1 for o in result.outcomes if o.status == "recovered")
            if result.ok or runs == 20:
                break
        stats = emu.control("GET", "stats")
        emu.control("POST", "faults/reset")
        found, duplicates = count_entries(settings, "bench-fault")
    assert isinstance(stats, dict)
    return {
        "runs": runs,
        "found": found,
        "duplicates": duplicates,
        "recovered": recovered,
        "faults_fired": float(stats["faults_fired"]),
    }


def peak_rss_of_get(records: int) -> tuple[int, float, int]:
    """(records written, seconds, peak RSS in KiB) of ``exactmate get crm/Accounts --all -f ndjson``."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        emulator("--minutely-limit", "100000", "--daily-limit", "1000000", "--records", str(records)) as emu,
    ):
        settings = settings_for(Path(tmp))
        add_credential(settings, emu.base_url)
        out = Path(tmp) / "accounts.ndjson"
        script = (
            "import resource, sys\n"
            "from exactmate.cli import main\n"
            "try:\n    main()\n"
            "finally:\n"
            "    print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        env = {**os.environ, "EXACTMATE_HOME": tmp, "EXACTMATE_DB": settings.db_url}
        args = ["get", "crm/Accounts", "--all", "--format", "ndjson", "--output", str(out)]
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        peak = int(done.stderr.strip().rsplit("RSS", 1)[1])
        with out.open("rb") as handle:
            written = sum(1 for _ in handle)
    return written, elapsed, peak


def report(
    rate: dict[str, float],
    fault: dict[str, float],
    small: tuple[int, float, int],
    large: tuple[int, float, int],
) -> str:
    when = time.strftime("%Y-%m-%d")
    lines = [
        HEADING,
        "",
        f"Produced by `.venv/bin/python -m bench.actions_bench --write-docs` on {when} "
        f"(Python {platform.python_version()}, {platform.machine()}, {platform.system()}). "
        "Each emulator is its own `exactmate emulator serve` process on 127.0.0.1; the client is the "
        "library (`create_time_transactions`) or the `exactmate` command, with a vault credential "
        "made by Connect & Create.",
        "",
        "| measurement | aim | result |",
        "| --- | --- | --- |",
        f"| 1,000 time transactions over 4 divisions, `--divisions 4 --minutely-limit 60 "
        f"--window-seconds 5`: calls per second, every call counted | >= 90% of 4 x 60 / 5 s = "
        f"{rate['bound']:.0f}/s | {rate['per_second']:.1f}/s = **{rate['share']:.0%}** of the bound "
        f"({rate['calls']:.0f} calls in {rate['seconds']:.1f} s; {rate['created']:.0f} created, "
        f"{rate['failed']:.0f} failed, {rate['rate_limited']:.0f} answered 429) |",
        f"| the same 1,000 with 10% 503s, 3% `drop_before`, 3% `drop_after_commit` on the time-"
        f"transaction path, the file rerun until no row fails | exactly 1,000, no duplicate | "
        f"**{fault['found']:.0f}** entries, **{fault['duplicates']:.0f}** duplicates after "
        f"{fault['runs']:.0f} run(s); {fault['faults_fired']:.0f} faults fired, "
        f"{fault['recovered']:.0f} lost answers resolved by lookup |",
        f"| `exactmate get crm/Accounts --all --format ndjson --output FILE`, {large[0]:,} records "
        f"(bulk twin, 1000 a call) | flat memory | peak RSS **{large[2] / 1024:.1f} MiB** in "
        f"{large[1]:.1f} s, against {small[2] / 1024:.1f} MiB for {small[0]:,} records |",
        "",
        "The throughput run starts at the beginning of a 5-second rate window and counts every call "
        "the emulator received during it (POSTs, lookups, `current/Me`, refused ones). A share above "
        "100% means the run's last calls fell just inside a window that had only begun; the governor "
        "never overshoots a window (no 429). The fault run lifts the rate limits "
        "(`--minutely-limit 100000`) so that only the faults shape it; rerunning uses the same file, so "
        "the create journal skips what is done and settles what was left pending by lookup. The "
        "memory runs read through `bulk/CRM/Accounts` in a child process whose own peak RSS is "
        "reported (`ru_maxrss`).",
        "",
    ]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    """Replace this benchmark's section of docs/benchmarks.md (or append it), leaving the others."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    if HEADING in text:
        head, _, rest = text.partition(HEADING)
        following = rest.find("\n## ")
        tail = rest[following + 1 :] if following != -1 else ""
        text = head.rstrip("\n") + "\n\n" + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--write-docs", action="store_true", help="write the figures to docs/benchmarks.md")
    args = parser.parse_args(argv)
    rate = throughput(args.entries)
    print(f"throughput: {rate}", flush=True)
    fault = faults(args.entries)
    print(f"faults: {fault}", flush=True)
    small = peak_rss_of_get(args.records // 10)
    large = peak_rss_of_get(args.records)
    print(f"get --all: small={small} large={large}", flush=True)
    section = report(rate, fault, small, large)
    print(section)
    if args.write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
