#!/usr/bin/env bash
# Server time per statement, split into planning and execution
# (pg_stat_statements with track_planning), for variants of one workload run
# interleaved in one pgbench connection. benches/isolation.sh gives each
# statement's latency as the client sees it; when two variants differ there by
# a few µs, this tells whether the difference is in planning, in execution or
# elsewhere (parsing, rewriting, executor start-up and the network are in
# neither figure).
#
#   benches/statement_times.sh   WORKLOAD=point VARIANTS="baseline_ctx pg_tenant better_tenant"
#                                ROUNDS=3 SECONDS_PER_RUN=60 by default
#
# Uses the pgbench scripts of the latest benches/isolation.sh run
# (SCRIPTS=<its scripts/ directory> to choose one) on a throwaway cluster
# loaded with the same schema, as the ordinary role bench_app. One more
# variant is a probe: `initplan_builtin`, a copy of Better Tenant's table whose
# policy is its tenant match without the OR, wrapped in a sub-select,
# `tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid)`:
# what the once-per-statement InitPlan costs by itself, with no extension
# function in it. Output: benches/results/statement_times-<date>[-LABEL]/report.md.
# The pgbench scripts come from the latest isolation run on this machine
# (benches/results/isolation-*/scripts, which git does not keep: run
# benches/isolation.sh first on a fresh clone, or point SCRIPTS at them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

WORKLOAD="${WORKLOAD:-point}"
ROUNDS="${ROUNDS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-60}"
read -r -a VARIANTS <<<"${VARIANTS:-baseline_ctx pg_tenant better_tenant initplan_builtin}"
SCRIPTS="${SCRIPTS:-$(find benches/results -maxdepth 2 -type d -path '*/isolation-*/scripts' -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)}"
[ -d "$SCRIPTS" ] || { echo "no pgbench scripts: run benches/isolation.sh first or set SCRIPTS"; exit 1; }
# Every variant's script must exist before anything is built.
for v in "${VARIANTS[@]}"; do
  source_variant="$v"
  [ "$v" = initplan_builtin ] && source_variant=better_tenant
  [ -f "$SCRIPTS/$WORKLOAD-$source_variant.sql" ] || { echo "no script $SCRIPTS/$WORKLOAD-$source_variant.sql"; exit 1; }
done

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
BENCH_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on" bench_cluster_start
say "Loading 1,000 tenants and ~1,000,000 rows per variant"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -f benches/sql/schema.sql >/dev/null
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pg_stat_statements;
CREATE TABLE rows_initplan_builtin (LIKE rows_better_tenant INCLUDING ALL);
ALTER TABLE rows_initplan_builtin ADD FOREIGN KEY (tenant_id) REFERENCES tenant.tenants (id);
INSERT INTO rows_initplan_builtin SELECT * FROM rows_better_tenant;
GRANT SELECT, INSERT, UPDATE ON rows_initplan_builtin TO bench_app;
ALTER TABLE rows_initplan_builtin ENABLE ROW LEVEL SECURITY;
ALTER TABLE rows_initplan_builtin FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rows_initplan_builtin
    USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid))
    WITH CHECK (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
VACUUM ANALYZE rows_initplan_builtin;
SQL
bench_prewarm >/dev/null

scripts=()
for v in "${VARIANTS[@]}"; do
  script="$SCRIPTS/$WORKLOAD-$v.sql"
  if [ "$v" = initplan_builtin ]; then
    # Better Tenant's statement (it names no tenant either), on the probe's
    # table; kept with the cluster, which is removed at exit.
    script="$CLUSTER_DIR/$WORKLOAD-$v.sql"
    sed 's/rows_better_tenant/rows_initplan_builtin/g' "$SCRIPTS/$WORKLOAD-better_tenant.sql" >"$script"
  fi
  scripts+=("$script")
done

dir="benches/results/statement_times-$(date -u +%Y%m%d)${LABEL:+-$LABEL}"; mkdir -p "$dir"; out="$dir/report.md"
{
  echo "Server time per statement, $WORKLOAD workload, $SECONDS_PER_RUN s x $ROUNDS rounds interleaved ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), scripts from $SCRIPTS)"
  echo "plan_us / exec_us: pg_stat_statements mean planning and execution time; txn_ms: pgbench average transaction latency"
} >"$out"
for round in $(seq 1 "$ROUNDS"); do
  "$PG_BIN/psql" -X -q -At -c "SELECT pg_stat_statements_reset()" >/dev/null
  raw="$CLUSTER_DIR/round$round.txt"
  pgbench_scripts "$raw" 1 "$SECONDS_PER_RUN" "${scripts[@]}" >"$CLUSTER_DIR/tps.txt"
  {
    echo
    echo "round $round"
    "$PG_BIN/psql" -X -q -At -F ' ' <<'SQL' | while read -r table calls plan exec; do
SELECT substring(query FROM '(?:FROM|INTO|UPDATE) (rows_[a-z_]+)'), calls,
       round((mean_plan_time * 1000)::numeric, 2), round((mean_exec_time * 1000)::numeric, 2)
  FROM pg_stat_statements
 WHERE query ~ 'rows_[a-z_]+' ORDER BY 1
SQL
      variant="${table#rows_}"
      txn="$(awk -v s="$WORKLOAD-$variant" '$1 == s {printf "%.3f", 1000 / $2}' "$CLUSTER_DIR/tps.txt")"
      printf "%-20s calls %7d  plan_us %7.2f  exec_us %7.2f  plan+exec %7.2f  txn_ms %s\n" \
        "$variant" "$calls" "$plan" "$exec" "$(awk -v p="$plan" -v e="$exec" 'BEGIN {print p + e}')" "$txn"
    done
  } | tee -a "$out"
done
echo "results: $out"
