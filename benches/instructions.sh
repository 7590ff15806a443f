#!/usr/bin/env bash
# Instruction counts per statement (valgrind callgrind): a deterministic
# complement to benches/isolation.sh, whose TPS on a shared 2-core machine
# varies by ±20% between runs. Loads the same schema, stops the server, then
# for each workload x variant runs 1,000 transactions (BEGIN; set_config;
# statement; COMMIT) as bench_app in PostgreSQL single-user mode under
# callgrind. Each script runs with N and with 2N transactions and the
# difference is divided by N, which removes every one-time cost (start-up,
# catalog caches, pg_tenant's first registry lookup); the same difference for
# a script without the statement is subtracted, so a figure is the steady-state
# instructions of the statement itself. Ratios compare variants.
#   benches/instructions.sh       (TXNS=1000 by default)
#   PREPARED=1 benches/instructions.sh   statements prepared once and executed
#                                        per transaction, as most drivers do
#   WORKLOADS="point update" VARIANTS="baseline pg_tenant" to measure fewer cells
#   LABEL=quotas                         results go to ...-<LABEL>/ (keeps other runs)
#   TENANT=1                             act for another tenant (tenant t holds
#                                        133600 / t rows; default 500: 267 rows)
#   TENANTS=each                         every transaction acts for a tenant the
#                                        session has not met yet (tenants 1, 2,
#                                        3, ...; TXNS <= 500), as a pooled
#                                        connection serving many tenants does:
#                                        includes pg_tenant's per-tenant lookups
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
cd "$REPO_ROOT"
TXNS="${TXNS:-1000}"
TENANT="${TENANT:-500}"
TENANTS="${TENANTS:-one}"
ROWS=$((133600 / TENANT))
PREPARED="${PREPARED:-}"
if [ "$TENANTS" = each ] && [ "$TXNS" -gt 500 ]; then
  echo "TENANTS=each needs TXNS <= 500 (the 2N run must meet 2N different tenants of the 1,000)"; exit 1
fi
read -r -a WORKLOADS <<<"${WORKLOADS:-point list insert update count}"
read -r -a VARIANTS <<<"${VARIANTS:-baseline pg_tenant pg_tenant_quota better_tenant nself}"

command -v valgrind >/dev/null || { echo "benches/instructions.sh needs valgrind (apt-get install valgrind)"; exit 1; }
bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
cluster_start
say "Loading the benchmark schema"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -f benches/sql/schema.sql >/dev/null
as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null
out="benches/results/instructions-$(date -u +%Y%m%d)${PREPARED:+-prepared}${LABEL:+-$LABEL}"
[ "$TENANTS" = each ] && out="$out-each-tenant"
rm -rf "$out" && mkdir -p "$out"
chmod 777 "$out"

# Tenant 500 has 267 rows, a typical tenant; statement i touches row
# 1 + i % ROWS of it (prepared: the statement computes the row from $1 = i).
# With TENANTS=each, transaction i acts for tenant i and touches its first row
# (prepared: $1 is the row id and $2 the tenant; every variant evaluates the
# same md5(...)::uuid argument, so compare differences, not ratios).
statement() { # workload variant row-id-expression tenant-expression
  local t="rows_$2" where="" and=""
  if [ "$2" = baseline ]; then where="WHERE tenant_id = $4"; and="AND tenant_id = $4"; fi
  case "$1" in
    point) echo "SELECT * FROM $t WHERE id = $3 $and;" ;;
    list) echo "SELECT * FROM $t $where ORDER BY created_at DESC LIMIT 50;" ;;
    count) echo "SELECT count(*) FROM $t $where;" ;;
    update) echo "UPDATE $t SET payload = 'updated' WHERE id = $3 $and;" ;;
    insert) if [ "$2" = baseline ] || [ "$2" = better_tenant ]; then echo "INSERT INTO $t (tenant_id, payload) VALUES ($4, 'new');"; else echo "INSERT INTO $t (payload) VALUES ('new');"; fi ;;
  esac
}
first_row() { # tenant number
  echo $(($1 * 1000000 + 1))
}
script() { # workload|none variant file transactions
  {
    echo "SET ROLE bench_app;"
    if [ -n "$PREPARED" ] && [ "$1" != none ]; then
      if [ "$TENANTS" = each ]; then
        echo "PREPARE q(bigint, uuid) AS $(statement "$1" "$2" '$1' '$2')"
      else
        echo "PREPARE q(bigint) AS $(statement "$1" "$2" "$(first_row "$TENANT") + \$1 % $ROWS" "md5('$TENANT')::uuid")"
      fi
    fi
    local i t
    for i in $(seq 1 "$4"); do
      if [ "$TENANTS" = each ]; then t="$i"; else t="$TENANT"; fi
      echo "BEGIN;"
      echo "SELECT set_config('app.current_tenant', md5('$t')::uuid::text, true);"
      if [ "$1" != none ]; then
        if [ -z "$PREPARED" ] && [ "$TENANTS" = each ]; then
          statement "$1" "$2" "$(first_row "$t")" "md5('$t')::uuid"
        elif [ -z "$PREPARED" ]; then
          statement "$1" "$2" "$(first_row "$t") + $i % $ROWS" "md5('$t')::uuid"
        elif [ "$TENANTS" = each ]; then
          echo "EXECUTE q($(first_row "$t"), md5('$t')::uuid);"
        else
          echo "EXECUTE q($i);"
        fi
      fi
      echo "COMMIT;"
    done
  } >"$3"
  chmod 644 "$3"
}
count_instructions() { # script-file label
  local cg="$out/callgrind.$2"
  as_postgres valgrind --tool=callgrind --callgrind-out-file="$cg" --trace-children=no \
    "$PG_BIN/postgres" --single -D "$CLUSTER_DIR/data" -c fsync=off postgres <"$1" >"$out/$2.log" 2>&1
  awk '/^summary:|^totals:/ {print $2; exit}' "$cg"
}

say "Counting instructions ($TXNS and $((2 * TXNS)) transactions per cell; this takes a while)"
# Steady-state instructions per transaction of a script: (total(2N) - total(N)) / N.
per_transaction() { # workload|none variant label
  script "$1" "$2" "$out/$3-n.sql" "$TXNS"
  script "$1" "$2" "$out/$3-2n.sql" "$((2 * TXNS))"
  local one two
  one="$(count_instructions "$out/$3-n.sql" "$3-n")"
  two="$(count_instructions "$out/$3-2n.sql" "$3-2n")"
  echo $(( (two - one) / TXNS ))
}
context_only="$(per_transaction none baseline none)"
echo "workload variant instructions_per_statement" >"$out/counts.txt"
for w in "${WORKLOADS[@]}"; do
  for v in "${VARIANTS[@]}"; do
    # Better Tenant's list and count scan the whole table (see the plans of
    # benches/isolation.sh): too slow to replay under valgrind, and its cost
    # is obvious there (about 3 TPS).
    if [ "$v" = better_tenant ] && { [ "$w" = list ] || [ "$w" = count ]; }; then
      echo "$w $v seqscan" | tee -a "$out/counts.txt"
      continue
    fi
    echo "$w $v $(( $(per_transaction "$w" "$v" "$w-$v") - context_only ))" | tee -a "$out/counts.txt"
  done
done
python3 - "$out" "$ROWS" "$TENANTS" <<'PY'
import sys, collections
out, tenant_rows, tenants = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [l.split() for l in open(f"{out}/counts.txt").read().splitlines()[1:]]
per = collections.defaultdict(dict)
for w, v, n in rows:
    per[w][v] = int(n) if n.isdigit() else None
fmt = lambda n: f"{n:,}" if n is not None else "full scan"
variants = [v for v in ["baseline", "pg_tenant", "pg_tenant_quota", "better_tenant", "nself"] if any(v in vs for vs in per.values())]
lines = ["| workload | " + " | ".join(variants) + " | pg_tenant / baseline |", "|---|" + "---:|" * (len(variants) + 1)]
for w, vs in per.items():
    ratio = f"{vs['pg_tenant'] / vs['baseline']:.3f}" if vs.get("pg_tenant") and vs.get("baseline") else "—"
    lines.append(f"| {w} | " + " | ".join(fmt(vs.get(v)) for v in variants) + f" | {ratio} |")
mode = "prepared statements" if "-prepared" in out else "simple queries"
who = "every transaction for a tenant the session meets for the first time" if tenants == "each" else f"tenant with {tenant_rows:,} rows"
open(f"{out}/report.md", "w").write(f"Instructions per statement ({mode}; callgrind, single-user mode, {who}, context statement subtracted)\n\n" + "\n".join(lines) + "\n")
print("\n".join(lines))
PY
