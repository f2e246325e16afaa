#!/usr/bin/env bash
# A local try-out of a relay pool (deploy/haproxy/README.md): N kmip2pkcs11
# relays on one throw-away SoftHSM token, all with one TLS identity, behind
# HAProxy configured with haproxy.cfg from this directory, all on 127.0.0.1.
# Runs in the foreground; Ctrl-C stops HAProxy and the relays and removes
# every file it made.
#
#   deploy/haproxy/try-pool.sh [N]      N relays, 1 to 9 (default 2)
#
# Needs haproxy, softhsm2 and openssl (Debian packages of those names), and a
# build of this checkout (`npx tsc -p tsconfig.json`), or set KMIP2PKCS11 to
# the relay command. HAProxy listens on KMIP2PKCS11_LISTEN (127.0.0.1:5696),
# relay i on the port i above it, with its [metrics] address (/healthz, which
# HAProxy checks) on port 9696 + i. KMIP2PKCS11_HEALTH_CHECK=kmip has HAProxy
# check with a KMIP request instead, and the relays run without [metrics].
set -euo pipefail

count="${1:-2}"
if [[ ! "$count" =~ ^[1-9]$ ]]; then
  echo "try-pool: the number of relays must be 1 to 9, not \"$count\"" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
read -r -a relay_command <<<"${KMIP2PKCS11:-node $repo/dist/src/cli/main.js}"
if [[ -z "${KMIP2PKCS11:-}" && ! -f "$repo/dist/src/cli/main.js" ]]; then
  echo "try-pool: $repo/dist/src/cli/main.js is missing: run \`npx tsc -p tsconfig.json\` in $repo first, or set KMIP2PKCS11" >&2
  exit 1
fi
for tool in haproxy softhsm2-util openssl; do
  command -v "$tool" >/dev/null || { echo "try-pool: $tool is not installed (apt-get install haproxy softhsm2 openssl)" >&2; exit 1; }
done

listen="${KMIP2PKCS11_LISTEN:-127.0.0.1:5696}"
base_port="${listen##*:}"
health_check="${KMIP2PKCS11_HEALTH_CHECK:-healthz}"
if [[ "$health_check" != healthz && "$health_check" != kmip ]]; then
  echo "try-pool: KMIP2PKCS11_HEALTH_CHECK must be healthz or kmip, not \"$health_check\"" >&2
  exit 2
fi
module=/usr/lib/softhsm/libsofthsm2.so
label=pool
pin=1234

dir="$(mktemp -d -t kmip2pkcs11-pool-XXXXXX)"
pids=()
cleanup() {
  # Only what this script started, by process id: HAProxy and the relays.
  if ((${#pids[@]} > 0)); then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A token of its own: SoftHSM reads SOFTHSM2_CONF, so the system's token
# directory is never touched.
export SOFTHSM2_CONF="$dir/softhsm2.conf"
mkdir "$dir/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label "$label" --pin "$pin" --so-pin 5678 >/dev/null

# One identity for the whole pool: with TLS passed through HAProxy, a client
# must be able to trust whichever relay it reaches.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null

servers=""
for ((i = 1; i <= count; i++)); do
  port=$((base_port + i))
  metrics=""
  check_port=""
  if [[ "$health_check" == healthz ]]; then
    metrics=$'[metrics]\naddr = "127.0.0.1:'$((9696 + i))$'"'
    check_port=" port $((9696 + i))"
  fi
  cat >"$dir/relay$i.toml" <<EOF
version = "v1"

[pkcs11]
lib-path = "$module"

[server]
addr = "127.0.0.1:$port"
state-dir = "$dir/relay$i"

[server.identity]
cert-path = "$dir/cert.pem"
key-path = "$dir/key.pem"

[daemon]
log-target = { type = "file", path = "$dir/relay$i.log" }

$metrics
EOF
  "${relay_command[@]}" -c "$dir/relay$i.toml" &
  pids+=("$!")
  servers+="    server relay$i 127.0.0.1:$port$check_port"$'\n'
done

# Wait for every relay to listen (start-up loads the module and logs in).
for ((i = 1; i <= count; i++)); do
  for ((tries = 0; tries < 200; tries++)); do
    grep -q "Listening on" "$dir/relay$i.log" 2>/dev/null && break
    if ! kill -0 "${pids[i - 1]}" 2>/dev/null; then
      echo "try-pool: relay $i exited during start-up:" >&2
      cat "$dir/relay$i.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  grep -q "Listening on" "$dir/relay$i.log" || { echo "try-pool: relay $i did not start within 20 s; see its log above" >&2; cat "$dir/relay$i.log" >&2; exit 1; }
done

# haproxy.cfg ends inside its backend section, waiting for the server lines.
cat "$here/haproxy.cfg" - >"$dir/haproxy.cfg" <<<"$servers"

cat <<EOF
try-pool: $count relay(s) on token "$label" (user PIN $pin), behind HAProxy on $listen.
  relay pids:       ${pids[*]}   (kill one to watch the failover)
  relay logs:       $dir/relay*.log
  CA for clients:   $dir/cert.pem (name: localhost)
  HAProxy state:    echo "show stat" | socat stdio $dir/admin.sock
  a client:         KMIP2PKCS11_PASSWORD=$pin ${relay_command[*]} client -s $listen --ca $dir/cert.pem --servername localhost -u $label create --algorithm ec
Ctrl-C (or SIGTERM to this script) stops everything.
EOF

# In the background, so that a signal to this script ends the wait at once
# and the EXIT trap stops HAProxy and the relays alike.
KMIP2PKCS11_LISTEN="$listen" KMIP2PKCS11_HEALTH_CHECK="$health_check" KMIP2PKCS11_RELAY_CA="$dir/cert.pem" \
  KMIP2PKCS11_HAPROXY_LOG=stderr KMIP2PKCS11_HAPROXY_SOCKET="$dir/admin.sock" \
  haproxy -db -f "$dir/haproxy.cfg" &
pids+=("$!")
wait "$!"
