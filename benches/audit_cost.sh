#!/usr/bin/env bash
# What auditing costs: an audited single-row insert and update against the
# same statements on an unaudited tenant-scoped table (issue 21: target >= 0.75
# of the unaudited TPS).
#
#   benches/audit_cost.sh           # ROUNDS=10 SECONDS_PER_RUN=10 CLIENTS=1 by default
#
# Builds a release install, starts a throwaway PostgreSQL 15, and runs pgbench
# as the ordinary role bench_app: BEGIN; set the tenant; one INSERT or UPDATE;
# ROLLBACK (the tables and the log keep their sizes for the whole run, and the
# measure is the server's work, not the commit's WAL flush, which would hide
# it). Both tables are tenant-scoped with usage counting; one has
# tenant_audit_enable. Each round is one pgbench run with the four scripts at
# the same weight, interleaved transaction by transaction (benches/lib.sh,
# pgbench_scripts); the report gives the median TPS (1 / average latency) and
# the median over rounds of audited / unaudited within the run. Output:
# benches/results/audit_cost-<date>/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ROUNDS="${ROUNDS:-10}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
CLIENTS="${CLIENTS:-1}"

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
bench_cluster_start
out="benches/results/audit_cost-$(date -u +%Y%m%d)"
rm -rf "$out" && mkdir -p "$out/raw" "$out/scripts"

say "Loading two tenant-scoped tables of 10,000 rows for one tenant, one of them audited"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >"$out/load.log" <<'SQL'
CREATE EXTENSION pg_tenant;
CREATE ROLE bench_app LOGIN;
SELECT tenant_create('Bench', 'bench', id => '00000000-0000-4000-8000-000000000001') IS NOT NULL;
CREATE FUNCTION pg_temp.make_table(name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I (tenant_id uuid NOT NULL, id bigint NOT NULL, title text, body text,
                                     updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, id))', name);
    PERFORM tenant_enable(name::regclass);
    EXECUTE format('INSERT INTO %I (tenant_id, id, title, body)
                    SELECT ''00000000-0000-4000-8000-000000000001''::uuid, k, ''title '' || k, repeat(''x'', 200)
                      FROM generate_series(1, 10000) k', name);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO bench_app', name);
END $$;
SELECT pg_temp.make_table('docs_plain');
SELECT pg_temp.make_table('docs_audited');
SELECT tenant_audit_enable('docs_audited') IS NOT NULL AS audited;
VACUUM ANALYZE;
CHECKPOINT;
SQL

for v in plain audited; do
  {
    echo 'BEGIN;'
    echo "SELECT set_config('app.current_tenant', '00000000-0000-4000-8000-000000000001', true);"
    echo "INSERT INTO docs_$v (id, title, body) VALUES (20000 + :client_id, 'new', 'a new row');"
    echo 'ROLLBACK;'
  } >"$out/scripts/insert-$v.sql"
  {
    echo '\set id random(1, 10000)'
    echo 'BEGIN;'
    echo "SELECT set_config('app.current_tenant', '00000000-0000-4000-8000-000000000001', true);"
    echo "UPDATE docs_$v SET body = 'edited', updated_at = now() WHERE id = :id;"
    echo 'ROLLBACK;'
  } >"$out/scripts/update-$v.sql"
done

say "Loading every table and index into shared buffers"
bench_prewarm >/dev/null

say "Running $ROUNDS rounds (four scripts interleaved), ${SECONDS_PER_RUN}s each, $CLIENTS clients"
for round in $(seq 1 "$ROUNDS"); do
  while read -r name tps _; do
    echo "$round $name $tps" >>"$out/tps.txt"
  done < <(pgbench_scripts "$out/raw/round$round.txt" "$CLIENTS" "$SECONDS_PER_RUN" \
    $(shuffled "$out/scripts/insert-plain.sql" "$out/scripts/insert-audited.sql" \
               "$out/scripts/update-plain.sql" "$out/scripts/update-audited.sql"))
  echo "    round $round done"
done

python3 - "$out" "$ROUNDS" "$SECONDS_PER_RUN" "$CLIENTS" "$("$PG_BIN/postgres" --version)" <<'PY'
import statistics, sys, collections, datetime
out, rounds, seconds, clients, version = sys.argv[1:6]
tps = collections.defaultdict(dict)
for line in open(f"{out}/tps.txt"):
    r, name, value = line.split()
    tps[name][int(r)] = float(value)
med = {k: statistics.median(v.values()) for k, v in tps.items()}
def paired(op):
    plain, audited = tps.get(f"{op}-plain", {}), tps.get(f"{op}-audited", {})
    return statistics.median([audited[r] / plain[r] for r in audited if plain.get(r)] or [0.0])
lines = [f"# Audit cost, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC", "",
         f"{version}; {rounds} rounds, each one {seconds}s pgbench run with the four scripts interleaved, {clients} client(s), transactions rolled back; median TPS (clients / average latency), and the median over rounds of audited / unaudited within a run.", "",
         "| statement | unaudited | audited | audited / unaudited | target |",
         "|---|---:|---:|---:|---|"]
ok = True
for op in ("insert", "update"):
    ratio = paired(op)
    ok = ok and ratio >= 0.75
    lines.append(f"| single-row {op} | {med.get(op + '-plain', 0):,.0f} | {med.get(op + '-audited', 0):,.0f} | {ratio:.3f} | >= 0.75 |")
lines += ["", "target: " + ("met" if ok else "NOT MET")]
open(f"{out}/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if ok else 1)
PY
echo "report: $out/report.md, raw pgbench output: $out/raw/"
