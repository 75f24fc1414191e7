"""Per-call cost against a peer: exactmate's read loop as users run it, beside exact-online-sdk's.

The emulator runs as ``exactmate emulator serve --records N`` in a child process (one division, no
rate limits, the given latency per answer). Both clients read every page of
project/TimeTransactions with the same ``$select`` (all its plain fields: Price is among them and
the 1,000-row time-and-cost feed lacks it, so both stay on Exact's 60-row pages, ceil(N/60) calls):

- **exactmate**: ``ExactClient.from_credential`` on a vault credential made by signing in (the
  store, the token manager, the rate governor and the error budget all on), ``resource(...).pages``;
- **exact-online-sdk** (2.0.0, installed in a throwaway venv under ``bench/.peer-venv``): its
  ``ExactOnlineClient.iter_pages`` with an access token from the same emulator, timed inside its
  own process (its start-up is not counted).

The two alternate, round after round, in one run; reported are the medians, the calls the emulator
counted for each, and their ratio (aim: exactmate at most 1.1x the peer). Run from the repository
root:  ``.venv/bin/python -m bench.peer_read``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from tests.proofs.harness import EmulatorProcess, Home, stats

from bench.client_support import client_for, command, machine, median
from bench.emulator_bench import authorize
from exactmate.catalogue import Catalogue
from exactmate.emulator.config import EmulatorConfig

PATH = "project/TimeTransactions"
FIELDS = [name for name, field in Catalogue.load().endpoint(PATH).fields.items() if not field.is_collection]
PEER = "exact-online-sdk==2.0.0"
PEER_VENV = Path(__file__).resolve().parent / ".peer-venv"

# The peer's loop, run in its own interpreter: settings from the environment, a fixed token.
PEER_LOOP = """
import json, os, time
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.config import Settings

class Fixed:
    def get_access_token(self):
        return os.environ["PEER_TOKEN"]

settings = Settings(client_id="bench", client_secret="bench", redirect_uri="http://127.0.0.1/cb",
                    base_url=os.environ["PEER_BASE_URL"], division=int(os.environ["PEER_DIVISION"]))
with ExactOnlineClient(settings, auth=Fixed()) as client:
    started = time.perf_counter()
    records = sum(len(page) for page in client.iter_pages(
        os.environ["PEER_PATH"], params={"$select": os.environ["PEER_SELECT"]}))
    print(json.dumps({"seconds": time.perf_counter() - started, "records": records}))
"""


def peer_python() -> Path:
    """The throwaway venv's interpreter, with the peer installed (created on first use)."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", PEER], check=True)
    return python


def peer_round(python: Path, base_url: str, token: str, division: int) -> tuple[float, int]:
    env = {
        **os.environ,
        "PEER_TOKEN": token,
        "PEER_BASE_URL": base_url,
        "PEER_DIVISION": str(division),
        "PEER_PATH": PATH,
        "PEER_SELECT": ",".join(FIELDS),
    }
    done = subprocess.run([str(python), "-c", PEER_LOOP], env=env, check=True, capture_output=True, text=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return float(answer["seconds"]), int(answer["records"])


def run(records: int, latency_ms: float, rounds: int) -> dict[str, float]:
    limits = {"minutely_limit": 10**9, "daily_limit": 10**9, "token_seconds": 24 * 3600}
    config = EmulatorConfig(port=0, records=records, divisions=1, latency_ms=latency_ms, **limits)
    python = peer_python()
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(config) as emulator:
        division = emulator.config.accessible_divisions[0]
        client = client_for(Home(str(Path(tmp) / "home")), emulator.config, emulator.base_url)
        with httpx.Client(base_url=emulator.base_url) as http:
            token = authorize(http, emulator.config)
        try:
            for _ in range(rounds):
                before = stats(emulator.base_url)["total_requests"]
                started = time.perf_counter()
                read = sum(len(p.records) for p in client.resource(PATH, division).pages(select=FIELDS))
                ours.append(time.perf_counter() - started)
                our_calls = stats(emulator.base_url)["total_requests"] - before
                before = stats(emulator.base_url)["total_requests"]
                seconds, peer_read = peer_round(python, emulator.base_url, token, division)
                theirs.append(seconds)
                peer_calls = stats(emulator.base_url)["total_requests"] - before
                assert read == peer_read == records, (read, peer_read, records)
        finally:
            client.close()
    return {
        "records": records,
        "latency": latency_ms,
        "our_calls": our_calls,
        "peer_calls": peer_calls,
        "ours": median(ours),
        "peer": median(theirs),
    }


def report(results: list[dict[str, float]], rounds: int) -> str:
    lines = [
        f"Command: `{command()}`",
        f"Machine: {machine()}",
        "",
        f"Medians of {rounds} alternating rounds. exactmate: `from_credential` (vault, token manager, "
        "governor, error budget); peer: exact-online-sdk 2.0.0 `iter_pages`.",
        "",
        "| latency | records | exactmate calls | peer calls | exactmate | peer | per call, exactmate "
        "| per call, peer | ratio (aim ≤ 1.1) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        ours, peer, calls = r["ours"], r["peer"], r["our_calls"]
        lines.append(
            f"| {r['latency']:g} ms | {int(r['records']):,} | {int(calls):,} | {int(r['peer_calls']):,} "
            f"| {ours:.2f} s | {peer:.2f} s | {ours / calls * 1000:.2f} ms | "
            f"{peer / r['peer_calls'] * 1000:.2f} ms | {ours / peer:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 30.0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = [run(args.records, latency, args.rounds) for latency in args.latency_ms]
    print(report(results, args.rounds))


if __name__ == "__main__":
    main()
