#!/usr/bin/env bash
# A profile's timeline against a real PostgreSQL: `brownout serve --profile` with two phases
# (calm: no fault; slow: 200 ms of downstream latency on the database proxy) while pgbench runs
# through the proxy. pgbench's per-transaction log, split by the timeline's phases, must show the
# step: a fast median in the calm phase, ~200 ms more in the slow one, fast again after the end.
#
# Usage: bash tests/e2e/profile_postgres_test.sh /path/to/brownout
# Needs PostgreSQL's server binaries and pgbench (Debian: postgresql); missing them is a failure.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
e2e_init profile_postgres

BIN=${1:?usage: $0 /path/to/brownout}
command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required"
command -v python3 >/dev/null || die "python3 is required"
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"
"$BIN" serve --help 2>/dev/null | grep -q -- '--profile' || die "$BIN serve has no --profile option"

# The timeline (ms from its start). Phase boundaries are taken from GET /timeline, these only
# write the profile and size the run.
CALM_MS=4000
SLOW_MS=5000
END_MS=$((CALM_MS + SLOW_MS))
MARGIN_S=0.5      # transactions within this much of a phase boundary are not counted
PGBENCH_SECS=11   # runs past the timeline's end, to see the latency come back down
LATENCY_MS=200

start_postgres
PGBENCH="$PG_BIN/pgbench"
export PGCONNECT_TIMEOUT=5 PGUSER="$PG_USER" PGDATABASE=postgres
unset PGPASSWORD PGSERVICE PGOPTIONS

# One transaction: a single simple-protocol query (one round trip: Query out; RowDescription,
# DataRow, CommandComplete, ReadyForQuery back, which PostgreSQL flushes as one write) and a
# 2 ms client-side sleep so pgbench does not spin both cores at full speed.
SCRIPT="$E2E_TMP/select1.sql"
printf 'SELECT 1;\n\\sleep 2 ms\n' >"$SCRIPT"

# pgbench works against PostgreSQL directly (no proxy).
if out=$(timeout -k 5 30 "$PGBENCH" -h "$PG_HOST" -p "$PG_PORT" -n -M simple -f "$SCRIPT" -c 1 -t 20 2>&1) &&
  grep -q 'number of transactions actually processed: 20/20' <<<"$out"; then
  pass "pgbench runs against PostgreSQL directly"
else
  die "pgbench against PostgreSQL directly failed: $out"
fi

# ---------------------------------------------------------------------------------------------
# The profile

DB_PORT=$(free_port)
PROFILE="$E2E_TMP/pg_brownout.toml"
cat >"$PROFILE" <<TOML
# The database gets slow for a while, then recovers.
[[proxy]]
name = "db"
listen = "127.0.0.1:$DB_PORT"
upstream = "127.0.0.1:$PG_PORT"

[[proxy.fault]]
name = "slow"
type = "latency"
stream = "downstream"
latency = "${LATENCY_MS}ms"

[[phase]]
name = "calm"
duration = "$((CALM_MS / 1000))s"

[[phase]]
name = "slow"
duration = "$((SLOW_MS / 1000))s"
[[phase.fault]]
fault = "slow"
TOML

start_brownout "$BIN" --profile "$PROFILE"

# pgbench through the proxy, at once: the timeline started with the server. Two clients on one
# thread, each on one connection for the whole run (opened in the calm phase), simple protocol,
# a log line per transaction (pgbench_log.PID). Bounded by -T and, in case, by timeout.
LOGDIR=$(e2e_mktemp_dir)
(cd "$LOGDIR" && exec timeout -k 5 $((PGBENCH_SECS + 30)) "$PGBENCH" -h 127.0.0.1 -p "$DB_PORT" \
  -n -M simple -f "$SCRIPT" -c 2 -j 1 -T "$PGBENCH_SECS" -l --log-prefix "$LOGDIR/tx") \
  >"$E2E_TMP/pgbench.out" 2>&1 &
PGBENCH_PID=$!
e2e_track_pid "$PGBENCH_PID"

# ---------------------------------------------------------------------------------------------
# The timeline as the server sees it

# timeline_sample OUT: GET /timeline a few times; keeps the answer with the shortest round trip
# and writes "START_EPOCH RTT_MS" (the wall time the timeline started: the request's midpoint
# minus elapsed_ms) to OUT and the JSON body to OUT.json.
timeline_sample() {
  python3 - "$API/timeline" "$1" <<'EOF'
import json, sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
best = None
for _ in range(5):
    t0 = time.time()
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            body = r.read()
    except OSError as e:
        print(f"GET /timeline failed: {e}", file=sys.stderr)
        time.sleep(0.05)
        continue
    t1 = time.time()
    try:
        j = json.loads(body)
    except ValueError:
        print(f"GET /timeline: not JSON: {body!r}", file=sys.stderr)
        sys.exit(1)
    if best is None or t1 - t0 < best[0]:
        best = (t1 - t0, (t0 + t1) / 2, j)
    time.sleep(0.02)
if best is None:
    sys.exit(1)
rtt, mid, j = best
if not isinstance(j, dict) or not isinstance(j.get("elapsed_ms"), (int, float)):
    print(f"GET /timeline: no elapsed_ms in {json.dumps(j)}", file=sys.stderr)
    sys.exit(1)
start = mid - j["elapsed_ms"] / 1000.0
with open(out, "w") as f:
    f.write(f"{start:.6f} {rtt * 1000:.3f}\n")
with open(out + ".json", "w") as f:
    json.dump(j, f)
EOF
}

# sleep_until EPOCH: sleeps until that wall time (at most 30 s).
sleep_until() {
  python3 -c 'import sys, time
d = float(sys.argv[1]) - time.time()
time.sleep(min(max(d, 0), 30))' "$1"
}

TL="$E2E_TMP/timeline1"
timeline_sample "$TL" || die "GET /timeline failed"
read -r TL_START TL_RTT <"$TL"
tl1=$(<"$TL.json")
note "timeline started at $TL_START (GET /timeline round trip ${TL_RTT} ms): $tl1"
if jq -e '.state == "running" and .phase == "calm" and (.elapsed_ms | type == "number")' <<<"$tl1" >/dev/null; then
  pass "GET /timeline at the start: running, phase calm"
else
  fail "GET /timeline at the start: expected running in phase calm, got $tl1"
fi
want_phases="[{\"name\":\"calm\",\"start_ms\":0,\"end_ms\":$CALM_MS},{\"name\":\"slow\",\"start_ms\":$CALM_MS,\"end_ms\":$END_MS}]"
got_phases=$(jq -c '[.phases[]? | {name, start_ms, end_ms}]' <<<"$tl1" 2>/dev/null)
if [[ "$got_phases" == "$want_phases" ]]; then
  pass "GET /timeline lists the profile's phases: $got_phases"
else
  fail "GET /timeline phases: expected $want_phases, got $got_phases"
fi
if [[ $(curl -s --max-time 5 "$API/proxies" | jq -r '.db.listen // empty') == "127.0.0.1:$DB_PORT" ]]; then
  pass "the profile's proxy db listens on 127.0.0.1:$DB_PORT"
else
  fail "GET /proxies has no db on 127.0.0.1:$DB_PORT: $(curl -s --max-time 5 "$API/proxies")"
fi

# In the middle of the slow phase the server says so.
sleep_until "$(python3 -c "print($TL_START + ($CALM_MS + $END_MS) / 2000)")"
api GET /timeline
expect_jq "GET /timeline mid-way through phase 2: running, phase slow" '.state == "running" and .phase == "slow"'
api GET /proxies/db/toxics
expect_jq "mid-way through phase 2 the proxy db carries the fault slow (latency 200 ms, downstream)" \
  "map(select(.name == \"slow\" and .type == \"latency\" and .stream == \"downstream\" and .attributes.latency == $LATENCY_MS)) | length == 1"

# pgbench ends PGBENCH_SECS after it started (~2 s after the timeline's end). Bounded wait.
for ((i = 0; i < (PGBENCH_SECS + 40) * 10; i++)); do
  kill -0 "$PGBENCH_PID" 2>/dev/null || break
  sleep 0.1
done
wait "$PGBENCH_PID"
PGBENCH_RC=$?
# (PostgreSQL >= 15 prints "number of failed transactions: N (x%)"; any N > 0 is an error.)
if ((PGBENCH_RC == 0)) && grep -q '^number of transactions actually processed: [1-9]' "$E2E_TMP/pgbench.out" &&
  ! grep -Eq '^number of failed transactions: [1-9]' "$E2E_TMP/pgbench.out"; then
  pass "pgbench through the proxy finished without errors"
else
  fail "pgbench through the proxy: exit $PGBENCH_RC: $(tail -n 30 "$E2E_TMP/pgbench.out")"
fi

# After the last phase the timeline is finished.
sleep_until "$(python3 -c "print($TL_START + $END_MS / 1000 + 0.3)")"
api GET /timeline
expect_jq "GET /timeline after the last phase: finished" '.state == "finished"'
api GET /proxies/db/toxics
expect_jq "after the last phase the proxy db carries no fault" 'length == 0'

# ---------------------------------------------------------------------------------------------
# pgbench's latencies per phase

# A log line (PostgreSQL >= 14): client_id transaction_no latency_us script_no epoch_s epoch_us,
# the time stamp being the transaction's end. A transaction counts for a window when it started
# (end - latency) and ended inside it; the windows are the phases (from GET /timeline) minus
# MARGIN_S at each end, and "after" (timeline end + MARGIN_S to the end of the run).
STATS=$(python3 - "$LOGDIR" "$TL_START" "$MARGIN_S" "$TL.json" <<'EOF'
import glob, json, statistics, sys
logdir, t0, margin, tlfile = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
phases = {p["name"]: p for p in json.load(open(tlfile)).get("phases", [])}
calm, slow = phases.get("calm"), phases.get("slow")
if not calm or not slow:
    print("error=no-phases")
    sys.exit(0)
end = slow["end_ms"] / 1000
windows = {
    "calm": (t0 + calm["start_ms"] / 1000 + margin, t0 + calm["end_ms"] / 1000 - margin),
    "slow": (t0 + slow["start_ms"] / 1000 + margin, t0 + slow["end_ms"] / 1000 - margin),
    "after": (t0 + end + margin, float("inf")),
}
lat = {k: [] for k in windows}
total = bad = 0
first = last = None
files = glob.glob(logdir + "/tx.*")
for path in files:
    for line in open(path):
        f = line.split()
        if not f:
            continue
        total += 1
        try:
            us, done = float(f[2]), int(f[4]) + int(f[5]) / 1e6
        except (IndexError, ValueError):
            bad += 1  # "failed", "skipped", or a format this does not know
            continue
        begin = done - us / 1e6
        first = begin if first is None else min(first, begin)
        last = done if last is None else max(last, done)
        for k, (a, b) in windows.items():
            if a <= begin and done <= b:
                lat[k].append(us / 1000)
print(f"files={len(files)} total={total} bad={bad}")
print(f"first_s={(first or t0) - t0:.3f} last_s={(last or t0) - t0:.3f}")
for k, v in lat.items():
    med = statistics.median(v) if v else -1
    p90 = statistics.quantiles(v, n=10)[-1] if len(v) >= 2 else -1
    print(f"{k}_n={len(v)} {k}_median={med:.2f} {k}_p90={p90:.2f} {k}_max={max(v, default=-1):.2f}")
EOF
) || die "analysing pgbench's log failed"
note "pgbench: $(tr '\n' ' ' <<<"$STATS")"
declare -A S
for kv in $STATS; do S[${kv%%=*}]=${kv#*=}; done
[[ -z "${S[error]:-}" ]] || die "cannot split pgbench's log by phase: ${S[error]}"

if ((${S[files]:-0} >= 1 && ${S[bad]:-1} == 0 && ${S[total]:-0} > 0)); then
  pass "pgbench logged ${S[total]} transactions, none failed or unparsable"
else
  fail "pgbench's log: ${S[files]:-0} files, ${S[total]:-0} lines, ${S[bad]:-?} failed or unparsable"
fi
# The first transaction must start early in the calm phase, or phase 1 is hardly measured.
if float_lt "${S[first_s]}" 1.0; then
  pass "pgbench's first transaction started ${S[first_s]} s into the timeline"
else
  fail "pgbench's first transaction started only ${S[first_s]} s into the timeline"
fi

# Enough transactions in each window. Calm: 3 s at a few hundred per second per client (2 ms
# sleep + a fast query); slow: 4 s at most 5 per second per client (one 200 ms round trip each),
# so ~40, asked 20; after: ~1.5 s, asked 50.
if ((S[calm_n] >= 200)); then pass "phase calm: ${S[calm_n]} transactions"; else fail "phase calm: only ${S[calm_n]} transactions"; fi
if ((S[slow_n] >= 20)); then pass "phase slow: ${S[slow_n]} transactions"; else fail "phase slow: only ${S[slow_n]} transactions"; fi
if ((S[after_n] >= 50)); then pass "after the timeline: ${S[after_n]} transactions"; else fail "after the timeline: only ${S[after_n]} transactions"; fi

# Phase 1: no fault. The query itself is well under a millisecond on loopback, plus the 2 ms
# sleep; 50 ms leaves room for a loaded, shared machine.
if float_ge "${S[calm_median]}" 0 && float_lt "${S[calm_median]}" 50; then
  pass "phase calm: median latency ${S[calm_median]} ms < 50 ms"
else
  fail "phase calm: median latency ${S[calm_median]} ms, expected < 50 ms"
fi
# Phase 2: one round trip per transaction, its answer delayed 200 ms by the downstream latency
# fault (every chunk is held 200 ms from when it arrived, so an answer split into chunks still
# costs ~200 ms once), plus the ~2-3 ms of phase 1. Lower bound 190: the fault may not be
# shorter than asked (10 ms for timer rounding); upper 300: scheduling on a loaded machine,
# but not a second round trip delayed (that would be >= 400).
if float_ge "${S[slow_median]}" 190 && float_lt "${S[slow_median]}" 300; then
  pass "phase slow: median latency ${S[slow_median]} ms in [190, 300) ms"
else
  fail "phase slow: median latency ${S[slow_median]} ms, expected in [190, 300) ms (pgbench keeps the connections it opened in phase calm: the fault must reach open connections)"
fi
# After the last phase the timeline's fault is gone again.
if float_ge "${S[after_median]}" 0 && float_lt "${S[after_median]}" 50; then
  pass "after the timeline: median latency ${S[after_median]} ms < 50 ms"
else
  fail "after the timeline: median latency ${S[after_median]} ms, expected < 50 ms"
fi

stop_brownout
finish
