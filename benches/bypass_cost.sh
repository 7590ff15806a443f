#!/usr/bin/env bash
# What recording the bypass costs (issue 21, break-glass): a transaction of
# a tenant_bypass member that reads one row with the bypass (and is recorded
# in tenant.bypass_log by a background worker before the read runs) against
# the same read of the tenant in context (nothing recorded). No target: the
# number tells operators what a bypassing transaction costs.
#
#   benches/bypass_cost.sh        # ROUNDS=5 SECONDS_PER_RUN=10 CLIENTS=1 by default
#
# Builds a release install, starts a throwaway PostgreSQL 15, and runs pgbench
# as bench_app (here a member of tenant_bypass): BEGIN; name the tenant, or ask
# for the bypass with a reason; one point read; ROLLBACK (the record stays:
# it is written in its own transaction). Both scripts interleaved in each
# round (benches/lib.sh, pgbench_scripts); the report gives median TPS and the
# median over rounds of bypass / context within the run, and the records
# written. Output: benches/results/bypass_cost-<date>/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ROUNDS="${ROUNDS:-5}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
CLIENTS="${CLIENTS:-1}"

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
bench_cluster_start
out="benches/results/bypass_cost-$(date -u +%Y%m%d)"
rm -rf "$out" && mkdir -p "$out/raw" "$out/scripts"

"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >"$out/load.log" <<'SQL'
CREATE EXTENSION pg_tenant;
CREATE ROLE bench_app LOGIN;
GRANT tenant_bypass TO bench_app;
SELECT tenant_create('Bench', 'bench', id => '00000000-0000-4000-8000-000000000001') IS NOT NULL;
CREATE TABLE docs (tenant_id uuid NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('docs') IS NOT NULL;
INSERT INTO docs SELECT '00000000-0000-4000-8000-000000000001', k, 'body ' || k FROM generate_series(1, 10000) k;
GRANT SELECT ON docs TO bench_app;
VACUUM ANALYZE;
CHECKPOINT;
SQL
{
  echo '\set id random(1, 10000)'
  echo 'BEGIN;'
  echo "SELECT set_config('app.current_tenant', '00000000-0000-4000-8000-000000000001', true);"
  echo 'SELECT body FROM docs WHERE id = :id;'
  echo 'ROLLBACK;'
} >"$out/scripts/context.sql"
{
  echo '\set id random(1, 10000)'
  echo 'BEGIN;'
  echo "SELECT set_config('app.bypass_rls', 'on', true), set_config('app.bypass_reason', 'bench', true);"
  echo 'SELECT body FROM docs WHERE id = :id;'
  echo 'ROLLBACK;'
} >"$out/scripts/bypass.sql"
bench_prewarm >/dev/null

for round in $(seq 1 "$ROUNDS"); do
  while read -r name tps _; do
    echo "$round $name $tps" >>"$out/tps.txt"
  done < <(pgbench_scripts "$out/raw/round$round.txt" "$CLIENTS" "$SECONDS_PER_RUN" \
    $(shuffled "$out/scripts/context.sql" "$out/scripts/bypass.sql"))
  echo "    round $round done"
done
records="$("$PG_BIN/psql" -X -At -c "SELECT count(*) FROM tenant.bypass_log")"

python3 - "$out" "$ROUNDS" "$SECONDS_PER_RUN" "$CLIENTS" "$("$PG_BIN/postgres" --version)" "$records" <<'PY'
import statistics, sys, collections, datetime
out, rounds, seconds, clients, version, records = sys.argv[1:7]
tps = collections.defaultdict(dict)
for line in open(f"{out}/tps.txt"):
    r, name, value = line.split()
    tps[name][int(r)] = float(value)
ctx, byp = tps.get("context", {}), tps.get("bypass", {})
ratio = statistics.median([byp[r] / ctx[r] for r in byp if ctx.get(r)] or [0.0])
mc, mb = statistics.median(ctx.values()), statistics.median(byp.values())
lines = [f"# Bypass recording cost, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC", "",
         f"{version}; {rounds} rounds of {seconds}s, both scripts interleaved, {clients} client(s), transactions rolled back (the records stay); {records} records written.", "",
         "| transaction | TPS | latency |", "|---|---:|---:|",
         f"| one-row read, tenant in context | {mc:,.0f} | {1000 / mc:.2f} ms |",
         f"| one-row read with the bypass (recorded) | {mb:,.0f} | {1000 / mb:.2f} ms |",
         "", f"bypass / context: {ratio:.3f}"]
open(f"{out}/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
