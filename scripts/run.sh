#!/usr/bin/env bash
# The README's first command: sets up the environment and runs the main job, `exactmate demo`:
# the built-in Exact Online emulator on a free loopback port, a vault credential for it, Test
# Connect and each of the four actions; then `exactmate flow demo`: a flow that reads a CSV, looks
# the project up, books the hours and lists them back. Extra arguments go to `exactmate demo`,
# e.g. `--ui`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/exactmate demo "$@"
exec .venv/bin/exactmate flow demo
