#!/usr/bin/env bash
# What tenant isolation costs: pg_tenant against hand-written WHERE tenant_id = $1
# and against two policy shapes found in the wild, measured in the same run.
#
#   benches/isolation.sh            # ROUNDS=10 SECONDS_PER_RUN=4 CLIENTS=1 by default
#
# Builds a release install, starts a throwaway PostgreSQL 15 (no autovacuum or
# checkpoints during the run; server and pgbench pinned to different CPUs, PIN=0
# turns that off), loads 1,000 tenants and ~1,000,000 rows with skewed sizes into
# one table per variant (benches/sql/schema.sql), then runs every workload x
# variant with pgbench as the ordinary role bench_app, each transaction BEGIN ...
# COMMIT. A round runs every cell once, each workload's variants back to back in
# a new random order. The report gives each cell's median TPS and, per variant,
# the median over rounds of its TPS divided by the same round's baseline TPS:
# a ratio between cells minutes apart suffers less from a shared machine's drift
# than a ratio of medians. Also EXPLAIN of each variant's list and count queries.
# Raw output and the report go to benches/results/isolation-<date>/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ROUNDS="${ROUNDS:-10}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-4}"
CLIENTS="${CLIENTS:-1}"
WORKLOADS=(point list insert update count)
VARIANTS=(baseline baseline_ctx pg_tenant pg_tenant_quota better_tenant nself)

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
bench_cluster_start
out="benches/results/isolation-$(date -u +%Y%m%d)"
rm -rf "$out" && mkdir -p "$out/raw" "$out/scripts"

say "Loading 1,000 tenants and ~1,000,000 rows per variant"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -f benches/sql/schema.sql >"$out/load.log"

tenant="md5((:t)::text)::uuid"
table_of() { case "$1" in baseline | baseline_ctx) echo rows_baseline ;; *) echo "rows_$1" ;; esac; }
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
      [ "$v" = baseline ] || echo "SELECT set_config('app.current_tenant', $tenant::text, true);"
      query "$w" "$v"
      echo 'COMMIT;'
    } >"$out/scripts/$w-$v.sql"
  done
done

say "Plans (as bench_app, tenant 500)"
for v in "${VARIANTS[@]}"; do
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

say "Running $ROUNDS rounds x ${#WORKLOADS[@]} workloads x ${#VARIANTS[@]} variants, ${SECONDS_PER_RUN}s each, $CLIENTS clients"
for round in $(seq 1 "$ROUNDS"); do
  for w in "${WORKLOADS[@]}"; do
    for v in $(shuffled "${VARIANTS[@]}"); do
      raw="$out/raw/$w-$v-round$round.txt"
      echo "$round $w $v $(pgbench_tps "$out/scripts/$w-$v.sql" "$raw" "$CLIENTS" "$SECONDS_PER_RUN")" >>"$out/tps.txt"
    done
  done
  echo "    round $round done"
done

python3 - "$out" "$ROUNDS" "$SECONDS_PER_RUN" "$CLIENTS" "$("$PG_BIN/postgres" --version)" "${CLUSTER_CPUS:-}" <<'PY'
import statistics, sys, collections, datetime
out, rounds, seconds, clients, version, pinned = sys.argv[1:7]
tps = collections.defaultdict(dict)  # (workload, variant) -> {round: tps}
for line in open(f"{out}/tps.txt"):
    r, w, v, value = line.split()
    tps[(w, v)][int(r)] = float(value)
workloads = ["point", "list", "insert", "update", "count"]
variants = ["baseline", "baseline_ctx", "pg_tenant", "pg_tenant_quota", "better_tenant", "nself"]
targets = {"point": 0.97, "list": 0.97, "count": 0.97, "insert": 0.95, "update": 0.95}
def paired(w, v, base):
    """Per-round TPS ratios of v against base in the same round."""
    a, b = tps.get((w, v), {}), tps.get((w, base), {})
    return [a[r] / b[r] for r in a if r in b and b[r] > 0]
def med(values):
    return statistics.median(values) if values else 0.0
pin = f"server on CPUs {pinned}, pgbench on CPU 0" if pinned else "not pinned"
lines = [f"# Isolation benchmark, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC",
         "", f"{version}; {rounds} rounds x {seconds}s per cell, {clients} client(s), {pin}.",
         "TPS: median over rounds. Ratios: median over rounds of the variant's TPS divided by the same round's baseline TPS (min-max over rounds in brackets).", "",
         "| workload | variant | TPS | vs baseline | vs baseline+context |", "|---|---|---:|---:|---:|"]
for w in workloads:
    for v in variants:
        m = med(list(tps.get((w, v), {}).values()))
        rb, rc = paired(w, v, "baseline"), paired(w, v, "baseline_ctx")
        spread = f" ({min(rc):.2f}-{max(rc):.2f})" if rc and v not in ("baseline_ctx",) else ""
        lines.append(f"| {w} | {v} | {m:,.0f} | {med(rb):.3f} | {med(rc):.3f}{spread} |")
lines += ["", "| workload | variant | vs baseline+context | target | met | ahead of better_tenant | ahead of nself |", "|---|---|---:|---:|---|---|---|"]
for w in workloads:
    for v, target in (("pg_tenant", targets[w]), ("pg_tenant_quota", 0.90)):
        r = med(paired(w, v, "baseline_ctx"))
        ahead_bt = med(paired(w, v, "better_tenant")) >= 1.0
        ahead_ns = med(paired(w, v, "nself")) >= 1.0
        lines.append(f"| {w} | {v} | {r:.3f} | {target:.2f} | {'yes' if r >= target else 'NO'} | {'yes' if ahead_bt else 'NO'} | {'yes' if ahead_ns else 'NO'} |")
open(f"{out}/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "report: $out/report.md, plans: $out/plans.txt, raw pgbench output: $out/raw/"
