#!/usr/bin/env bash
# Headless Chromium for the browser tests (tests/ui). Playwright's own browser download does
# not work on every machine, so the tests use the distribution's Chromium at /usr/bin/chromium.
# Idempotent: does nothing when chromium and chromedriver are already installed.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: chromium is missing and apt-get is not available; install Chromium and" \
         "make it available as /usr/bin/chromium" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null
