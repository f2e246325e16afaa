#!/usr/bin/env bash
# Installs the npm packages when they are missing or older than the lock file,
# then builds (tsc and the man pages). Needs neither root nor Debian packages:
# the fast test path (scripts/test-unit.sh) runs this alone, setup.sh runs it
# after the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund >&2
fi

echo "setup: building" >&2
npm run --silent build >&2
