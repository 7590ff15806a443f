#!/usr/bin/env bash
# A Better Tenant app (npm @usebetterdev/tenant 0.5.4, drizzle-orm 0.45.4,
# pg 8.23.1, pinned in package.json with a lockfile) against pg_tenant, on a
# throwaway cluster (scripts/lib/common.sh, PG_MAJOR as scripts/test.sh sets
# it). One `ok: ` or `FAILED: ` line per check; exits non-zero when one failed.
#
#   1. Migrations with drizzle-kit 0.31.11 as the migration role `migrator`
#      (owns the tables; neither superuser nor tenant_admin): 0000 is
#      drizzle's CREATE TABLE of schema/app.js, 0001 a custom migration with
#      tenant_enable_script's output. `public.tenants` (where Better Tenant
#      looks for its tenants) is a view over tenant.directory that the DBA
#      created with the extension (an operator must own it).
#   2. app.mjs: Better Tenant's own code with two pools (docs/better-tenant.md):
#      the request role bt_app (ordinary, granted tenant_directory) for runAs,
#      resolveTenant, handleRequest and loadTenant; the system login role
#      bt_system (NOINHERIT), whose pool's sessions act as bt_system_bypass
#      (tenant_bypass, tenant_admin), for runAsSystem and tenant.api.
#   3. The migration guide docs/better-tenant.md: each of its ```sql blocks
#      runs, in order, in a fresh database (as the superuser, psql with
#      ON_ERROR_STOP); each ```js block is a verbatim part of app.mjs, run in 2.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
cd "$REPO_ROOT"
[ -n "${PG_MAJOR:-}" ] && use_pg "$PG_MAJOR"

BT="$REPO_ROOT/tests/better_tenant"
WORK="$BT/work" # generated migrations and drizzle-kit's output (untracked)
(cd "$BT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
rm -rf "$WORK" && mkdir -p "$WORK"
cluster_start
trap cluster_stop EXIT

psql_() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
failed=0
pass() { echo "ok: $1"; }
fail() { echo "FAILED: $1"; shift; local l; for l in "$@"; do printf '      %s\n' "$l"; done; failed=1; }

"$PG_BIN/createdb" bt
psql_ -d bt >/dev/null <<'SQL'
CREATE EXTENSION pg_tenant;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'migrator') THEN CREATE ROLE migrator LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bt_app') THEN CREATE ROLE bt_app LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bt_system') THEN CREATE ROLE bt_system LOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bt_system_bypass') THEN CREATE ROLE bt_system_bypass; END IF;
END $$;
GRANT tenant_directory TO bt_app;
-- The system login role holds the bypass only after SET ROLE bt_system_bypass
-- (its pool sets the role for every session): one set_config is not enough.
GRANT tenant_bypass, tenant_admin TO bt_system_bypass;
GRANT bt_system_bypass TO bt_system;
-- Better Tenant's runAsSystem sets app.bypass_rls but no reason: the system
-- login role carries a standing one, recorded with every use in
-- tenant.bypass_log.
ALTER ROLE bt_system SET app.bypass_reason = 'Better Tenant runAsSystem (system pool)';
GRANT CREATE ON DATABASE bt TO migrator;
GRANT CREATE ON SCHEMA public TO migrator;
ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO bt_app, bt_system_bypass;
-- Where Better Tenant looks for its tenants, created once by the DBA: the
-- alias reaches tenant.directory with its owner's grants, so an operator or
-- the superuser owns it; the request role may read it, the system role write.
CREATE VIEW public.tenants AS SELECT * FROM tenant.directory;
GRANT SELECT ON public.tenants TO bt_app, bt_system_bypass;
GRANT INSERT, UPDATE, DELETE ON public.tenants TO bt_system_bypass;
SQL

# kit NAME ARGS...: drizzle-kit as the migrator, migrations in work/migrations.
kit() {
  local name=$1
  shift
  (cd "$BT" && DATABASE_URL="postgresql://migrator@127.0.0.1:$PGPORT/bt" DRIZZLE_OUT="work/migrations" \
    timeout 90 node_modules/.bin/drizzle-kit "$@" </dev/null >"$WORK/$name.out" 2>&1) \
    || { fail "drizzle-kit $*" "$(tail -5 "$WORK/$name.out")"; return 1; }
}
kit generate generate --name app && kit migrate migrate && kit custom generate --custom --name pg_tenant || exit 1
custom=$(ls "$WORK"/migrations/*_pg_tenant.sql)
psql_ -U migrator -h 127.0.0.1 -d bt -c "SELECT tenant_enable_script('public.projects')" >"$custom"
kit migrate2 migrate || exit 1
scoped=$(psql_ -d bt -c "SELECT EXISTS (SELECT FROM tenant.tables WHERE relid = 'public.projects'::regclass)
                                 AND (SELECT relkind FROM pg_class WHERE oid = 'public.tenants'::regclass) = 'v'")
if [ "$scoped" = "t" ]; then pass "drizzle-kit migrate: projects tenant-scoped, public.tenants a view over tenant.directory"
else fail "drizzle-kit migrate: projects tenant-scoped, public.tenants a view over tenant.directory" "got $scoped"; fi

url() { echo "postgresql://$1@127.0.0.1:$PGPORT/bt"; }
(cd "$BT" && REQUEST_URL="$(url bt_app)" SYSTEM_URL="$(url bt_system)" ADMIN_URL="$(url postgres)" \
  timeout 120 node app.mjs) || failed=1

"$PG_BIN/createdb" guide
python3 - "$REPO_ROOT/docs/better-tenant.md" "$WORK/guide" <<'PY'
import re, sys, pathlib
text = pathlib.Path(sys.argv[1]).read_text()
out = pathlib.Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
for i, (lang, body) in enumerate(re.findall(r"^```(sql|js)\n(.*?)^```", text, re.S | re.M), 1):
    (out / f"{i:02d}.{lang}").write_text(body)
PY
for block in "$WORK"/guide/*; do
  n=$(basename "$block")
  case "$n" in
    *.sql)
      if "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d guide -f "$block" >"$block.out" 2>&1; then
        pass "docs/better-tenant.md SQL block $n runs"
      else
        fail "docs/better-tenant.md SQL block $n runs" "$(tail -3 "$block.out")"
      fi ;;
    *.js)
      if python3 -c 'import sys; sys.exit(open(sys.argv[1]).read() not in open(sys.argv[2]).read())' "$block" "$BT/app.mjs"; then
        pass "docs/better-tenant.md JavaScript block $n is part of app.mjs"
      else
        fail "docs/better-tenant.md JavaScript block $n is part of app.mjs"
      fi ;;
  esac
done
count=$(ls "$WORK"/guide/*.sql | wc -l)
if [ "$count" -ge 8 ]; then pass "docs/better-tenant.md: $count SQL blocks found"; else fail "docs/better-tenant.md: SQL blocks found" "only $count"; fi
exit $failed
