#!/usr/bin/env bash
# The unit tests alone, for a developer between changes: npm packages if
# missing, the build, then every test that is not end-to-end (the rule is in
# scripts/test-files.mjs). No root, no Debian packages, no SoftHSM, no lint.
# `npm test` remains the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
echo "test: running unit tests" >&2
mapfile -t files < <(node scripts/test-files.mjs unit)
node --test --test-concurrency=2 "$@" "${files[@]}"
