#!/usr/bin/env bash
# Runs the examples against a throwaway cluster of the current PostgreSQL
# (scripts/lib/common.sh, PG_MAJOR as scripts/test.sh sets it) with
# pg_tenant installed and preloaded and an HS256 key in pg_tenant.jwt_keys:
#   python/example.py  psycopg 3 (PyPI) and PyJWT, in target/venv
#   node/example.js    pg and jsonwebtoken (npm ci into examples/node)
#   rust/              tokio-postgres and jsonwebtoken (built into target/examples)
# Each connects as the ordinary roles of schema.sql, names the tenant with a
# bound parameter and with a token, reads and writes, and maps every refusal
# to its HTTP status by SQLSTATE alone; it exits non-zero on any mismatch.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
cd "$REPO_ROOT"
[ -n "${PG_MAJOR:-}" ] && use_pg "$PG_MAJOR"

VENV="$REPO_ROOT/target/venv"
PYJWT="PyJWT==2.10.1"
if ! "$VENV/bin/python" -c 'import jwt, psycopg' 2>/dev/null; then
  bash tests/pgbouncer/setup.sh >/dev/null
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PYJWT"
fi
(cd examples/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
cargo build --quiet --manifest-path examples/rust/Cargo.toml --target-dir target/examples

SECRET="pg_tenant examples: an HS256 secret of 32+ bytes"
KEYS="$(python3 -c 'import base64, json, sys; k = base64.urlsafe_b64encode(sys.argv[1].encode()).decode().rstrip("="); print(json.dumps({"keys": [{"kid": "example-hs", "alg": "HS256", "kty": "oct", "k": k}]}))' "$SECRET")"
CLUSTER_OPTS="-c shared_preload_libraries=pg_tenant" cluster_start
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v keys="$KEYS" >/dev/null <<'SQL'
ALTER SYSTEM SET pg_tenant.jwt_keys = :'keys';
SELECT pg_reload_conf();
SQL
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -f examples/schema.sql >/dev/null

export EXAMPLE_JWT_SECRET="$SECRET"
export EXAMPLE_DSN="postgresql://example_app@127.0.0.1:$PGPORT/postgres"
export EXAMPLE_STRICT_DSN="postgresql://example_strict@127.0.0.1:$PGPORT/postgres"
failed=0
"$VENV/bin/python" examples/python/example.py || failed=1
node examples/node/example.js || failed=1
target/examples/debug/pg-tenant-example || failed=1
cluster_stop
exit "$failed"
