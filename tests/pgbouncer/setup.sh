#!/usr/bin/env bash
# Installs what tests/pgbouncer/run.sh needs, skipping what is already there:
#   - Debian's pgbouncer (1.18 on bookworm; its service is not started);
#   - psycopg 3 (PyPI psycopg[binary]) in a venv at target/venv.
# Safe to run any number of times; scripts/setup.sh may call it.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PSYCOPG="psycopg[binary]==3.3.9"
VENV="$REPO_ROOT/target/venv"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if dpkg-query -W -f='${Status}' pgbouncer 2>/dev/null | grep -q 'install ok installed'; then
  log "pgbouncer already installed"
else
  log "installing pgbouncer"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq pgbouncer >/dev/null
fi

if "$VENV/bin/python" -c 'import psycopg, sys; sys.exit(psycopg.__version__ != "3.3.9")' 2>/dev/null; then
  log "psycopg 3.3.9 already in target/venv"
else
  log "installing $PSYCOPG into target/venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PSYCOPG"
fi
