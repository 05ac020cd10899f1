#!/usr/bin/env bash
# PostgreSQL and Redis for the team-profile tests (tests/team): the suite starts throwaway
# instances of both under a temp dir, so only the binaries are needed, not running services.
# Idempotent: does nothing when initdb/pg_ctl and redis-server are already installed.
set -euo pipefail
have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if have_postgres && command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: PostgreSQL or Redis is missing and apt-get is not available; install" \
         "PostgreSQL (initdb, pg_ctl) and redis-server from your distribution" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql redis-server >/dev/null
# The packages start system-wide services; the tests run their own instances instead.
if command -v service >/dev/null 2>&1; then
    $SUDO service redis-server stop >/dev/null 2>&1 || true
    $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
have_postgres && command -v redis-server >/dev/null
