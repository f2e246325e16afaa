#!/usr/bin/env bash
# The whole test suite: install, type-check and build, lint, then every test
# under test/ with node's own runner (unit tests and end-to-end tests against a
# real SoftHSM token and real clients; scripts/test-files.mjs lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
KMIP2PKCS11_EXTRA_PACKAGES="python3-pykmip libmongocrypt0 opensc gcc libc6-dev p11-kit p11-kit-modules libnss3-tools libtpm2-pkcs11-1 swtpm tpm2-abrmd libtss2-tcti-swtpm0 libtss2-tcti-tabrmd0 dbus-daemon haproxy ${KMIP2PKCS11_EXTRA_PACKAGES:-}" \
  bash scripts/setup.sh
echo "test: lint" >&2
npx eslint .
echo "test: running tests" >&2
mapfile -t files < <(node scripts/test-files.mjs all)
node --test --test-concurrency=2 "$@" "${files[@]}"
