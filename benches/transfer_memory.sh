#!/usr/bin/env bash
# How much memory moving a big tenant takes (issue 21: tenant_export's memory
# stays bounded; measured exporting a 1,000,000-row tenant).
#
#   benches/transfer_memory.sh        # ROWS="100000 1000000" by default
#
# Builds a release install, starts a throwaway PostgreSQL 15 (work_mem 4MB),
# and for each size loads one tenant with ROWS rows split over two
# tenant-scoped tables (a parent and a child with a foreign key) next to a
# second tenant of 10,000 rows. Then, each in a fresh backend, while sampling
# that backend's private memory (RssAnon in /proc/<pid>/status, every 50 ms):
#   - baseline: what a hand-made export of the same rows costs: psql's
#     \copy of each table's rows as JSON text sorted byte by byte (the
#     export's own order), in a backend without parallel workers (the
#     export's cursors run without them, and PostgreSQL's external sort
#     itself grows a little with the rows);
#   - export:   \copy (SELECT * FROM tenant_export('big')) TO a file;
#   - import:   tenant_import of that file (loaded by \copy into a staging
#     table) under a new id and slug, into the same database.
# Reports per size the wall time and the peak RssAnon of each, and the peak
# as a ratio of the baseline's in the same run. Output:
# benches/results/transfer_memory-<date>/report.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ROWS="${ROWS:-100000 1000000}"

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
BENCH_EXTRA_OPTS="-c work_mem=4MB" SHARED_BUFFERS=1GB bench_cluster_start
out="benches/results/transfer_memory-$(date -u +%Y%m%d)"
rm -rf "$out" && mkdir -p "$out"
files="$(mktemp -d "${TMPDIR:-/tmp}/pg_tenant-transfer-bench.XXXXXX")"
chmod 777 "$files"
trap 'rm -rf "$files"; cluster_stop' EXIT

# Runs psql on the SQL in $2 in a new backend, sampling the backend's
# RssAnon; prints "seconds peak_kB".
measure() { # label sql-file
  local pidfile="$files/pid" peak=0 rss pid started ended
  rm -f "$pidfile"
  started=$(date +%s.%N)
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -o /dev/null \
    -c "\\o $pidfile" -c "SELECT pg_backend_pid()" -c "\\o /dev/null" -f "$2" >"$files/$1.log" 2>&1 &
  local psql_pid=$!
  while [ ! -s "$pidfile" ] && kill -0 "$psql_pid" 2>/dev/null; do sleep 0.01; done
  pid="$(grep -Eo '[0-9]+' "$pidfile" | head -1 || true)"
  while :; do
    rss="$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
    [ "${rss:-0}" -gt "$peak" ] && peak="$rss"
    kill -0 "$psql_pid" 2>/dev/null || break
    sleep 0.05
  done
  wait "$psql_pid" || { cat "$files/$1.log"; exit 1; }
  ended=$(date +%s.%N)
  echo "$(echo "$ended - $started" | bc) $peak"
}

{
  echo "# tenant_export / tenant_import memory ($(date -u +%Y-%m-%d), PostgreSQL 15, release build, work_mem 4MB)"
  echo
  echo "Peak private memory (RssAnon) of the backend doing the work, sampled every 50 ms;"
  echo "baseline = psql \\copy of the same rows as JSON text sorted byte by byte, no parallel workers, in the same run."
  echo
  echo "| tenant's rows | baseline \\copy | peak | tenant_export | peak | ratio | tenant_import | peak | ratio |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$out/report.md"

for rows in $ROWS; do
  say "Loading a tenant of $rows rows"
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v rows="$rows" >"$out/load-$rows.log" <<'SQL'
DROP EXTENSION IF EXISTS pg_tenant CASCADE;
DROP TABLE IF EXISTS items, orders, staged;
CREATE EXTENSION pg_tenant;
CREATE TABLE orders (tenant_id uuid NOT NULL, id bigint NOT NULL, customer text, placed timestamptz NOT NULL,
                     total numeric, PRIMARY KEY (tenant_id, id));
CREATE TABLE items (tenant_id uuid NOT NULL, order_id bigint NOT NULL, line int NOT NULL, sku text, qty int,
                    price numeric, PRIMARY KEY (tenant_id, order_id, line),
                    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id));
SELECT tenant_enable('orders') IS NOT NULL, tenant_enable('items') IS NOT NULL;
SELECT tenant_create('Big', 'big', id => '00000000-0000-4000-8000-00000000000b') IS NOT NULL,
       tenant_create('Small', 'small', id => '00000000-0000-4000-8000-0000000000aa') IS NOT NULL;
SQL
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v rows="$rows" >>"$out/load-$rows.log" <<'SQL'
INSERT INTO orders SELECT '00000000-0000-4000-8000-00000000000b', k, 'customer ' || (k % 977), now() - k * interval '1 minute', k * 1.25
  FROM generate_series(1, :rows / 4) k;
INSERT INTO items SELECT '00000000-0000-4000-8000-00000000000b', (k - 1) / 3 + 1, (k - 1) % 3, 'sku-' || (k % 5003), k % 7, 9.99
  FROM generate_series(1, :rows - :rows / 4) k WHERE (k - 1) / 3 + 1 <= :rows / 4;
INSERT INTO orders SELECT '00000000-0000-4000-8000-0000000000aa', k, 'small ' || k, now(), 1 FROM generate_series(1, 10000) k;
VACUUM ANALYZE;
CHECKPOINT;
SQL
  actual="$("$PG_BIN/psql" -X -At -c "SELECT (SELECT count(*) FROM orders WHERE tenant_id = '00000000-0000-4000-8000-00000000000b') + (SELECT count(*) FROM items)")"
  cat >"$files/baseline.sql" <<SQL
SET max_parallel_workers_per_gather = 0;
\\copy (SELECT x FROM (SELECT to_jsonb(t)::text AS x FROM orders t WHERE tenant_id = '00000000-0000-4000-8000-00000000000b') s ORDER BY x COLLATE "C") TO '$files/plain-orders'
\\copy (SELECT x FROM (SELECT to_jsonb(t)::text AS x FROM items t WHERE tenant_id = '00000000-0000-4000-8000-00000000000b') s ORDER BY x COLLATE "C") TO '$files/plain-items'
SQL
  cat >"$files/export.sql" <<SQL
\\copy (SELECT * FROM tenant_export('big')) TO '$files/big.export'
SQL
  "$PG_BIN/psql" -X -q -c "CREATE TABLE staged (seq bigint PRIMARY KEY, kind text, relation text, data jsonb)"
  cat >"$files/import.sql" <<SQL
SELECT * FROM tenant_import('staged', id => '00000000-0000-4000-8000-0000000000cc', slug => 'big-copy');
SQL
  read -r base_s base_kb < <(measure baseline "$files/baseline.sql")
  read -r exp_s exp_kb < <(measure export "$files/export.sql")
  "$PG_BIN/psql" -X -q -c "\\copy staged FROM '$files/big.export'"
  read -r imp_s imp_kb < <(measure import "$files/import.sql")
  copied="$("$PG_BIN/psql" -X -At -c "SELECT (SELECT count(*) FROM orders WHERE tenant_id = '00000000-0000-4000-8000-0000000000cc') + (SELECT count(*) FROM items WHERE tenant_id = '00000000-0000-4000-8000-0000000000cc')")"
  [ "$copied" = "$actual" ] || { echo "the import copied $copied rows of $actual"; exit 1; }
  mb() { echo "scale=1; $1 / 1024" | bc; }
  printf '| %s | %.1f s | %s MB | %.1f s | %s MB | %.2f | %.1f s | %s MB | %.2f |\n' \
    "$actual" "$base_s" "$(mb "$base_kb")" "$exp_s" "$(mb "$exp_kb")" "$(echo "$exp_kb / $base_kb" | bc -l)" \
    "$imp_s" "$(mb "$imp_kb")" "$(echo "$imp_kb / $base_kb" | bc -l)" >>"$out/report.md"
done
cat "$out/report.md"
