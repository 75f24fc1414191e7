"""What the client benchmarks (``bench/client_*.py``) share: memory readings, a stored credential
against an emulator, the machine's description, and printing a figure with its command."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
from tests.proofs.harness import Home, connect

from exactmate.client import ExactClient
from exactmate.emulator.config import EmulatorConfig

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """This process's resident set size now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def command() -> str:
    """The command line that is running, as it would be typed from the repository root."""
    module = Path(sys.argv[0]).with_suffix("").relative_to(Path.cwd()).as_posix().replace("/", ".")
    return shlex.join([".venv/bin/python", "-m", module, *sys.argv[1:]])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def client_for(home: Home, config: EmulatorConfig, base_url: str) -> ExactClient:
    """Sign in on the emulator at ``base_url``, store the credential in ``home`` and open a client
    for it exactly as a user's program would (``ExactClient.from_credential``)."""
    with httpx.Client(base_url=base_url) as http:
        connect(home, config, http, base_url=base_url)
    return ExactClient.from_credential(home.credential, settings=home.settings())
