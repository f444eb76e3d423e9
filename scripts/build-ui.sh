#!/usr/bin/env bash
# Builds the web UI (ui/) into .artifacts/ui from the pinned npm packages: type-checked by tsc, bundled by esbuild.
set -euo pipefail
cd "$(dirname "$0")/../ui"
stamp="node_modules/.installed"
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --silent --no-audit --no-fund
  touch "$stamp"
fi
node_modules/.bin/tsc -p .
node build.mjs ../.artifacts/ui
