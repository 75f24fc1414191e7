#!/usr/bin/env bash
# The README's first command: sets up the environment and runs the main job. Until `exactmate demo`
# exists this starts the built-in Exact Online emulator on 127.0.0.1:8555 (Ctrl-C stops it).
# Extra arguments go to the command, e.g. `bash scripts/run.sh --records 200000`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/exactmate emulator serve "$@"
