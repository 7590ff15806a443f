#!/usr/bin/env bash
# Prepares a fresh Debian bookworm machine to build and test pg_tenant.
# Idempotent: every step checks first and skips what is already in place.
set -euo pipefail

# The cargo-pgrx version must equal the pgrx crate's: read it from Cargo.toml.
PGRX_VERSION="$(sed -n 's/^pgrx = "=\([0-9.]*\)"$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml")"
[ -n "$PGRX_VERSION" ] || { echo "setup: cannot read the pgrx version from Cargo.toml (expected a line pgrx = \"=X.Y.Z\")"; exit 1; }
PG_CONFIG="${PG_CONFIG:-/usr/bin/pg_config}"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_apt_packages() {
  local wanted=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libclang-dev clang sudo pkg-config)
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "apt packages already installed"
    return
  fi
  log "installing apt packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_cargo_pgrx() {
  if cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    log "cargo-pgrx $PGRX_VERSION already installed"
    return
  fi
  log "installing cargo-pgrx $PGRX_VERSION (takes about 5 minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
}

init_pgrx() {
  local cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
  if [ -f "$cfg" ] && grep -q "^pg15 *= *\"$PG_CONFIG\"" "$cfg"; then
    log "pgrx already initialised for pg15 ($PG_CONFIG)"
    return
  fi
  log "cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG"
}

install_apt_packages
install_cargo_pgrx
init_pgrx
# PgBouncer and the Python client of the pooler test (tests/pgbouncer).
bash "$(dirname "${BASH_SOURCE[0]}")/../tests/pgbouncer/setup.sh"
log "ready"
