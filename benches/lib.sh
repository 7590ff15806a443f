# shellcheck shell=bash
# Shared by the pgbench harnesses (isolation.sh, quota_cost.sh).

# The throwaway cluster of a benchmark: no autovacuum or checkpoint starting in
# the middle of a cell (the load ends with VACUUM ANALYZE and CHECKPOINT),
# shared buffers that hold every table and index of the run (see bench_prewarm), and
# on a machine with several CPUs the server on the last ones and pgbench on
# CPU 0, so the two do not push each other around. PIN=0 turns pinning off.
# BENCH_EXTRA_OPTS: more server settings (benches/statement_times.sh).
bench_cluster_start() {
  export CLUSTER_OPTS="-c autovacuum=off -c checkpoint_timeout=1h -c max_wal_size=20GB -c shared_buffers=${SHARED_BUFFERS:-4GB} ${BENCH_EXTRA_OPTS:-}"
  local cpus
  cpus="$(nproc)"
  if [ "${PIN:-1}" = 1 ] && [ "$cpus" -ge 2 ]; then
    export CLUSTER_CPUS="1-$((cpus - 1))" PGBENCH_CPUS=0
  fi
  cluster_start
}

# Loads every table and index into shared buffers (pg_prewarm, from
# postgresql-contrib) and prints the database's buffer reads so far. Without it
# a variant's statements read pages from the OS cache or not, depending on
# which tables ran before it: the first runs' largest source of noise.
bench_prewarm() {
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT sum(pg_prewarm(c.oid)) >= 0 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'i', 't') AND n.nspname IN ('public', 'tenant', 'pg_toast') \g /dev/null
SQL
  bench_blocks_read
}

# Blocks the benchmark database has read from outside shared buffers so far.
bench_blocks_read() {
  "$PG_BIN/psql" -X -q -At -c "SELECT pg_stat_force_next_flush(); SELECT blks_read FROM pg_stat_database WHERE datname = current_database()" | tail -1
}

# Runs pgbench once as the ordinary role bench_app with every given script at
# the same weight, so each transaction picks one at random: the scripts are
# interleaved transaction by transaction and whatever the machine does during
# the run (another VM's load, frequency changes) falls on all of them alike.
# Keeps pgbench's output in `raw` and prints, per script, a line
#   <script name without .sql> <TPS> <statement ms>
# where TPS = clients / the script's average transaction latency (what the
# script alone would get), and statement ms is the average latency of its one
# statement besides BEGIN, COMMIT/ROLLBACK, set_config and \set. A script
# that failed prints nothing.
pgbench_scripts() { # raw clients seconds script...
  local raw="$1" clients="$2" seconds="$3" weighted=() script
  shift 3
  for script in "$@"; do weighted+=(-f "$script@1"); done
  ${PGBENCH_CPUS:+taskset -c "$PGBENCH_CPUS"} "$PG_BIN/pgbench" -n -r -U bench_app -c "$clients" -j "$clients" \
    -T "$seconds" "${weighted[@]}" postgres >"$raw" 2>&1 || return 0
  awk -v clients="$clients" '
    function name(path) { sub(/.*\//, "", path); sub(/\.sql$/, "", path); return path }
    /^transaction type: .*\.sql$/ { current = name($3); order[++n] = current }   # one script
    /^SQL script [0-9]+: / { current = name($4); order[++n] = current }          # several
    /latency average = / && current != "" { latency[current] = $(NF - 1) }
    /^ +[0-9.]+ +[0-9]+ +/ && current != "" {
      text = $0; sub(/^ +[0-9.]+ +[0-9]+ +/, "", text)
      # "SELECT set_config(..) \; query" (printed with ";") is kept: one message.
      context_only = text ~ /^SELECT set_config/ && text !~ /; *(SELECT|INSERT|UPDATE|DELETE) /
      if (text !~ /^(BEGIN|COMMIT|ROLLBACK);/ && !context_only && text !~ /^\\/) statement[current] = $1
    }
    END { for (i = 1; i <= n; i++) if (latency[order[i]] > 0) printf "%s %.1f %s\n", order[i], clients * 1000 / latency[order[i]], statement[order[i]] }
  ' "$raw"
}

# Prints its arguments in a random order (a new order for every call), so
# that no variant always runs first or last in a round.
shuffled() {
  printf '%s\n' "$@" | shuf
}
