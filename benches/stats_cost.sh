#!/usr/bin/env bash
# What per-tenant statistics (tenant.stat_tenants) cost: the five workloads of
# isolation.sh on the pg_tenant table with pg_tenant.track_tenants on against
# off, measured in the same pgbench runs, with an off-against-off control that
# shows the noise of the method.
#
#   benches/stats_cost.sh          # ROUNDS=5 SECONDS_PER_RUN=20 CLIENTS=1 by default
#
# Builds a release install, starts a throwaway PostgreSQL 15 with pg_tenant in
# shared_preload_libraries (statistics live in shared memory), loads
# benches/sql/schema.sql (1,000 tenants, ~1,000,000 rows per table; only
# rows_pg_tenant is used) and runs each workload as the ordinary role
# bench_app, each transaction BEGIN; bench_track(on|off); set the tenant; the
# statement; COMMIT. bench_track, a SECURITY DEFINER function of the
# superuser, sets the superuser-only pg_tenant.track_tenants for the
# transaction, so the three scripts (on, off, off_again) differ in that
# setting only and each pays the same extra statement. A round runs each
# workload once, as one pgbench run with the three scripts at the same weight,
# interleaved transaction by transaction (benches/lib.sh, pgbench_scripts);
# the report gives, per workload, the median over rounds of on / off and of
# off_again / off, with their range. Output: benches/results/stats_cost-<date>/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ROUNDS="${ROUNDS:-5}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"
CLIENTS="${CLIENTS:-1}"
WORKLOADS=(point list insert update count)
ARMS=(on off off_again)

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
BENCH_EXTRA_OPTS="-c shared_preload_libraries=pg_tenant ${BENCH_EXTRA_OPTS:-}" bench_cluster_start
out="benches/results/stats_cost-$(date -u +%Y%m%d)${LABEL:+-$LABEL}"
rm -rf "$out" && mkdir -p "$out/raw" "$out/scripts"

say "Loading 1,000 tenants and ~1,000,000 rows per table"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -f benches/sql/schema.sql >"$out/load.log"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >>"$out/load.log" <<'SQL'
CREATE FUNCTION public.bench_track(track boolean) RETURNS void
    SECURITY DEFINER LANGUAGE sql
    -- No SET clause: it would undo the setting when the function returns.
    AS $$ SELECT pg_catalog.set_config('pg_tenant.track_tenants', CASE WHEN track THEN 'on' ELSE 'off' END, true) $$;
GRANT EXECUTE ON FUNCTION public.bench_track(boolean) TO bench_app;
SQL

tenant="md5((:t)::text)::uuid"
for w in "${WORKLOADS[@]}"; do
  case "$w" in
    point) sql="SELECT * FROM rows_pg_tenant WHERE id = (:t) * 1000000 + :k;" ;;
    list) sql="SELECT * FROM rows_pg_tenant ORDER BY created_at DESC LIMIT 50;" ;;
    count) sql="SELECT count(*) FROM rows_pg_tenant;" ;;
    update) sql="UPDATE rows_pg_tenant SET payload = 'updated' WHERE id = (:t) * 1000000 + :k;" ;;
    insert) sql="INSERT INTO rows_pg_tenant (payload) VALUES ('new');" ;;
  esac
  for a in "${ARMS[@]}"; do
    {
      echo '\set t random(1, 1000)'
      echo '\set k random(1, 133600 / :t)'
      echo 'BEGIN;'
      echo "SELECT bench_track($([ "$a" = on ] && echo true || echo false));"
      echo "SELECT set_config('app.current_tenant', $tenant::text, true);"
      echo "$sql"
      echo 'COMMIT;'
    } >"$out/scripts/$w-$a.sql"
  done
done

say "Loading every table and index into shared buffers"
bench_prewarm >/dev/null
"$PG_BIN/psql" -X -q -c "SELECT tenant_stat_reset()" >/dev/null

say "Running $ROUNDS rounds x ${#WORKLOADS[@]} workloads (the 3 arms interleaved), ${SECONDS_PER_RUN}s per run, $CLIENTS clients"
for round in $(seq 1 "$ROUNDS"); do
  "$PG_BIN/psql" -X -q -c VACUUM
  for w in $(shuffled "${WORKLOADS[@]}"); do
    scripts=()
    for a in "${ARMS[@]}"; do scripts+=("$out/scripts/$w-$a.sql"); done
    while read -r name tps _; do
      echo "$round $w ${name#"$w"-} $tps" >>"$out/tps.txt"
    done < <(pgbench_scripts "$out/raw/$w-round$round.txt" "$CLIENTS" "$SECONDS_PER_RUN" "${scripts[@]}")
  done
  echo "    round $round done"
done
# The arm with tracking on was counted; the others were not.
"$PG_BIN/psql" -X -q -At -c "SELECT 'tenants tracked ' || count(DISTINCT tenant_id) || ', statements ' || coalesce(sum(statements), 0)
                               FROM tenant.stat_tenants" >"$out/tracked.txt"
cat "$out/tracked.txt"

python3 - "$out" "$ROUNDS" "$SECONDS_PER_RUN" "$CLIENTS" "$("$PG_BIN/postgres" --version)" <<'PY'
import statistics, sys, collections, datetime
out, rounds, seconds, clients, version = sys.argv[1:6]
tps = collections.defaultdict(dict)
for line in open(f"{out}/tps.txt"):
    r, w, a, value = line.split()
    tps[(w, a)][int(r)] = float(value)
def ratios(w, a, b):
    x, y = tps.get((w, a), {}), tps.get((w, b), {})
    return [x[r] / y[r] for r in x if y.get(r)] or [0.0]
tracked = open(f"{out}/tracked.txt").read().strip()
lines = [f"# Per-tenant statistics: on against off, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC", "",
         f"{version}, pg_tenant preloaded; {rounds} rounds, each one {seconds}s pgbench run per workload with the three arms interleaved transaction by transaction, {clients} client(s), as bench_app on rows_pg_tenant; median over rounds of the arms' TPS ratio within a run [min-max]. After the run: {tracked}.", "",
         "| workload | off TPS | on / off | off_again / off (noise) |",
         "|---|---:|---:|---:|"]
for w in ("point", "list", "insert", "update", "count"):
    on, aa = ratios(w, "on", "off"), ratios(w, "off_again", "off")
    off = statistics.median(tps.get((w, "off"), {0: 0.0}).values())
    lines.append(f"| {w} | {off:,.0f} | {statistics.median(on):.3f} [{min(on):.3f}-{max(on):.3f}] | {statistics.median(aa):.3f} [{min(aa):.3f}-{max(aa):.3f}] |")
open(f"{out}/report.md", "w").write("\n".join(lines) + "\n")
with open(f"{out}/run.env", "w") as f:
    f.write(f"ROUNDS={rounds}\nSECONDS_PER_RUN={seconds}\nCLIENTS={clients}\nVERSION={version}\n")
print("\n".join(lines))
PY
echo "report: $out/report.md, raw pgbench output: $out/raw/"
