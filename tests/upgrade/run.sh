#!/usr/bin/env bash
# Upgrades from every earlier release (tests/upgrade/releases/releases.txt)
# released for this PostgreSQL major: builds the release from its source
# tarball, installs it, fills a database with tests/fixtures/workload.sql,
# installs the current build (the database must keep working with the new
# library before it is updated), runs ALTER EXTENSION pg_tenant UPDATE, and
# then requires: every object (tests/upgrade/objects.sql) equal to a fresh
# install's, every row and counter as before, tenant_check clean, isolation
# as the application role. Every release must have an update path to the
# current version, whatever the major. Runs against the cluster
# scripts/test.sh started; leaves the current build installed. One `ok:` /
# `FAILED:` line per assertion.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
source "$REPO_ROOT/tests/fixtures/lib.sh"
: "${PGPORT:?run from scripts/test.sh (a cluster must be running)}"
here="$REPO_ROOT/tests/upgrade"
current="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -1)"
major="$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
work="$REPO_ROOT/target/upgrade"
mkdir -p "$work"
objects() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -f "$here/objects.sql"; }

install_current() {
  install_extension >"$work/install-current-pg$major.log" 2>&1 \
    || { cat "$work/install-current-pg$major.log"; echo "FAILED: installing the current build"; exit 1; }
}

# Builds and installs release $1 from its tarball (own target directory, so
# the current build's outputs stay as they are).
install_release() { # version
  local src="$work/src-$1" tarball="$here/releases/pg_tenant-$1.tar.gz" sudo_flag=()
  [ -f "$tarball" ] || { echo "FAILED: $tarball is missing (every release keeps its source there)"; return 1; }
  if [ ! -f "$src/.from" ] || ! cmp -s <(sha256sum <"$tarball") "$src/.from"; then
    rm -rf "$src"; mkdir -p "$src"
    tar xzf "$tarball" -C "$src" && sha256sum <"$tarball" >"$src/.from"
  fi
  is_root || sudo_flag=(--sudo)
  (cd "$src" && CARGO_TARGET_DIR="$work/target" cargo pgrx install --pg-config "$PG_CONFIG" "${sudo_flag[@]}") \
    >"$work/install-$1-pg$major.log" 2>&1 \
    || { tail -30 "$work/install-$1-pg$major.log"; echo "FAILED: building release $1 for PostgreSQL $major"; return 1; }
}

releases() { grep -Ev '^(#|$)' "$here/releases/releases.txt"; }
fixture_roles
# An update path from every release to the current version, on every major.
install_current
while read -r version _; do
  if ! path="$(q postgres "SELECT path FROM pg_extension_update_paths('pg_tenant') WHERE source = '$version' AND target = '$current'")"; then
    bad "could not read the update paths of pg_tenant"
  elif [ "$version" = "$current" ] || [ -n "$path" ]; then ok "release $version has an update path to $current (${path:-the same version})"
  else bad "release $version has no update path to $current: add sql/pg_tenant--$version--$current.sql"; fi
done < <(releases)

ran=0
while read -r version majors _; do
  case " $majors " in *" $major "*) ;; *) continue ;; esac
  ran=1

  install_release "$version" || { fail=1; continue; }
  fresh_db upgrade_from
  load_workload upgrade_from "$work/workload-$version.log" || { fail=1; continue; }
  [ "$(q upgrade_from "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenant'")" = "$version" ] \
    || bad "release $version did not install as version $version"
  before="$(snapshot upgrade_from)"
  [ -n "$before" ] || { bad "could not read the rows of the $version database"; continue; }

  # The package is upgraded: the new library serves the old objects until
  # ALTER EXTENSION UPDATE runs.
  install_current
  if isolates upgrade_from; then ok "$version with the $current library, before ALTER EXTENSION UPDATE: isolation holds"
  else bad "$version with the $current library, before ALTER EXTENSION UPDATE: isolation broken; app_role saw:" "$isolates_out"; fi

  if out="$(q upgrade_from "ALTER EXTENSION pg_tenant UPDATE" 2>&1)"; then ok "ALTER EXTENSION pg_tenant UPDATE from $version"
  else bad "ALTER EXTENSION pg_tenant UPDATE from $version failed" "$out"; continue; fi
  got="$(q upgrade_from "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenant'")"
  [ "$got" = "$current" ] && ok "updated from $version to $current" || bad "update from $version ended at version $got, not $current"

  fresh_db upgrade_fresh
  load_workload upgrade_fresh "$work/workload-fresh.log" || { fail=1; continue; }
  objects upgrade_fresh >"$work/objects-fresh.txt" 2>&1 && objects upgrade_from >"$work/objects-$version.txt" 2>&1 \
    || { bad "listing the objects failed" "$(grep ERROR "$work"/objects-*.txt | head -3)"; continue; }
  diff "$work/objects-fresh.txt" "$work/objects-$version.txt" >"$work/objects-$version.diff"
  n="$(wc -l <"$work/objects-fresh.txt")"
  if [ "$n" -lt 100 ]; then bad "only $n objects listed for a fresh install: tests/upgrade/objects.sql is broken"
  elif [ ! -s "$work/objects-$version.diff" ]; then ok "upgraded from $version: every object equals a fresh install's ($n compared)"
  else bad "upgraded from $version: objects differ from a fresh install (< fresh, > upgraded)" "$(head -20 "$work/objects-$version.diff")"; fi

  after="$(snapshot upgrade_from)"
  if [ "$before" = "$after" ]; then ok "upgraded from $version: every row and counter as before"
  else bad "upgraded from $version: rows changed" "$(diff <(echo "$before") <(echo "$after") | head -10)"; fi
  # tenant_check first: reconciliation would repair what it should see.
  if p="$(check_clean upgrade_from)"; then ok "upgraded from $version: tenant_check clean"
  else bad "upgraded from $version: tenant_check reports" "$p"; fi
  drift="$(q upgrade_from "SELECT count(*) FROM tenant_usage_reconcile()")"
  [ "$drift" = 0 ] && ok "upgraded from $version: counters agree with the data" || bad "upgraded from $version: $drift counters drifted"
  if isolates upgrade_from; then ok "upgraded from $version: the application role sees one tenant and cannot write into another"
  else bad "upgraded from $version: isolation as app_role; it saw:" "$isolates_out"; fi
  "$PG_BIN/dropdb" upgrade_from; "$PG_BIN/dropdb" upgrade_fresh
done < <(releases)
install_current
[ "$ran" = 1 ] || echo "note: no earlier release was released for PostgreSQL $major (nothing to upgrade from here)"
exit "$fail"
