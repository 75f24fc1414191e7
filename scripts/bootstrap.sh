#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv with the pinned versions from
# constraints.txt. Idempotent: a second run only installs what changed. Works on a fresh Debian
# machine with Python 3.11, pip and apt (installs python3-venv when venv is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
        echo "bootstrap: python3 -m venv failed; installing python3-venv with apt" >&2
        rm -rf .venv
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$PY" -m venv .venv
    fi
fi

stamp=.venv/.exactmate-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
    echo "$want" > "$stamp"
fi
