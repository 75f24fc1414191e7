"""Client benchmark: 8 processes, one credential, one SQLite store, 2,000 calls through token expiry.

The emulator runs as ``exactmate emulator serve --token-seconds 4 --refresh-guard-seconds 3`` with a
high minutely limit, in a child process. One credential is signed in through its consent page and
stored once; then 8 spawned processes each build ``ExactClient.from_credential`` and make their share
of 2,000 calls (``crm/Accounts/$count``), spread evenly over 20 seconds: five token lifetimes, so the
access token expires about five times under them. Exact rotates the refresh token on every refresh
and rejects the old one for good, so two processes refreshing the same token would lock the
credential out ("Old refresh token used").

Figures: calls answered and lost, refreshes granted and refused (the emulator's counters), 401s,
code exchanges after the first (a re-authorisation), and the credential's status at the end. A
second run makes the calls as fast as the processes can, for throughput.

Run from the repository root:  ``.venv/bin/python -m bench.client_tokens``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.proofs.harness import (
    EmulatorProcess,
    Home,
    connect,
    credential_status,
    run_token_workers,
    stats,
    summarise,
)

from bench.client_support import command, machine
from exactmate.emulator.config import EmulatorConfig

TOKEN_SECONDS = 4


@dataclass
class Run:
    label: str
    calls: int
    answered: int
    errors: dict[str, int]
    seconds: float
    counters: dict[str, int]
    status: tuple[str, str | None]


def one_run(label: str, processes: int, calls: int, duration: float) -> Run:
    config = EmulatorConfig(
        port=0,
        records=1_000,
        divisions=1,
        token_seconds=TOKEN_SECONDS,
        refresh_guard_seconds=3,
        minutely_limit=1_000_000,
        daily_limit=10_000_000,
    )
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        home = Home(str(Path(tmp) / "home"))
        with httpx.Client(base_url=emulator.base_url) as http:
            connect(home, emulator.config, http, base_url=emulator.base_url)
        before = stats(emulator.base_url)
        started = time.monotonic()
        reports = run_token_workers(
            home, division=config.accessible_divisions[0], processes=processes, calls=calls, duration=duration
        )
        seconds = max(r.seconds for r in reports)
        after = stats(emulator.base_url)
        answered, errors = summarise(reports)
        for report in reports:
            for message in report.messages:
                print(f"worker {report.index}: {message}")
        counters = _delta(before, after)
        counters["wall_seconds_incl_spawn"] = round(time.monotonic() - started)
        return Run(label, calls, answered, dict(errors), seconds, counters, credential_status(home))


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    names = ("refresh_granted", "refresh_refused", "code_exchanged", "token_calls", "total_requests")
    out = {name: int(after[name]) - int(before[name]) for name in names}
    # The REST calls' answers (the token endpoint's are counted by the refresh counters above).
    was = before["by_endpoint"].get("crm/accounts", {})
    statuses = {s: n - was.get(s, 0) for s, n in after["by_endpoint"].get("crm/accounts", {}).items()}
    out["answered_2xx"] = sum(n for s, n in statuses.items() if s.startswith("2"))
    out["answered_401"] = statuses.get("401", 0)
    out["answered_other"] = sum(n for s, n in statuses.items() if not s.startswith(("2", "401")))
    return out


def report(runs: list[Run], processes: int) -> str:
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        f"{processes} processes, one credential and one SQLite store; tokens live {TOKEN_SECONDS} s, "
        "a refresh within 3 s of the last is refused.",
        "",
        "| run | calls | answered | lost | 2xx | 401 | refreshes granted | refreshes refused | "
        "re-authorisations | calls/s | credential at the end |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in runs:
        c = run.counters
        lines.append(
            f"| {run.label} | {run.calls:,} | {run.answered:,} | {run.calls - run.answered:,} | "
            f"{c['answered_2xx']:,} | {c['answered_401']} | {c['refresh_granted']} | "
            f"{c['refresh_refused']} | {c['code_exchanged']} | {run.answered / run.seconds:,.0f} | "
            f"{run.status[0]} |"
        )
    ok = all(
        r.answered == r.calls
        and not r.errors
        and r.counters["refresh_refused"] == 0
        and r.counters["code_exchanged"] == 0
        and r.counters["answered_other"] == 0
        and r.status[0] == "connected"
        for r in runs
    )
    errors = {k: v for r in runs for k, v in r.errors.items()}
    lines += [
        "",
        f"Verdict: no call lost, no refresh refused, no re-authorisation: {'yes' if ok else 'NO'}"
        + (f" (errors: {errors})" if errors else "")
        + ".",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--calls", type=int, default=2_000, help="calls in all, over all processes")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds the paced run lasts")
    args = parser.parse_args()
    runs = [
        one_run(f"paced over {args.duration:g} s", args.processes, args.calls, args.duration),
        one_run("as fast as possible", args.processes, args.calls, 0.0),
    ]
    print(report(runs, args.processes))


if __name__ == "__main__":
    main()
