#!/usr/bin/env bash
# What tenant isolation costs: pg_tenant against hand-written WHERE tenant_id = $1
# and against two policy shapes found in the wild, measured in the same run.
#
#   benches/isolation.sh            # ROUNDS=10 SECONDS_PER_RUN=15 CLIENTS=1 by default
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
ROUNDS="${ROUNDS:-10}"
if [ "$MODE" = cells ]; then SECONDS_PER_RUN="${SECONDS_PER_RUN:-4}"; else SECONDS_PER_RUN="${SECONDS_PER_RUN:-15}"; fi
FULL_SCAN_SECONDS=3
CLIENTS="${CLIENTS:-1}"
WORKLOADS=(point list insert update count)
VARIANTS=(baseline baseline_ctx pg_tenant pg_tenant_quota pg_tenant_onetrip better_tenant nself)

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
bench_cluster_start
out="benches/results/isolation-$(date -u +%Y%m%d)${LABEL:+-$LABEL}"
rm -rf "$out" && mkdir -p "$out/raw" "$out/scripts"

say "Loading 1,000 tenants and ~1,000,000 rows per variant"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -f benches/sql/schema.sql >"$out/load.log"

tenant="md5((:t)::text)::uuid"
table_of() {
  case "$1" in
    baseline | baseline_ctx) echo rows_baseline ;;
    pg_tenant_onetrip) echo rows_pg_tenant ;;
    *) echo "rows_$1" ;;
  esac
}
# The query of a workload for a variant: the baselines name the tenant in SQL,
# the RLS variants leave it to their policy (and pg_tenant/nself to their fill trigger).
query() { # workload variant
  local t where and_tenant
  t="$(table_of "$2")"
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

python3 - "$out" "$ROUNDS" "$SECONDS_PER_RUN" "$CLIENTS" "$("$PG_BIN/postgres" --version)" "${CLUSTER_CPUS:-}" "$MODE" "$blocks_read" <<'PY'
import statistics, sys, collections, datetime
out, rounds, seconds, clients, version, pinned, mode, blocks_read = sys.argv[1:9]
tps = collections.defaultdict(dict)        # (workload, variant) -> {round: tps}
statement = collections.defaultdict(dict)  # (workload, variant) -> {round: ms}
for line in open(f"{out}/tps.txt"):
    r, w, v, value, ms = line.split()
    tps[(w, v)][int(r)] = float(value)
    statement[(w, v)][int(r)] = float(ms)
workloads = ["point", "list", "insert", "update", "count"]
variants = ["baseline", "baseline_ctx", "pg_tenant", "pg_tenant_quota", "pg_tenant_onetrip", "better_tenant", "nself"]
targets = {"point": 0.97, "list": 0.97, "count": 0.97, "insert": 0.95, "update": 0.95}
def paired(w, v, base, data=tps, invert=False):
    """Per-round ratios of v's figure against base's in the same round."""
    a, b = data.get((w, v), {}), data.get((w, base), {})
    if invert:
        return [b[r] / a[r] for r in a if r in b and a[r] > 0]
    return [a[r] / b[r] for r in a if r in b and b[r] > 0]
def med(values):
    return statistics.median(values) if values else 0.0
def spread(values):
    return f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
pin = f"server on CPUs {pinned}, pgbench on CPU 0" if pinned else "not pinned"
how = ("each workload one pgbench run per round with the variants' scripts interleaved at random, transaction by transaction"
       " (Better Tenant's full-scan list and count in a 3 s run of their own)") if mode == "mixed" else \
      "each workload x variant its own pgbench run, each workload's variants back to back in a new random order"
lines = [f"# Isolation benchmark, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
         "", f"{version}; mode {mode}: {how}; {rounds} rounds x {seconds}s per run, {clients} client(s), {pin}.",
         "TPS: clients / average transaction latency, median over rounds. Ratios: median over rounds of the variant's TPS divided by the same round's baseline TPS (min-max over rounds in brackets).",
         "Statement: average latency of the workload's statement alone (no BEGIN, set_config, COMMIT; pg_tenant_onetrip: set_config and the statement, sent as one message), median over rounds; its ratio is baseline's statement latency / the variant's, per round.",
         f"Blocks read from outside shared buffers during the runs: {int(blocks_read):,} (everything was loaded into shared buffers first).", "",
         "| workload | variant | TPS | vs baseline | vs baseline+context | statement µs | statement vs baseline |",
         "|---|---|---:|---:|---:|---:|---:|"]
for w in workloads:
    for v in variants:
        m = med(list(tps.get((w, v), {}).values()))
        rb, rc = paired(w, v, "baseline"), paired(w, v, "baseline_ctx")
        sb = spread(rb) if v != "baseline" else ""
        sc = spread(rc) if v != "baseline_ctx" else ""
        st = med(list(statement.get((w, v), {}).values())) * 1000
        sr = med(paired(w, v, "baseline", statement, invert=True))
        lines.append(f"| {w} | {v} | {m:,.0f} | {med(rb):.3f}{sb} | {med(rc):.3f}{sc} | {st:,.0f} | {sr:.3f} |")
lines += ["", "Targets (issue 6) against baseline+context; pg_tenant_onetrip, which sends no extra message, against baseline. The last two columns: the variant's TPS / the anchor's in the same round (> 1: ahead).", "",
          "| workload | variant | against | ratio | target | met | vs better_tenant | vs nself |", "|---|---|---|---:|---:|---|---:|---:|"]
for w in workloads:
    for v, base, target in (("pg_tenant", "baseline_ctx", targets[w]), ("pg_tenant_quota", "baseline_ctx", 0.90), ("pg_tenant_onetrip", "baseline", targets[w])):
        r = med(paired(w, v, base))
        bt, ns = med(paired(w, v, "better_tenant")), med(paired(w, v, "nself"))
        lines.append(f"| {w} | {v} | {base} | {r:.3f} | {target:.2f} | {'yes' if r >= target else 'NO'} | {bt:.3f} | {ns:.3f} |")
open(f"{out}/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "report: $out/report.md, plans: $out/plans.txt, raw pgbench output: $out/raw/"
