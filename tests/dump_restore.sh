#!/usr/bin/env bash
# pg_dump keeps pg_tenant's registry rows (extension configuration tables) and a
# restore gives back a working, isolated setup. Runs against the cluster that
# scripts/test.sh started (PGHOST/PGPORT set), after the golden SQL tests filled
# the database pg_tenant_regress.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"

src=pg_tenant_regress
dst=pg_tenant_restored
q() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# An edited default plan and a plan of the operators' own must both survive.
q "$src" "UPDATE tenant.plans SET max_members = 30 WHERE id = 'pro'"
q "$src" "INSERT INTO tenant.plans (id, name, max_members) VALUES ('custom', 'Custom', 7)"
q "$src" "SELECT tenant_plan_quota_set('custom', 'projects', 50)"

"$PG_BIN/createdb" "$dst"
"$PG_BIN/pg_dump" "$src" >"$CLUSTER_DIR/dump.sql"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$dst" -f "$CLUSTER_DIR/dump.sql" >/dev/null

fail=0
same() { # description query
  local a b
  a="$(q "$src" "$2")"; b="$(q "$dst" "$2")"
  if [ "$a" = "$b" ] && [ -n "$a" ]; then
    echo "ok: $1"
  else
    echo "FAILED: $1"; echo "  before: $a"; echo "  after:  $b"; fail=1
  fi
}
same "tenants kept" "SELECT string_agg(id || ' ' || slug || ' ' || status, ', ' ORDER BY slug) FROM tenant.tenants"
same "tenant-scoped tables kept" "SELECT string_agg(relid::text, ', ' ORDER BY relid::text) FROM tenant.tables"
same "policies restored" "SELECT string_agg(polrelid::regclass || '.' || polname, ', ' ORDER BY polrelid::regclass::text, polname) FROM pg_policy"
same "RLS forced on the same tables" "SELECT string_agg(oid::regclass::text, ', ' ORDER BY oid::regclass::text) FROM pg_class WHERE relforcerowsecurity"
same "members kept" "SELECT string_agg(tenant_id || ':' || user_id || ':' || role, ', ' ORDER BY tenant_id, user_id) FROM tenant.members"
same "domains kept (with tokens)" "SELECT string_agg(domain || ':' || verification_token || ':' || is_primary, ', ' ORDER BY domain) FROM tenant.domains"
same "settings kept" "SELECT string_agg(tenant_id || ':' || key || '=' || value, ', ' ORDER BY tenant_id, key) FROM tenant.settings"
same "data kept" "SELECT count(*) || ' rows' FROM projects"
same "plans kept, edited defaults included" "SELECT string_agg(id || ':' || name || ':' || coalesce(max_members::text, '-'), ', ' ORDER BY id) FROM tenant.plans"
same "plan row limits kept" "SELECT string_agg(plan_id || ':' || relid::text || ':' || max_rows, ', ') FROM tenant.plan_row_limits"
same "usage counters kept" "SELECT string_agg(tenant_id || ':' || relid::text || ':' || row_count || ':' || bytes, ', ' ORDER BY tenant_id, relid::text) FROM tenant.usage_by_table"
same "usage totals kept" "SELECT string_agg(tenant_id || ':' || members || ':' || storage_bytes, ', ' ORDER BY tenant_id) FROM tenant.usage_totals"
drift="$(q "$dst" "SELECT count(*) FROM tenant_usage_reconcile()")"
if [ "$drift" = "0" ]; then echo "ok: restored counters match the restored rows"; else echo "FAILED: $drift counters drifted in the restore"; fail=1; fi

# The restored copy still isolates: app_user sees one tenant's rows only.
iso="$("$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -U app_user -d "$dst" <<'SQL'
BEGIN;
SELECT act_as('globex') \g /dev/null
SELECT string_agg(name, ', ' ORDER BY name) FROM projects;
COMMIT;
SQL
)"
if [ "$iso" = "Doomsday device" ]; then echo "ok: restored database isolates tenants"; else echo "FAILED: isolation after restore: $iso"; fail=1; fi

"$PG_BIN/dropdb" "$dst"
exit "$fail"
