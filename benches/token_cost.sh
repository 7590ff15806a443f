#!/usr/bin/env bash
# What a signed context costs: a transaction that names its tenant with
# tenant_set_token (HS256 and EdDSA) against one that names it with
# set_config, the rest of the transaction the same (a one-row read of a
# tenant-scoped table).
#
#   benches/token_cost.sh        # ROUNDS=5 SECONDS_PER_RUN=10 CLIENTS=1 by default
#
# Builds a release install, starts a throwaway PostgreSQL 15 (benches/lib.sh),
# configures a key set, and runs pgbench as the ordinary role bench_app with
# the three scripts interleaved transaction by transaction in each round.
# Reports per round and as medians: the TPS of each script, its ratio to the
# set_config one, and the per-statement latency of the call that names the
# tenant (pgbench -r), in microseconds. Output: benches/results/token_cost-<date>/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

ROUNDS="${ROUNDS:-5}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
CLIENTS="${CLIENTS:-1}"
out="benches/results/token_cost-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"

bash scripts/setup.sh >/dev/null
say "Building and installing pg_tenant (release)"
install_extension --release >/dev/null
# tenant_set_token needs the library preloaded (src/session/token.rs).
export BENCH_EXTRA_OPTS="-c shared_preload_libraries=pg_tenant ${BENCH_EXTRA_OPTS:-}"
bench_cluster_start
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pg_tenant;
CREATE ROLE bench_app LOGIN;
CREATE TABLE items (tenant_id uuid NOT NULL, id int NOT NULL, name text, PRIMARY KEY (tenant_id, id));
SELECT tenant_enable('items');
GRANT SELECT ON items TO bench_app;
SELECT tenant_create('Bench', 'bench');
UPDATE tenant.tenants SET id = 'b0000000-0000-4000-8000-000000000001' WHERE slug = 'bench';
INSERT INTO items SELECT 'b0000000-0000-4000-8000-000000000001', g, 'item ' || g FROM generate_series(1, 1000) g;
VACUUM ANALYZE items;
SQL
# The key set and tokens: an HS256 secret and an Ed25519 key made here (openssl),
# tokens valid for a day.
work="$(mktemp -d)"
openssl genpkey -algorithm ed25519 -outform DER -out "$work/ed.der" 2>/dev/null
python3 - "$work" <<'PY' >"$work/out.txt"
import base64, hashlib, hmac, json, subprocess, sys, time
work = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
secret = b"benchmark secret of thirty-two b"
der = open(f"{work}/ed.der", "rb").read()
pub = subprocess.run(["openssl", "pkey", "-inform", "DER", "-pubout", "-outform", "DER"],
                     input=der, capture_output=True, check=True).stdout[-32:]
claims = {"tenant_id": "b0000000-0000-4000-8000-000000000001",
          "sub": "a0000000-0000-4000-8000-00000000000a", "exp": int(time.time()) + 86400}
def token(alg, kid, sign):
    head = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(sign(f'{head}.{body}'.encode()))}"
def ed_sign(msg):
    open(f"{work}/msg", "wb").write(msg)
    return subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", f"{work}/ed.der", "-keyform", "DER",
                           "-rawin", "-in", f"{work}/msg"], capture_output=True, check=True).stdout
keys = {"keys": [{"kid": "hs", "alg": "HS256", "kty": "oct", "k": b64(secret)},
                 {"kid": "ed", "alg": "EdDSA", "kty": "OKP", "crv": "Ed25519", "x": b64(pub)}]}
print(json.dumps(keys))
print(token("HS256", "hs", lambda m: hmac.new(secret, m, hashlib.sha256).digest()))
print(token("EdDSA", "ed", ed_sign))
PY
keys="$(sed -n 1p "$work/out.txt")"; hs="$(sed -n 2p "$work/out.txt")"; ed="$(sed -n 3p "$work/out.txt")"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v keys="$keys" >/dev/null <<'SQL'
LOAD 'pg_tenant';
ALTER SYSTEM SET pg_tenant.jwt_keys = :'keys';
SELECT pg_reload_conf();
SQL
sleep 1
cat >"$work/set_config.sql" <<'SQL'
BEGIN;
SELECT set_config('app.current_tenant', 'b0000000-0000-4000-8000-000000000001', true);
SELECT name FROM items WHERE id = 42;
COMMIT;
SQL
for v in hs ed; do
  cat >"$work/token_$v.sql" <<SQL
BEGIN;
SELECT tenant_set_token('${!v}');
SELECT name FROM items WHERE id = 42;
COMMIT;
SQL
done
# Each script must work before it is measured.
for s in set_config token_hs token_ed; do
  "$PG_BIN/psql" -X -q -At -U bench_app -v ON_ERROR_STOP=1 -f "$work/$s.sql" >/dev/null \
    || { echo "token_cost: $s.sql fails"; exit 1; }
done
bench_prewarm >/dev/null

printf 'round script tps ratio_to_set_config call_us\n' >"$out/rounds.txt"
for round in $(seq 1 "$ROUNDS"); do
  raw="$work/raw-$round.txt"
  ${PGBENCH_CPUS:+taskset -c "$PGBENCH_CPUS"} "$PG_BIN/pgbench" -n -r -U bench_app -c "$CLIENTS" -j "$CLIENTS" \
    -T "$SECONDS_PER_RUN" -f "$work/set_config.sql@1" -f "$work/token_hs.sql@1" -f "$work/token_ed.sql@1" postgres >"$raw" 2>&1
  awk -v round="$round" -v clients="$CLIENTS" '
    /^SQL script [0-9]+: / { s = $4; sub(/.*\//, "", s); sub(/\.sql$/, "", s) }
    /latency average = / && s != "" { tps[s] = clients * 1000 / $(NF - 1) }
    /set_config\(|tenant_set_token\(/ && s != "" { call[s] = $1 * 1000 }
    END {
      for (k in tps) printf "%s %s %.1f %.3f %.1f\n", round, k, tps[k], tps[k] / tps["set_config"], call[k]
    }' "$raw" | sort >>"$out/rounds.txt"
done
python3 - "$out" <<'PY'
import statistics, sys
out = sys.argv[1]
rows = [l.split() for l in open(f"{out}/rounds.txt").read().splitlines()[1:]]
with open(f"{out}/report.md", "w") as f:
    f.write("# tenant_set_token against set_config (median over rounds)\n\n")
    f.write("| script | TPS | ratio to set_config | µs of the call that names the tenant |\n|---|---|---|---|\n")
    for s in ("set_config", "token_hs", "token_ed"):
        mine = [r for r in rows if r[1] == s]
        med = lambda i: statistics.median(float(r[i]) for r in mine)
        f.write(f"| {s} | {med(2):.0f} | {med(3):.3f} | {med(4):.1f} |\n")
print(open(f"{out}/report.md").read())
PY
cluster_stop
rm -rf "$work"
