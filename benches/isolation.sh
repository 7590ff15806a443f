#!/usr/bin/env bash
# What tenant isolation costs: pg_tenant against hand-written WHERE tenant_id = $1
# and against two policy shapes found in the wild, measured in the same run.
#
#   benches/isolation.sh            # ROUNDS=7 SECONDS_PER_RUN=30 CLIENTS=1 by default
#   MODE=cells benches/isolation.sh # one pgbench run per variant (4 s by default)
#
# Builds a release install, starts a throwaway PostgreSQL 15 (no autovacuum or
# checkpoints during the run; server and pgbench pinned to different CPUs, PIN=0
# turns that off), loads 1,000 tenants and ~1,000,000 rows with skewed sizes into
# one table per variant (benches/sql/schema.sql), then runs every workload x
# variant with pgbench as the ordinary role bench_app, each transaction BEGIN ...
# COMMIT.
#
# MODE=mixed (default): a round runs each workload once, as one pgbench run
# with every variant's script at the same weight, so consecutive transactions
# belong to random variants and each variant gets its own latency (pgbench -r).
# Variants whose plan is a full scan (Better Tenant's list and count, ~2 TPS)
# would eat the run; they get a short run of their own. MODE=cells: a round runs
# every workload x variant as its own pgbench run, each workload's variants back
# to back in a new random order (the method of the first runs).
#
# Every round starts with a VACUUM (autovacuum is off during the run), and
# every variant has its own table, so each table takes the same writes.
#
# Runs last 30 s: every pgbench run is a new connection, which meets each of
# the 1,000 tenants for a first time (pg_tenant then reads the tenant's status
# and limits once; see instructions.sh TENANTS=each). Over a 30 s run a
# variant gets ~10,000 transactions, so first meetings are ~1 in 10 of them;
# a 4 s run shared by 7 variants would make them ~1 in 2.
#
# A variant's TPS is 1 / its average transaction latency (per client); its
# ratio is the median over rounds of its TPS divided by the same round's
# baseline TPS. The report also gives each statement's own latency (without
# BEGIN, set_config and COMMIT), and EXPLAIN of each variant's list and count
# queries. Raw output and the report go to benches/results/isolation-<date>/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

MODE="${MODE:-mixed}"
ROUNDS="${ROUNDS:-7}"
if [ "$MODE" = cells ]; then SECONDS_PER_RUN="${SECONDS_PER_RUN:-4}"; else SECONDS_PER_RUN="${SECONDS_PER_RUN:-30}"; fi
FULL_SCAN_SECONDS=3
CLIENTS="${CLIENTS:-1}"
# WORKLOADS="insert" VARIANTS="baseline_ctx pg_tenant_quota": fewer cells.
read -ra WORKLOADS <<<"${WORKLOADS:-point list insert update count}"
read -ra VARIANTS <<<"${VARIANTS:-baseline baseline_ctx pg_tenant pg_tenant_quota pg_tenant_onetrip better_tenant nself}"

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
bench_cluster_start
out="benches/results/isolation-$(date -u +%Y%m%d)${LABEL:+-$LABEL}"
rm -rf "$out" && mkdir -p "$out/raw" "$out/scripts"

say "Loading 1,000 tenants and ~1,000,000 rows per variant"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -f benches/sql/schema.sql >"$out/load.log"

tenant="md5((:t)::text)::uuid"
# The query of a workload for a variant: the baselines name the tenant in SQL,
# the RLS variants leave it to their policy (and pg_tenant/nself to their fill trigger).
query() { # workload variant
  local t where and_tenant
  t="rows_$2"
  if [[ "$2" == baseline* ]]; then where="WHERE tenant_id = $tenant"; and_tenant="AND tenant_id = $tenant"; else where=""; and_tenant=""; fi
  case "$1" in
    point) echo "SELECT * FROM $t WHERE id = (:t) * 1000000 + :k $and_tenant;" ;;
    list) echo "SELECT * FROM $t $where ORDER BY created_at DESC LIMIT 50;" ;;
    count) echo "SELECT count(*) FROM $t $where;" ;;
    update) echo "UPDATE $t SET payload = 'updated' WHERE id = (:t) * 1000000 + :k $and_tenant;" ;;
    insert)
      case "$2" in
        baseline* | better_tenant) echo "INSERT INTO $t (tenant_id, payload) VALUES ($tenant, 'new');" ;;
        *) echo "INSERT INTO $t (payload) VALUES ('new');" ;;
      esac ;;
  esac
}
for w in "${WORKLOADS[@]}"; do
  for v in "${VARIANTS[@]}"; do
    {
      echo '\set t random(1, 1000)'
      echo '\set k random(1, 133600 / :t)'
      echo 'BEGIN;'
      context="SELECT set_config('app.current_tenant', $tenant::text, true);"
      case "$v" in
        baseline) query "$w" "$v" ;;
        # The context sent in the statement's own message (\; joins them):
        # as many round trips as the baseline (see README, "Avoiding the
        # extra round trip").
        pg_tenant_onetrip) echo "${context%;} \\; $(query "$w" "$v")" ;;
        *) echo "$context" && query "$w" "$v" ;;
      esac
      echo 'COMMIT;'
    } >"$out/scripts/$w-$v.sql"
  done
done

say "Plans (as bench_app, tenant 500)"
for v in "${VARIANTS[@]}"; do
  [ "$v" = pg_tenant_onetrip ] && continue # pg_tenant's statements
  for w in list count; do
    sql="$(query "$w" "$v" | sed "s/(:t)/500/g; s/:k/1/g")"
    {
      echo "== $v / $w: $sql"
      "$PG_BIN/psql" -X -q -U bench_app -v ON_ERROR_STOP=1 <<SQL
BEGIN;
SELECT set_config('app.current_tenant', md5('500')::uuid::text, true) \g /dev/null
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $sql
ROLLBACK;
SQL
    } >>"$out/plans.txt"
  done
done

# Better Tenant's OR keeps its list and count off the tenant index (see plans.txt).
full_scan() { [ "$2" = better_tenant ] && { [ "$1" = list ] || [ "$1" = count ]; }; }
# Appends "round workload variant tps statement_ms" for each script's result.
record() { # round workload raw seconds script...
  local round="$1" w="$2" raw="$3" seconds="$4" name tps statement
  shift 4
  while read -r name tps statement; do
    echo "$round $w ${name#"$w"-} $tps ${statement:-0}" >>"$out/tps.txt"
  done < <(pgbench_scripts "$raw" "$CLIENTS" "$seconds" "$@")
}

say "Loading every table and index into shared buffers"
blocks_before="$(bench_prewarm)"

say "Running $ROUNDS rounds x ${#WORKLOADS[@]} workloads x ${#VARIANTS[@]} variants ($MODE), ${SECONDS_PER_RUN}s per run, $CLIENTS clients"
for round in $(seq 1 "$ROUNDS"); do
  # What autovacuum would do between rounds (it is off so that it cannot start
  # in the middle of a run): the previous round's updates and inserts leave
  # pages that are not all-visible, which the count's index-only scan pays for.
  "$PG_BIN/psql" -X -q -c VACUUM
  for w in $(shuffled "${WORKLOADS[@]}"); do
    if [ "$MODE" = cells ]; then
      for v in $(shuffled "${VARIANTS[@]}"); do
        record "$round" "$w" "$out/raw/$w-$v-round$round.txt" "$SECONDS_PER_RUN" "$out/scripts/$w-$v.sql"
      done
      continue
    fi
    mixed=()
    for v in "${VARIANTS[@]}"; do
      if full_scan "$w" "$v"; then
        record "$round" "$w" "$out/raw/$w-$v-round$round.txt" "$FULL_SCAN_SECONDS" "$out/scripts/$w-$v.sql"
      else
        mixed+=("$out/scripts/$w-$v.sql")
      fi
    done
    record "$round" "$w" "$out/raw/$w-mixed-round$round.txt" "$SECONDS_PER_RUN" "${mixed[@]}"
  done
  echo "    round $round done"
done

blocks_read=$(($(bench_blocks_read) - blocks_before))

cat >"$out/run.env" <<ENV
ROUNDS=$ROUNDS
SECONDS_PER_RUN=$SECONDS_PER_RUN
CLIENTS=$CLIENTS
VERSION="$("$PG_BIN/postgres" --version)"
CLUSTER_CPUS=${CLUSTER_CPUS:-}
MODE=$MODE
BLOCKS_READ=$blocks_read
WORKLOADS="${WORKLOADS[*]}"
VARIANTS="${VARIANTS[*]}"
BENCH_EXTRA_OPTS="${BENCH_EXTRA_OPTS:-}"
ENV
python3 benches/isolation_report.py "$out"
echo "report: $out/report.md, plans: $out/plans.txt, raw pgbench output: $out/raw/"
