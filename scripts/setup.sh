#!/usr/bin/env bash
# Installs what kmip2pkcs11 needs on a Debian machine and builds it.
# Debian packages are installed only when missing, and only when running as
# root; otherwise the missing ones are named so that a person can install them.
set -euo pipefail
cd "$(dirname "$0")/.."

# Packages the relay (softhsm2) and the test suite (the rest) need.
# gcc builds the fault-injection PKCS#11 module used by the robustness tests;
# python3-pykmip is the third-party KMIP client and libmongocrypt0 MongoDB's
# (scripts/test.sh lists them); opensc gives pkcs11-tool.
packages=(softhsm2 ${KMIP2PKCS11_EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  else
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# npm packages and the build.
bash scripts/build.sh
