#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (Playwright drives it through /usr/bin/chromium;
# Playwright's own browser download cannot work here). Idempotent: does nothing when it is present.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
echo "browser: installing Debian's chromium with apt (browser tests need /usr/bin/chromium)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
