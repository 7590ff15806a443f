# shellcheck shell=bash
# Shared by the pgbench harnesses (isolation.sh, quota_cost.sh).

# Runs one pgbench cell as the ordinary role bench_app, keeps pgbench's output
# in `raw` and prints the cell's TPS (0 when pgbench failed).
pgbench_tps() { # script raw clients seconds
  "$PG_BIN/pgbench" -n -U bench_app -c "$3" -j "$3" -T "$4" -f "$1" postgres >"$2" 2>&1
  local tps
  tps="$(awk '/^tps = / {print $3; exit}' "$2")"
  echo "${tps:-0}"
}
