#!/usr/bin/env bash
# certctl demo: the whole certificate lifecycle against the built-in sandbox
# CA (Pebble inside certctl), offline, on 127.0.0.1 only.
# Usage: examples/demo/demo.sh [path/to/certctl]
set -euo pipefail

BIN=${1:-bin/certctl}
[ -x "$BIN" ] || { echo "demo: $BIN not built (run make build)" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
cd "$(dirname "$0")/../.."

WORK=$(mktemp -d "${TMPDIR:-/tmp}/certctl-demo.XXXXXX")
LISTEN=${DEMO_LISTEN:-127.0.0.1:14000}
HTTP_PORT=${DEMO_HTTP_PORT:-5002}
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ certctl %s\n' "$*"; "$BIN" "${GLOBALS[@]}" "$@"; }
# wait_for LOG PATTERN PID: wait up to 10 s for PATTERN in LOG, written by
# the background process PID; show the log and fail if it exits or times out.
wait_for() {
	for _ in $(seq 1 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	cat "$1"
	exit 1
}

step "Starting the sandbox CA (Pebble inside certctl) on $LISTEN"
"$BIN" sandbox --listen "$LISTEN" --http-port "$HTTP_PORT" --validity 24h \
	--ca-out "$WORK/sandbox-ca.pem" --root-out "$WORK/sandbox-root.pem" >"$WORK/sandbox.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/sandbox.log" "Sandbox ACME CA ready" $!
cat "$WORK/sandbox.log"

GLOBALS=(--store "$WORK/certctl.db" --directory "https://$LISTEN/dir" --ca-cert "$WORK/sandbox-ca.pem" --email demo@example.com)

step "Issuing a certificate for demo-a.test (registers an account on first use)"
run issue -d demo-a.test --http-addr "127.0.0.1:$HTTP_PORT" --agree-tos

step "Issuing one certificate for demo-b.test with a second name, www.demo-b.test"
run issue -d demo-b.test -d www.demo-b.test --http-addr "127.0.0.1:$HTTP_PORT"

step "Issuing demo-a.test again: idempotent, kept without asking the CA"
run issue -d demo-a.test --http-addr "127.0.0.1:$HTTP_PORT"

step "Listing what is managed (table)"
run list

step "Listing as JSON (stable schema, see README)"
run list --output json

step "Renewing: nothing is due yet"
run renew --all

serial() { "$BIN" "${GLOBALS[@]}" show "$1" -o json | sed -n 's/^  "serial": "\(.*\)",$/\1/p'; }
BEFORE=$(serial demo-b.test)
step "Forcing a renewal of demo-b.test"
run renew demo-b.test --force
AFTER=$(serial demo-b.test)
echo "serial before: $BEFORE"
echo "serial after:  $AFTER"
[ -n "$AFTER" ] && [ "$BEFORE" != "$AFTER" ] || { echo "demo: serial did not change" >&2; exit 1; }

step "Exporting demo-b.test (cert.pem, chain.pem, fullchain.pem, privkey.pem at 0600)"
run export demo-b.test --dir "$WORK/export/demo-b.test"
ls -l "$WORK/export/demo-b.test"

step "Verifying the exported chain against the sandbox root"
go run ./examples/verifychain -root "$WORK/sandbox-root.pem" -dir "$WORK/export/demo-b.test" -name www.demo-b.test

step "Stopping the sandbox"
kill "${PIDS[0]}" && wait "${PIDS[0]}" 2>/dev/null || true
PIDS=()

# Part two: hot reload. Certificates live 20 seconds; a Go HTTPS server
# (examples/fleet-node, wired from the store, binder and renewal packages)
# serves them and renews them in-process, while a client keeps making
# requests on fresh connections.
LISTEN2=${DEMO_LISTEN2:-127.0.0.1:14001}
HTTP_PORT2=${DEMO_HTTP_PORT2:-5003}
HTTPS_ADDR=${DEMO_HTTPS_ADDR:-127.0.0.1:8443}
step "Starting a second sandbox whose certificates live 20 seconds"
"$BIN" sandbox --listen "$LISTEN2" --http-port "$HTTP_PORT2" --validity 20s \
	--ca-out "$WORK/sandbox2-ca.pem" --root-out "$WORK/sandbox2-root.pem" >"$WORK/sandbox2.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/sandbox2.log" "Sandbox ACME CA ready" $!
GLOBALS=(--store "$WORK/live.db" --directory "https://$LISTEN2/dir" --ca-cert "$WORK/sandbox2-ca.pem" --email demo@example.com)
run issue -d demo-live.test --http-addr "127.0.0.1:$HTTP_PORT2" --agree-tos

step "Building and starting examples/fleet-node on $HTTPS_ADDR (serving the store, renewing in-process)"
go build -o "$WORK/fleet-node" ./examples/fleet-node
go build -o "$WORK/probe" ./examples/probe
SSL_CERT_FILE="$WORK/sandbox2-ca.pem" "$WORK/fleet-node" --store "$WORK/live.db" --listen "$HTTPS_ADDR" --manage >"$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/server.log" "msg=serving" $!

step "Requesting https://demo-live.test/ in a loop while the certificate is renewed three times"
"$WORK/probe" -addr "$HTTPS_ADDR" -name demo-live.test -root "$WORK/sandbox2-root.pem" -changes 3 -timeout 150s

step "Stopping everything the demo started"
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()
echo "Demo complete: issued, listed, renewed (serial $BEFORE -> $AFTER), exported and verified;"
echo "then three renewals were swapped into a running HTTPS server with zero failed requests."
