#!/usr/bin/env bash
# System calls of the server backend per insert with quotas on (strace -c),
# which instruction counts (benches/instructions.sh) do not show: a throwaway
# cluster, 100 tenants, one table with usage counting, and pgbench as an
# ordinary role inserting for random tenants; strace counts the backend's
# calls for 6 s in the middle of a 14 s run. Needs strace (apt-get install strace).
#   benches/syscalls.sh     -> benches/results/syscalls-<date>/report.md
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
cd "$REPO_ROOT"
command -v strace >/dev/null || { echo "benches/syscalls.sh needs strace (apt-get install strace)"; exit 1; }
bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
cluster_start
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pg_tenant;
CREATE ROLE bench_app LOGIN;
INSERT INTO tenant.tenants (id, slug, name)
SELECT md5(t::text)::uuid, 'bench-' || t, 'Bench tenant ' || t FROM generate_series(1, 100) t;
CREATE TABLE notes (id bigserial PRIMARY KEY, tenant_id uuid, body text);
SELECT tenant_enable('notes');
GRANT SELECT, INSERT ON notes TO bench_app;
GRANT USAGE ON SEQUENCE notes_id_seq TO bench_app;
SQL
script="$CLUSTER_DIR/insert.sql"
cat >"$script" <<'SQL'
\set t random(1, 100)
BEGIN;
SELECT set_config('app.current_tenant', md5((:t)::text)::uuid::text, true);
INSERT INTO notes (body) VALUES ('x');
COMMIT;
SQL
chmod 644 "$script"
dir="benches/results/syscalls-$(date -u +%Y%m%d)${LABEL:+-$LABEL}"; mkdir -p "$dir"; out="$dir/report.md"
say "Counting the backend's system calls (strace -c, 6 s)"
"$PG_BIN/pgbench" -n -U bench_app -c 1 -T 14 -f "$script" postgres >"$CLUSTER_DIR/pgbench.txt" 2>&1 &
sleep 5
pid="$("$PG_BIN/psql" -X -A -t -c "SELECT pid FROM pg_stat_activity WHERE usename = 'bench_app'")"
timeout 6 strace -c -p "$pid" -o "$CLUSTER_DIR/strace.txt" >/dev/null 2>&1 || true
wait
# Each transaction sends four results (BEGIN, set_config, INSERT, COMMIT).
transactions=$(awk '$NF == "sendto" {print int($4 / 4)}' "$CLUSTER_DIR/strace.txt")
{
  echo "System calls of the backend during 6 s of single-client inserts with quotas on ($(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD))"
  echo "transactions (sendto / 4): $transactions"
  awk -v n="$transactions" 'NR > 2 && $NF ~ /^[a-z_0-9]+$/ && $NF != "total" {calls = $4; printf "%-12s %8d calls  %.3f per transaction\n", $NF, calls, calls / n}' "$CLUSTER_DIR/strace.txt"
  echo
  cat "$CLUSTER_DIR/strace.txt"
} | tee "$out"
