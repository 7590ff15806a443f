#!/usr/bin/env bash
# The main job: sets the machine up if needed, builds and installs pg_tenant,
# starts a throwaway PostgreSQL 15 cluster on a free local port, shows two
# tenants isolated from each other (demo/quickstart.sql) and stops the cluster.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh
say "Building and installing pg_tenant into PostgreSQL 15 ($PG_CONFIG)"
install_extension >/tmp/pg_tenant-install.log 2>&1 || { cat /tmp/pg_tenant-install.log; exit 1; }
say "Starting a throwaway PostgreSQL 15 cluster"
cluster_start
echo "    listening on 127.0.0.1:$PGPORT (data in $CLUSTER_DIR, removed on exit)"
"$PG_BIN/psql" -X -q --echo-queries -d postgres -f demo/quickstart.sql 2>&1
say "Done; the throwaway cluster is stopped and removed. Tests: scripts/test.sh"
