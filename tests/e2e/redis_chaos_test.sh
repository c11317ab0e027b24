#!/usr/bin/env bash
# brownout's connection-level and loss faults against a real Redis server, driven by
# redis-benchmark through a TCP proxy:
#
#   1. baseline: redis-benchmark -c 50 through the proxy, no fault: every request succeeds;
#   2. connection_limit 10 (reject): with 10 connections held, the 11th and 12th are closed at
#      once and /metrics says active 10, refused 2; then redis-benchmark -c 50 fails (the client
#      reports "Server closed the connection", exits non-zero, completes fewer requests) and
#      /metrics counts the refusals (>= 40 = 50 clients - 10 allowed); removing the fault lets
#      clients in again;
#   3. stall at 1% (downstream, rto 200 ms): redis-benchmark -c 50 -n 20000 -t get completes
#      every request (Redis itself counts 20000 GETs), the median stays low, and the tail grows
#      by >= 150 ms over the baseline's (about 1% of the requests wait >= 200 ms): max, p99.9
#      and the number of requests above 150 ms are compared.
#
# Usage: bash tests/e2e/redis_chaos_test.sh /path/to/brownout
# Needs redis-server, redis-cli and redis-benchmark (Debian: redis-server, redis-tools).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/redis.sh
source "$(dirname "${BASH_SOURCE[0]}")/redis.sh"
e2e_init redis_chaos

BIN=${1:?usage: $0 /path/to/brownout}
for tool in curl jq python3 timeout redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"

CLIENTS=50
REQUESTS=20000
LIMIT=10
RTO_MS=200
# A request counts as "slow" above this; a stalled reply waits >= RTO_MS.
SLOW_MS=150

start_redis
start_brownout "$BIN"

# ---------------------------------------------------------------------------------------------
# Helpers

# metrics_fetch: GET /metrics into METRICS.
metrics_fetch() {
  METRICS=$(curl -s -S --max-time 5 "$API/metrics" 2>&1) || METRICS=""
}

# metric NAME LABEL...: value of the first sample of NAME (from the last metrics_fetch) whose
# labels contain every LABEL (e.g. 'fault="limit"'); empty when there is none.
metric() {
  local name=$1
  shift
  printf '%s\n' "$METRICS" | awk -v n="$name" -v want="$*" '
    BEGIN { k = split(want, w, " ") }
    index($0, n "{") == 1 {
      ok = 1
      for (i = 1; i <= k; i++) if (index($0, w[i]) == 0) ok = 0
      if (ok) { print $NF; exit }
    }'
}

# metric_or0 NAME LABEL...: as metric, 0 when absent.
metric_or0() {
  local v
  v=$(metric "$@")
  echo "${v:-0}"
}

# show_metrics: the proxy's lines of the last metrics_fetch, for failure messages.
show_metrics() {
  printf '%s\n' "$METRICS" | grep -E '^brownout_[a-z_]+\{proxy="redis"' | tr '\n' ';'
}

# wait_metric SECONDS NAME LABELS OP VALUE: polls /metrics (every 0.05 s) until the sample
# satisfies OP (-eq, -ge, -le) VALUE; true on success. METRICS holds the last answer.
wait_metric() {
  local secs=$1 name=$2 labels=$3 op=$4 want=$5 i v
  for ((i = 0; i < secs * 20; i++)); do
    metrics_fetch
    v=$(metric "$name" "$labels")
    if [[ "$v" =~ ^[0-9]+$ ]]; then
      case $op in
        -eq) ((v == want)) && return 0 ;;
        -ge) ((v >= want)) && return 0 ;;
        -le) ((v <= want)) && return 0 ;;
      esac
    fi
    sleep 0.05
  done
  return 1
}

# redis_calls CMD: calls of CMD (get, set, ...) Redis has served so far (INFO commandstats,
# asked directly, not through the proxy).
redis_calls() {
  redis_cli "$REDIS_PORT" info commandstats 2>/dev/null | tr -d '\r' |
    awk -F'[:,=]' -v c="cmdstat_$1" '$1 == c { print $3; found = 1 } END { if (!found) print 0 }'
}

# bench LABEL ARGS...: redis-benchmark through the proxy (bounded: 60 s, SIGKILL 5 s later).
# Writes $E2E_TMP/LABEL.out (stdout, progress lines split on \r) and LABEL.err; sets BENCH_RC,
# BENCH_OUT, BENCH_ERR, BENCH_SECS.
bench() {
  local label=$1 t0 t1
  shift
  BENCH_OUT="$E2E_TMP/$label.out"
  BENCH_ERR="$E2E_TMP/$label.err"
  t0=$(date +%s.%N)
  timeout -k 5 60 redis-benchmark -h 127.0.0.1 -p "$PROXY_PORT" --precision 3 "$@" \
    >"$BENCH_OUT.raw" 2>"$BENCH_ERR"
  BENCH_RC=$?
  t1=$(date +%s.%N)
  BENCH_SECS=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$t0" "$t1")
  tr '\r' '\n' <"$BENCH_OUT.raw" | grep -v 'rps=' >"$BENCH_OUT"
  note "redis-benchmark $label: exit $BENCH_RC after ${BENCH_SECS} s; stderr: $(head -c 300 "$BENCH_ERR" | tr '\n' ' ')"
}

# bench_report: the benchmark's output, for failure messages.
bench_report() {
  echo "exit $BENCH_RC; stderr: $(head -c 500 "$BENCH_ERR" | tr '\n' ' '); stdout: $(grep -E '=====|requests completed|throughput|^ +[0-9.]+ +[0-9.]+ ' "$BENCH_OUT" | head -c 800 | tr '\n' ' ')"
}

# bench_stats FILE: key=value lines per test in the output (prefix get_, set_): completed (the
# "N requests completed" count), rps, avg, min, p50, p95, p99, max (the summary, ms), p999
# (the 99.9th percentile, ms, from the distributions) and slow (requests above SLOW_MS ms).
bench_stats() {
  python3 - "$1" "$SLOW_MS" <<'EOF'
import math, re, sys
path, slow_ms = sys.argv[1], float(sys.argv[2])
tests, cur = {}, None
for line in open(path, errors="replace"):
    m = re.match(r"^====== (\S+) ======", line)
    if m:
        cur = m.group(1).lower()
        tests[cur] = {"points": []}
        continue
    if cur is None:
        continue
    t = tests[cur]
    m = re.match(r"^\s*(\d+) requests completed in ([0-9.]+) seconds", line)
    if m:
        t["completed"] = int(m.group(1))
        continue
    m = re.match(r"^\s*[0-9.]+% <= ([0-9.]+) milliseconds \(cumulative count (\d+)\)", line)
    if m:
        t["points"].append((float(m.group(1)), int(m.group(2))))
        continue
    m = re.match(r"^\s*throughput summary: ([0-9.]+) requests per second", line)
    if m:
        t["rps"] = float(m.group(1))
        continue
    m = re.match(r"^\s*([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s*$", line)
    if m and "rps" in t:
        for k, v in zip(("avg", "min", "p50", "p95", "p99", "max"), m.groups()):
            t[k] = float(v)
for name, t in tests.items():
    pts = sorted(t.pop("points"))
    n = t.get("completed", 0)
    if pts and n:
        need = math.ceil(0.999 * n)
        t["p999"] = next((ms for ms, c in pts if c >= need), pts[-1][0])
        t["slow"] = n - max((c for ms, c in pts if ms <= slow_ms), default=0)
    for k, v in t.items():
        print(f"{name}_{k}={v}")
EOF
}

# load_stats PREFIX: runs bench_stats on BENCH_OUT into the associative array named PREFIX.
declare -A BASE STALL
# shellcheck disable=SC2034  # into is a nameref: the caller's array
load_stats() {
  local -n into=$1
  local kv
  into=()
  while IFS= read -r kv; do
    [[ -n "$kv" ]] && into[${kv%%=*}]=${kv#*=}
  done < <(bench_stats "$BENCH_OUT")
}

# bstat ARRAY KEY: the value or "-1" when missing (so comparisons fail with a message).
bstat() {
  local -n from=$1
  echo "${from[$2]:--1}"
}

# ---------------------------------------------------------------------------------------------
# The proxy

api POST /proxies "{\"name\":\"redis\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:$REDIS_PORT\"}"
expect_status "POST /proxies redis -> 127.0.0.1:$REDIS_PORT" 201
PROXY_PORT=$(printf '%s' "$RESP_BODY" | jq -r '.listen // empty' 2>/dev/null)
PROXY_PORT=${PROXY_PORT##*:}
[[ "$PROXY_PORT" =~ ^[0-9]+$ && "$PROXY_PORT" != 0 ]] || die "no listen port in $RESP_BODY"
note "proxy redis listens on 127.0.0.1:$PROXY_PORT"

if out=$(redis_cli "$PROXY_PORT" ping 2>&1) && [[ "$out" == PONG ]]; then
  pass "redis-cli ping through the proxy: PONG"
else
  die "redis-cli ping through the proxy: $out"
fi

# ---------------------------------------------------------------------------------------------
# 1. Baseline: no fault

bench baseline -c "$CLIENTS" -n "$REQUESTS" -t get,set
load_stats BASE
note "baseline: $(for k in "${!BASE[@]}"; do printf '%s=%s ' "$k" "${BASE[$k]}"; done)"
if ((BENCH_RC == 0)) && [[ "$(bstat BASE get_completed)" == "$REQUESTS" && "$(bstat BASE set_completed)" == "$REQUESTS" ]] &&
  ! grep -qi 'error' "$BENCH_ERR"; then
  pass "baseline: redis-benchmark -c $CLIENTS -n $REQUESTS -t get,set completes every request (GET $(bstat BASE get_rps) req/s, p99 $(bstat BASE get_p99) ms, p99.9 $(bstat BASE get_p999) ms, max $(bstat BASE get_max) ms)"
else
  fail "baseline: redis-benchmark through the proxy did not complete: $(bench_report)"
fi
[[ "$(bstat BASE get_p999)" != -1 ]] || die "could not read the baseline's latency distribution: $(bench_report)"

# ---------------------------------------------------------------------------------------------
# 2. connection_limit 10, reject

# add_limit: (re)creates the fault "limit", so its counters start at zero.
add_limit() {
  api DELETE /proxies/redis/toxics/limit
  api POST /proxies/redis/toxics "{\"name\":\"limit\",\"type\":\"connection_limit\",\"attributes\":{\"max_connections\":$LIMIT,\"mode\":\"reject\"}}"
}

add_limit
expect_status "POST connection_limit max_connections $LIMIT mode reject" 200
expect_jq "the fault as created: connection_limit, $LIMIT, reject" \
  ".name == \"limit\" and .type == \"connection_limit\" and .attributes.max_connections == $LIMIT and .attributes.mode == \"reject\""

# start_holder N FILE: a client that opens N connections one after the other, sends PING on
# each, writes what each got (pong, closed, ...) to FILE and keeps them all open until killed.
# Sets HOLDER_PID.
start_holder() {
  python3 -u - "$PROXY_PORT" "$2" "$1" <<'EOF' >>"$E2E_TMP/holder.log" 2>&1 &
import socket, sys, time
port, out, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
socks, res = [], []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"PING\r\n")
        data = s.recv(64)
        res.append("pong" if data.startswith(b"+PONG") else ("closed" if not data else "other:" + repr(data)))
    except ConnectionResetError:
        res.append("closed")  # closed before PING arrived: the late PING draws an RST
    except OSError as e:
        res.append("error:" + type(e).__name__)
    socks.append(s)
with open(out + ".tmp", "w") as f:
    f.write(" ".join(res) + "\n")
import os
os.rename(out + ".tmp", out)
time.sleep(60)  # held until the test kills us
EOF
  HOLDER_PID=$!
  e2e_track_pid "$HOLDER_PID"
}

# 2a. The limit itself, deterministically: a holder opens 12 connections one after the other,
# each sends PING and waits for PONG or the end of the stream, and keeps them all open. The
# first 10 are served, the last 2 closed at once.
HOLD_FILE="$E2E_TMP/holder.result"
start_holder $((LIMIT + 2)) "$HOLD_FILE"
if wait_for_file "$HOLD_FILE" 15; then
  held=$(<"$HOLD_FILE")
  want="$(printf 'pong %.0s' $(seq "$LIMIT"))closed closed"
  if [[ "$held" == "$want" ]]; then
    pass "12 connections held one after the other: the first $LIMIT answer PONG, the next 2 are closed"
  else
    fail "12 connections held one after the other: expected '$want', got '$held'"
  fi
else
  fail "the connection holder did not report: $(tail -n 5 "$E2E_TMP/holder.log")"
fi
if wait_metric 5 brownout_fault_state 'proxy="redis" fault="limit" figure="active"' -eq "$LIMIT" &&
  [[ "$(metric brownout_fault_state 'proxy="redis"' 'fault="limit"' 'figure="refused"')" == 2 ]]; then
  pass "/metrics with $LIMIT connections held: fault_state active $LIMIT, refused 2"
else
  fail "/metrics with $LIMIT connections held: expected active $LIMIT, refused 2: $(show_metrics)"
fi
if out=$(redis_cli "$PROXY_PORT" ping 2>&1); then rc=0; else rc=$?; fi
if [[ "$out" != *PONG* ]] && ((rc != 0)); then
  pass "redis-cli ping while $LIMIT connections are held fails (exit $rc: $(tr '\n' ' ' <<<"$out"))"
else
  fail "redis-cli ping while $LIMIT connections are held: expected a failure, got exit $rc: $out"
fi
kill -TERM "$HOLDER_PID" 2>/dev/null
wait "$HOLDER_PID" 2>/dev/null
if wait_metric 5 brownout_fault_state 'proxy="redis" fault="limit" figure="active"' -eq 0; then
  pass "the held connections closed: fault_state active 0"
else
  fail "the held connections closed, but fault_state active is not 0 after 5 s: $(show_metrics)"
fi
if redis_ping "$PROXY_PORT"; then
  pass "with the slots free again, redis-cli ping through the limited proxy: PONG"
else
  fail "with the slots free again, redis-cli ping through the limited proxy fails"
fi

# 2b. redis-benchmark -c 50 against the limit, its 10 slots taken by other clients (the rest
# of a fleet holding the pool). redis-benchmark gives up (exit 1) at the first connection it
# sees closed; were the slots its own, its exit would free them and connections still in the
# proxy's accept queue would get a slot instead of a refusal, a race a slow (sanitized) build
# loses. With the slots held elsewhere every one of its connections is refused: >= 40 (50,
# plus the CONFIG GET connection it opens first). Up to 5 runs, each on a fresh fault; the
# client must report the failure every time.
REFUSED_OK=0
BENCH_FAILED_EVERY_TIME=1
COUNTS_CONSISTENT=1
FEWER_EVERY_TIME=1
ACTIVE_OK=1
for ((attempt = 1; attempt <= 5; attempt++)); do
  add_limit
  [[ "$RESP_STATUS" == 200 ]] || fail "re-creating connection_limit: $RESP_STATUS $RESP_BODY"
  rm -f "$E2E_TMP/fleet.result"
  start_holder "$LIMIT" "$E2E_TMP/fleet.result"
  wait_for_file "$E2E_TMP/fleet.result" 15 || fail "the fleet holding the slots did not start"
  wait_metric 5 brownout_fault_state 'proxy="redis" fault="limit" figure="active"' -eq "$LIMIT" ||
    fail "the fleet did not take the $LIMIT slots: $(show_metrics)"
  metrics_fetch
  refused_before=$(metric_or0 brownout_connections_refused_total 'proxy="redis"')
  calls_before=$(($(redis_calls get) + $(redis_calls set)))
  bench "limit$attempt" -c "$CLIENTS" -n "$REQUESTS" -t get,set
  calls=$(($(redis_calls get) + $(redis_calls set) - calls_before))
  kill -TERM "$HOLDER_PID" 2>/dev/null
  wait "$HOLDER_PID" 2>/dev/null
  # The clients are gone: every link they had ends; wait for active 0 (bounded) before counting.
  wait_metric 5 brownout_fault_state 'proxy="redis" fault="limit" figure="active"' -eq 0 || true
  active=$(metric brownout_fault_state 'proxy="redis"' 'fault="limit"' 'figure="active"')
  refused=$(metric brownout_fault_state 'proxy="redis"' 'fault="limit"' 'figure="refused"')
  acted=$(metric brownout_fault_acted_total 'proxy="redis"' 'fault="limit"')
  refused_total=$(($(metric_or0 brownout_connections_refused_total 'proxy="redis"') - refused_before))
  note "attempt $attempt: redis-benchmark exit $BENCH_RC, Redis served $calls GET+SET of $((2 * REQUESTS)); /metrics: refused ${refused:-?}, connections_refused_total +$refused_total, fault_acted ${acted:-?}, active ${active:-?}"

  if ((BENCH_RC == 0)) || ! grep -Eq 'Server closed the connection|Connection reset by peer|Error' "$BENCH_ERR"; then
    BENCH_FAILED_EVERY_TIME=0
    fail "attempt $attempt: redis-benchmark -c $CLIENTS through connection_limit $LIMIT did not report a failure: $(bench_report)"
  fi
  if ((calls >= 2 * REQUESTS)) || grep -q "^ *$REQUESTS requests completed" "$BENCH_OUT"; then
    FEWER_EVERY_TIME=0
    fail "attempt $attempt: redis-benchmark completed a full test through connection_limit $LIMIT ($calls GET+SET served): $(bench_report)"
  fi
  if [[ -z "$refused" || "$refused" != "$refused_total" || "$refused" != "$acted" ]]; then
    COUNTS_CONSISTENT=0
    fail "attempt $attempt: fault_state refused ($refused), connections_refused_total delta ($refused_total) and fault_acted_total ($acted) disagree: $(show_metrics)"
  fi
  if [[ -z "$active" ]] || ((active > LIMIT)); then
    ACTIVE_OK=0
    fail "attempt $attempt: fault_state active ${active:-missing} > $LIMIT: $(show_metrics)"
  fi
  if [[ -n "$refused" ]] && ((refused >= CLIENTS - LIMIT)); then
    REFUSED_OK=1
    break
  fi
done
((BENCH_FAILED_EVERY_TIME)) &&
  pass "redis-benchmark -c $CLIENTS through connection_limit $LIMIT reports the failure: exit $BENCH_RC, '$(head -n 1 "$BENCH_ERR")'"
((FEWER_EVERY_TIME)) &&
  pass "redis-benchmark through connection_limit $LIMIT completes fewer requests than asked (last run: Redis served $calls GET+SET of $((2 * REQUESTS)))"
((COUNTS_CONSISTENT)) &&
  pass "refusals counted alike by fault_state refused, connections_refused_total and fault_acted_total ($refused)"
((ACTIVE_OK)) && pass "fault_state active <= $LIMIT after each run (last: $active)"
if ((REFUSED_OK)); then
  pass "/metrics: fault_state refused $refused >= $((CLIENTS - LIMIT)), connections_refused_total +$refused_total (attempt $attempt)"
else
  fail "/metrics: fault_state refused stayed below $((CLIENTS - LIMIT)) in 5 runs of redis-benchmark -c $CLIENTS: $(show_metrics)"
fi

# 2c. Removing the fault lets everyone in again.
api DELETE /proxies/redis/toxics/limit
expect_status "DELETE connection_limit" 204
if redis_ping "$PROXY_PORT"; then
  pass "after DELETE, redis-cli ping through the proxy: PONG"
else
  fail "after DELETE, redis-cli ping through the proxy fails"
fi
bench recovered -c "$CLIENTS" -n 2000 -t get
if ((BENCH_RC == 0)) && grep -q '^ *2000 requests completed' "$BENCH_OUT" && ! grep -qi 'error' "$BENCH_ERR"; then
  pass "after DELETE, redis-benchmark -c $CLIENTS completes every request again"
else
  fail "after DELETE, redis-benchmark -c $CLIENTS: $(bench_report)"
fi

# ---------------------------------------------------------------------------------------------
# 3. stall at 1% (downstream: Redis's replies), rto 200 ms

# A second GET-only baseline just before, the same run as the one under the fault: the
# comparison takes the better (lower) of the two baselines' tails, so a scheduling hiccup on a
# loaded machine during one baseline does not hide the fault's effect.
declare -A BASE2
bench baseline2 -c "$CLIENTS" -n "$REQUESTS" -t get
load_stats BASE2
if ((BENCH_RC == 0)) && [[ "$(bstat BASE2 get_completed)" == "$REQUESTS" ]] && ! grep -qi 'error' "$BENCH_ERR"; then
  pass "second baseline: redis-benchmark -c $CLIENTS -n $REQUESTS -t get completes every request (p99.9 $(bstat BASE2 get_p999) ms, max $(bstat BASE2 get_max) ms)"
  for k in get_p999 get_max get_slow get_p50; do
    if float_lt "$(bstat BASE2 "$k")" "$(bstat BASE "$k")"; then BASE[$k]=${BASE2[$k]}; fi
  done
else
  fail "second baseline: redis-benchmark through the proxy did not complete: $(bench_report)"
fi

api POST /proxies/redis/toxics '{"name":"stall","type":"stall","stream":"downstream","attributes":{"percentage":1}}'
expect_status "POST stall percentage 1 downstream" 200
expect_jq "the fault as created: stall, 1%, rto $RTO_MS ms" \
  ".name == \"stall\" and .type == \"stall\" and .stream == \"downstream\" and .attributes.percentage == 1 and .attributes.rto == $RTO_MS"

gets_before=$(redis_calls get)
bench stall -c "$CLIENTS" -n "$REQUESTS" -t get
gets=$(($(redis_calls get) - gets_before))
load_stats STALL
note "stall: $(for k in "${!STALL[@]}"; do printf '%s=%s ' "$k" "${STALL[$k]}"; done)"
if ((BENCH_RC == 0)) && [[ "$(bstat STALL get_completed)" == "$REQUESTS" ]] && ! grep -qi 'error' "$BENCH_ERR"; then
  pass "stall 1%: redis-benchmark -c $CLIENTS -n $REQUESTS -t get completes every request, no error (${BENCH_SECS} s)"
else
  fail "stall 1%: redis-benchmark did not complete cleanly: $(bench_report)"
fi
if ((gets == REQUESTS)); then
  pass "stall 1%: Redis served exactly $REQUESTS GETs (no request lost or repeated)"
else
  fail "stall 1%: Redis served $gets GETs, expected $REQUESTS"
fi

b999=$(bstat BASE get_p999) s999=$(bstat STALL get_p999)
bmax=$(bstat BASE get_max) smax=$(bstat STALL get_max)
bslow=$(bstat BASE get_slow) sslow=$(bstat STALL get_slow)
sp50=$(bstat STALL get_p50)
# A stalled reply is late by rto (200 ms; 400, 800... when lost again).
if float_ge "$smax" $((RTO_MS - 5)); then
  pass "stall 1%: max latency $smax ms >= $((RTO_MS - 5)) ms (baseline max $bmax ms)"
else
  fail "stall 1%: max latency $smax ms, expected >= $((RTO_MS - 5)) ms (baseline max $bmax ms)"
fi
# About 1% of 20000 replies (~200; binomial sd ~14) are stalled, so the 99.9th percentile is
# a stalled one: >= 150 ms above the baseline's.
if float_ge "$s999" "$(python3 -c "print($b999 + $SLOW_MS)")"; then
  pass "stall 1%: p99.9 latency $s999 ms >= baseline p99.9 $b999 ms + $SLOW_MS ms"
else
  fail "stall 1%: p99.9 latency $s999 ms, expected >= baseline p99.9 $b999 ms + $SLOW_MS ms"
fi
# Requests above 150 ms: ~1% (asked 0.25%..5%), far more than in the baseline.
if ((sslow >= REQUESTS / 400 && sslow <= REQUESTS / 20 && sslow >= bslow + REQUESTS / 500)); then
  pass "stall 1%: $sslow of $REQUESTS requests took > $SLOW_MS ms (baseline: $bslow)"
else
  fail "stall 1%: $sslow of $REQUESTS requests took > $SLOW_MS ms, expected $((REQUESTS / 400))..$((REQUESTS / 20)) and >= baseline $bslow + $((REQUESTS / 500))"
fi
# Only the tail: the median stays that of a fast local Redis.
if float_ge "$sp50" 0 && float_lt "$sp50" 50; then
  pass "stall 1%: median latency $sp50 ms < 50 ms (baseline $(bstat BASE get_p50) ms)"
else
  fail "stall 1%: median latency $sp50 ms, expected < 50 ms"
fi
metrics_fetch
stall_acted=$(metric_or0 brownout_fault_acted_total 'proxy="redis"' 'fault="stall"')
if ((stall_acted >= CLIENTS)); then
  pass "/metrics: the stall fault attached to $stall_acted links (>= $CLIENTS clients)"
else
  fail "/metrics: brownout_fault_acted_total for stall is $stall_acted, expected >= $CLIENTS: $(show_metrics)"
fi

api DELETE /proxies/redis/toxics/stall
expect_status "DELETE stall" 204
if redis_ping "$PROXY_PORT"; then
  pass "after DELETE stall, redis-cli ping through the proxy: PONG"
else
  fail "after DELETE stall, redis-cli ping through the proxy fails"
fi

stop_brownout
finish
