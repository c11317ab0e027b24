#!/usr/bin/env bash
# The proof (issue 8): profiles/black-friday.toml drilled against the two checkout services of
# examples/checkout/, with a real PostgreSQL and the payment gateway stub behind brownout's
# proxies. What a user would check:
#   naive.py      the drill exits 1; report.json puts its failures during the slow gateway on
#                 payments/gateway_slow (and the other phases' on their faults); junit.xml;
#   resilient.py  the drill exits 0, every phase holds, the recovery is under 10 s; junit.xml;
#                 and afterwards no order is left pending and no order was charged twice.
# The profile is copied with free ports in place of its fixed defaults (26300, 26310, 26311,
# 26320 and PostgreSQL's 5432), fresh ones for each drill.
#
# Usage: bash tests/e2e/checkout_drill_test.sh /path/to/brownout
# CHECKOUT_KEEP_REPORTS=DIR keeps each drill's reports, profile and service log in DIR/NAME/.
# Needs PostgreSQL's server binaries and /usr/bin/python3 with psycopg2 (Debian:
# postgresql, python3-psycopg2; scripts/bootstrap.sh installs them).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
e2e_init checkout_drill

BIN=${1:?usage: $0 /path/to/brownout}
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"
command -v jq >/dev/null || die "jq is required"
command -v curl >/dev/null || die "curl is required"
# The python3 on PATH may be one without Debian's packages: the services need psycopg2.
PY=/usr/bin/python3
"$PY" -c 'import psycopg2' 2>/dev/null || die "$PY cannot import psycopg2 (Debian: python3-psycopg2)"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EXAMPLE="$ROOT/examples/checkout"
PROFILE="$ROOT/profiles/black-friday.toml"
[[ -r "$PROFILE" ]] || die "no $PROFILE"

start_postgres
psql_q() { timeout 20 "$PG_BIN/psql" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAt -c "$1"; }

# wait_http URL SECS: until URL answers 200 (bounded).
wait_http() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1") == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}

# stop_pid PID: SIGTERM, at most 3 s, then SIGKILL.
stop_pid() {
  local i
  kill -TERM "$1" 2>/dev/null || return 0
  for ((i = 0; i < 30; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

STUB_PORT=$(free_port)
"$PY" -u "$EXAMPLE/payment_stub.py" --port "$STUB_PORT" >>"$E2E_TMP/payment_stub.log" 2>&1 &
e2e_track_pid $!
wait_http "http://127.0.0.1:$STUB_PORT/health" 10 || die "payment stub did not start: $(tail -n 5 "$E2E_TMP/payment_stub.log")"
echo "payment stub on 127.0.0.1:$STUB_PORT"

# drill NAME SCRIPT: the service SCRIPT on fresh ports and the drill against it. Sets RC, OUT,
# REPORTS, SERVICE_LOG; the service is stopped afterwards.
drill() {
  local name=$1 script=$2 svc pay db pid copy="$E2E_TMP/$1.toml"
  svc=$(free_port) pay=$(free_port) db=$(free_port)
  while [[ $pay == "$svc" ]]; do pay=$(free_port); done
  while [[ $db == "$svc" || $db == "$pay" ]]; do db=$(free_port); done
  sed -e "s/127\.0\.0\.1:26300\b/127.0.0.1:$svc/g" -e "s/127\.0\.0\.1:26310\b/127.0.0.1:$pay/g" \
    -e "s/127\.0\.0\.1:26311\b/127.0.0.1:$STUB_PORT/g" -e "s/127\.0\.0\.1:26320\b/127.0.0.1:$db/g" \
    -e "s/127\.0\.0\.1:5432\b/127.0.0.1:$PG_PORT/g" "$PROFILE" >"$copy"
  grep -Eq '127\.0\.0\.1:(26300|26310|26311|26320|5432)\b' "$copy" &&
    die "$copy still has a default port: $(grep -En '127\.0\.0\.1:(26300|26310|26311|26320|5432)\b' "$copy")"
  SERVICE_LOG="$E2E_TMP/$name.log"
  "$PY" -u "$EXAMPLE/$script" --port "$svc" --db-host 127.0.0.1 --db-port "$db" \
    --db-user "$PG_USER" --db-name postgres --gateway "http://127.0.0.1:$pay" >>"$SERVICE_LOG" 2>&1 &
  pid=$!
  e2e_track_pid "$pid"
  wait_http "http://127.0.0.1:$svc/health" 10 || die "$script did not start: $(tail -n 5 "$SERVICE_LOG")"
  echo "$script (pid $pid) on 127.0.0.1:$svc; proxies payments :$pay, db :$db"
  REPORTS="$E2E_TMP/$name-reports"
  local t0=$SECONDS
  OUT=$(timeout -k 5 150 "$BIN" drill "$copy" --reports "$REPORTS" --seed 7 2>&1)
  RC=$?
  echo "$OUT" | sed 's/^/    | /'
  echo "drill against $script: exit $RC in $((SECONDS - t0)) s"
  stop_pid "$pid"
  if [[ -n "${CHECKOUT_KEEP_REPORTS:-}" ]]; then # a folder to keep the reports and logs in
    mkdir -p "$CHECKOUT_KEEP_REPORTS/$name" && cp -r "$REPORTS/." "$copy" "$SERVICE_LOG" \
      "$CHECKOUT_KEEP_REPORTS/$name/" || true
  fi
}

# hyp NAME: the hypothesis NAME of the last report, as JSON.
hyp() { jq -c --arg n "$1" '[.hypotheses[] | select(.name == $n)][0]' "$REPORTS/report.json"; }

# junit_ok FAILURES: junit.xml parses, has a case per hypothesis (and the steady state's),
# FAILURES of them failed.
junit_ok() {
  "$PY" - "$REPORTS/junit.xml" "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().findall("./testsuite/testcase")
failed = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
assert len(cases) >= 5, len(cases)
assert len(failed) == int(sys.argv[2]), [c.get("name") for c in failed]
PY
}

SLOW="orders are taken while the gateway is slow"
ERRORS="orders are taken while the gateway fails 30% of charges"
FULL="orders are taken while the database is full"
FAST="checkout answers within 1 s through every fault"
BACK="checkout is back to normal within 10 s"

# ---------------------------------------------------------------------------------------------
# naive.py: falls over, and the report says on what

drill naive naive.py
[[ $RC == 1 ]] && pass "naive: the drill exits 1" || fail "naive: the drill exits 1 (got $RC)"
if [[ -s "$REPORTS/report.json" ]]; then
  jq -e '.status == "FAIL" and .exit_code == 1 and
    ([.windows[].name] == ["before", "gateway_slow", "gateway_errors", "db_full", "after"])' \
    "$REPORTS/report.json" >/dev/null && pass "naive: report.json says FAIL, every phase ran" ||
    fail "naive: report.json: $(jq -c '{status, exit_code, windows: [.windows[].name]}' "$REPORTS/report.json")"
  # Every failure during the slow phase is put on the latency fault: most exactly (the service
  # passes the probe's traceparent on to the gateway, so the proxy's event names the request).
  jq -e '.verdict == "FAIL" and .attribution[0].fault == "payments/gateway_slow" and
    .attribution[0].failures >= 30 and
    ([.attribution[1:][] | select(.failures * 5 > $top)] | length == 0)' \
    --argjson top "$(hyp "$SLOW" | jq '.attribution[0].failures // 0')" <<<"$(hyp "$SLOW")" >/dev/null &&
    pass "naive: the slow phase's failures are attributed to payments/gateway_slow" ||
    fail "naive: slow phase attribution: $(hyp "$SLOW")"
  jq -e '.verdict == "FAIL" and .attribution[0].fault == "payments/gateway_errors"' \
    <<<"$(hyp "$ERRORS")" >/dev/null &&
    pass "naive: the 503 phase's failures are attributed to payments/gateway_errors" ||
    fail "naive: 503 phase attribution: $(hyp "$ERRORS")"
  jq -e '.verdict == "FAIL" and .attribution[0].fault == "db/db_full"' <<<"$(hyp "$FULL")" >/dev/null &&
    pass "naive: the full database's failures are attributed to db/db_full" ||
    fail "naive: db phase attribution: $(hyp "$FULL")"
  jq -e '.verdict == "FAIL" and .checks[0].observed >= 1000' <<<"$(hyp "$FAST")" >/dev/null &&
    pass "naive: p95 latency through the faults is over 1 s" || fail "naive: latency: $(hyp "$FAST")"
else
  fail "naive: no report.json in $REPORTS"
fi
grep -q "✗ $SLOW" <<<"$OUT" && grep -q "failed while payments/gateway_slow was active" <<<"$OUT" &&
  pass "naive: the summary names the failed hypothesis and the fault" ||
  fail "naive: the summary does not name payments/gateway_slow"
[[ -s "$REPORTS/junit.xml" ]] && junit_ok 4 && pass "naive: junit.xml parses, the 4 failed hypotheses are failures" ||
  fail "naive: junit.xml: $(head -c 600 "$REPORTS/junit.xml" 2>/dev/null)"

# ---------------------------------------------------------------------------------------------
# resilient.py: degrades, never falls over, recovers; no order lost or charged twice

stats() { curl -s --max-time 5 "http://127.0.0.1:$STUB_PORT/stats"; }
BEFORE=$(stats)
drill resilient resilient.py
[[ $RC == 0 ]] && pass "resilient: the drill exits 0" || fail "resilient: the drill exits 0 (got $RC; service log: $(tail -n 5 "$SERVICE_LOG"))"
if [[ -s "$REPORTS/report.json" ]]; then
  jq -e '.status == "PASS" and .exit_code == 0 and ([.hypotheses[] | .verdict == "PASS"] | all)' \
    "$REPORTS/report.json" >/dev/null && pass "resilient: report.json says PASS for every hypothesis" ||
    fail "resilient: report.json: $(jq -c '[.status, (.hypotheses[] | [.name, .verdict, .why])]' "$REPORTS/report.json")"
  jq -e '.verdict == "PASS" and .recovery_ms != null and .recovery_ms <= 10000' <<<"$(hyp "$BACK")" >/dev/null &&
    pass "resilient: recovered within 10 s ($(hyp "$BACK" | jq '.recovery_ms') ms)" ||
    fail "resilient: recovery: $(hyp "$BACK")"
  # It degraded rather than merely survived: some orders were answered 202 (pending).
  jq -e '[.hypotheses[] | select(.name == $n)][0] | .checks[0].observed >= 0.95' --arg n "$SLOW" \
    "$REPORTS/report.json" >/dev/null && jq -s -e 'any(.outcome == "degraded")' "$REPORTS/samples.ndjson" \
    >/dev/null && pass "resilient: took orders as pending while the gateway was slow" ||
    fail "resilient: no degraded sample: $(hyp "$SLOW")"
else
  fail "resilient: no report.json in $REPORTS"
fi
[[ -s "$REPORTS/junit.xml" ]] && junit_ok 0 && pass "resilient: junit.xml parses, no failure" ||
  fail "resilient: junit.xml: $(head -c 600 "$REPORTS/junit.xml" 2>/dev/null)"

# The service is stopped; its worker settled the pending orders within the recovery window.
# Every charge it made was a new idempotency key: a retry or a settlement replayed the charge
# instead of charging again.
PENDING=$(psql_q "SELECT count(*) FROM orders WHERE status = 'pending'")
[[ $PENDING == 0 ]] && pass "resilient: no order is left pending" || fail "resilient: $PENDING orders left pending"
DUPES=$(psql_q "SELECT count(*) FROM (SELECT charge_id FROM orders WHERE charge_id IS NOT NULL GROUP BY charge_id HAVING count(*) > 1) d")
[[ $DUPES == 0 ]] && pass "no two orders share a charge" || fail "$DUPES charges are shared by several orders"
AFTER=$(stats)
jq -e -n --argjson a "$BEFORE" --argjson b "$AFTER" '($b.charges - $a.charges) == ($b.keys - $a.keys) and
  ($b.replays - $a.replays) > 0' >/dev/null &&
  pass "resilient: one charge per order, retries replayed ($(jq -n -c --argjson a "$BEFORE" --argjson b "$AFTER" \
    '{charges: ($b.charges - $a.charges), replays: ($b.replays - $a.replays)}'))" ||
  fail "resilient: gateway stats before $BEFORE after $AFTER"

# With no database at all it still answers, at once: 503 with Retry-After.
SVC=$(free_port) NODB=$(free_port)
"$PY" -u "$EXAMPLE/resilient.py" --port "$SVC" --db-port "$NODB" --db-user "$PG_USER" \
  --gateway "http://127.0.0.1:$STUB_PORT" >>"$E2E_TMP/resilient-nodb.log" 2>&1 &
NODB_PID=$!
e2e_track_pid "$NODB_PID"
if wait_http "http://127.0.0.1:$SVC/health" 10; then
  HDRS=$(curl -s -o /dev/null -D - --max-time 5 -w 'time=%{time_total}\n' -X POST \
    -H 'Content-Type: application/json' -d '{"amount_cents": 4999}' "http://127.0.0.1:$SVC/checkout" | tr -d '\r')
  grep -q '^HTTP/1.[01] 503' <<<"$HDRS" && grep -qi '^Retry-After: ' <<<"$HDRS" &&
    float_lt "$(sed -n 's/^time=//p' <<<"$HDRS")" 1 &&
    pass "resilient without a database: 503 with Retry-After in under 1 s" ||
    fail "resilient without a database: $HDRS"
else
  fail "resilient did not start without a database: $(tail -n 5 "$E2E_TMP/resilient-nodb.log")"
fi
stop_pid "$NODB_PID"

finish
