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
