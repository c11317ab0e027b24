#!/usr/bin/env bash
# brownout driven by a real Toxiproxy client library (toxiproxy-node-client, pinned in
# tests/e2e/node/package.json), through node's built-in test runner.
#
# Usage: bash tests/e2e/toxiproxy_client_test.sh /path/to/brownout
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init toxiproxy_client

BIN=${1:?usage: $0 /path/to/brownout}
NODE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/node"

command -v node >/dev/null || die "node is required (Node.js >= 20)"
command -v npm >/dev/null || die "npm is required"
command -v python3 >/dev/null || die "python3 is required"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "Node.js >= 20 is required, found $(node --version)"

if [[ ! -f "$NODE_DIR/node_modules/toxiproxy-node-client/package.json" ]]; then
  echo "installing the pinned client library (npm ci)"
  (cd "$NODE_DIR" && timeout 180 npm ci --no-audit --no-fund) || die "npm ci failed in $NODE_DIR"
fi

start_echo_upstream
start_http_upstream
start_brownout "$BIN"

TAP="$E2E_TMP/node.tap"
(
  cd "$NODE_DIR" &&
    TOXIPROXY_URL="$API" ECHO_PORT="$ECHO_PORT" HTTP_UPSTREAM_PORT="$HTTP_UPSTREAM_PORT" \
      timeout 110 node --test --test-timeout=30000 \
      --test-reporter=spec --test-reporter-destination=stdout \
      --test-reporter=tap --test-reporter-destination="$TAP" \
      client.test.mjs
)
rc=$?

n_pass=$(awk '/^# pass /{print $3}' "$TAP" 2>/dev/null)
n_fail=$(awk '/^# fail /{print $3}' "$TAP" 2>/dev/null)
n_skip=$(awk '/^# skipped /{print $3}' "$TAP" 2>/dev/null)
n_cancel=$(awk '/^# cancelled /{print $3}' "$TAP" 2>/dev/null)
E2E_PASSED=${n_pass:-0}
E2E_FAILED=$((${n_fail:-0} + ${n_cancel:-0}))
if ((rc != 0 && E2E_FAILED == 0)); then
  # node itself failed (crash, timeout, load error) without reporting a failed test.
  fail "node --test exited with status $rc"
fi
# brownout must still be running, and must exit cleanly (status 0) on SIGTERM; counted on top of
# node's results.
stop_brownout
echo "${E2E_NAME}: ${E2E_PASSED} passed, ${E2E_FAILED} failed, ${n_skip:-0} skipped"
((E2E_FAILED == 0)) && exit 0
exit 1
