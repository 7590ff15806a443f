#!/usr/bin/env bash
# How tenant_check() scales with the number of tenant-scoped tables.
# Builds a release install, starts a throwaway PostgreSQL 15, and for 10, 100,
# 1,000 and 10,000 tenant-scoped tables (each with a unique key, a foreign
# key, a view and grants, so that every check has work) times tenant_check()
# with pgbench (5 runs after a warm-up; pgbench's average latency). Ratios
# are against the 10-table run of the same invocation. Target (issue 19):
# 10,000 tables under 2 s; the last line says whether it is met, and the
# script exits non-zero when it is not. The output goes to
# benches/results/check_scale-<date>/report.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
cluster_start
dir="benches/results/check_scale-$(date -u +%Y%m%d)"; mkdir -p "$dir"; out="$dir/report.md"
q() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

q -c "CREATE EXTENSION pg_tenant; CREATE ROLE bench_app LOGIN;"
q -c "SELECT tenant_create('Bench ' || g) FROM generate_series(1, 10) g" >/dev/null

add_tables() { # from to, in transactions of 250 tables (each takes a few locks until commit)
  local from=$1 to=$2 upto
  while [ "$from" -le "$to" ]; do
    upto=$((from + 249)); [ "$upto" -le "$to" ] || upto=$to
    add_chunk "$from" "$upto"
    from=$((upto + 1))
  done
}
add_chunk() { # from to
  q -c "DO \$\$ BEGIN
          FOR i IN $1..$2 LOOP
            EXECUTE format('CREATE TABLE bench_%s (id uuid DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL,
                              ref uuid, name text, PRIMARY KEY (tenant_id, id))', i);
            PERFORM tenant_enable(format('bench_%s', i)::regclass);
            EXECUTE format('GRANT SELECT, INSERT ON bench_%s TO bench_app', i);
            EXECUTE format('CREATE VIEW bench_view_%s WITH (security_invoker = true) AS SELECT * FROM bench_%s', i, i);
          END LOOP;
        END \$\$"
}

printf 'SELECT count(*) FROM tenant_check();\n' >"$CLUSTER_DIR/check.sql"
measure() { # label
  "$PG_BIN/pgbench" -n -t 1 -f "$CLUSTER_DIR/check.sql" postgres >/dev/null 2>&1 # warm-up
  "$PG_BIN/pgbench" -n -t 5 -f "$CLUSTER_DIR/check.sql" postgres 2>/dev/null | awk '/latency average/ {print $4}'
}

{
  echo "tenant_check() scale, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("$PG_BIN/postgres" --version)"
  echo "tables  findings  latency_ms  ms_per_table  ratio_to_10_tables"
} | tee "$out"
base=""
previous=0
for n in 10 100 1000 10000; do
  add_tables $((previous + 1)) "$n"
  previous=$n
  findings="$(q -c 'SELECT count(*) FROM tenant_check()')"
  ms="$(measure)"
  [ -n "$base" ] || base="$ms"
  awk -v n="$n" -v f="$findings" -v ms="$ms" -v base="$base" \
    'BEGIN { printf "%6d  %8d  %10.1f  %12.3f  %18.1f\n", n, f, ms, ms / n, ms / base }' | tee -a "$out"
done
target_ms=2000
awk -v ms="$ms" -v t="$target_ms" 'BEGIN { printf "target: 10000 tables in under %d ms: %s (%.1f ms)\n", t, (ms < t ? "met" : "NOT MET"), ms }' | tee -a "$out"
echo "raw results: $out"
awk -v ms="$ms" -v t="$target_ms" 'BEGIN { exit !(ms < t) }'
