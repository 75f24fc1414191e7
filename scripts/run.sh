#!/usr/bin/env bash
# The README's first command: sets up the environment and runs the main job, `exactmate demo`:
# the built-in Exact Online emulator on a free loopback port, a vault credential for it, Test
# Connect and each of the four actions. Extra arguments go to the command, e.g. `--ui`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/exactmate demo "$@"
