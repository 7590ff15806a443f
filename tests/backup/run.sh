#!/usr/bin/env bash
# Backups as users take them, with this PostgreSQL major's pg_dump and
# pg_restore: each way either restores the database exactly (registry, data,
# counters; tenant_check clean; isolation as the application role) or fails
# loudly with a message that says what to do, and tenant_check notices what
# it left wrong. Runs against the cluster scripts/test.sh started
# (PGHOST/PGPORT set); fills its own database from tests/fixtures/workload.sql.
# Prints one `ok: ...` / `FAILED: ...` line per assertion.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
: "${PGPORT:?run from scripts/test.sh (a cluster must be running)}"

src=backup_src
work="$(mktemp -d "${TMPDIR:-/tmp}/pg_tenant-backup.XXXXXX")"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
source "$REPO_ROOT/tests/fixtures/lib.sh"

# A restore that must be exact: same rows, clean tenant_check, isolation.
exact() { # label database
  local before after p
  before="$(snapshot "$src")"; after="$(snapshot "$2")"
  if [ "$before" = "$after" ] && [ -n "$after" ]; then ok "$1: every registry row, data row and counter restored"
  else bad "$1: the restored rows differ" "$(diff <(echo "$before") <(echo "$after") | head -10)"; fi
  if p="$(check_clean "$2")"; then ok "$1: tenant_check clean"; else bad "$1: tenant_check reports" "$p"; fi
  if isolates "$2"; then ok "$1: the application role sees one tenant and cannot write into another"
  else bad "$1: isolation as app_role after the restore; it saw:" "$isolates_out"; fi
}
# A restore that must fail loudly: non-zero exit, a message saying what to
# do, and tenant_check reporting what it left wrong.
loud() { # label log-file expected-message database rc
  if [ "$5" -ne 0 ] && grep -qF "$3" "$2"; then ok "$1: fails loudly ($3)"
  else bad "$1: expected a failure saying \"$3\" (exit $5)" "$(grep -E 'ERROR|error' "$2" | head -5)"; fi
  if check_reports "$4"; then ok "$1: tenant_check reports what the failed restore left wrong"
  else bad "$1: tenant_check is clean although the restore failed"; fi
}

fixture_roles
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
DO $$ BEGIN
  -- A person who may act as the tables' owner, and a role made for backups.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'owner_login') THEN CREATE ROLE owner_login LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'backup') THEN CREATE ROLE backup LOGIN BYPASSRLS IN ROLE pg_read_all_data; END IF;
END $$;
SQL
fresh_db "$src"
load_workload "$src" "$work/fixture.log" || exit 1
"$PG_BIN/pg_dump" -Fc -f "$work/db.dump" "$src" || { echo "FAILED: pg_dump -Fc as the superuser"; exit 1; }

# 1. One pg_restore, serial.
fresh_db restored_serial
"$PG_BIN/pg_restore" -d restored_serial "$work/db.dump" >"$work/serial.log" 2>&1 \
  && ok "pg_restore (serial): no error" || bad "pg_restore (serial) reported errors" "$(head -5 "$work/serial.log")"
exact "pg_restore (serial)" restored_serial

# 2. pg_restore --jobs loads the registry tables in any order (PostgreSQL
#    does not record their order as dependencies): loud, with the way out.
#    Should the workers happen to load them in order, the restore must then
#    be exact.
fresh_db restored_jobs
"$PG_BIN/pg_restore" -j 2 -d restored_jobs "$work/db.dump" >"$work/jobs.log" 2>&1; rc=$?
if [ "$rc" -eq 0 ]; then exact "pg_restore -j 2 (loaded in order this time)" restored_jobs
else loud "pg_restore -j 2" "$work/jobs.log" "restore the tenant schema's data first, without --jobs" restored_jobs "$rc"; fi

# 3. The README's parallel restore: schema, the registry's data alone, the
#    rest of the data and the post-data items with --jobs.
fresh_db restored_parallel
{ "$PG_BIN/pg_restore" -d restored_parallel --section=pre-data "$work/db.dump" \
  && "$PG_BIN/pg_restore" -d restored_parallel --section=data --schema=tenant "$work/db.dump" \
  && "$PG_BIN/pg_restore" -d restored_parallel --section=data --exclude-schema=tenant -j 2 "$work/db.dump" \
  && "$PG_BIN/pg_restore" -d restored_parallel --section=post-data -j 2 "$work/db.dump"; } >"$work/parallel.log" 2>&1 \
  && ok "README parallel restore: no error" || bad "README parallel restore reported errors" "$(head -5 "$work/parallel.log")"
exact "README parallel restore" restored_parallel

# 4. --schema-only, then --data-only: the tenant-scoped tables' data comes
#    before the registry's, into tables whose triggers and foreign keys exist.
fresh_db restored_data_only
"$PG_BIN/pg_restore" -d restored_data_only --schema-only "$work/db.dump" >"$work/schema.log" 2>&1
"$PG_BIN/pg_restore" -d restored_data_only --data-only "$work/db.dump" >"$work/data_only.log" 2>&1; rc=$?
loud "--schema-only then --data-only" "$work/data_only.log" "A --data-only restore loads tenant-scoped tables before pg_tenant's registry" restored_data_only "$rc"

# 5. ... with --disable-triggers: the registry's triggers stay on (refused,
#    loudly), so its data loads with them and the result is whole.
fresh_db restored_disable_triggers
"$PG_BIN/pg_restore" -d restored_disable_triggers --schema-only "$work/db.dump" >"$work/schema2.log" 2>&1
"$PG_BIN/pg_restore" -d restored_disable_triggers --data-only --disable-triggers "$work/db.dump" >"$work/disable.log" 2>&1; rc=$?
if [ "$rc" -ne 0 ] && grep -qF "registry table tenant.plans cannot be disabled" "$work/disable.log"; then
  ok "--data-only --disable-triggers: refusing to disable the registry's triggers, loudly"
else bad "--data-only --disable-triggers: expected the registry's triggers to be kept, loudly (exit $rc)"; fi
exact "--data-only --disable-triggers" restored_disable_triggers

# 6. The tables' owner (not a superuser) cannot dump them: RLS is forced on
#    them and on the registry. Loud both ways, never an empty dump.
#    (owner_login is a member of owner_role only meanwhile: tenant_check
#    rightly warns about a login role that owns tenant-scoped tables.)
q postgres "GRANT owner_role TO owner_login"
"$PG_BIN/pg_dump" -U owner_login --role=owner_role -Fc -f "$work/owner.dump" "$src" >"$work/owner.log" 2>&1; rc=$?
if [ "$rc" -ne 0 ] && grep -q "row-level security" "$work/owner.log"; then ok "pg_dump as the tables' owner: refused by PostgreSQL (row-level security)"
else bad "pg_dump as the tables' owner should fail (exit $rc)" "$(head -3 "$work/owner.log")"; fi
"$PG_BIN/pg_dump" -U owner_login --role=owner_role --enable-row-security -Fc -f "$work/owner_rls.dump" "$src" >"$work/owner_rls.log" 2>&1; rc=$?
if [ "$rc" -ne 0 ] && grep -qF "the dump would hold none of them" "$work/owner_rls.log"; then ok "pg_dump --enable-row-security as the owner: refused by pg_tenant, not an empty dump"
else bad "pg_dump --enable-row-security as the owner should fail loudly (exit $rc)" "$(head -3 "$work/owner_rls.log")"; fi

q postgres "REVOKE owner_role FROM owner_login"

# 7. The README's backup role (BYPASSRLS, pg_read_all_data) dumps everything.
"$PG_BIN/pg_dump" -U backup -Fc -f "$work/backup.dump" "$src" >"$work/backup.log" 2>&1 \
  && ok "pg_dump as the backup role" || bad "pg_dump as the backup role" "$(head -3 "$work/backup.log")"
fresh_db restored_backup_role
"$PG_BIN/pg_restore" -d restored_backup_role "$work/backup.dump" >"$work/backup_restore.log" 2>&1 \
  && ok "pg_restore of the backup role's dump: no error" || bad "pg_restore of the backup role's dump" "$(head -5 "$work/backup_restore.log")"
exact "backup role's dump" restored_backup_role

for db in "$src" restored_serial restored_jobs restored_parallel restored_data_only restored_disable_triggers restored_backup_role; do
  "$PG_BIN/dropdb" --if-exists "$db"
done
exit "$fail"
