#!/usr/bin/env bash
# The README's second command: sets up the environment (the venv, Debian's chromium, a PostgreSQL
# server on 127.0.0.1) and runs every check CI runs: ruff, mypy (strict on src/), import-linter
# (layer rules) and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/browser.sh
bash scripts/postgres.sh
status=0
echo "== ruff";          .venv/bin/ruff check . || status=1
echo "== mypy";          .venv/bin/mypy || status=1
echo "== import-linter"; .venv/bin/lint-imports || status=1
echo "== pytest";        .venv/bin/python -m pytest "$@" || status=1
exit $status
