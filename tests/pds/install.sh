#!/usr/bin/env bash
# Install the reference PDS into .cache/pds (kept between runs; `.ci/run` calls this).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.cache/pds"
mkdir -p "$dest"
cp "$root/tests/pds/package.json" "$root/tests/pds/start-net.js" "$dest/"
cd "$dest"
if [ -f node_modules/.syndicate-installed ] && cmp -s package.json node_modules/.syndicate-package.json; then
  exit 0
fi
npm install --ignore-scripts --no-audit --no-fund --loglevel=error
npm_config_build_from_source=better-sqlite3 npm rebuild better-sqlite3 --loglevel=error >/dev/null
cp package.json node_modules/.syndicate-package.json
touch node_modules/.syndicate-installed
