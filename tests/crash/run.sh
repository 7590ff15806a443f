#!/usr/bin/env bash
# Crash safety of the usage counters. pg_tenant writes tenant.usage_totals
# and tenant.usage_by_table with heap routines, outside the executor
# (src/store/counter_rows.rs); they must come back from crash recovery equal
# to the rows they count, like the rows themselves.
#
# Starts a throwaway cluster of its own (fsync on, pg_tenant preloaded), gives
# three tenants row and storage limits that the run reaches, and then, ROUNDS
# times (5 by default): 8 pgbench clients insert, update and delete for those
# tenants as an ordinary application role (each write in a plpgsql block that
# counts a quota refusal instead of ending the client), the server is stopped
# with `pg_ctl stop -m immediate` after a random 2-4 s (with a
# tenant_usage_reconcile() in the middle, which must find nothing), and restarted. After
# each restart: tenant_usage_reconcile() finds 0 corrections, no tenant holds
# more rows or bytes than its limits, and the round wrote rows and met the
# limits (so the checks are not vacuous).
#
# Needs pgbench (Debian's PostgreSQL 15 client is used against every major).
# Also checks tenant.stat_tenants, which needs the preload this cluster has.
# Prints one `ok: ...` / `FAILED: ...` line per assertion.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
ROUNDS="${ROUNDS:-5}"
PGBENCH="${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}"

CLUSTER_OPTS="-c fsync=on -c shared_preload_libraries=pg_tenant -c max_connections=40 -c autovacuum=off"
cluster_start \
  || { echo "FAILED: crash: could not start a cluster"; exit 1; }
work="$CLUSTER_DIR/crash"
mkdir -p "$work" && chmod 777 "$work"
db=pg_tenant_crash
export PGDATABASE=$db

fails=0
ok() { echo "ok: crash: $*"; }
fail() { echo "FAILED: crash: $*"; fails=$((fails + 1)); }
q() { "$PG_BIN/psql" -X -qAt -v ON_ERROR_STOP=1 "$@"; }

"$PG_BIN/createdb" "$db"
q >/dev/null <<'SQL' || { echo "FAILED: crash: setup"; exit 1; }
CREATE EXTENSION pg_tenant;
CREATE ROLE crash_app LOGIN;
CREATE TABLE items (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, payload text NOT NULL);
SELECT tenant_enable('items');
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO crash_app;
GRANT USAGE ON SEQUENCE items_id_seq TO crash_app;
-- Refusals are counted here, outside any tenant (not tenant-scoped).
CREATE TABLE refusals (sqlstate text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
GRANT INSERT ON refusals TO crash_app;
INSERT INTO tenant.plans (id, name) VALUES ('small', 'Small');
SELECT tenant_plan_quota_set('small', 'items', 1500);
SELECT tenant_plan_limit_set('small', 'storage_bytes', 170000);
SELECT tenant_create('Crash ' || n, 'crash-' || n, plan => 'small') FROM generate_series(1, 3) n;
-- One tenant without limits: counted, never refused.
SELECT tenant_create('Crash 4', 'crash-4');
-- One write of a client: inserts 1-5 rows, or updates or deletes a few; a
-- quota refusal rolls the block back (counters with it) and is counted.
CREATE FUNCTION crash_write(slug text, op int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tenant_set(slug);
  BEGIN
    IF op < 7 THEN
      INSERT INTO items (payload) SELECT repeat('x', 20 + (random() * 60)::int) FROM generate_series(1, 1 + op % 5);
    ELSIF op < 9 THEN
      UPDATE items SET payload = repeat('y', 10 + (random() * 120)::int)
       WHERE id IN (SELECT id FROM items ORDER BY random() LIMIT 3);
    ELSE
      DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY random() LIMIT 4);
    END IF;
  EXCEPTION WHEN SQLSTATE 'PT031' OR SQLSTATE 'PT032' THEN
    INSERT INTO refusals (sqlstate) VALUES (SQLSTATE);
  END;
END $$;
SQL
cat >"$work/write.sql" <<'SQL'
\set t random(1, 4)
\set op random(0, 9)
BEGIN;
SELECT crash_write('crash-' || :t, :op);
COMMIT;
SQL

# Per-tenant statistics (this cluster preloads pg_tenant): statements of
# the application role count for the tenant they name, in shared memory;
# the application may not read them.
q -c "SELECT tenant_stat_reset()" >/dev/null
q -U crash_app -c "BEGIN" -c "SELECT tenant_set('crash-1')" -c "SELECT count(*) FROM items" \
  -c "INSERT INTO items (payload) SELECT 'stat' FROM generate_series(1, 3)" -c "ROLLBACK" >/dev/null
stat="$(q -c "SELECT statements || '/' || rows_written || '/' || rows_returned FROM tenant.stat_tenants
                WHERE slug = 'crash-1' AND period = 'current'")"
[ "$stat" = "3/3/2" ] && ok "tenant.stat_tenants counts crash-1's statements (3), rows written (3) and returned (2: tenant_set and count)" \
  || fail "tenant.stat_tenants shows '$stat' for crash-1, expected 3/3/2"
others="$(q -c "SELECT count(*) FROM tenant.stat_tenants WHERE slug <> 'crash-1'")"
[ "$others" = 0 ] && ok "tenant.stat_tenants has no other tenant" || fail "tenant.stat_tenants lists $others rows of other tenants"
denied="$(q -U crash_app -c "SELECT count(*) FROM tenant.stat_tenants" 2>&1)"
case "$denied" in *"permission denied"*) ok "the application role cannot read tenant.stat_tenants" ;;
  *) fail "the application role read tenant.stat_tenants: $denied" ;; esac

# Per tenant: rows and bytes held now (as the superuser), and the limits.
state() {
  # A counter is the sum of its stripes (preloaded, concurrent writers add
  # to stripes of their own).
  q -c "SELECT count(*) FILTER (WHERE u.rows > 1500 AND t.plan IS NOT NULL)
             + count(*) FILTER (WHERE s.bytes > 170000 AND t.plan IS NOT NULL)
          FROM tenant.tenants t
          JOIN (SELECT tenant_id, sum(row_count) AS rows FROM tenant.usage_by_table GROUP BY 1) u ON u.tenant_id = t.id
          JOIN (SELECT tenant_id, sum(storage_bytes) AS bytes FROM tenant.usage_totals GROUP BY 1) s ON s.tenant_id = t.id"
}

for round in $(seq 1 "$ROUNDS"); do
  rows_before="$(q -c "SELECT count(*) FROM items")"
  refusals_before="$(q -c "SELECT count(*) FROM refusals")"
  as_postgres "$PGBENCH" -n -h "$PGHOST" -p "$PGPORT" -U crash_app -c 8 -j 2 -T 60 -f "$work/write.sql" "$db" \
    >"$work/pgbench-$round.log" 2>&1 &
  bench=$!
  # Mid-run, with the writers going: the counters of what has committed are
  # exact, and reconciling (which waits for the writers in progress and
  # folds the stripes) finds nothing to correct.
  sleep "$(python3 -c 'import random; print(round(random.uniform(1, 2), 2))')"
  live="$(q -c "SELECT count(*) FROM tenant_usage_reconcile()" 2>&1)"
  [ "$live" = 0 ] && ok "round $round: tenant_usage_reconcile() under 8 writers finds 0 corrections" \
    || fail "round $round: tenant_usage_reconcile() under 8 writers found: $live"
  sleep "$(python3 -c 'import random; print(round(random.uniform(1, 2), 2))')"
  as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop >/dev/null 2>&1
  wait "$bench" 2>/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w \
    -o "-p $PGPORT -k $CLUSTER_DIR -c listen_addresses=127.0.0.1 $CLUSTER_OPTS" start >/dev/null \
    || { fail "round $round: the server did not restart"; tail -20 "$CLUSTER_DIR/server.log"; break; }
  if grep -q "database system was interrupted\|redo starts\|not properly shut down" "$CLUSTER_DIR/server.log"; then
    ok "round $round: the server went through crash recovery"
  else
    fail "round $round: no crash recovery in the server log"
  fi
  : >"$CLUSTER_DIR/server.log"
  corrections="$(q -c "SELECT count(*) FROM tenant_usage_reconcile()" 2>&1)"
  [ "$corrections" = 0 ] && ok "round $round: tenant_usage_reconcile() finds 0 corrections" \
    || fail "round $round: tenant_usage_reconcile() found $corrections corrections: $(q -c "SELECT string_agg(r::text, '; ') FROM tenant_usage_reconcile() r" 2>&1)"
  over="$(state 2>&1)"
  [ "$over" = 0 ] && ok "round $round: no tenant over its row or storage limit" \
    || fail "round $round: $over counters over their limit"
  # The counters are the truth checked above; the rows themselves too.
  actual_over="$(q -c "SELECT count(*) FROM (SELECT tenant_id FROM items GROUP BY tenant_id HAVING count(*) > 1500) s
                        JOIN tenant.tenants t ON t.id = s.tenant_id WHERE t.plan IS NOT NULL" 2>&1)"
  [ "$actual_over" = 0 ] && ok "round $round: no tenant holds more rows than its limit" \
    || fail "round $round: $actual_over tenants hold more rows than their limit"
  rows_after="$(q -c "SELECT count(*) FROM items")"
  refusals_after="$(q -c "SELECT count(*) FROM refusals")"
  committed="$(grep -Eo 'number of transactions actually processed: [0-9]+' "$work/pgbench-$round.log" | grep -Eo '[0-9]+$' || true)"
  if [ "$rows_after" != "$rows_before" ] || [ "$refusals_after" != "$refusals_before" ]; then
    ok "round $round: the writers were running (rows $rows_before -> $rows_after, refusals $refusals_before -> $refusals_after${committed:+, $committed transactions})"
  else
    fail "round $round: nothing was written before the crash (see $work/pgbench-$round.log)"
  fi
done

# Over the rounds the limits were met: refusals of both kinds happened.
kinds="$(q -c "SELECT string_agg(DISTINCT sqlstate, ',' ORDER BY sqlstate) FROM refusals")"
case "$kinds" in
  *PT031*) ok "the row limit was reached and refused writes ($kinds)" ;;
  *) fail "the row limit was never reached (refusals: ${kinds:-none}): the no-overshoot checks proved nothing" ;;
esac
cluster_stop
[ "$fails" -eq 0 ]
