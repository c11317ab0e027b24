#!/usr/bin/env bash
# Redis message-level faults (a proxy with "protocol": "redis") against a real Redis, through real
# clients (redis-cli, redis-benchmark) and a small RESP2/RESP3 client (python3, below) where a
# check needs exact replies, pipelining or timings:
#
#   0. baseline: redis-benchmark -t get,set -n 20000 -c 50 -P 16 through the proxy, no fault:
#      completes, and Redis's INFO commandstats counts exactly 20000 GETs and 20000 SETs (the
#      codec neither loses nor duplicates pipelined commands);
#   1. redis_error BUSY on GET at probability 0.5: 200 GETs in one redis-cli session get the
#      real server's BUSY text (taken from this Redis, made busy by a script) 35-65% of the time
#      and the value otherwise; separate redis-cli runs see both; SET is untouched;
#      redis-benchmark -t get stops on the error and reports it; presets (OOM, with the text
#      taken from this Redis too, on a command list) and custom text ("ERR boom");
#   2. pipelining: 1000 SET/INCR/GET/ECHO commands in one write with that fault on: every reply
#      is paired with its command (INCR counts 1..250, SET +OK, ECHO its argument, GET its own
#      key's value or BUSY), nothing more arrives;
#   3. redis_empty on key user:*: GET user:1 is (nil) ($-1; _ after HELLO 3) though Redis has
#      it; GET other and STRLEN user:1 (only GET by default) are untouched;
#   4. redis_delay 200ms on GET (added with `brownout fault add`): a GET takes >= 200 ms, a SET
#      or PING on the same connection stays fast;
#   5. redis_drop close on INCR: redis-cli INCR fails with a closed connection, yet the INCR ran
#      (the counter, read directly, went up); mode hang + timeout 500: no reply to INCR nor to a
#      PING after it, the connection closes after ~500 ms; hang without timeout: silence;
#   6. MULTI/EXEC with redis_error on SET: outside a transaction SET fails; inside, the commands
#      are queued and EXEC returns every result; after EXEC SET fails again;
#   7. pub/sub: after SUBSCRIBE the connection is plain forwarding: a PING faulted outside is
#      answered by Redis inside, and published messages arrive;
#   8. a profile with protocol = "redis" and a redis_empty fault, applied with `brownout apply`.
#
# Usage: bash tests/e2e/redis_faults_test.sh /path/to/brownout
# Needs redis-server, redis-cli and redis-benchmark (Debian: redis-server, redis-tools).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/redis.sh
source "$(dirname "${BASH_SOURCE[0]}")/redis.sh"
e2e_init redis_faults

BIN=${1:?usage: $0 /path/to/brownout}
for tool in curl jq python3 timeout redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"
# The interpreter itself, not a version manager's shim (pyenv's costs ~0.5 s a start).
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=""
[[ -x "$PY" ]] || die "python3 does not run"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
unset BROWNOUT_SERVER REDISCLI_AUTH
DIR=$(e2e_mktemp_dir)

start_redis
start_brownout "$BIN"

# ---------------------------------------------------------------------------------------------
# Helpers

check() { # check LABEL CONDITION-RESULT(0/1) DETAIL
  if (($2 == 0)); then pass "$1"; else fail "$1: $3"; fi
}

# direct ARGS...: redis-cli straight to Redis (raw output).
direct() { redis_cli "$REDIS_PORT" "$@" 2>&1 </dev/null; }

# rp ARGS...: redis-cli through the proxy, --no-raw (errors as "(error) ...", nil as "(nil)").
# RP_OUT (stdout and stderr), RP_RC.
rp() {
  RP_OUT=$(redis_cli "$PROXY_PORT" --no-raw "$@" 2>&1 </dev/null)
  RP_RC=$?
}

# redis_calls CMD: calls of CMD Redis has served so far (INFO commandstats, asked directly).
redis_calls() {
  direct info commandstats | tr -d '\r' |
    awk -F'[:,=]' -v c="cmdstat_$1" '$1 == c { print $3; found = 1 } END { if (!found) print 0 }'
}

# add_fault JSON: (re)creates the toxic named in JSON on proxy rd (its counters start at 0).
add_fault() {
  local name
  name=$(jq -r .name <<<"$1")
  api DELETE "/proxies/rd/toxics/$name"
  api POST /proxies/rd/toxics "$1"
  if [[ "$RESP_STATUS" == 200 ]]; then
    pass "POST toxic $name ($(jq -c '{type, probability} + .attributes | with_entries(select(.value != null))' <<<"$1"))"
  else
    fail "POST toxic $name: status $RESP_STATUS body $(_show "$RESP_BODY") for $1"
  fi
}
del_fault() {
  api DELETE "/proxies/rd/toxics/$1"
  [[ "$RESP_STATUS" == 204 ]] || fail "DELETE toxic $1: status $RESP_STATUS body $(_show "$RESP_BODY")"
}

# A RESP client. resp.py PORT STEPS_JSON prints a JSON list, one entry per step:
#   {"cmd": [ARGS...]}           sends it, waits for its reply: {"r": REPLY, "ms": MS}
#   {"send": [[ARGS...], ...]}   sends them all in one write, reads one reply each (or until the
#                                end of the stream): {"rs": [REPLY...], "eof": bool, "ms": MS}
#   {"read": SECS}               reads whatever arrives for up to SECS: {"got": N bytes, "eof":
#                                bool, "ms": MS until the end of the stream or SECS}
# REPLY: {"t": TYPE, "v": VALUE}: "+" "-" ":" "$" ("v" null for $-1) "*" "_" "%" (list of
# [k, v]) "~" ">" ...; or {"t": "eof"} when the stream ended first, {"t": "timeout"} after 5 s
# without a reply.
cat >"$DIR/resp.py" <<'EOF'
import json, socket, sys, time

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.timed_out = False

    def fill(self):
        if self.eof:
            return False
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            self.timed_out = True
            return False
        except (ConnectionResetError, BrokenPipeError):
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def line(self):
        while b"\r\n" not in self.buf:
            if not self.fill():
                raise EOFError
        i = self.buf.index(b"\r\n")
        ln, self.buf = self.buf[:i], self.buf[i + 2:]
        return ln.decode("utf-8", "replace")

    def exact(self, n):
        while len(self.buf) < n + 2:
            if not self.fill():
                raise EOFError
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d.decode("utf-8", "replace")

    def reply(self):
        ln = self.line()
        t, rest = ln[:1], ln[1:]
        if t in "+-":
            return {"t": t, "v": rest}
        if t == ":":
            return {"t": t, "v": int(rest)}
        if t in "$=!":
            n = int(rest)
            return {"t": t, "v": None if n < 0 else self.exact(n)}
        if t in "*~>":
            n = int(rest)
            return {"t": t, "v": None if n < 0 else [self.reply() for _ in range(n)]}
        if t in "%|":
            return {"t": t, "v": [[self.reply(), self.reply()] for _ in range(int(rest))]}
        if t == "_":
            return {"t": "_"}
        if t in ",(#":
            return {"t": t, "v": rest}
        return {"t": "?", "v": ln}

    def reply_or_eof(self):
        try:
            return self.reply()
        except EOFError:
            return {"t": "timeout" if self.timed_out else "eof"}

def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

port, steps = int(sys.argv[1]), json.loads(sys.argv[2])
c = Conn(port)
out = []
for st in steps:
    t0 = time.monotonic()
    if "cmd" in st:
        try:
            c.s.sendall(encode(st["cmd"]))
        except OSError:
            pass
        r = c.reply_or_eof()
        out.append({"r": r, "ms": round((time.monotonic() - t0) * 1000, 3)})
    elif "send" in st:
        try:
            c.s.sendall(b"".join(encode(a) for a in st["send"]))
        except OSError:
            pass
        rs = []
        for _ in st["send"]:
            r = c.reply_or_eof()
            if r["t"] in ("eof", "timeout"):
                break
            rs.append(r)
        out.append({"rs": rs, "eof": c.eof, "ms": round((time.monotonic() - t0) * 1000, 3)})
    elif "read" in st:
        got = len(c.buf)
        c.buf = b""
        c.s.settimeout(0.05)
        deadline = t0 + st["read"]
        while time.monotonic() < deadline and not c.eof:
            try:
                d = c.s.recv(65536)
                if not d:
                    c.eof = True
                got += len(d)
            except socket.timeout:
                pass
            except OSError:
                c.eof = True
        c.s.settimeout(5)
        out.append({"got": got, "eof": c.eof, "ms": round((time.monotonic() - t0) * 1000, 3)})
print(json.dumps(out))
EOF

# rc_steps STEPS_JSON [PORT]: runs resp.py (through the proxy by default); the report in RS.
rc_steps() {
  if RS=$(timeout -k 2 30 "$PY" "$DIR/resp.py" "${2:-$PROXY_PORT}" "$1" 2>"$DIR/resp.err" </dev/null); then
    :
  else
    RS=$(jq -cn --arg e "$(<"$DIR/resp.err")" '{crash: $e}')
  fi
}
# rs_is LABEL JQ: the report satisfies JQ.
rs_is() {
  if jq -e "$2" >/dev/null 2>&1 <<<"$RS"; then
    pass "$1"
  else
    fail "$1: jq '$2' not true for $(head -c 1500 <<<"$RS")"
  fi
}

# ---------------------------------------------------------------------------------------------
# The real server's own error texts, to compare the injected ones with.

# BUSY: Redis answers it while a script runs past busy-reply-threshold (lua-time-limit).
[[ "$(direct config set busy-reply-threshold 100)" == OK ]] || direct config set lua-time-limit 100 >/dev/null
timeout -k 2 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" eval 'while true do end' 0 >"$DIR/busy_script.out" 2>&1 </dev/null &
BUSY_SCRIPT_PID=$!
e2e_track_pid "$BUSY_SCRIPT_PID"
REAL_BUSY=""
for ((i = 0; i < 60; i++)); do # 60 x 0.05 s = 3 s
  sleep 0.05
  out=$(direct get anything)
  if [[ "$out" == BUSY* ]]; then
    REAL_BUSY=$out
    break
  fi
done
for ((i = 0; i < 20; i++)); do # until the script is gone (SCRIPT KILL answers NOTBUSY): 1 s
  [[ "$(direct script kill)" == *NOTBUSY* ]] && break
  sleep 0.05
done
wait "$BUSY_SCRIPT_PID" 2>/dev/null
[[ "$(direct config set busy-reply-threshold 5000)" == OK ]] || direct config set lua-time-limit 5000 >/dev/null
redis_ping "$REDIS_PORT" || die "Redis does not answer PING after the busy script"
if [[ -z "$REAL_BUSY" ]]; then
  REAL_BUSY="BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
  note "could not make Redis busy; using its source's text: $REAL_BUSY"
fi
note "this Redis's BUSY text: $REAL_BUSY"

# OOM: any write with maxmemory 1.
direct config set maxmemory 1 >/dev/null
REAL_OOM=$(direct set oomprobe x)
direct config set maxmemory 0 >/dev/null
[[ "$REAL_OOM" == OOM* ]] || die "could not get Redis's OOM text: $REAL_OOM"
note "this Redis's OOM text: $REAL_OOM"

# ---------------------------------------------------------------------------------------------
# The proxy

api POST /proxies "{\"name\":\"rd\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:$REDIS_PORT\",\"protocol\":\"redis\"}"
expect_status "POST /proxies rd (protocol redis) -> 127.0.0.1:$REDIS_PORT" 201
expect_jq "the proxy as created says protocol redis" '.protocol == "redis"'
PROXY_PORT=$(jq -r '.listen // empty' <<<"$RESP_BODY" 2>/dev/null)
PROXY_PORT=${PROXY_PORT##*:}
[[ "$PROXY_PORT" =~ ^[0-9]+$ && "$PROXY_PORT" != 0 ]] || die "no listen port in $RESP_BODY"
note "proxy rd listens on 127.0.0.1:$PROXY_PORT"
# (Not piped into grep -q: with pipefail, brownout would die of SIGPIPE when grep stops early.)
TYPES=$("$BIN" fault types 2>/dev/null)
grep -q redis_error <<<"$TYPES" || die "$BIN fault types lists no redis_error: the redis faults are not in this build"
rp ping
[[ "$RP_OUT" == PONG ]] || die "redis-cli ping through the proxy: exit $RP_RC: $RP_OUT"

# ---------------------------------------------------------------------------------------------
echo "== 0. baseline: redis-benchmark -P 16 through the proxy, no fault [${SECONDS}s]"

gets0=$(redis_calls get)
sets0=$(redis_calls set)
timeout -k 5 90 redis-benchmark -h 127.0.0.1 -p "$PROXY_PORT" -t get,set -n 20000 -c 50 -P 16 -q >"$DIR/bench0.raw" 2>"$DIR/bench0.err"
rc=$?
tr '\r' '\n' <"$DIR/bench0.raw" | grep -v 'rps=.*overall' >"$DIR/bench0.out"
gets=$(($(redis_calls get) - gets0))
sets=$(($(redis_calls set) - sets0))
note "redis-benchmark: exit $rc: $(tr '\n' ' ' <"$DIR/bench0.out"); stderr: $(head -c 300 "$DIR/bench0.err")"
check "redis-benchmark -t get,set -n 20000 -c 50 -P 16 through the proxy: exit 0, both tests report, no error" \
  "$([[ $rc == 0 && $(grep -c '^SET: ' "$DIR/bench0.out") == 1 && $(grep -c '^GET: ' "$DIR/bench0.out") == 1 ]] && ! grep -qi error "$DIR/bench0.err"; echo $?)" \
  "exit $rc, stdout $(tr '\n' ' ' <"$DIR/bench0.out"), stderr $(head -c 500 "$DIR/bench0.err")"
check "Redis's INFO commandstats: exactly 20000 GETs and 20000 SETs were served" \
  "$([[ $gets == 20000 && $sets == 20000 ]]; echo $?)" "GET +$gets, SET +$sets"

# ---------------------------------------------------------------------------------------------
echo "== 1. redis_error BUSY on GET, probability 0.5 [${SECONDS}s]"

direct set k1 value-1 >/dev/null
add_fault '{"name":"busy","type":"redis_error","probability":0.5,"attributes":{"error":"BUSY","match":{"command":"GET"}}}'
api GET /proxies/rd/toxics/busy
expect_jq "GET the toxic: redis_error BUSY, probability 0.5" '.type == "redis_error" and .probability == 0.5 and .attributes.error == "BUSY"'

# 200 GETs in one redis-cli session (commands on stdin: one at a time, each waits for its reply).
gets0=$(redis_calls get)
# shellcheck disable=SC2034 # i only counts
for ((i = 0; i < 200; i++)); do echo "GET k1"; done >"$DIR/gets.txt"
timeout -k 2 30 redis-cli -h 127.0.0.1 -p "$PROXY_PORT" --no-raw <"$DIR/gets.txt" >"$DIR/gets.out" 2>&1
rc=$?
served=$(($(redis_calls get) - gets0))
n_value=$(grep -cx '"value-1"' "$DIR/gets.out")
n_busy=$(grep -c '^(error) BUSY' "$DIR/gets.out")
n_busy_exact=$(grep -cxF "(error) $REAL_BUSY" "$DIR/gets.out")
n_lines=$(wc -l <"$DIR/gets.out")
note "200 GETs: $n_value values, $n_busy BUSY ($n_busy_exact with Redis's exact text), $n_lines lines, exit $rc; Redis served $served GETs"
check "200 GETs through redis-cli: 200 replies, each the value or BUSY" \
  "$([[ $rc == 0 && $n_lines == 200 && $((n_value + n_busy)) == 200 ]]; echo $?)" "exit $rc; $(sort "$DIR/gets.out" | uniq -c | head -5 | tr '\n' ' ')"
# Binomial(200, 0.5): sigma 7; [70, 130] is > 4 sigma each side.
check "200 GETs at probability 0.5: $n_busy BUSY in [70, 130]" "$([[ $n_busy -ge 70 && $n_busy -le 130 ]]; echo $?)" "$n_busy BUSY, $n_value values"
check "the injected BUSY is the real server's text: '$REAL_BUSY'" "$([[ $n_busy -gt 0 && $n_busy_exact == "$n_busy" ]]; echo $?)" \
  "got $(grep -m1 '^(error) BUSY' "$DIR/gets.out")"

# Separate redis-cli runs (one connection each): both outcomes show up (P(all alike) ~ 4e-6).
seen_busy=0 seen_value=0 seen_other=0
for ((i = 0; i < 20; i++)); do
  rp get k1
  case $RP_OUT in
    '"value-1"') seen_value=$((seen_value + 1)) ;;
    "(error) BUSY"*) seen_busy=$((seen_busy + 1)) ;;
    *) seen_other=$((seen_other + 1)) && note "redis-cli GET k1: exit $RP_RC: $RP_OUT" ;;
  esac
done
check "20 runs of redis-cli GET k1: some BUSY ($seen_busy), some the value ($seen_value), nothing else" \
  "$([[ $seen_busy -gt 0 && $seen_value -gt 0 && $seen_other == 0 ]]; echo $?)" "busy $seen_busy value $seen_value other $seen_other"

# SET is not matched: 100 SETs, all OK, all served by Redis.
sets0=$(redis_calls set)
for ((i = 0; i < 100; i++)); do echo "SET s$i v$i"; done >"$DIR/sets.txt"
timeout -k 2 30 redis-cli -h 127.0.0.1 -p "$PROXY_PORT" --no-raw <"$DIR/sets.txt" >"$DIR/sets.out" 2>&1
n_ok=$(grep -cx OK "$DIR/sets.out")
sets=$(($(redis_calls set) - sets0))
check "100 SETs with the GET fault on: 100 OK, Redis served 100" "$([[ $n_ok == 100 && $sets == 100 ]]; echo $?)" "$n_ok OK, Redis served $sets: $(sort "$DIR/sets.out" | uniq -c | head -3 | tr '\n' ' ')"

# redis-benchmark stops at the first error reply and reports it.
timeout -k 5 60 redis-benchmark -h 127.0.0.1 -p "$PROXY_PORT" -t get -n 20000 -c 50 -q >"$DIR/bench1.raw" 2>"$DIR/bench1.err"
rc=$?
check "redis-benchmark -t get -n 20000 -c 50 with BUSY at 0.5: exits non-zero, reports 'Error from server: BUSY'" \
  "$([[ $rc != 0 ]] && grep -q 'Error from server: BUSY' "$DIR/bench1.err" "$DIR/bench1.raw"; echo $?)" \
  "exit $rc, stderr $(head -c 300 "$DIR/bench1.err"), stdout $(tr '\r' '\n' <"$DIR/bench1.raw" | tail -n 3 | tr '\n' ' ')"
del_fault busy

# Presets on a command list (lower case), with the real text; custom text.
add_fault '{"name":"oom","type":"redis_error","attributes":{"error":"OOM","match":{"command":["set","incr"]}}}'
rc_steps '[{"cmd":["SET","oomk","1"]},{"cmd":["incr","oomc"]},{"cmd":["GET","k1"]},{"cmd":["Set","oomk","2"]}]'
if jq -e --arg oom "$REAL_OOM" '.[0].r == {t: "-", v: $oom} and .[1].r == {t: "-", v: $oom} and .[2].r == {t: "$", v: "value-1"} and .[3].r == {t: "-", v: $oom}' >/dev/null 2>&1 <<<"$RS"; then
  pass "redis_error OOM on [set, incr]: SET, incr and Set get Redis's OOM text '$REAL_OOM', GET passes"
else
  fail "redis_error OOM on [set, incr]: got $RS, expected '$REAL_OOM' for SET/incr/Set and the value for GET"
fi
v=$(direct get oomk)
check "the OOM-faulted SETs did not change the value (the key stays unset)" "$([[ -z "$v" ]]; echo $?)" "oomk is $(_show "$v")"
add_fault '{"name":"oom","type":"redis_error","attributes":{"error":"ERR boom","match":{"command":"GET","key":"k*"}}}'
rc_steps '[{"cmd":["GET","k1"]},{"cmd":["GET","s1"]},{"cmd":["PING"]}]'
rs_is "redis_error 'ERR boom' on GET k*: GET k1 gets -ERR boom; GET s1 and PING pass" \
  '.[0].r == {t: "-", v: "ERR boom"} and .[1].r == {t: "$", v: "v1"} and .[2].r == {t: "+", v: "PONG"}'
del_fault oom

# ---------------------------------------------------------------------------------------------
echo "== 2. pipelining: 1000 commands in one write, BUSY on GET at 0.5 [${SECONDS}s]"

direct del pc >/dev/null
add_fault '{"name":"busy","type":"redis_error","probability":0.5,"attributes":{"error":"BUSY","match":{"command":"GET"}}}'
steps=$("$PY" -c '
import json
cmds = []
for i in range(250):
    cmds += [["SET", f"p:{i}", f"v{i}"], ["INCR", "pc"], ["GET", f"p:{i}"], ["ECHO", f"e{i}"]]
print(json.dumps([{"send": cmds}, {"read": 0.3}]))')
rc_steps "$steps"
verdict=$(jq -r '
  if type != "array" then "no report: \(.)" else
  . as $root | .[0].rs as $rs
  | [range(0; 250) as $i
      | [$rs[4 * $i], $rs[4 * $i + 1], $rs[4 * $i + 2], $rs[4 * $i + 3]] as [$set, $incr, $get, $echo]
      | if $set != {t: "+", v: "OK"} then "SET p:\($i): \($set)"
        elif $incr != {t: ":", v: ($i + 1)} then "INCR #\($i + 1): \($incr)"
        elif $get != {t: "$", v: "v\($i)"} and ($get.t != "-" or ($get.v | startswith("BUSY ") | not)) then "GET p:\($i): \($get)"
        elif $echo != {t: "$", v: "e\($i)"} then "ECHO e\($i): \($echo)"
        else empty end] as $bad
  | ($rs | map(select(.t == "-")) | length) as $nbusy
  | "replies=\($rs | length) bad=\($bad | length) busy=\($nbusy) extra=\($root[1].got) eof=\($root[0].eof) first_bad=\($bad[0] // "none")"
  end' <<<"$RS" 2>&1)
note "pipeline: $verdict"
# shellcheck disable=SC2001 # strips every "key=" at once
read -r replies bad nbusy extra _ <<<"$(sed 's/[a-z_]*=//g' <<<"$verdict")"
check "pipeline of 1000: 1000 replies, each paired with its command (SET +OK, INCR 1..250, GET its value or BUSY, ECHO its word), nothing extra" \
  "$([[ "$replies" == 1000 && "$bad" == 0 && "$extra" == 0 ]]; echo $?)" "$verdict"
check "pipeline of 1000: $nbusy of 250 GETs got BUSY, in [80, 170]" "$([[ "$nbusy" =~ ^[0-9]+$ ]] && ((nbusy >= 80 && nbusy <= 170)); echo $?)" "$verdict"
pc=$(direct get pc)
check "Redis ran every INCR once: pc = 250" "$([[ "$pc" == 250 ]]; echo $?)" "pc = $pc"
del_fault busy

# ---------------------------------------------------------------------------------------------
echo "== 3. redis_empty on key user:* [${SECONDS}s]"

direct set user:1 alice >/dev/null
direct set other bob >/dev/null
add_fault '{"name":"empty","type":"redis_empty","attributes":{"match":{"key":"user:*"}}}'
rp get user:1
check "redis-cli GET user:1: (nil)" "$([[ $RP_RC == 0 && "$RP_OUT" == "(nil)" ]]; echo $?)" "exit $RP_RC: $(_show "$RP_OUT")"
rp get other
check "redis-cli GET other: \"bob\"" "$([[ "$RP_OUT" == '"bob"' ]]; echo $?)" "exit $RP_RC: $(_show "$RP_OUT")"
v=$(direct get user:1)
check "Redis still has user:1 = alice" "$([[ "$v" == alice ]]; echo $?)" "$(_show "$v")"
rc_steps '[{"cmd":["GET","user:1"]},{"cmd":["STRLEN","user:1"]},{"cmd":["GET","other"]},{"cmd":["HELLO","3"]},{"cmd":["GET","user:1"]},{"cmd":["GET","user:2"]},{"cmd":["GET","other"]}]'
rs_is "RESP2: GET user:1 is a null bulk (\$-1); STRLEN user:1 (not GET) is 5; GET other is bob" \
  '.[0].r == {t: "$", v: null} and .[1].r == {t: ":", v: 5} and .[2].r == {t: "$", v: "bob"}'
rs_is "RESP3 (after HELLO 3): GET user:1 and GET user:2 are null (_), GET other is bob" \
  '.[3].r.t == "%" and .[4].r == {t: "_"} and .[5].r == {t: "_"} and .[6].r == {t: "$", v: "bob"}'
del_fault empty
rp get user:1
check "after DELETE empty: GET user:1 is \"alice\"" "$([[ "$RP_OUT" == '"alice"' ]]; echo $?)" "$(_show "$RP_OUT")"

# ---------------------------------------------------------------------------------------------
echo "== 4. redis_delay 200ms on GET (brownout fault add) [${SECONDS}s]"

timeout -k 2 15 "$BIN" -s "$API" fault add rd redis_delay --name slow --set delay=200ms --match command=GET >"$DIR/cli.out" 2>&1
rc=$?
check "brownout fault add rd redis_delay --set delay=200ms --match command=GET: exit 0" "$rc" "exit $rc: $(<"$DIR/cli.out")"
api GET /proxies/rd/toxics/slow
expect_jq "GET the toxic: redis_delay, delay 200 ms, match command GET" \
  '.type == "redis_delay" and (.attributes.delay == 200 or .attributes.delay == "200ms") and (.attributes.match.command | if type == "array" then .[0] else . end | ascii_upcase) == "GET"'
if [[ "$RESP_STATUS" != 200 ]]; then
  note "the CLI did not add the fault: adding it through the API, to check the delay itself"
  add_fault '{"name":"slow","type":"redis_delay","attributes":{"delay":200,"match":{"command":"GET"}}}'
fi
rc_steps '[{"cmd":["PING"]},{"cmd":["GET","k1"]},{"cmd":["SET","k2","x"]},{"cmd":["GET","k1"]},{"cmd":["PING"]}]'
note "timings (ms): $(jq -c '[.[].ms]' <<<"$RS" 2>/dev/null)"
rs_is "redis_delay: each GET takes >= 200 ms (and < 1000), with its value" \
  '.[1].ms >= 200 and .[1].ms < 1000 and .[3].ms >= 200 and .[3].ms < 1000 and .[1].r == {t: "$", v: "value-1"} and .[3].r.v == "value-1"'
rs_is "redis_delay: SET and PING on the same connection stay fast (< 100 ms)" \
  '.[0].ms < 100 and .[2].ms < 100 and .[4].ms < 100 and .[2].r == {t: "+", v: "OK"} and .[4].r == {t: "+", v: "PONG"}'
t0=$(date +%s.%N)
rp get k1
t1=$(date +%s.%N)
secs=$("$PY" -c "print(f'{$t1 - $t0:.3f}')")
check "redis-cli GET k1 through redis_delay: the value, after >= 0.2 s ($secs s)" "$([[ "$RP_OUT" == '"value-1"' ]] && float_ge "$secs" 0.2; echo $?)" "$(_show "$RP_OUT") after $secs s"
del_fault slow

# ---------------------------------------------------------------------------------------------
echo "== 5. redis_drop on INCR [${SECONDS}s]"

direct set dropc 0 >/dev/null
add_fault '{"name":"drop","type":"redis_drop","attributes":{"match":{"command":"INCR"}}}'
rp incr dropc
check "redis-cli INCR dropc (mode close): fails with 'Server closed the connection', exit non-zero" \
  "$([[ $RP_RC != 0 && "$RP_OUT" == *"Server closed the connection"* ]]; echo $?)" "exit $RP_RC: $(_show "$RP_OUT")"
v=$(direct get dropc)
check "the dropped INCR ran: dropc = 1 in Redis" "$([[ "$v" == 1 ]]; echo $?)" "dropc = $(_show "$v")"
rc_steps '[{"cmd":["GET","k1"]},{"cmd":["INCR","dropc"]}]'
rs_is "mode close on the wire: GET answers, then INCR gets no reply, the stream ends" '.[0].r == {t: "$", v: "value-1"} and .[1].r == {t: "eof"}'

add_fault '{"name":"drop","type":"redis_drop","attributes":{"mode":"hang","timeout":500,"match":{"command":"INCR"}}}'
rc_steps '[{"cmd":["PING"]},{"send":[["INCR","dropc"],["PING"]]},{"read":3}]'
rs_is "mode hang, timeout 500: no reply to INCR nor to the PING after it; closed after ~500 ms (>= 450, < 2500)" \
  '.[0].r == {t: "+", v: "PONG"} and .[1].rs == [] and .[1].eof and .[1].ms >= 450 and .[1].ms < 2500'
v=$(direct get dropc)
check "the hung INCRs ran too: dropc = 3" "$([[ "$v" == 3 ]]; echo $?)" "dropc = $(_show "$v")"

add_fault '{"name":"drop","type":"redis_drop","attributes":{"mode":"hang","match":{"command":"INCR"}}}'
"$PY" - "$PROXY_PORT" >"$DIR/hang.out" 2>&1 <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"*1\r\n$4\r\nPING\r\n")
if s.recv(100) != b"+PONG\r\n":
    print("no PONG before the INCR")
    sys.exit(0)
s.sendall(b"*2\r\n$4\r\nINCR\r\n$5\r\ndropc\r\n*1\r\n$4\r\nPING\r\n")
s.settimeout(1.5)
t0 = time.monotonic()
try:
    d = s.recv(100)
    print("eof" if not d else "got %r" % d, round(time.monotonic() - t0, 2))
except socket.timeout:
    print("silent", round(time.monotonic() - t0, 2))
EOF
check "mode hang without timeout: PING answered, then 1.5 s of silence after INCR and PING (no reply, no close)" "$(grep -q '^silent' "$DIR/hang.out"; echo $?)" "$(<"$DIR/hang.out")"
del_fault drop
rp incr dropc
check "after DELETE drop: INCR answers 5 (each earlier INCR ran once)" "$([[ "$RP_OUT" == "(integer) 5" ]]; echo $?)" "exit $RP_RC: $(_show "$RP_OUT")"

# ---------------------------------------------------------------------------------------------
echo "== 6. MULTI/EXEC with redis_error on SET [${SECONDS}s]"

add_fault '{"name":"ro","type":"redis_error","attributes":{"error":"READONLY","match":{"command":"SET"}}}'
direct del m1 m2 >/dev/null
rc_steps '[{"cmd":["SET","m1","outside"]},{"cmd":["MULTI"]},{"cmd":["SET","m1","a"]},{"cmd":["SET","m2","b"]},{"cmd":["GET","m1"]},{"cmd":["EXEC"]},{"cmd":["SET","m2","after"]},{"cmd":["GET","m2"]}]'
rs_is "outside MULTI: SET gets READONLY" '.[0].r.t == "-" and (.[0].r.v | startswith("READONLY "))'
rs_is "inside MULTI: +OK, then every command +QUEUED (nothing injected)" \
  '.[1].r == {t: "+", v: "OK"} and .[2].r == {t: "+", v: "QUEUED"} and .[3].r == {t: "+", v: "QUEUED"} and .[4].r == {t: "+", v: "QUEUED"}'
rs_is "EXEC returns every result: [OK, OK, a]" '.[5].r == {t: "*", v: [{t: "+", v: "OK"}, {t: "+", v: "OK"}, {t: "$", v: "a"}]}'
rs_is "after EXEC: SET gets READONLY again; m2 is still b" '.[6].r.t == "-" and (.[6].r.v | startswith("READONLY ")) and .[7].r == {t: "$", v: "b"}'
# The same through redis-cli (commands on stdin, one connection).
printf 'MULTI\nSET m3 x\nINCR m3n\nEXEC\n' | timeout -k 2 10 redis-cli -h 127.0.0.1 -p "$PROXY_PORT" --no-raw >"$DIR/multi.out" 2>&1
v=$(direct get m3)
check "redis-cli MULTI / SET / INCR / EXEC: EXEC gives both results, Redis has m3 = x" \
  "$([[ "$(tr '\n' '|' <"$DIR/multi.out")" == 'OK|QUEUED|QUEUED|1) OK|2) (integer) 1|' && "$v" == x ]]; echo $?)" "$(_show "$(<"$DIR/multi.out")"), m3 = $(_show "$v")"
del_fault ro

# ---------------------------------------------------------------------------------------------
echo "== 7. pub/sub: plain forwarding after SUBSCRIBE [${SECONDS}s]"

add_fault '{"name":"boom","type":"redis_error","attributes":{"error":"ERR boom","match":{"command":["PING","GET"]}}}'
"$PY" - "$PROXY_PORT" "$REDIS_PORT" >"$DIR/pubsub.out" 2>&1 <<'EOF'
import socket, subprocess, sys, time
proxy, redis = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
def rd(n=1):
    buf = b""
    end = time.monotonic() + 3
    while buf.count(b"\r\n") < n and time.monotonic() < end:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return buf
s.sendall(b"*1\r\n$4\r\nPING\r\n")
print("ping-outside", rd(1))
s.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
print("subscribe", rd(6))
s.sendall(b"*1\r\n$4\r\nPING\r\n")
print("ping-inside", rd(5))
n = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis), "publish", "ch", "hello"],
                   capture_output=True, timeout=5).stdout.strip()
print("publish", n)
print("message", rd(7))
EOF
note "pub/sub: $(tr '\n' ' ' <"$DIR/pubsub.out")"
check "outside pub/sub, PING gets -ERR boom" "$(grep -qF "ping-outside b'-ERR boom\\r\\n'" "$DIR/pubsub.out"; echo $?)" "$(<"$DIR/pubsub.out")"
check "after SUBSCRIBE: PING is answered by Redis itself (the pub/sub pong), not faulted" \
  "$(grep -qF "ping-inside b'*2\\r\\n\$4\\r\\npong\\r\\n\$0\\r\\n\\r\\n'" "$DIR/pubsub.out"; echo $?)" "$(<"$DIR/pubsub.out")"
check "after SUBSCRIBE: a message published directly arrives" \
  "$(grep -qF "message b'*3\\r\\n\$7\\r\\nmessage\\r\\n\$2\\r\\nch\\r\\n\$5\\r\\nhello\\r\\n'" "$DIR/pubsub.out"; echo $?)" "$(<"$DIR/pubsub.out")"
del_fault boom

# ---------------------------------------------------------------------------------------------
echo "== 8. a profile with protocol = \"redis\" (brownout apply) [${SECONDS}s]"

PF_PORT=$(free_port)
cat >"$DIR/cache.toml" <<EOF
[[proxy]]
name = "cache"
listen = "127.0.0.1:$PF_PORT"
upstream = "127.0.0.1:$REDIS_PORT"
protocol = "redis"

[[proxy.fault]]
name = "cold"
type = "redis_empty"
match = { key = "user:*" }
EOF
timeout -k 2 15 "$BIN" -s "$API" apply "$DIR/cache.toml" >"$DIR/apply.out" 2>&1
rc=$?
check "brownout apply cache.toml: exit 0" "$rc" "exit $rc: $(<"$DIR/apply.out")"
api GET /proxies/cache
expect_jq "GET /proxies/cache: protocol redis" '.protocol == "redis"'
a=$(redis_cli "$PF_PORT" --no-raw get user:1 2>&1 </dev/null)
b=$(redis_cli "$PF_PORT" --no-raw get other 2>&1 </dev/null)
check "profile redis_empty on user:*: GET user:1 is (nil), GET other is \"bob\"" "$([[ "$a" == "(nil)" && "$b" == '"bob"' ]]; echo $?)" "user:1 $(_show "$a"), other $(_show "$b")"

# ---------------------------------------------------------------------------------------------
rp ping
check "at the end: redis-cli ping through the proxy: PONG" "$([[ "$RP_OUT" == PONG ]]; echo $?)" "$RP_OUT"
redis_ping "$REDIS_PORT" || fail "Redis itself no longer answers PING"
# Every client is gone: the proxy must have closed each upstream connection too (dropped, hung,
# faulted, pub/sub), leaving Redis with only the INFO connection asking (bounded: 5 s).
for ((i = 0; i < 50; i++)); do
  clients=$(direct info clients | tr -d '\r' | sed -n 's/^connected_clients://p')
  [[ "$clients" == 1 ]] && break
  sleep 0.1
done
check "at the end: Redis has no connection left from the proxy (connected_clients 1: this INFO)" "$([[ "$clients" == 1 ]]; echo $?)" \
  "connected_clients $clients: $(direct client list | tr -d '\r' | awk '{print $2, $NF}' | tr '\n' ';')"

note "total: ${SECONDS}s"
stop_brownout
finish
