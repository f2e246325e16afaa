#!/usr/bin/env bash
# The relay benchmark (issue #7): builds, then runs bench/run.ts, which writes
# bench/results/report.md, chart.svg and results.json. Arguments are passed
# on (e.g. `npm run bench -- --quick` for a smoke run of about half a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench: building" >&2
npx tsc -p tsconfig.json >&2
node dist/bench/run.js "$@"
