#!/usr/bin/env bash
# Moving one tenant (tenant_export / tenant_import), as an operator does it
# with psql's \copy: between two databases, and back from a full backup into
# a database whose other tenants went on writing. Each way must give the
# tenant exactly its rows (registry rows, data rows, counters), equal
# per-table digests on both sides, no correction for tenant_usage_reconcile,
# a clean tenant_check, and isolation as the application role; a cut-off or
# edited export must fail and change nothing. Runs against the cluster
# scripts/test.sh started (PGHOST/PGPORT set); fills its databases from
# tests/fixtures/workload.sql. Prints one `ok: ...` / `FAILED: ...` line per
# assertion.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
: "${PGPORT:?run from scripts/test.sh (a cluster must be running)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/pg_tenant-transfer.XXXXXX")"
chmod 777 "$work"
trap 'rm -rf "$work"' EXIT
source "$REPO_ROOT/tests/fixtures/lib.sh"

# Everything of one tenant, as one text: its registry rows and counters and
# its data rows (read as the superuser), the tenant's id left out so that a
# copy under a new id compares equal.
tenant_rows() { # database tenant-id
  q "$1" "SELECT string_agg(t, E'\n' ORDER BY t) FROM (
      SELECT 'tenants ' || (to_jsonb(r) - 'id')::text AS t FROM tenant.tenants r WHERE id = '$2' UNION ALL
      SELECT 'members ' || (to_jsonb(r) - 'tenant_id')::text FROM tenant.members r WHERE tenant_id = '$2' UNION ALL
      SELECT 'domains ' || (to_jsonb(r) - 'tenant_id')::text FROM tenant.domains r WHERE tenant_id = '$2' UNION ALL
      SELECT 'settings ' || (to_jsonb(r) - 'tenant_id')::text FROM tenant.settings r WHERE tenant_id = '$2' UNION ALL
      SELECT 'row_limits ' || (to_jsonb(r) - 'tenant_id')::text FROM tenant.row_limits r WHERE tenant_id = '$2' UNION ALL
      SELECT 'usage_totals ' || (to_jsonb(r) - 'tenant_id')::text FROM tenant.usage_totals r WHERE tenant_id = '$2' UNION ALL
      SELECT 'usage_by_table ' || (to_jsonb(r) - 'tenant_id')::text FROM tenant.usage_by_table r WHERE tenant_id = '$2' UNION ALL
      SELECT 'usage ' || (to_jsonb(r) - 'tenant_id')::text FROM tenant.usage r WHERE tenant_id = '$2' UNION ALL
      SELECT 'projects ' || (to_jsonb(r) - 'tenant_id')::text FROM projects r WHERE tenant_id = '$2' UNION ALL
      SELECT tableoid::regclass::text || ' ' || (to_jsonb(r) - 'tenant_id')::text FROM events r WHERE tenant_id = '$2') s"
}
# Everything of every other tenant: must not change when one is moved.
others_rows() { # database tenant-id
  q "$1" "SELECT string_agg(t, E'\n' ORDER BY t) FROM (
      SELECT 'tenants ' || r::text AS t FROM tenant.tenants r WHERE id <> '$2' UNION ALL
      SELECT 'members ' || r::text FROM tenant.members r WHERE tenant_id <> '$2' UNION ALL
      SELECT 'usage_totals ' || r::text FROM tenant.usage_totals r WHERE tenant_id <> '$2' UNION ALL
      SELECT 'usage_by_table ' || r::text FROM tenant.usage_by_table r WHERE tenant_id <> '$2' UNION ALL
      SELECT 'projects ' || r::text FROM projects r WHERE tenant_id <> '$2' UNION ALL
      SELECT 'events ' || r::text FROM events r WHERE tenant_id <> '$2') s"
}
# The export's own digests (its end row), without the tenant's id.
digests() { # file
  python3 -c 'import sys, json
for line in open(sys.argv[1]):
    seq, kind, rel, data = line.rstrip("\n").split("\t")
    if kind == "end":
        d = json.loads(data.replace("\\\\", "\\"))
        for t in d["tables"]: print(t["relation"], t["rows"], t["sha256"])' "$1"
}
# Runs SQL as owner_role, the tables' owner and a tenant_admin member (not
# a superuser): the operator who moves tenants.
as_operator() { # database sql...
  local db="$1" args=() sql
  shift
  for sql in "$@"; do args+=(-c "$sql"); done
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "SET ROLE owner_role" "${args[@]}"
}
export_to() { # database tenant file
  as_operator "$1" "\\copy (SELECT * FROM tenant_export('$2')) TO '$3'"
}
# Loads an export file into a staging table of the database and imports it.
import_from() { # database file [extra tenant_import arguments]
  as_operator "$1" "DROP TABLE IF EXISTS staged_export" >/dev/null &&
  as_operator "$1" "CREATE TABLE staged_export (seq bigint PRIMARY KEY, kind text, relation text, data jsonb)" &&
  as_operator "$1" "\\copy staged_export FROM '$2'" >/dev/null &&
  as_operator "$1" "SELECT relation || ' ' || rows_imported FROM tenant_import('staged_export'${3:+, $3})"
}
# What the application role sees of projects with the tenant set.
sees() { # database tenant
  "$PG_BIN/psql" -X -q -At -U app_role -d "$1" 2>&1 <<SQL | tail -1
BEGIN;
SELECT tenant_set('$2') \g /dev/null
SELECT string_agg(name, ', ' ORDER BY name) FROM projects;
COMMIT;
SQL
}
reconciled() { # database tenant
  [ "$(as_operator "$1" "SELECT count(*) FROM tenant_usage_reconcile('$2')")" = 0 ]
}

acme=aaaaaaaa-0000-4000-8000-000000000001
initech=cccccccc-0000-4000-8000-000000000003

fixture_roles
fresh_db transfer_src
load_workload transfer_src "$work/src.log" || exit 1
fresh_db transfer_dst
load_workload transfer_dst "$work/dst.log" || exit 1

# 1. Moving acme to another database, where it is not yet (the copy there
#    is purged first: the destination's other tenants stay).
as_operator transfer_dst "SELECT count(*) FROM tenant_purge('acme', force => true)" >/dev/null
dst_others_before="$(others_rows transfer_dst $acme)"
export_to transfer_src acme "$work/acme.export" && ok "tenant_export as the operator (\\copy to a file)" \
  || bad "tenant_export as the operator failed"
if out="$(import_from transfer_dst "$work/acme.export" 2>&1)"; then ok "tenant_import into another database"
else bad "tenant_import into another database failed" "$out"; fi
if [ "$(tenant_rows transfer_src $acme)" = "$(tenant_rows transfer_dst $acme)" ] && [ -n "$(tenant_rows transfer_dst $acme)" ]; then
  ok "moved: every registry row, data row (partitions included) and usage counter of acme equal in both databases"
else bad "moved: acme differs between the databases" "$(diff <(tenant_rows transfer_src $acme) <(tenant_rows transfer_dst $acme) | head -10)"; fi
[ "$dst_others_before" = "$(others_rows transfer_dst $acme)" ] && ok "moved: the destination's other tenants are untouched" \
  || bad "moved: the destination's other tenants changed"
reconciled transfer_dst acme && ok "moved: tenant_usage_reconcile finds nothing to correct" \
  || bad "moved: tenant_usage_reconcile corrected counters" "$(as_operator transfer_dst "SELECT * FROM tenant_usage_reconcile('acme')")"
export_to transfer_dst acme "$work/acme-back.export"
if [ "$(digests "$work/acme.export")" = "$(digests "$work/acme-back.export")" ] && [ -n "$(digests "$work/acme.export")" ]; then
  ok "moved: the export of the moved tenant has the same per-table digests as the original's"
else bad "moved: per-table digests differ" "$(diff <(digests "$work/acme.export") <(digests "$work/acme-back.export") | head)"; fi
if p="$(check_clean transfer_dst)"; then ok "moved: tenant_check clean"; else bad "moved: tenant_check reports" "$p"; fi

# 2. A suspended tenant moves suspended, under a new id and slug; the
#    application role sees its rows once it is activated, and only those.
export_to transfer_src initech "$work/initech.export"
new_id=eeeeeeee-0000-4000-8000-00000000000e
if out="$(import_from transfer_dst "$work/initech.export" "id => '$new_id', slug => 'initech-eu'" 2>&1)"; then
  ok "tenant_import under a new id and slug"
else bad "tenant_import under a new id and slug failed" "$out"; fi
[ "$(q transfer_dst "SELECT slug || ' ' || status FROM tenant.tenants WHERE id = '$new_id'")" = "initech-eu suspended" ] \
  && ok "new id: the tenant keeps its status (suspended) under its new slug" || bad "new id: wrong tenant row"
[ "$(tenant_rows transfer_src $initech | sed 's/"slug": "initech"/"slug": "initech-eu"/')" = "$(tenant_rows transfer_dst $new_id)" ] \
  && ok "new id: every row of the tenant, tenant_id remapped" \
  || bad "new id: rows differ" "$(diff <(tenant_rows transfer_src $initech) <(tenant_rows transfer_dst $new_id) | head)"
as_operator transfer_dst "SELECT tenant_activate('initech-eu')" >/dev/null
seen="$(sees transfer_dst initech-eu)"
[ "$seen" = "TPS reports" ] && ok "new id: the application role sees the imported rows of its tenant only" \
  || bad "new id: the application role saw" "$seen"

# 3. Refusals change nothing: the id or slug taken, a cut-off export, an
#    edited row.
count_all() { q transfer_dst "SELECT (SELECT count(*) FROM tenant.tenants) || '/' || (SELECT count(*) FROM projects) || '/' || (SELECT count(*) FROM tenant.members)"; }
before="$(count_all)"
out="$(import_from transfer_dst "$work/acme.export" 2>&1)"
grep -q "a tenant with id $acme already exists" <<<"$out" && ok "refused: the id is taken" || bad "refused: taken id" "$out"
out="$(import_from transfer_dst "$work/acme.export" "id => gen_random_uuid()" 2>&1)"
grep -q 'a tenant with slug "acme" already exists' <<<"$out" && ok "refused: the slug is taken" || bad "refused: taken slug" "$out"
out="$(import_from transfer_dst "$work/acme.export" "id => gen_random_uuid(), slug => 'acme-copy'" 2>&1)"
grep -q 'Key (domain)=(acme.example) already exists' <<<"$out" && ok "refused: a domain another tenant holds" \
  || bad "refused: taken domain" "$out"
head -n -1 "$work/initech.export" >"$work/cut.export"
out="$(import_from transfer_dst "$work/cut.export" "id => gen_random_uuid(), slug => 'initech-cut'" 2>&1)"
grep -q "is not a whole pg_tenant export: it has no end row" <<<"$out" && ok "refused: an export cut off before its end" \
  || bad "refused: cut-off export" "$out"
sed 's/TPS reports/TPS memos/' "$work/initech.export" >"$work/edited.export"
out="$(import_from transfer_dst "$work/edited.export" "id => gen_random_uuid(), slug => 'initech-edited'" 2>&1)"
grep -q "its rows do not match its end row (public.projects has 1 row(s)" <<<"$out" && ok "refused: an edited row (digest differs)" \
  || bad "refused: edited export" "$out"
[ "$before" = "$(count_all)" ] && ok "refused imports changed nothing" || bad "a refused import left rows behind"

# 4. One tenant restored from last night's full backup into production,
#    where the other tenants kept writing: the tenant is purged and imported
#    in one transaction, nobody else is reverted.
"$PG_BIN/pg_dump" -Fc -f "$work/nightly.dump" transfer_src || bad "pg_dump failed"
acme_at_backup="$(tenant_rows transfer_src $acme)"
"$PG_BIN/psql" -X -q -At -U app_role -d transfer_src >/dev/null 2>&1 <<'SQL'
BEGIN; SELECT tenant_set('acme'); DELETE FROM projects; DELETE FROM events; COMMIT;
BEGIN; SELECT tenant_set('globex'); INSERT INTO projects (name) VALUES ('Written after the backup'); COMMIT;
SQL
others_before="$(others_rows transfer_src $acme)"
fresh_db transfer_scratch
"$PG_BIN/pg_restore" -d transfer_scratch "$work/nightly.dump" >"$work/restore.log" 2>&1 || bad "pg_restore into a scratch database" "$(head -5 "$work/restore.log")"
export_to transfer_scratch acme "$work/acme-nightly.export"
as_operator transfer_src "CREATE TABLE staged_export (seq bigint PRIMARY KEY, kind text, relation text, data jsonb)"
as_operator transfer_src "\\copy staged_export FROM '$work/acme-nightly.export'" >/dev/null
if out="$(as_operator transfer_src "BEGIN" "SELECT count(*) FROM tenant_purge('acme', force => true)" \
          "SELECT count(*) FROM tenant_import('staged_export')" "COMMIT" 2>&1)"; then
  ok "restore: tenant_purge and tenant_import in one transaction"
else bad "restore: purge + import failed" "$out"; fi
[ "$acme_at_backup" = "$(tenant_rows transfer_src $acme)" ] && ok "restore: acme is back as it was at the backup" \
  || bad "restore: acme differs from the backup" "$(diff <(echo "$acme_at_backup") <(tenant_rows transfer_src $acme) | head)"
[ "$others_before" = "$(others_rows transfer_src $acme)" ] && grep -q "Written after the backup" <<<"$others_before" \
  && ok "restore: the other tenants keep what they wrote after the backup" || bad "restore: other tenants changed"
reconciled transfer_src acme && ok "restore: tenant_usage_reconcile finds nothing to correct" || bad "restore: counters were wrong"
[ "$(q transfer_src "SELECT count(*) FROM tenant.erasures WHERE tenant_id = '$acme'")" = 1 ] \
  && ok "restore: the replaced data is recorded in tenant.erasures" || bad "restore: no erasure record"
if p="$(check_clean transfer_src)"; then ok "restore: tenant_check clean"; else bad "restore: tenant_check reports" "$p"; fi
seen="$(sees transfer_src acme)"
[ "$seen" = "Dehydrated boulders, Giant magnet, Rocket skates" ] \
  && ok "restore: the application role sees the restored rows of its tenant only" || bad "restore: the application role saw" "$seen"

for db in transfer_src transfer_dst transfer_scratch; do "$PG_BIN/dropdb" --if-exists "$db"; done
exit $fail
