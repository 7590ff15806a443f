# shellcheck shell=bash
# Shared by the pgbench harnesses (isolation.sh, quota_cost.sh).

# The throwaway cluster of a benchmark: no autovacuum or checkpoint starting in
# the middle of a cell (the load ends with VACUUM ANALYZE and CHECKPOINT), and
# on a machine with several CPUs the server on the last ones and pgbench on
# CPU 0, so the two do not push each other around. PIN=0 turns pinning off.
bench_cluster_start() {
  export CLUSTER_OPTS="-c autovacuum=off -c checkpoint_timeout=1h -c max_wal_size=20GB"
  local cpus
  cpus="$(nproc)"
  if [ "${PIN:-1}" = 1 ] && [ "$cpus" -ge 2 ]; then
    export CLUSTER_CPUS="1-$((cpus - 1))" PGBENCH_CPUS=0
  fi
  cluster_start
}

# Runs one pgbench cell as the ordinary role bench_app, keeps pgbench's output
# in `raw` and prints the cell's TPS (0 when pgbench failed).
pgbench_tps() { # script raw clients seconds
  ${PGBENCH_CPUS:+taskset -c "$PGBENCH_CPUS"} "$PG_BIN/pgbench" -n -U bench_app -c "$3" -j "$3" -T "$4" -f "$1" postgres >"$2" 2>&1
  local tps
  tps="$(awk '/^tps = / {print $3; exit}' "$2")"
  echo "${tps:-0}"
}

# Prints its arguments in a random order (a new order for every call), so
# that no variant always runs first or last in a round.
shuffled() {
  printf '%s\n' "$@" | shuf
}
