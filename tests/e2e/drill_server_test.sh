#!/usr/bin/env bash
# `brownout drill --server`: a drill that drives a separate `brownout serve`
# over its API, under a lease. Checks that the drill's faults reach the
# server's proxies and its events come back for the verdicts; that every
# fault is gone when the drill ends; and that a drill killed with SIGKILL in
# the middle of a long phase leaves no fault behind once its lease (10 s)
# runs out. Also the lease API's refusals.
# Usage: bash tests/e2e/drill_server_test.sh /path/to/brownout
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init drill_server

BIN=${1:?usage: $0 /path/to/brownout}
start_http_upstream
start_brownout "$BIN"
DIR=$(e2e_mktemp_dir)
PROXY_PORT=$(free_port)

# write_profile FILE PHASE_DURATION
write_profile() {
  cat >"$1" <<TOML
[drill]
title = "a drill on a shared server"

[[proxy]]
name = "web"
listen = "127.0.0.1:$PROXY_PORT"
upstream = "127.0.0.1:$HTTP_UPSTREAM_PORT"

[[proxy.fault]]
name = "slow"
type = "latency"
latency = "200ms"

[[phase]]
name = "slow"
duration = "$2"
[[phase.fault]]
fault = "slow"

[[probe]]
name = "home"
kind = "http"
url = "http://127.0.0.1:$PROXY_PORT/index.html"
every = "50ms"
timeout = "2s"

[steady_state]
probes = ["home"]
before = "1s"
success_rate = ">=0.95"

[[hypothesis]]
name = "home is slow while the server's fault is on"
probe = "home"
during = "slow"
skip = "300ms"
latency_p50 = ">=190ms"
TOML
}

toxics_of_web() { curl -s --max-time 5 "$API/proxies/web/toxics"; }

write_profile "$DIR/short.toml" 2s
set +e
OUT=$(timeout -k 5 60 "$BIN" drill "$DIR/short.toml" --server "$API" --reports "$DIR/out" --quiet 2>&1)
CODE=$?
set -e
printf '%s\n' "$OUT" | sed 's/^/    | /'
[[ "$CODE" == 0 ]] && pass "the drill ran against the server and passed" || fail "exit $CODE"
jq -e '[.hypotheses[] | select(.name | startswith("home is slow"))][0] | .verdict == "PASS"' \
  "$DIR/out/report.json" >/dev/null && pass "the server's latency fault was seen by the probes" ||
  fail "verdicts: $(jq -c '[.hypotheses[] | {name, verdict, why}]' "$DIR/out/report.json")"
jq -e '.faults[] | select(.fault == "web/slow") | .acted >= 10' "$DIR/out/report.json" >/dev/null &&
  grep -q '"action":"fault_added"' "$DIR/out/events.ndjson" &&
  pass "the server's events came back: fault_added, and how often the fault acted" ||
  fail "events: $(head -c 600 "$DIR/out/events.ndjson")"
[[ "$(toxics_of_web)" == "[]" ]] && pass "no fault is left on the server after the drill" ||
  fail "left on the server: $(toxics_of_web)"
curl -s "$API/proxies/web" | jq -e '.enabled == true' >/dev/null &&
  pass "the proxy itself keeps running" || fail "proxy web is gone"

# A drill killed in the middle of a long phase: its lease runs out.
write_profile "$DIR/long.toml" 60s
# Not under `timeout`: SIGKILL must hit the drill itself (the test kills it
# below, so it is bounded).
"$BIN" drill "$DIR/long.toml" --server "$API" --reports "$DIR/killed" --quiet \
  >"$DIR/killed.log" 2>&1 &
DRILL_PID=$!
e2e_track_pid "$DRILL_PID"
for ((i = 0; i < 100; i++)); do # up to 10 s for the phase to start
  [[ "$(toxics_of_web | jq 'length' 2>/dev/null)" == 1 ]] && break
  sleep 0.1
done
[[ "$(toxics_of_web | jq 'length')" == 1 ]] && pass "the long phase's fault is on the server" ||
  fail "the fault never came: $(toxics_of_web) $(tail -5 "$DIR/killed.log")"
# SIGKILL: the drill can clean nothing up.
KILLED_AT=$(date +%s.%N)
kill -KILL "$DRILL_PID"
wait "$DRILL_PID" 2>/dev/null || true
sleep 3
[[ "$(toxics_of_web | jq 'length')" == 1 ]] &&
  pass "3 s after the kill the fault is still there (the lease runs 10 s)" ||
  fail "the fault went before its lease ran out: $(toxics_of_web)"
for ((i = 0; i < 120; i++)); do # up to 12 s more
  [[ "$(toxics_of_web)" == "[]" ]] && break
  sleep 0.1
done
GONE_AFTER=$(python3 -c "import time,sys; print(round(time.time() - float(sys.argv[1]), 1))" "$KILLED_AT")
[[ "$(toxics_of_web)" == "[]" ]] &&
  pass "the lease ran out and the server took the fault away (${GONE_AFTER} s after the kill)" ||
  fail "the fault outlived its lease: $(toxics_of_web)"
float_lt "$GONE_AFTER" 13 && float_ge "$GONE_AFTER" 9 &&
  pass "gone within the lease's 10 s (+ the renewal period and a check)" ||
  fail "gone after $GONE_AFTER s"
curl -s "$API/events?since=0" | jq -e '[.events[] | select(.action == "fault_removed" and
  (.detail | test("lease [0-9a-f]+ \\(expired\\)")))] | length >= 1' >/dev/null &&
  pass "the removal is in the event log, by the expired lease" ||
  fail "events: $(curl -s "$API/events?since=0" | jq -c '[.events[] | select(.action=="fault_removed")]')"
curl -s "$API/timeline" | jq -e '.state != "running"' >/dev/null &&
  pass "the killed drill's timeline was stopped" || fail "timeline: $(curl -s "$API/timeline")"

# The lease API refuses what it cannot do.
api POST "/profiles?lease=5" "$(jq -n --arg t "$(cat "$DIR/short.toml")" '{main: "x.toml", files: {"x.toml": $t}}')"
expect_status "a lease shorter than 100 ms is refused" 400
expect_jq "the error says the range" '.error | test("100 to 3600000")'
api POST /leases/0123456789ab
expect_status "renewing an unknown lease: 404" 404
api DELETE /leases/0123456789ab
expect_status "releasing an unknown lease: 404" 404
api GET /leases/0123456789ab
expect_status "GET on a lease: 405" 405

stop_brownout
finish
