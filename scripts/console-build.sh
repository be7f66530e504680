#!/usr/bin/env bash
# Builds the web console (console/dist, served by the gateway at /console) unless nothing it is built from changed:
# its own sources, the gateway contract and schemas it imports, and its lockfile. `--force` rebuilds regardless.
set -euo pipefail
cd "$(dirname "$0")/.."
out=console/dist/index.html
if [ "${1:-}" != "--force" ] && [ -f "$out" ] &&
  [ -z "$(find console/src console/index.html console/vite.config.ts console/package-lock.json schema src/user-gateway src/cli/TaskOutcome.ts -newer "$out" -print -quit)" ]; then
  exit 0
fi
[ -x console/node_modules/.bin/vite ] || npm install --prefix console --no-audit --no-fund --loglevel=error
(cd console && ./node_modules/.bin/vite build --logLevel warn)
echo "console built: console/dist"
