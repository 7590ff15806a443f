#!/usr/bin/env bash
# Runs every pg_tenant test on this machine, setting it up first if needed:
#   1. formatting and the one-way layering of src/ (scripts/layers.py), once;
#   then for each supported PostgreSQL major (14, 15, 16, 17, 18):
#   2. lints (clippy -D warnings) for that major's build;
#   3. Rust unit tests and #[pg_test] tests inside a real server of that major
#      (cargo pgrx test; as root the server runs as the OS user postgres);
#   4. golden SQL tests (tests/pg_regress) with pg_regress against a fresh
#      throwaway cluster, acting as ordinary LOGIN roles;
#   5. backups (tests/dump_restore.sh, tests/backup), moving one tenant
#      (tests/transfer), upgrades from earlier
#      releases (tests/upgrade), the PgBouncer pooler test, the isolation
#      specs and crash recovery of the usage counters (tests/crash, a
#      cluster of its own);
#   6. once (on 15): the examples in Python, Node.js and Rust (examples/run.sh)
#      and drizzle-kit push/migrate against tenant-scoped tables (tests/drizzle),
#      and a Better Tenant + Drizzle app against the registry (tests/better_tenant).
# PG_VERSIONS="17" (any subset) picks the majors for a quick local run.
# Ends with one line "tests: N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
PG_VERSIONS="${PG_VERSIONS:-$SUPPORTED_PG_VERSIONS}"
export PG_VERSIONS

bash scripts/setup.sh || exit 1

passed=0
failed=0
failed_stages=()
record() { # stage-name exit-code passed-count failed-count
  local f="$4" stage="$1"
  [ -z "${PG_MAJOR:-}" ] || stage="pg$PG_MAJOR $1"
  # A stage that exits non-zero fails even when it counted no failed test.
  if [ "$2" -ne 0 ]; then failed_stages+=("$stage"); [ "$f" -gt 0 ] || f=1; fi
  passed=$((passed + $3)); failed=$((failed + f))
}
# Counts the `ok:` and `FAILED` lines a script stage printed.
record_script() { # stage exit-code output-file
  record "$1" "$2" "$(grep -c '^ok:' "$3")" "$(grep -c '^FAILED' "$3")"
}

say "cargo fmt --check"
cargo fmt --check; rc=$?
record fmt $rc $((rc == 0)) $((rc != 0))

say "Layers: module imports point one way, no cycles (scripts/layers.py)"
python3 scripts/layers.py; rc=$?
record layers $rc $((rc == 0)) $((rc != 0))

# Runs a pg_regress-style suite (golden SQL or isolation specs) against the
# running throwaway cluster, in a database of its own. pg_regress prints
# "test x ... ok" up to PostgreSQL 15 and TAP lines ("ok 1 - x") from 16 on.
run_suite() { # stage tool-path suite-dir database [schedule-file]
  local stage="$1" tool="$2" dir="$3" db="$4" schedule="${5:-schedule}" outdir="$CLUSTER_DIR/$4" rc total f
  mkdir -p "$outdir"
  "$PG_BIN/createdb" "$db"
  # --bindir: the PyPI builds' pg_regress was compiled for another prefix.
  "$tool" --use-existing --bindir="$PG_BIN" --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname="$db" \
    --inputdir="$dir" --outputdir="$outdir" --schedule="$dir/$schedule" 2>&1 | tee "$outdir/summary.txt"
  rc=${PIPESTATUS[0]}
  total=$(grep -cE '^(test|permutation)? *[a-z_]+ +\.\.\. |^(not )?ok [0-9]+ ' "$outdir/summary.txt" || true)
  f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' "$outdir/summary.txt" || true)
  if [ "$rc" -ne 0 ] && [ -f "$outdir/regression.diffs" ]; then cat "$outdir/regression.diffs"; fi
  record "$stage" "$rc" $((total - f)) "$f"
  if [ -n "${UPDATE_EXPECTED:-}" ]; then update_expected "$dir" "$outdir"; fi
  check_alternatives "$stage alternatives" "$dir" "$outdir"
}

# A test's alternative expected files (<test>_N.out) are each listed in
# expected/alternatives.txt with the majors whose output they are.
# pg_regress accepts any of a test's files on any major; this stage fails a
# result that equals a file meant for other majors rather than its own
# (<test>.out unless the list names a file for this major).
own_expected() { # suite-dir test-name
  local f
  f="$(awk -v n="$2" -v m="$PG_MAJOR" '$1 ~ ("^" n "_[0-9]+[.]out$") { for (i = 2; i <= NF; i++) if ($i == m) print $1 }' \
        "$1/expected/alternatives.txt" 2>/dev/null | head -1)"
  echo "${f:-$2.out}"
}
check_alternatives() { # stage suite-dir output-dir
  local result name own other good=0 bad=0
  for result in "$3"/results/*.out; do
    name="$(basename "$result" .out)"
    own="$(own_expected "$2" "$name")"
    if cmp -s "$result" "$2/expected/$own"; then good=$((good + 1)); continue; fi
    for other in "$2/expected/$name.out" "$2/expected/${name}"_[0-9]*.out; do
      if [ -f "$other" ] && cmp -s "$result" "$other"; then
        echo "FAILED: $name on PostgreSQL $PG_MAJOR gave $(basename "$other"), an output meant for other majors (its own is $own: see expected/alternatives.txt)"
        bad=$((bad + 1))
      fi
    done
  done
  record "$1" "$bad" "$good" "$bad"
}

# UPDATE_EXPECTED=1: keeps this major's results as expected output. A result
# equal to one of a test's expected files is left alone; a new one is written
# to <test>.out when there is none yet, else to the next free <test>_N.out.
# Either way an alternative file gets this major in expected/alternatives.txt.
update_expected() { # suite-dir output-dir
  local result name f n list="$1/expected/alternatives.txt"
  for result in "$2"/results/*.out; do
    name="$(basename "$result" .out)"
    f="$1/expected/$name.out"
    n=0
    while [ -f "$f" ] && ! cmp -s "$result" "$f"; do
      n=$((n + 1)); f="$1/expected/${name}_$n.out"
    done
    if [ ! -f "$f" ]; then
      echo "update_expected: PostgreSQL $PG_MAJOR output of $name written to $f"
      cp "$result" "$f"
    fi
    [ "$n" -gt 0 ] || continue
    touch "$list"
    if ! grep -qE "^$(basename "$f")( |$)" "$list"; then echo "$(basename "$f")" >>"$list"; fi
    if ! grep -qE "^$(basename "$f")( .*)? $PG_MAJOR( |\$)" "$list"; then
      sed -i -E "s/^($(basename "$f")( .*)?)\$/\1 $PG_MAJOR/" "$list"
    fi
  done
}

# The examples run once, on PostgreSQL 15 when it is among the majors.
examples_major="$(for m in $PG_VERSIONS; do echo "$m"; done | grep -x 15 || echo "${PG_VERSIONS%% *}")"
timings=()
for major in $PG_VERSIONS; do
  started=$(date +%s)
  use_pg "$major"
  say "PostgreSQL $major ($PG_CONFIG)"

  say "cargo clippy -D warnings (pg$major)"
  cargo clippy --quiet --all-targets --no-default-features --features "pg$major pg_test" -- -D warnings; rc=$?
  record clippy $rc $((rc == 0)) $((rc != 0))

  say "Rust unit tests and #[pg_test] tests (cargo pgrx test pg$major)"
  runas=()
  if is_root; then
    # initdb and postgres refuse root: run the test cluster as postgres, in a
    # directory postgres owns. It is kept between runs (reruns stay incremental).
    mkdir -p "$REPO_ROOT/target/pgrx-test"
    chown postgres: "$REPO_ROOT/target/pgrx-test"
    runas=(--runas postgres --pgdata "$REPO_ROOT/target/pgrx-test/pgdata$major")
  fi
  log="$(mktemp)"
  cargo pgrx test "pg$major" "${runas[@]}" 2>&1 | tee "$log" | grep -E '^test |^test result|panicked|^failures' ; rc=${PIPESTATUS[0]}
  p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then tail -40 "$log"; fi
  record "cargo pgrx test" "$rc" "$p" "$f"
  rm -f "$log"

  say "Golden SQL and concurrency tests against a throwaway PostgreSQL $major"
  if install_extension >"$REPO_ROOT/target/install-pg$major.log" 2>&1 && cluster_start; then
    pgxs="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test"
    say "Golden SQL tests (pg_regress, tests/pg_regress)"
    run_suite pg_regress "$pgxs/regress/pg_regress" tests/pg_regress pg_tenant_regress

    say "pg_dump / restore round trip (tests/dump_restore.sh)"
    bash tests/dump_restore.sh | tee "$CLUSTER_DIR/dump.txt"; rc=${PIPESTATUS[0]}
    record_script dump_restore "$rc" "$CLUSTER_DIR/dump.txt"

    say "Backups: every way pg_dump/pg_restore are used restores exactly or fails loudly (tests/backup/run.sh)"
    bash tests/backup/run.sh | tee "$CLUSTER_DIR/backup.txt"; rc=${PIPESTATUS[0]}
    record_script backup "$rc" "$CLUSTER_DIR/backup.txt"

    say "Moving one tenant: tenant_export / tenant_import between databases and from a backup (tests/transfer/run.sh)"
    bash tests/transfer/run.sh | tee "$CLUSTER_DIR/transfer.txt"; rc=${PIPESTATUS[0]}
    record_script transfer "$rc" "$CLUSTER_DIR/transfer.txt"

    say "Behind PgBouncer in transaction mode (tests/pgbouncer/run.sh)"
    bash tests/pgbouncer/run.sh | tee "$CLUSTER_DIR/pgbouncer.txt"; rc=${PIPESTATUS[0]}
    record_script pgbouncer "$rc" "$CLUSTER_DIR/pgbouncer.txt"

    say "Concurrency tests (pg_isolation_regress, tests/isolation)"
    run_suite isolation "$pgxs/isolation/pg_isolation_regress" tests/isolation pg_tenant_isolation

    say "Crash safety of the usage counters: pg_ctl stop -m immediate under 8 writers, 5 times (tests/crash/run.sh)"
    bash tests/crash/run.sh | tee "$CLUSTER_DIR/crash.txt"; rc=${PIPESTATUS[0]}
    record_script crash "$rc" "$CLUSTER_DIR/crash.txt"

    say "Upgrades from earlier releases: ALTER EXTENSION pg_tenant UPDATE (tests/upgrade/run.sh)"
    bash tests/upgrade/run.sh | tee "$CLUSTER_DIR/upgrade.txt"; rc=${PIPESTATUS[0]}
    record_script upgrade "$rc" "$CLUSTER_DIR/upgrade.txt"

    if [ "$major" = "$examples_major" ]; then
      say "Examples: Python (psycopg 3), Node.js (pg), Rust (tokio-postgres) (examples/run.sh)"
      bash examples/run.sh | tee "$CLUSTER_DIR/examples.txt"; rc=${PIPESTATUS[0]}
      record_script examples "$rc" "$CLUSTER_DIR/examples.txt"
      say "drizzle-kit push and migrate against tenant-scoped tables (tests/drizzle/run.sh)"
      bash tests/drizzle/run.sh | tee "$CLUSTER_DIR/drizzle.txt"; rc=${PIPESTATUS[0]}
      record_script drizzle "$rc" "$CLUSTER_DIR/drizzle.txt"
      say "A Better Tenant + Drizzle app against pg_tenant's registry (tests/better_tenant/run.sh)"
      bash tests/better_tenant/run.sh | tee "$CLUSTER_DIR/better_tenant.txt"; rc=${PIPESTATUS[0]}
      record_script better_tenant "$rc" "$CLUSTER_DIR/better_tenant.txt"
    fi
    cluster_stop

    # Preloaded, a tenant's writers count usage in parallel (the quota escrow,
    # src/store/escrow.rs): the same specs must give the same results, and
    # quota_escrow shows what only the escrow does.
    say "Concurrency tests with pg_tenant preloaded (tests/isolation/schedule_preloaded)"
    if CLUSTER_OPTS="-c shared_preload_libraries=pg_tenant -c max_prepared_transactions=4" cluster_start; then
      run_suite "isolation preloaded" "$pgxs/isolation/pg_isolation_regress" tests/isolation pg_tenant_isolation schedule_preloaded
      cluster_stop
    else
      record "isolation preloaded" 1 0 1
    fi
  else
    cat "$REPO_ROOT/target/install-pg$major.log"
    record pg_regress 1 0 1
  fi
  timings+=("pg$major $(( $(date +%s) - started ))s")
  PG_MAJOR=""
done

echo
echo "time per PostgreSQL major: ${timings[*]}"
if [ "${#failed_stages[@]}" -gt 0 ]; then
  echo "failing stages: ${failed_stages[*]}"
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
