#!/usr/bin/env bash
# pg_tenant's DDL guard against a real migration tool: drizzle-kit (npm, pinned
# in package.json) push and migrate, run as a migration role `migrator` that
# owns the tables and is neither superuser nor tenant_admin, on a throwaway
# cluster (scripts/lib/common.sh, PG_MAJOR as scripts/test.sh sets it). Each
# check prints one `ok: ` or `FAILED: ` line; indented lines show the SQL
# drizzle-kit wrote or tried. Exits non-zero when a check failed.
#
#   1. generate + migrate: migration 0000 is drizzle's CREATE TABLEs, 0001 a
#      custom migration holding tenant_enable_script's output; isolation holds
#      for the ordinary role `app`. With pg_tenant.auto_enable on for the
#      database, 0000 alone makes the tables tenant-scoped.
#   2. push with a schema that declares no RLS (schema/v1.js). What drizzle-kit
#      0.31.11 tries (the first two first; the order of the others varies),
#      each statement autocommitted on its own:
#        ALTER TABLE "projects" DISABLE ROW LEVEL SECURITY;
#        ALTER TABLE "tasks" DISABLE ROW LEVEL SECURITY;
#        ALTER TABLE "tasks" DROP CONSTRAINT "tasks_tenant_id_fkey";
#        ALTER TABLE "projects" DROP CONSTRAINT "projects_tenant_id_fkey";
#        DROP INDEX "tasks_tenant_id_idx";
#        DROP POLICY "tenant_isolation" ON "tasks" CASCADE;   (and tenant_bypass,
#        and both on "projects")
#      The guard refuses the first (55000) and push stops there: nothing else
#      reaches the server. Each statement is also tried alone (rolled back):
#      all but DROP INDEX are refused (an index is not isolation; tenant_check
#      warns `tenant_index`). drizzle-kit push prints the error and exits 0.
#   3. Later generated migrations: ADD COLUMN + CREATE INDEX applies; DROP NOT
#      NULL, SET DATA TYPE text and DROP COLUMN of tasks.tenant_id are refused
#      and, since drizzle-kit migrate runs the pending migrations in one
#      transaction, change nothing (the DROP CONSTRAINT drizzle puts before the
#      DROP COLUMN is rolled back with it). drizzle-kit migrate exits 1 without
#      printing the error: the guard's message is read from the server log.
#   4. The configuration with which push coexists: declare what tenant_enable
#      creates (schema/pg_tenant*.js: the foreign key to tenant.tenants, its
#      index where tenant_enable made one, policies tenant_isolation and
#      tenant_bypass; pgRole("tenant_bypass").existing()). push compares
#      policies by name, AS, FOR and TO only (never USING / WITH CHECK) and
#      knows nothing of FORCE or triggers, so it then finds no change, and
#      applies ordinary ones. For generate, the migration that introduces those
#      declarations gets tenant_enable_script's output instead of drizzle's SQL
#      (drizzle's own would CREATE POLICY again and add a foreign key the
#      migrator may not reference); later migrations are the ordinary ones.
#      A push-only database with auto_enable: the first push creates the
#      tables (made tenant-scoped by their CREATE TABLE) and stops at its ADD
#      CONSTRAINT "projects_tenant_id_fkey" (42710, tenant_enable made it); the
#      second adds the rest, the third finds no change.
#   5. A new permissive policy (schema/pg_tenant_read_all.js, USING (true)):
#      the guard lets it through with a WARNING, as documented, and drizzle-kit
#      prints none of the server's notices or warnings. push leaves out USING
#      (CREATE POLICY ... FOR SELECT TO public;), a policy that admits no row;
#      generate + migrate keep USING (true), and every tenant reads every
#      project; tenant_check reports widening_policy.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
cd "$REPO_ROOT"
[ -n "${PG_MAJOR:-}" ] && use_pg "$PG_MAJOR"

DZ="$REPO_ROOT/tests/drizzle"
WORK="$DZ/work" # generated migrations and drizzle-kit's output (untracked)
(cd "$DZ" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
rm -rf "$WORK" && mkdir -p "$WORK"

# log_statement=ddl: the server log shows every DDL statement drizzle-kit sent
# (and %e the SQLSTATE of a refusal, which drizzle-kit migrate does not print).
CLUSTER_OPTS="-c shared_preload_libraries=pg_tenant -c log_statement=ddl -c log_line_prefix='%m [%p] %e '" cluster_start
LOG="$CLUSTER_DIR/server.log"

psql_() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
su_sql() { psql_ -d "$1" -c "$2"; }                # as the superuser postgres
mig_sql() { psql_ -U migrator -d "$1" -c "$2"; }   # as the migration role
app_sql() { # db tenant-id sql: as the application role, the tenant named for one transaction
  psql_ -U app -d "$1" -v t="$2" 2>&1 <<SQL
BEGIN;
\o /dev/null
SELECT set_config('app.current_tenant', :'t', true);
\o
$3;
COMMIT;
SQL
}

failed=0
pass() { echo "ok: $1"; }
fail() { echo "FAILED: $1"; shift; local l; for l in "$@"; do printf '      %s\n' "$l"; done; failed=1; }
expect() { # description expected actual
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected: $2" "got:      $3"; fi
}
show() { # title file: SQL drizzle-kit wrote or tried, indented under the checks
  echo "   -- $1"
  { cat "$2"; echo; } | sed -e '/^[[:space:]]*$/d' -e 's/^/      /' # the files may lack a final newline
}
log_mark() { LOG_AT=$(stat -c %s "$LOG"); }
log_since() { tail -c +$((LOG_AT + 1)) "$LOG"; }
# The DDL statements the server received since log_mark, one per line.
ddl_since() { log_since | sed -n 's/^.* LOG:  statement: //p'; }

# kit NAME DB SCHEMA OUT ARGS...: drizzle-kit as the migrator role, with
# schema/SCHEMA.js and migrations folder work/OUT; its output goes to
# work/NAME.out and .err, its exit status to KIT_RC. Never waits on a prompt.
kit() {
  local name=$1 db=$2 schema=$3 out=$4
  shift 4
  KIT_RC=0
  (cd "$DZ" && DATABASE_URL="postgresql://migrator@127.0.0.1:$PGPORT/$db" \
    DRIZZLE_SCHEMA="schema/$schema.js" DRIZZLE_OUT="work/$out" \
    timeout 90 node_modules/.bin/drizzle-kit "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.err") || KIT_RC=$?
  sed -i 's/\x1b\[[0-9;]*[A-Za-z]//g' "$WORK/$name.out" "$WORK/$name.err"
}
# The statements `drizzle-kit push --verbose` listed, one per line, into work/NAME.sql.
push_statements() {
  python3 - "$WORK/$1.out" >"$WORK/$1.sql" <<'PY'
import sys
parts = open(sys.argv[1]).read().split("You are about to execute current statements:", 1)
lines = []
for line in (parts[1].splitlines() if len(parts) == 2 else []):
    if line.startswith("["):  # [✓] Changes applied
        break
    if line.strip() not in ("", "--> statement-breakpoint"):
        lines.append(line.strip())
stmt = []
for line in lines:
    stmt.append(line)
    if line.endswith(";"):
        print(" ".join(stmt))
        stmt = []
PY
}
# The newest migration file of a migrations folder.
newest() { ls "$WORK/$1"/*.sql | sort | tail -1; }

# A database with pg_tenant, two tenants, and the migrator's privileges: CREATE
# on schema public, and CREATE on the database because drizzle-kit migrate runs
# CREATE SCHEMA IF NOT EXISTS "drizzle" (PostgreSQL checks the privilege even
# when the schema exists). Tables the migrator creates are granted to app.
newdb() {
  su_sql postgres "CREATE DATABASE $1"
  psql_ -d "$1" >/dev/null <<SQL
CREATE EXTENSION pg_tenant;
GRANT CREATE ON DATABASE $1 TO migrator;
GRANT CREATE ON SCHEMA public TO migrator;
ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app;
SELECT tenant_create('Acme', 'acme');
SELECT tenant_create('Globex', 'globex');
SQL
}
tenant() { su_sql "$1" "SELECT id FROM tenant.tenants WHERE slug = '$2'"; }

TABLES="'public.projects'::regclass, 'public.tasks'::regclass"
SCOPED="projects rls=t force=t policies=tenant_bypass,tenant_isolation fill=O usage=4 registered=t; tasks rls=t force=t policies=tenant_bypass,tenant_isolation fill=O usage=4 registered=t"
check_scoped() { # db label
  expect "$2: projects and tasks tenant-scoped (RLS enabled and forced, both policies, tenant_set_id and 4 usage triggers enabled, registered)" "$SCOPED" "$(su_sql "$1" "
    SELECT string_agg(format('%s rls=%s force=%s policies=%s fill=%s usage=%s registered=%s', c.relname,
             c.relrowsecurity, c.relforcerowsecurity,
             (SELECT string_agg(polname, ',' ORDER BY polname) FROM pg_policy WHERE polrelid = c.oid),
             (SELECT tgenabled FROM pg_trigger WHERE tgrelid = c.oid AND tgname = 'tenant_set_id'),
             (SELECT count(*) FROM pg_trigger WHERE tgrelid = c.oid AND tgname LIKE 'tenant\_usage\_%' AND tgenabled = 'O'),
             EXISTS (SELECT FROM tenant.tables t WHERE t.relid = c.oid)), '; ' ORDER BY c.relname)
    FROM pg_class c WHERE c.oid IN ($TABLES)")"
  expect "$2: SELECT count(*) FROM tenant_check() WHERE status = 'fail' is 0" "0" \
    "$(su_sql "$1" "SELECT count(*) || coalesce(': ' || string_agg(\"check\" || ' ' || object, ', '), '') FROM tenant_check() WHERE status = 'fail'")"
}
# Columns, constraints, indexes, policies, triggers and RLS flags of both
# tables, plus drizzle's journal: what a refused statement must leave alone.
fingerprint() {
  su_sql "$1" "SELECT string_agg(x, E'\n' ORDER BY x) FROM (
    SELECT format('column %s.%s %s notnull=%s', attrelid::regclass, attname, format_type(atttypid, atttypmod), attnotnull)
      FROM pg_attribute WHERE attrelid IN ($TABLES) AND attnum > 0 AND NOT attisdropped
    UNION ALL SELECT format('constraint %s.%s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
      FROM pg_constraint WHERE conrelid IN ($TABLES)
    UNION ALL SELECT format('index %s', pg_get_indexdef(indexrelid)) FROM pg_index WHERE indrelid IN ($TABLES)
    UNION ALL SELECT format('policy %s.%s %s %s %s %s', polrelid::regclass, polname, polcmd, polroles::regrole[],
                            pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid))
      FROM pg_policy WHERE polrelid IN ($TABLES)
    UNION ALL SELECT format('trigger %s.%s %s', tgrelid::regclass, tgname, tgenabled)
      FROM pg_trigger WHERE tgrelid IN ($TABLES) AND NOT tgisinternal
    UNION ALL SELECT format('table %s rls=%s force=%s', oid::regclass, relrowsecurity, relforcerowsecurity)
      FROM pg_class WHERE oid IN ($TABLES)
    UNION ALL SELECT format('drizzle migrations applied: %s', count(*)) FROM drizzle.__drizzle_migrations) s(x)"
}
check_unchanged() { # description db before
  local after
  after="$(fingerprint "$2")"
  if [ "$3" = "$after" ]; then pass "$1"; else
    fail "$1" "$(diff <(echo "$3") <(echo "$after") | grep '^[<>]' | head -10 | tr '\n' ' ')"
  fi
}
# As app: each tenant inserts a project and a task without naming tenant_id,
# sees only its own rows; no tenant, no rows; a row for another tenant refused.
check_isolation() { # db label
  local db=$1 l=$2 a b fill="" seen="" none cross m=${2//\'/\'\'}
  a=$(tenant "$db" acme)
  b=$(tenant "$db" globex)
  for t in "$a" "$b"; do
    fill+="$(app_sql "$db" "$t" "WITH p AS (INSERT INTO projects (name) VALUES ('$m') RETURNING id, tenant_id),
        k AS (INSERT INTO tasks (project_id, title) SELECT id, '$m' FROM p RETURNING tenant_id)
      SELECT (SELECT tenant_id FROM p) = current_tenant_id() AND (SELECT tenant_id FROM k) = current_tenant_id()" || true) "
    seen+="$(app_sql "$db" "$t" "SELECT format('%s/%s %s/%s',
        (SELECT count(*) FROM projects WHERE name = '$m'), (SELECT count(*) FROM projects WHERE tenant_id <> current_tenant_id()),
        (SELECT count(*) FROM tasks WHERE title = '$m'), (SELECT count(*) FROM tasks WHERE tenant_id <> current_tenant_id()))" || true) "
  done
  none="$(psql_ -U app -d "$db" -c "SELECT (SELECT count(*) FROM projects) + (SELECT count(*) FROM tasks)" 2>&1 || true)"
  cross="$(app_sql "$db" "$a" "INSERT INTO projects (tenant_id, name) VALUES ('$b', '$m')" || true)"
  expect "$l: as app, an insert without tenant_id gets the transaction's tenant (both tenants, projects and tasks)" "t t " "$fill"
  expect "$l: as app, each tenant sees its own project and task and no other tenant's row" "1/0 1/0 1/0 1/0 " "$seen"
  expect "$l: as app, without a tenant no row is visible" "0" "$none"
  case "$cross" in
    *ERROR*) pass "$l: as app, a row naming another tenant is refused (${cross%%$'\n'*})" ;;
    *) fail "$l: as app, a row naming another tenant is refused" "got: $cross" ;;
  esac
}
# One statement as migrator, in a transaction rolled back whatever happens:
# "refused <SQLSTATE> <message>" or "passed".
probe() { # db statement
  local out
  out="$(printf 'BEGIN;\n%s\nROLLBACK;\n' "$2" | "$PG_BIN/psql" -X -q -At -v VERBOSITY=verbose -U migrator -d "$1" 2>&1 || true)"
  case "$out" in
    *ERROR:*) out="$(grep -m1 'ERROR:' <<<"$out")"; echo "refused ${out#*ERROR:  }" ;;
    *) echo passed ;;
  esac
}
# The push and migrate outcomes.
pushed_nothing() { grep -q 'No changes detected' "$WORK/$1.out" && [ -z "$(ddl_since)" ]; }

"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE ROLE migrator LOGIN;
CREATE ROLE app LOGIN;
SQL
version() { node -p "require('$DZ/node_modules/$1/package.json').version" 2>/dev/null || echo '?'; }
echo "   drizzle-kit $(version drizzle-kit), drizzle-orm $(version drizzle-orm), pg $(version pg), PostgreSQL $(su_sql postgres 'SHOW server_version')"

############################################################################
# 1. generate + migrate, tenant-scoped by a custom migration
############################################################################
newdb dz_migrate
expect "the migration role is neither superuser nor a member of tenant_admin" "false false" \
  "$(su_sql dz_migrate "SELECT rolsuper || ' ' || pg_has_role('migrator', 'tenant_admin', 'MEMBER') FROM pg_roles WHERE rolname = 'migrator'")"
kit gen0 dz_migrate v1 plain generate --name create_tables
expect "generate (schema/v1.js) writes 0000_create_tables.sql" "0 0000_create_tables.sql" "$KIT_RC $(basename "$(newest plain)")"
show "0000_create_tables.sql (drizzle-kit generate)" "$(newest plain)"
cp -r "$WORK/plain" "$WORK/auto" # 0000 alone, for the auto_enable database
kit mig0 dz_migrate v1 plain migrate
expect "migrate applies 0000: tables created by the migrator, not tenant-scoped yet" "0 migrator migrator 0" \
  "$KIT_RC $(su_sql dz_migrate "SELECT string_agg(tableowner, ' ' ORDER BY tablename) || ' ' || (SELECT count(*) FROM tenant.tables) FROM pg_tables WHERE schemaname = 'public'")"

kit gen1 dz_migrate v1 plain generate --custom --name tenant_scope
MIG1="$(newest plain)"
{ echo; mig_sql dz_migrate "SELECT tenant_enable_script('projects') || E'--> statement-breakpoint\n' || tenant_enable_script('tasks')"; } >>"$MIG1"
show "$(basename "$MIG1") (drizzle-kit generate --custom, then tenant_enable_script's output run as the migrator)" "$MIG1"
kit mig1 dz_migrate v1 plain migrate
expect "migrate applies the custom migration, as the table owner (no tenant_admin)" "0 migrator migrator" \
  "$KIT_RC $(su_sql dz_migrate "SELECT string_agg(enabled_by::text, ' ' ORDER BY relid::text) FROM tenant.tables")"
check_scoped dz_migrate "migrate + tenant_enable_script"
check_isolation dz_migrate "migrate + tenant_enable_script"

# auto_enable: the plain 0000 migration, nothing pg_tenant-specific.
newdb dz_auto
su_sql postgres "ALTER DATABASE dz_auto SET pg_tenant.auto_enable = on"
kit migauto dz_auto v1 auto migrate
expect "auto_enable: migrate of the plain 0000 alone makes both tables tenant-scoped, as the migrator" "0 migrator migrator" \
  "$KIT_RC $(su_sql dz_auto "SELECT string_agg(enabled_by::text, ' ' ORDER BY relid::text) FROM tenant.tables")"
check_scoped dz_auto "auto_enable + migrate"
check_isolation dz_auto "auto_enable + migrate"

############################################################################
# 2. push with a schema that declares no RLS, on tenant-scoped tables
############################################################################
newdb dz_push
kit migpush dz_push v1 plain migrate # 0000 and 0001 in one transaction
expect "migrate of 0000 + 0001 in one run on a fresh database" "0" "$KIT_RC"
check_scoped dz_push "before push"
before="$(fingerprint dz_push)"
log_mark
kit push1 dz_push v1 plain push --force --verbose
push_statements push1
show "drizzle-kit push --force (schema/v1.js) tried" "$WORK/push1.sql"
if grep -q '^ALTER TABLE "projects" DISABLE ROW LEVEL SECURITY;' "$WORK/push1.sql" &&
  grep -q '^DROP POLICY "tenant_isolation" ON "projects" CASCADE;' "$WORK/push1.sql"; then
  pass "push wants to DISABLE ROW LEVEL SECURITY and DROP POLICY tenant_isolation ($(wc -l <"$WORK/push1.sql") statements)"
else
  fail "push wants to DISABLE ROW LEVEL SECURITY and DROP POLICY tenant_isolation" "$(cat "$WORK/push1.sql" "$WORK/push1.err")"
fi
if grep -q "code: '55000'" "$WORK/push1.err" &&
  grep -q 'pg_tenant: DISABLE ROW LEVEL SECURITY would weaken tenant-scoped table public.projects' "$WORK/push1.err" &&
  ! grep -q 'Changes applied' "$WORK/push1.out"; then
  pass "push is refused by the guard: 55000 $(grep -m1 '^error: ' "$WORK/push1.err") (drizzle-kit exit status $KIT_RC)"
else
  fail "push is refused by the guard (55000 naming public.projects)" "$(cat "$WORK/push1.err")"
fi
expect 'push stopped at its first statement: the only DDL the server received was ALTER TABLE "projects" DISABLE ROW LEVEL SECURITY;' \
  'ALTER TABLE "projects" DISABLE ROW LEVEL SECURITY;' "$(ddl_since)"
check_unchanged "after push: tables, policies, triggers, constraints and indexes unchanged" dz_push "$before"
# Every statement push wanted, alone: the guard must refuse each weakening one.
while IFS= read -r stmt; do
  table="$(sed -E 's/^(ALTER TABLE|DROP POLICY "[^"]*" ON) "([^"]*)".*/\2/;t;d' <<<"$stmt")"
  res="$(probe dz_push "$stmt")"
  case "$stmt" in
    'DROP INDEX '*) echo "   -- alone, $stmt $res (rolled back): an index is not isolation, tenant_check warns tenant_index" ;;
    *) case "$res" in
         "refused 55000: pg_tenant: "*"tenant-scoped table public.$table") pass "alone, the guard refuses $stmt (${res#refused })" ;;
         *) fail "alone, the guard refuses $stmt" "$res" ;;
       esac ;;
  esac
done <"$WORK/push1.sql"
check_scoped dz_push "after push"
check_isolation dz_push "after push"

############################################################################
# 3. later generated migrations through the guard
############################################################################
kit gen2 dz_migrate v2 plain generate --name add_description
MIG2="$(newest plain)"
show "$(basename "$MIG2") (generate, schema/v2.js)" "$MIG2"
kit mig2 dz_migrate v2 plain migrate
expect "migrate of an ordinary change (ADD COLUMN, CREATE INDEX) passes the guard" "0 description tasks_open_idx" \
  "$KIT_RC $(su_sql dz_migrate "SELECT (SELECT attname FROM pg_attribute WHERE attrelid = 'projects'::regclass AND attname = 'description') || ' ' || 'tasks_open_idx'::regclass")"
check_scoped dz_migrate "after the ordinary migration"
for v in nullable text dropped; do
  cp -r "$WORK/plain" "$WORK/plain_$v"
  kit "gen3_$v" dz_migrate "v3_$v" "plain_$v" generate --name "tenant_id_$v"
  show "$(basename "$(newest "plain_$v")") (generate, schema/v3_$v.js)" "$(newest "plain_$v")"
  before="$(fingerprint dz_migrate)"
  log_mark
  kit "mig3_$v" dz_migrate "v3_$v" "plain_$v" migrate
  err="$(log_since | grep -m1 ' ERROR:  ' | sed 's/^.* \([0-9A-Z]\{5\}\) ERROR:  /\1 /' || true)"
  case "$KIT_RC $err" in
    "1 55000 pg_tenant: "*"would weaken tenant-scoped table public.tasks") pass "migrate of $(basename "$(newest "plain_$v")") is refused: $err (drizzle-kit exit status 1, no message)" ;;
    *) fail "migrate of $(basename "$(newest "plain_$v")") is refused by the guard" "exit $KIT_RC, server: $err" ;;
  esac
  check_unchanged "after the refused $v migration: nothing changed (the migration's earlier statements rolled back too, drizzle's journal as before)" dz_migrate "$before"
done
check_scoped dz_migrate "after the refused migrations"

############################################################################
# 4. the configuration with which push coexists: pg_tenant's objects declared
############################################################################
# Push on the database of scenario 2 (migrated with the plain migrations).
log_mark
kit push2 dz_push pg_tenant plain push --force --verbose
if pushed_nothing push2; then pass "push (schema/pg_tenant.js, pg_tenant's objects declared) finds no change and sends no DDL"; else
  fail "push (schema/pg_tenant.js) finds no change and sends no DDL" "$(cat "$WORK/push2.out" "$WORK/push2.err")"; fi
log_mark
kit push3 dz_push pg_tenant_v2 plain push --force --verbose
push_statements push3
show "drizzle-kit push --force (schema/pg_tenant_v2.js) ran" "$WORK/push3.sql"
expect "push of an ordinary change with pg_tenant's objects declared: applied, only ADD COLUMN and CREATE INDEX" \
  'ALTER TABLE "projects" ADD COLUMN "description" text;|CREATE INDEX "tasks_open_idx" ON "tasks" USING btree ("project_id","done");|applied' \
  "$(ddl_since | tr '\n' '|')$(grep -q 'Changes applied' "$WORK/push3.out" && echo applied)"
log_mark
kit push4 dz_push pg_tenant_v2 plain push --force --verbose
if pushed_nothing push4; then pass "push again: no change"; else fail "push again: no change" "$(cat "$WORK/push4.out" "$WORK/push4.err")"; fi
check_scoped dz_push "after push with pg_tenant's objects declared"
check_isolation dz_push "after push with pg_tenant's objects declared"

# generate + migrate with the declarations: the migration that introduces
# them carries tenant_enable_script's output instead of drizzle's SQL.
newdb dz_declared
kit dgen0 dz_declared v1 declared generate --name create_tables
kit dmig0 dz_declared v1 declared migrate
kit dgen1 dz_declared pg_tenant declared generate --name tenant_scope
DMIG1="$(newest declared)"
show "$(basename "$DMIG1") as drizzle-kit generate (schema/pg_tenant.js) writes it, replaced below" "$DMIG1"
{ echo "-- drizzle's statements for pg_tenant's objects replaced by tenant_enable_script's output"
  mig_sql dz_declared "SELECT tenant_enable_script('projects') || E'--> statement-breakpoint\n' || tenant_enable_script('tasks')"; } >"$DMIG1"
kit dmig1 dz_declared pg_tenant declared migrate
expect "migrate of the declared schema's tenant_scope migration (tenant_enable_script's output)" "0" "$KIT_RC"
check_scoped dz_declared "declared schema, migrate"
log_mark
kit dpush1 dz_declared pg_tenant declared push --force --verbose
if pushed_nothing dpush1; then pass "push after migrate with the declared schema: no change, no DDL"; else
  fail "push after migrate with the declared schema: no change, no DDL" "$(cat "$WORK/dpush1.out" "$WORK/dpush1.err")"; fi
kit dgen2 dz_declared pg_tenant_v2 declared generate --name add_description
expect "generate from the declared schema (v2) writes the same ordinary migration as from the plain schema" \
  "$(cat "$MIG2")" "$(cat "$(newest declared)")"
kit dmig2 dz_declared pg_tenant_v2 declared migrate
expect "migrate of it passes the guard" "0" "$KIT_RC"
log_mark
kit dpush2 dz_declared pg_tenant_v2 declared push --force --verbose
if pushed_nothing dpush2; then pass "push after it: no change, no DDL"; else
  fail "push after it: no change, no DDL" "$(cat "$WORK/dpush2.out" "$WORK/dpush2.err")"; fi
check_scoped dz_declared "declared schema, later migration"
check_isolation dz_declared "declared schema, later migration"

# push only, with auto_enable: the CREATE TABLE makes each table tenant-scoped,
# so the first push then stops at a foreign key tenant_enable already made.
newdb dz_pushonly
su_sql postgres "ALTER DATABASE dz_pushonly SET pg_tenant.auto_enable = on"
kit opush1 dz_pushonly pg_tenant none push --force --verbose
echo "   -- push-only with auto_enable, first push (schema/pg_tenant.js): $(grep -m1 '^error: ' "$WORK/opush1.err" || echo 'no error')"
kit opush2 dz_pushonly pg_tenant none push --force --verbose
push_statements opush2
show "second push ran" "$WORK/opush2.sql"
log_mark
kit opush3 dz_pushonly pg_tenant none push --force --verbose
if pushed_nothing opush3; then pass "push-only with auto_enable: the third push finds no change"; else
  fail "push-only with auto_enable: the third push finds no change" "$(cat "$WORK/opush3.out" "$WORK/opush3.err")"; fi
check_scoped dz_pushonly "push-only with auto_enable"
check_isolation dz_pushonly "push-only with auto_enable"

############################################################################
# 5. a new permissive policy: the guard lets it through with a WARNING (as
#    documented), and drizzle-kit prints none of the server's warnings
############################################################################
# push leaves out USING: the policy it creates admits no row.
log_mark
kit wpush dz_push pg_tenant_read_all plain push --force --verbose
push_statements wpush
show "drizzle-kit push --force (schema/pg_tenant_read_all.js) ran" "$WORK/wpush.sql"
warn="$(log_since | grep -m1 ' WARNING:  ' | sed 's/^.* WARNING:  //' || true)"
expect "push creates projects_read_all without its USING (true); the guard's WARNING reaches the server log only (drizzle-kit shows it: no)" \
  'CREATE POLICY "projects_read_all" ON "projects" AS PERMISSIVE FOR SELECT TO public;|qual=|pg_tenant|shown=no' \
  "$(ddl_since | tr '\n' '|')qual=$(su_sql dz_push "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = 'projects_read_all'")|${warn%%:*}|shown=$(grep -qi 'warning.*pg_tenant\|pg_tenant.*permissive' "$WORK/wpush.out" "$WORK/wpush.err" && echo yes || echo no)"
echo "   -- server log: WARNING:  $warn"
echo "   -- tenant_check() failures after it: $(su_sql dz_push "SELECT coalesce(string_agg(\"check\" || ' ' || object, ', '), 'none') FROM tenant_check() WHERE status = 'fail'")"
check_isolation dz_push "after push of a permissive policy"
# generate keeps USING (true): applied with the WARNING, and it opens projects.
kit wgen dz_declared pg_tenant_read_all declared generate --name read_all
show "$(basename "$(newest declared)") (generate, schema/pg_tenant_read_all.js)" "$(newest declared)"
log_mark
kit wmig dz_declared pg_tenant_read_all declared migrate
warn="$(log_since | grep -m1 ' WARNING:  ' | sed 's/^.* WARNING:  //' || true)"
expect "migrate applies the permissive USING (true) policy: exit 0, the guard's WARNING in the server log only" "0|pg_tenant|shown=no" \
  "$KIT_RC|${warn%%:*}|shown=$(grep -qi 'warning' "$WORK/wmig.out" "$WORK/wmig.err" && echo yes || echo no)"
echo "   -- server log: WARNING:  $warn"
expect "tenant_check() reports it: widening_policy fail on projects" "widening_policy fail" \
  "$(su_sql dz_declared "SELECT string_agg(\"check\" || ' ' || status, ', ') FROM tenant_check() WHERE status = 'fail'")"
expect "as documented, the policy now shows acme the other tenant's projects (tasks stay isolated)" "1 0" \
  "$(app_sql dz_declared "$(tenant dz_declared acme)" "SELECT (SELECT count(DISTINCT tenant_id) FROM projects WHERE tenant_id <> current_tenant_id()) || ' ' || (SELECT count(*) FROM tasks WHERE tenant_id <> current_tenant_id())" || true)"

cluster_stop
echo "   (${SECONDS}s)"
exit "$failed"
