#!/usr/bin/env bash
# End to end behind a real PgBouncer in transaction mode: a tenant named for
# the session (SET without LOCAL, set_config(..., false)) stays on the server
# connection PgBouncer hands to the next client; pg_tenant must refuse it
# (25000) so that no client ever reads or writes another client's tenant.
#
# Runs against the cluster scripts/test.sh started (PGHOST/PGPORT/PGUSER set,
# like tests/dump_restore.sh); without PGPORT it starts a throwaway cluster of
# its own (the extension must be installed). Starts PgBouncer on a free
# loopback port (as the OS user postgres when run as root), pool_mode =
# transaction, default_pool_size = 2, server_reset_query left at its default
# (never run in transaction mode), and runs tests/pgbouncer/clients.py.
# Prints one `ok: ...` / `FAILED: ...` line per assertion; exits non-zero on
# any failure. PGBOUNCER_CONTROL=auto|on|off: the control with
# pg_tenant.context_scope = 'session' (auto: when the setting exists).
# PGBOUNCER_SCOPE=session runs the concurrent clients with that setting too,
# i.e. without the guard: the session-level and tenantless assertions then
# fail and show the leak in numbers (a demonstration, not part of the suite).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
here="$REPO_ROOT/tests/pgbouncer"

trap 'echo "FAILED: tests/pgbouncer/run.sh stopped at line $LINENO"' ERR
bash "$here/setup.sh" >/dev/null || { echo "FAILED: could not install PgBouncer or psycopg (tests/pgbouncer/setup.sh)"; exit 1; }
PY="$REPO_ROOT/target/venv/bin/python"
PGBOUNCER=/usr/sbin/pgbouncer

own_cluster=""
if [ -z "${PGPORT:-}" ]; then
  cluster_start
  own_cluster=1
fi
: "${PGHOST:?PGHOST (socket directory or host of the cluster) must be set}"
export PGUSER="${PGUSER:-postgres}"

db=pg_tenant_pgbouncer
app=pgbouncer_app
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pg_tenant-pgbouncer.XXXXXX")"
chmod 755 "$tmp"
bouncer_pid=""

# Stops the PgBouncer this script started. As root it runs under sudo, which
# does not relay a signal from its own process group: signal PgBouncer itself
# (its pidfile, or sudo's child), then reap sudo.
stop_bouncer() {
  [ -n "$bouncer_pid" ] || return 0
  local pids
  pids="$(cat "$tmp/pgbouncer.pid" 2>/dev/null || pgrep -P "$bouncer_pid" || true)"
  # shellcheck disable=SC2086
  kill -TERM $pids "$bouncer_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$bouncer_pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$bouncer_pid" 2>/dev/null || true
  bouncer_pid=""
}

cleanup() {
  stop_bouncer
  rm -rf "$tmp"
  # Only a cluster this script started; scripts/test.sh stops its own.
  if [ -n "$own_cluster" ]; then cluster_stop; fi
}
trap cleanup EXIT

psql_su() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# A database of its own with one tenant-scoped table, owned by the superuser;
# the application role is an ordinary LOGIN role.
psql_su -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS $app" \
  -c "CREATE ROLE $app LOGIN NOSUPERUSER NOBYPASSRLS" -c "CREATE DATABASE $db"
psql_su -d "$db" >/dev/null <<SQL
CREATE EXTENSION pg_tenant;
CREATE TABLE items (id bigserial PRIMARY KEY, tenant_id uuid, payload text);
SELECT tenant_enable('items');
GRANT SELECT, INSERT ON items TO $app;
GRANT USAGE ON SEQUENCE items_id_seq TO $app;
SELECT tenant_create(name) FROM unnest(ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark']) AS name;
-- Seed rows, 5 to 9 per tenant, each tenant named for its own transaction.
DO \$\$
DECLARE t record;
BEGIN
  FOR t IN SELECT id, row_number() OVER (ORDER BY name) AS n FROM tenant.tenants LOOP
    PERFORM set_config('app.current_tenant', t.id::text, true);
    INSERT INTO items (payload) SELECT 'seed ' || i FROM generate_series(1, 4 + t.n) AS i;
  END LOOP;
  PERFORM set_config('app.current_tenant', '', true);
END
\$\$;
SQL

# PgBouncer: trust (the cluster trusts local connections), users listed in the
# auth file; one pool for the concurrent run and two one-connection pools for
# the deterministic handover checks.
port="$(free_port)"
# PgBouncer reaches the cluster the way psql does: its socket directory (or host).
server_host="$PGHOST"
cat >"$tmp/userlist.txt" <<EOF
"$app" ""
"postgres" ""
EOF
cat >"$tmp/pgbouncer.ini" <<EOF
[databases]
$db = host=$server_host port=$PGPORT dbname=$db
${db}_probe = host=$server_host port=$PGPORT dbname=$db pool_size=1
${db}_control = host=$server_host port=$PGPORT dbname=$db pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $tmp
auth_type = trust
auth_file = $tmp/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
logfile = $tmp/pgbouncer.log
pidfile = $tmp/pgbouncer.pid
EOF
if is_root; then chown -R postgres: "$tmp"; fi
as_postgres "$PGBOUNCER" "$tmp/pgbouncer.ini" >"$tmp/pgbouncer.out" 2>&1 &
bouncer_pid=$!

admin() { "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$port" -U postgres -d pgbouncer -c "$1" 2>/dev/null; }
for _ in $(seq 1 50); do
  admin "SHOW VERSION" >/dev/null && break
  kill -0 "$bouncer_pid" 2>/dev/null || break
  sleep 0.2
done
if ! version="$(admin "SHOW VERSION")"; then
  echo "FAILED: PgBouncer did not start"; cat "$tmp/pgbouncer.out" "$tmp/pgbouncer.log" 2>/dev/null; exit 1
fi

fail=0
config="$(admin "SHOW CONFIG" | awk -F'|' '$1=="pool_mode"||$1=="default_pool_size"||$1=="server_reset_query_always"{printf "%s=%s ", $1, $2}')"
if [[ "$config" == *"pool_mode=transaction"* && "$config" == *"default_pool_size=2"* && "$config" == *"server_reset_query_always=0"* ]]; then
  echo "ok: ${version} in front of the cluster: ${config% }"
else
  echo "FAILED: PgBouncer not configured as intended: $config"; fail=1
fi

# The client run is bounded (500 transactions per client, a 60 s budget; it
# takes about 5 s); timeout is the backstop.
rc=0
PG_TENANT_TEST_DB="$db" timeout 90 "$PY" "$here/clients.py" \
  --bouncer-port "$port" --db "$db" --app "$app" --pool-size 2 \
  --correct 4 --session 2 --tenantless 2 --txns 500 --budget 60 \
  --control "${PGBOUNCER_CONTROL:-auto}" --scope "${PGBOUNCER_SCOPE:-transaction}" || rc=$?
if [ "$rc" -eq 124 ]; then echo "FAILED: tests/pgbouncer/clients.py killed after 90 s"; fi
if [ "$rc" -ne 0 ]; then fail=1; fi

stop_bouncer
if [ "$fail" -ne 0 ]; then
  echo "PgBouncer warnings and errors (last 20):"
  grep -E 'WARNING|ERROR|FATAL' "$tmp/pgbouncer.log" | tail -n 20 || true
fi
psql_su -d postgres -c "DROP DATABASE $db WITH (FORCE)" -c "DROP ROLE $app" || fail=1
exit "$fail"
