#!/usr/bin/env bash
# Installs the Node tools of the API contract (buf; @grpc/grpc-js and @grpc/proto-loader for the
# Node client test) into tools/node/node_modules, exactly as tools/node/package-lock.json locks
# them. Idempotent and offline once installed: npm runs only when the lock file changed since.
# Prints the node_modules directory.
set -euo pipefail
cd "$(dirname "$0")/../tools/node"
if ! command -v npm >/dev/null; then
  echo "node_tools.sh: npm not found: install Node.js 18+ (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
stamp=node_modules/.overcast-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi
echo "$PWD/node_modules"
