"""The web UI's export of all rows (``POST /actions/export``): time and peak Python memory of the UI
process while it streams every time transaction of an emulator as CSV.

The emulator runs as its own process (``exactmate emulator serve``) so its data is not counted; the
UI runs in this process under Starlette's test client, with ``tracemalloc`` tracing from the first
byte of the export to the last. Flat memory means the peak does not grow with the number of rows.

Run from the repository root:  ``.venv/bin/python -m bench.web_export``  (``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx

from bench.client_support import command, machine
from exactmate.config import Settings

EXE = str(Path(sys.executable).with_name("exactmate"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"the emulator at {url} did not start")


def _settings(home: str) -> Settings:
    os.environ["EXACTMATE_HOME"] = home  # a new vault and store for each run
    return Settings.from_env()


def export(records: int) -> dict[str, float]:
    """Serve an emulator with ``records`` demo records and export its time transactions."""
    from tests.live_emulator import Live
    from tests.web.conftest import browser, create_credential, csrf

    from exactmate.emulator.config import EmulatorConfig
    from exactmate.web import create_app

    port = _free_port()
    limits = ["--minutely-limit", "1000000", "--daily-limit", "100000000"]
    argv = [EXE, "emulator", "serve", "--port", str(port), "--records", str(records), *limits]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    emulator = subprocess.Popen(argv, **quiet)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base + "/")
        with tempfile.TemporaryDirectory() as home, browser(create_app(_settings(home))) as ui:
            create_credential(ui, Live(base, None, EmulatorConfig()))  # type: ignore[arg-type]
            form = {
                "csrf_token": csrf(ui, "/actions"),
                "credential": "Demo NL",
                "division": "100001",
                "action": "get",
                "endpoint": "project/TimeTransactions",
                "all": "1",
                "format": "csv",
            }
            tracemalloc.start()
            started = time.perf_counter()
            size = lines = 0
            with ui.stream("POST", "/actions/export", data=form) as answer:
                for piece in answer.iter_bytes():
                    size += len(piece)
                    lines += piece.count(b"\n")
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    finally:
        emulator.terminate()
        emulator.wait()
    return {"rows": lines - 1, "mib": size / 2**20, "seconds": seconds, "peak_mib": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[2_000, 20_000, 60_000])
    args = parser.parse_args()
    print(f"{command()}\n{machine()}\n")
    print("| rows | CSV size | time | peak Python memory |\n| ---: | ---: | ---: | ---: |")
    for records in args.records:
        found = export(records)
        print(
            f"| {found['rows']:,.0f} | {found['mib']:.1f} MiB | {found['seconds']:.1f} s "
            f"| {found['peak_mib']:.1f} MiB |"
        )


if __name__ == "__main__":
    main()
