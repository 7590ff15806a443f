#!/usr/bin/env bash
# Runs every pg_tenant test on this machine, setting it up first if needed:
#   1. formatting and lints (cargo fmt --check, clippy -D warnings), and the
#      one-way layering of src/ (scripts/layers.py);
#   2. Rust unit tests and #[pg_test] tests inside a real PostgreSQL 15
#      (cargo pgrx test; as root the server runs as the OS user postgres);
#   3. golden SQL tests (tests/pg_regress) with pg_regress against a fresh
#      throwaway cluster, acting as ordinary LOGIN roles;
#   4. pg_dump/restore, the PgBouncer pooler test and the isolation specs.
# Ends with one line "tests: N passed, N failed"; exits non-zero on any failure.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh || exit 1

passed=0
failed=0
failed_stages=()
record() { # stage-name exit-code passed-count failed-count
  local f="$4"
  # A stage that exits non-zero fails even when it counted no failed test.
  if [ "$2" -ne 0 ]; then failed_stages+=("$1"); [ "$f" -gt 0 ] || f=1; fi
  passed=$((passed + $3)); failed=$((failed + f))
}

say "cargo fmt --check"
cargo fmt --check; rc=$?
record fmt $rc $((rc == 0)) $((rc != 0))

say "cargo clippy -D warnings"
cargo clippy --quiet --all-targets --features "pg15 pg_test" -- -D warnings; rc=$?
record clippy $rc $((rc == 0)) $((rc != 0))

say "Layers: module imports point one way, no cycles (scripts/layers.py)"
python3 scripts/layers.py; rc=$?
record layers $rc $((rc == 0)) $((rc != 0))

say "Rust unit tests and #[pg_test] tests (cargo pgrx test pg15)"
runas=()
if is_root; then
  # initdb and postgres refuse root: run the test cluster as postgres, in a
  # directory postgres owns. It is kept between runs (reruns stay incremental).
  mkdir -p "$REPO_ROOT/target/pgrx-test"
  chown postgres: "$REPO_ROOT/target/pgrx-test"
  runas=(--runas postgres --pgdata "$REPO_ROOT/target/pgrx-test/pgdata")
fi
log="$(mktemp)"
cargo pgrx test pg15 "${runas[@]}" 2>&1 | tee "$log" | grep -E '^test |^test result|panicked|^failures' ; rc=${PIPESTATUS[0]}
p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
f=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then tail -40 "$log"; fi
record "cargo pgrx test" "$rc" "$p" "$f"
rm -f "$log"

# Runs a pg_regress-style suite (golden SQL or isolation specs) against the
# running throwaway cluster, in a database of its own.
run_suite() { # stage tool-path suite-dir database
  local stage="$1" tool="$2" dir="$3" db="$4" outdir="$CLUSTER_DIR/$4" rc total f
  mkdir -p "$outdir"
  "$PG_BIN/createdb" "$db"
  "$tool" --use-existing --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname="$db" \
    --inputdir="$dir" --outputdir="$outdir" --schedule="$dir/schedule" 2>&1 | tee "$outdir/summary.txt"
  rc=${PIPESTATUS[0]}
  total=$(grep -cE '^(test|permutation)? *[a-z_]+ +\.\.\. ' "$outdir/summary.txt" || true)
  f=$(grep -cE '\.\.\. FAILED' "$outdir/summary.txt" || true)
  if [ "$rc" -ne 0 ] && [ -f "$outdir/regression.diffs" ]; then cat "$outdir/regression.diffs"; fi
  record "$stage" "$rc" $((total - f)) "$f"
  if [ -n "${UPDATE_EXPECTED:-}" ]; then cp "$outdir"/results/*.out "$dir/expected/"; fi
}

say "Golden SQL and concurrency tests against a throwaway PostgreSQL 15"
if install_extension >/tmp/pg_tenant-install.log 2>&1 && cluster_start; then
  pgxs="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test"
  say "Golden SQL tests (pg_regress, tests/pg_regress)"
  run_suite pg_regress "$pgxs/regress/pg_regress" tests/pg_regress pg_tenant_regress

  say "pg_dump / restore round trip (tests/dump_restore.sh)"
  bash tests/dump_restore.sh | tee "$CLUSTER_DIR/dump.txt"; rc=${PIPESTATUS[0]}
  record dump_restore "$rc" "$(grep -c '^ok:' "$CLUSTER_DIR/dump.txt")" "$(grep -c '^FAILED' "$CLUSTER_DIR/dump.txt")"

  say "Behind PgBouncer in transaction mode (tests/pgbouncer/run.sh)"
  bash tests/pgbouncer/run.sh | tee "$CLUSTER_DIR/pgbouncer.txt"; rc=${PIPESTATUS[0]}
  record pgbouncer "$rc" "$(grep -c '^ok:' "$CLUSTER_DIR/pgbouncer.txt")" "$(grep -c '^FAILED' "$CLUSTER_DIR/pgbouncer.txt")"

  say "Concurrency tests (pg_isolation_regress, tests/isolation)"
  run_suite isolation "$pgxs/isolation/pg_isolation_regress" tests/isolation pg_tenant_isolation
  cluster_stop
else
  cat /tmp/pg_tenant-install.log
  record pg_regress 1 0 1
fi

echo
if [ "${#failed_stages[@]}" -gt 0 ]; then
  echo "failing stages: ${failed_stages[*]}"
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
