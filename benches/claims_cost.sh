#!/usr/bin/env bash
# What reading the tenant from a proxy's claims costs: PostgREST's
# transaction shape (set_config of the role and of request.jwt.claims, a JSON
# document with the tenant in app_metadata.tenant_id, then the query) with
# pg_tenant.context_source = 'postgrest', against the same transaction naming
# the tenant in app.current_tenant with the source 'app'. Each transaction reads one row and
# inserts ten (the fill trigger reads the tenant once per row: the claims
# are parsed once per value, later reads compare the text). A third script,
# hand_written, is the policy many Supabase projects write by hand
# (current_setting('request.jwt.claims')::jsonb->... per row), for scale.
#
#   benches/claims_cost.sh      # ROUNDS=5 SECONDS_PER_RUN=10 CLIENTS=1 by default
#
# Builds a release install, starts a throwaway PostgreSQL 15 (benches/lib.sh)
# and runs pgbench with the scripts interleaved transaction by transaction.
# Then one read of the tenant with each source: current_tenant_id() a million
# times in one statement, five times each.
# Output: benches/results/claims_cost-<date>/ (rounds.txt, reads.txt, report.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ROUNDS="${ROUNDS:-5}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
CLIENTS="${CLIENTS:-1}"
out="benches/results/claims_cost-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/dev/null
bench_cluster_start
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pg_tenant;
CREATE ROLE authenticator LOGIN NOINHERIT;
CREATE ROLE web_user NOLOGIN;
GRANT web_user TO authenticator;
CREATE TABLE items (tenant_id uuid NOT NULL, id int GENERATED ALWAYS AS IDENTITY, name text, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('items', track_usage => false);
GRANT SELECT, INSERT ON items TO web_user;
-- The hand-written shape, on its own table.
CREATE TABLE items_hand (tenant_id uuid NOT NULL
    DEFAULT ((current_setting('request.jwt.claims', true)::jsonb -> 'app_metadata' ->> 'tenant_id')::uuid),
    id int GENERATED ALWAYS AS IDENTITY, name text, PRIMARY KEY (tenant_id, id));
ALTER TABLE items_hand ENABLE ROW LEVEL SECURITY;
CREATE POLICY hand ON items_hand USING
    (tenant_id = ((current_setting('request.jwt.claims', true)::jsonb -> 'app_metadata' ->> 'tenant_id')::uuid));
GRANT SELECT, INSERT ON items_hand TO web_user;
SELECT tenant_create('Bench', 'bench');
UPDATE tenant.tenants SET id = 'b0000000-0000-4000-8000-000000000001' WHERE slug = 'bench';
INSERT INTO items (tenant_id, name) SELECT 'b0000000-0000-4000-8000-000000000001', 'item ' || g FROM generate_series(1, 1000) g;
INSERT INTO items_hand (tenant_id, name) SELECT 'b0000000-0000-4000-8000-000000000001', 'item ' || g FROM generate_series(1, 1000) g;
VACUUM ANALYZE items, items_hand;
SQL
work="$(mktemp -d)"
claims='{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "web_user", "aud": "authenticated", "email": "someone@example.com", "app_metadata": {"provider": "email", "tenant_id": "b0000000-0000-4000-8000-000000000001"}, "user_metadata": {}, "exp": 1999999999}'
cat >"$work/app_setting.sql" <<SQL
BEGIN;
SET LOCAL pg_tenant.context_source = 'app';
SET LOCAL pg_tenant.claims_tenant_path = 'app_metadata.tenant_id';
SELECT set_config('role', 'web_user', true), set_config('request.jwt.claims', '$claims', true), set_config('app.current_tenant', 'b0000000-0000-4000-8000-000000000001', true);
SELECT name FROM items WHERE id = 42;
INSERT INTO items (name) SELECT 'new' FROM generate_series(1, 10);
ROLLBACK;
SQL
cat >"$work/postgrest_claims.sql" <<SQL
BEGIN;
SET LOCAL pg_tenant.context_source = 'postgrest';
SET LOCAL pg_tenant.claims_tenant_path = 'app_metadata.tenant_id';
SELECT set_config('role', 'web_user', true), set_config('request.jwt.claims', '$claims', true);
SELECT name FROM items WHERE id = 42;
INSERT INTO items (name) SELECT 'new' FROM generate_series(1, 10);
ROLLBACK;
SQL
cat >"$work/hand_written.sql" <<SQL
BEGIN;
SET LOCAL pg_tenant.context_source = 'app';
SET LOCAL pg_tenant.claims_tenant_path = 'app_metadata.tenant_id';
SELECT set_config('role', 'web_user', true), set_config('request.jwt.claims', '$claims', true);
SELECT name FROM items_hand WHERE id = 42;
INSERT INTO items_hand (name) SELECT 'new' FROM generate_series(1, 10);
ROLLBACK;
SQL
# Every script connects as a superuser (the sources are superuser-only
# settings, set per transaction here as a DBA sets them per role), then
# switches to web_user as PostgREST's authenticator does: row-level security
# holds web_user back. Each script must work before it is measured.
for s in app_setting postgrest_claims hand_written; do
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -f "$work/$s.sql" >/dev/null \
    || { echo "claims_cost: $s.sql fails"; exit 1; }
done
bench_prewarm >/dev/null

printf 'round script tps ratio_to_app_setting\n' >"$out/rounds.txt"
for round in $(seq 1 "$ROUNDS"); do
  raw="$work/raw-$round.txt"
  ${PGBENCH_CPUS:+taskset -c "$PGBENCH_CPUS"} "$PG_BIN/pgbench" -n -r -c "$CLIENTS" -j "$CLIENTS" \
    -T "$SECONDS_PER_RUN" -f "$work/app_setting.sql@1" -f "$work/postgrest_claims.sql@1" -f "$work/hand_written.sql@1" postgres >"$raw" 2>&1
  awk -v round="$round" -v clients="$CLIENTS" '
    /^SQL script [0-9]+: / { s = $4; sub(/.*\//, "", s); sub(/\.sql$/, "", s) }
    /latency average = / && s != "" { tps[s] = clients * 1000 / $(NF - 1) }
    END { for (k in tps) printf "%s %s %.1f %.3f\n", round, k, tps[k], tps[k] / tps["app_setting"] }' "$raw" | sort >>"$out/rounds.txt"
done
# The cost of one read: current_tenant_id() called a million times in one
# statement (not as an InitPlan), with each source, five times each, interleaved.
for i in 1 2 3 4 5; do
  for src in app postgrest; do
    "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -v claims="$claims" -v src="$src" <<'SQL' | awk -v src="$src" '/^Time:/ { print src, $2 }' >>"$out/reads.txt"
BEGIN;
SET LOCAL pg_tenant.context_source = :'src';
SET LOCAL pg_tenant.claims_tenant_path = 'app_metadata.tenant_id';
SELECT set_config('request.jwt.claims', :'claims', true), set_config('app.current_tenant', CASE WHEN :'src' = 'app' THEN 'b0000000-0000-4000-8000-000000000001' ELSE '' END, true) \g /dev/null
SET LOCAL ROLE web_user;
\timing on
SELECT count(current_tenant_id()) FROM generate_series(1, 1000000) \g /dev/null
\timing off
COMMIT;
SQL
  done
done
python3 - "$out" <<'PY'
import statistics, sys
out = sys.argv[1]
rows = [l.split() for l in open(f"{out}/rounds.txt").read().splitlines()[1:]]
with open(f"{out}/report.md", "w") as f:
    f.write("# The tenant from request.jwt.claims against app.current_tenant (median over rounds)\n\n")
    f.write("One-row read plus a ten-row insert per transaction.\n\n")
    f.write("| script | TPS | ratio to app_setting |\n|---|---|---|\n")
    for s in ("app_setting", "postgrest_claims", "hand_written"):
        mine = [r for r in rows if r[1] == s]
        med = lambda i: statistics.median(float(r[i]) for r in mine)
        f.write(f"| {s} | {med(2):.0f} | {med(3):.3f} |\n")
    reads = [l.split() for l in open(f"{out}/reads.txt").read().splitlines()]
    per = {s: statistics.median(float(ms) for src, ms in reads if src == s) for s in ("app", "postgrest")}
    f.write("\nOne read of the tenant (current_tenant_id() called 1,000,000 times in one statement, median of 5):\n\n")
    f.write("| source | µs per read |\n|---|---|\n")
    for s in ("app", "postgrest"):
        f.write(f"| {s} | {per[s] / 1000:.3f} |\n")
print(open(f"{out}/report.md").read())
PY
cluster_stop
rm -rf "$work"
