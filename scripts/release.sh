#!/usr/bin/env bash
# Records the current version as a release: tags HEAD v<version> (annotated),
# keeps its source in tests/upgrade/releases/pg_tenant-<version>.tar.gz and
# adds it to tests/upgrade/releases/releases.txt with the PostgreSQL majors it
# is released for, so tests/upgrade upgrades from it forever after (without
# needing tags or history). Run on a clean tree, then commit the two files.
#   scripts/release.sh "14 15 16 17 18"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"
majors="${1:-$SUPPORTED_PG_VERSIONS}"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
list=tests/upgrade/releases/releases.txt
[ -z "$(git status --porcelain)" ] || { echo "release: the tree has uncommitted changes"; exit 1; }
if grep -q "^$version " "$list"; then echo "release: $version is already released; bump the version in Cargo.toml"; exit 1; fi
git tag -a "v$version" -m "pg_tenant $version"
git archive "v$version" src sql Cargo.toml Cargo.lock pg_tenant.control | gzip -9n >"tests/upgrade/releases/pg_tenant-$version.tar.gz"
echo "$version $majors $(git rev-parse "v$version^{commit}")" >>"$list"
echo "release: tagged v$version; commit tests/upgrade/releases/ (the tarball and the new line of releases.txt)"
