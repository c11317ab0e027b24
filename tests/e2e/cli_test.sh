#!/usr/bin/env bash
# End-to-end checks of the `brownout` client commands (list, inspect, create, toggle, enable,
# disable, delete, reset, fault add/update/remove/types, completion) against a real server, plus
# the server's observability: GET /metrics (exact counts after known traffic), GET /stats, the
# event log (--events FILE, GET /events?since=ID) and --seed reproducibility.
#
# Usage: bash tests/e2e/cli_test.sh /path/to/brownout
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init cli

BIN=${1:?usage: $0 /path/to/brownout}
command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required"
command -v python3 >/dev/null || die "python3 is required"
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# The CLI must never pick up a server from the caller's environment by accident.
unset BROWNOUT_SERVER

EVFILE="$E2E_TMP/events.jsonl"
start_echo_upstream
start_brownout "$BIN" --events "$EVFILE"
ECHO="127.0.0.1:$ECHO_PORT"

# ---------------------------------------------------------------------------------------------
# Helpers

# Client-side traffic generator: every socket has a timeout, every loop is bounded.
TOOL="$E2E_TMP/tool.py"
cat >"$TOOL" <<'EOF'
import os, socket, sys, time

def conn(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)

def recv_upto(s, size):
    got = b""
    try:
        while len(got) < size:
            c = s.recv(65536)
            if not c:
                break
            got += c
    except OSError:
        pass
    return got

cmd = sys.argv[1]
if cmd == "conns":
    # conns PORT N SIZE: N sequential connections, each sends SIZE known bytes and reads the
    # echo until SIZE bytes or EOF, then closes. Prints the byte counts received, one per conn.
    port, n, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    out = []
    for i in range(n):
        try:
            s = conn(port)
        except OSError:
            out.append("E")
            continue
        data = bytes((i * 7 + j) % 256 for j in range(size))
        try:
            s.sendall(data)
        except OSError:
            pass
        got = recv_upto(s, size)
        s.close()
        if got and got != data[: len(got)]:
            out.append("X")
        else:
            out.append(str(len(got)))
    print(" ".join(out))
elif cmd == "rtt":
    # rtt PORT: seconds for one 4-byte round trip on a fresh connection
    port = int(sys.argv[2])
    s = conn(port)
    t0 = time.monotonic()
    s.sendall(b"ping")
    got = recv_upto(s, 4)
    dt = time.monotonic() - t0
    s.close()
    print("%.4f %d" % (dt, len(got)))
elif cmd == "pattern":
    # pattern PORT N THRESHOLD_S: N sequential connections, "1" where the round trip took at
    # least THRESHOLD_S seconds, "0" otherwise ("E" on an error).
    port, n, thr = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    out = []
    for i in range(n):
        try:
            s = conn(port)
            t0 = time.monotonic()
            s.sendall(b"ping")
            got = recv_upto(s, 4)
            dt = time.monotonic() - t0
            s.close()
            out.append("E" if len(got) != 4 else ("1" if dt >= thr else "0"))
        except OSError:
            out.append("E")
    print("".join(out))
elif cmd == "hold":
    # hold PORT READY RELEASE: connect, one echoed byte, touch READY, keep the connection open
    # until RELEASE exists (at most 20 s), then close.
    port, ready, release = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    s = conn(port)
    s.sendall(b"h")
    got = recv_upto(s, 1)
    with open(ready, "w") as f:
        f.write(str(len(got)))
    deadline = time.monotonic() + 20
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
    s.close()
EOF

CLI_OUT="$E2E_TMP/cli.out"
CLI_ERR="$E2E_TMP/cli.err"
# run CMD...: runs a command (max 15 s); sets RC, OUT (stdout), ERR (stderr).
run() {
  timeout 15 "$@" >"$CLI_OUT" 2>"$CLI_ERR"
  RC=$?
  OUT=$(<"$CLI_OUT")
  ERR=$(<"$CLI_ERR")
}
# cli ARGS...: brownout client command against the test server.
cli() { run "$BIN" -s "$API" "$@"; }

# Number of lines of stderr (0 when empty).
err_lines() { if [[ -z "$ERR" ]]; then echo 0; else printf '%s\n' "$ERR" | wc -l | tr -d ' '; fi; }

# expect_rc LABEL CODE
expect_rc() {
  if [[ "$RC" == "$2" ]]; then
    pass "$1: exit $2"
  else
    fail "$1: expected exit $2, got $RC (stdout $(_show "$OUT"), stderr $(_show "$ERR"))"
  fi
}
# expect_out LABEL EXACT_STDOUT (trailing newlines ignored)
expect_out() {
  if [[ "$OUT" == "$2" ]]; then pass "$1: $(_show "$2")"; else fail "$1: expected stdout $(_show "$2"), got $(_show "$OUT")"; fi
}
# expect_out_re LABEL ERE
expect_out_re() {
  if [[ "$OUT" =~ $2 ]]; then pass "$1"; else fail "$1: stdout $(_show "$OUT") does not match /$2/"; fi
}
# expect_out_jq LABEL FILTER: stdout is JSON and `jq -e FILTER` is true.
expect_out_jq() {
  if printf '%s' "$OUT" | jq -e "$2" >/dev/null 2>&1; then
    pass "$1"
  else
    fail "$1: jq '$2' not true for stdout $(_show "$OUT")"
  fi
}
# expect_err_has LABEL SUBSTRING...
expect_err_has() {
  local label=$1 s missing=()
  shift
  for s in "$@"; do [[ "$ERR" == *"$s"* ]] || missing+=("$s"); done
  if ((${#missing[@]} == 0)); then pass "$label: stderr mentions $*"; else fail "$label: stderr $(_show "$ERR") lacks: ${missing[*]}"; fi
}
# expect_refused LABEL: exit 1, nothing on stdout, exactly one line on stderr.
expect_refused() {
  if [[ "$RC" == 1 && -z "$OUT" && "$(err_lines)" == 1 ]]; then
    pass "$1: exit 1, one-line error $(_show "$ERR")"
  else
    fail "$1: expected exit 1 with empty stdout and a one-line stderr; got exit $RC, stdout $(_show "$OUT"), stderr $(_show "$ERR")"
  fi
}
# expect_usage LABEL: exit 2 and something on stderr.
expect_usage() {
  if [[ "$RC" == 2 && -n "$ERR" ]]; then
    pass "$1: exit 2 ($(_show "$(head -n 1 <<<"$ERR")"))"
  else
    fail "$1: expected exit 2 with a message on stderr; got exit $RC, stdout $(_show "$OUT"), stderr $(_show "$ERR")"
  fi
}

# list_field NAME COL: column COL (1-based, of NAME LISTEN UPSTREAM ENABLED CONNS) of the row
# for proxy NAME in the last `list` output; FAULTS is everything after column 5.
list_field() {
  printf '%s\n' "$OUT" | awk -v n="$1" -v c="$2" '$1 == n { print $c; exit }'
}
list_faults() {
  printf '%s\n' "$OUT" | awk -v n="$1" '$1 == n { for (i = 1; i <= 5; i++) sub(/^[^ ]+ +/, ""); print; exit }'
}

# Prometheus helpers. metric 'NAME{LABELS}' prints the sample value ("" when absent).
METRICS=""
fetch_metrics() { METRICS=$(curl -s --max-time 5 "$API/metrics" 2>/dev/null); }
metric() {
  printf '%s\n' "$METRICS" | awk -v k="$1" 'index($0, k " ") == 1 { print substr($0, length(k) + 2); exit }'
}
# wait_metric KEY EXPECTED [TENTHS]: polls /metrics (default max 5 s) until KEY == EXPECTED.
# Leaves the last value in MVAL.
wait_metric() {
  local key=$1 want=$2 max=${3:-50} i
  for ((i = 0; i < max; i++)); do
    fetch_metrics
    MVAL=$(metric "$key")
    [[ "$MVAL" == "$want" ]] && return 0
    sleep 0.1
  done
  return 1
}
# expect_metric KEY EXPECTED
expect_metric() {
  if wait_metric "$1" "$2"; then pass "metrics: $1 == $2"; else fail "metrics: expected $1 == $2, got '${MVAL}'"; fi
}

proxy_port() { printf '%s' "$1" | jq -r '.listen | split(":") | last' 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
echo "== --help of every command shows an example"

HELP_CMDS=("" "serve" "list" "inspect" "create" "disable" "enable" "toggle" "delete" "reset" "fault"
  "fault add" "fault update" "fault remove" "fault types" "completion")
for c in "${HELP_CMDS[@]}"; do
  # shellcheck disable=SC2086 # word splitting of "fault add" is intended
  run "$BIN" $c --help
  if [[ "$RC" == 0 && "$OUT" == *Example* ]]; then
    pass "brownout ${c:+$c }--help: exit 0 and shows an Example"
  else
    fail "brownout ${c:+$c }--help: expected exit 0 and 'Example' in the output; got exit $RC, output $(_show "$OUT")"
  fi
done

# ---------------------------------------------------------------------------------------------
echo "== create / list / inspect"

cli list --json
expect_rc "list --json (no proxies)" 0
expect_out_jq "list --json (no proxies) is []" '. == []'
cli list
expect_rc "list (no proxies)" 0
if [[ "$OUT" != *NAME*LISTEN* ]]; then pass "list (no proxies): no table rows"; else fail "list (no proxies): shows a table: $(_show "$OUT")"; fi

cli create db --listen 127.0.0.1:0 --upstream "$ECHO"
expect_rc "create db" 0
expect_out_re "create db: 'created proxy db: 127.0.0.1:PORT -> $ECHO'" "^created proxy db: 127\.0\.0\.1:[1-9][0-9]* -> ${ECHO//./\\.}\$"
api GET /proxies/db
expect_jq "create db: API has it enabled with the upstream and no toxics" \
  ".name == \"db\" and .upstream == \"$ECHO\" and .enabled == true and .toxics == []"
DB_LISTEN=$(printf '%s' "$RESP_BODY" | jq -r .listen)
DB_PORT=${DB_LISTEN##*:}
[[ "$DB_PORT" =~ ^[0-9]+$ ]] || die "cannot learn db's listen port from $(_show "$RESP_BODY")"
if [[ "$OUT" == "created proxy db: $DB_LISTEN -> $ECHO" ]]; then pass "create db: printed the real listen address"; else fail "create db: printed $(_show "$OUT"), API listen is $DB_LISTEN"; fi
got=$(python3 "$TOOL" conns "$DB_PORT" 1 50)
if [[ "$got" == 50 ]]; then pass "create db: bytes flow through the new proxy"; else fail "create db: echo through proxy got '$got', want 50"; fi

cli --json create db2 --listen 127.0.0.1:0 --upstream "$ECHO"
expect_rc "--json create db2" 0
expect_out_jq "--json create db2: proxy object" \
  "(keys | sort) == [\"enabled\",\"listen\",\"name\",\"toxics\",\"upstream\"] and .name == \"db2\" and .upstream == \"$ECHO\" and .enabled == true and .toxics == [] and (.listen | test(\"^127\\\\.0\\\\.0\\\\.1:[1-9][0-9]*\$\"))"
DB2_PORT=$(proxy_port "$OUT")

cli create db --listen 127.0.0.1:0 --upstream "$ECHO"
expect_refused "create db again (duplicate)"
expect_err_has "create db again" "already exists"

cli create db3 --json --listen 127.0.0.1:0 --upstream "$ECHO"
expect_rc "create db3 --json (flag after the command)" 0
expect_out_jq "create db3 --json: proxy object" '.name == "db3" and .enabled == true'

cli inspect db
expect_rc "inspect db" 0
expect_out_re "inspect db: proxy line" $'(^|\n)proxy +db(\n|$)'
expect_out_re "inspect db: listen line" $'(^|\n)listen +'"${DB_LISTEN//./\\.}"$'(\n|$)'
expect_out_re "inspect db: upstream line" $'(^|\n)upstream +'"${ECHO//./\\.}"$'(\n|$)'
expect_out_re "inspect db: enabled line" $'(^|\n)enabled +yes(\n|$)'
expect_out_re "inspect db: no faults" $'(^|\n)faults +none(\n|$)'
cli inspect db --json
expect_rc "inspect db --json" 0
expect_out_jq "inspect db --json: the API's proxy object" \
  ".name == \"db\" and .listen == \"$DB_LISTEN\" and .upstream == \"$ECHO\" and .enabled == true and .toxics == []"

cli list
expect_rc "list" 0
header=$(head -n 1 <<<"$OUT" | tr -s ' ')
if [[ "$header" == "NAME LISTEN UPSTREAM ENABLED CONNS FAULTS" ]]; then pass "list: header NAME LISTEN UPSTREAM ENABLED CONNS FAULTS"; else fail "list: header is $(_show "$header")"; fi
rows=$(tail -n +2 <<<"$OUT" | awk '{print $1}' | tr '\n' ' ')
if [[ "$rows" == "db db2 db3 " ]]; then pass "list: one row per proxy, sorted (db db2 db3)"; else fail "list: rows are '$rows', want 'db db2 db3 '"; fi
row="$(list_field db 2) $(list_field db 3) $(list_field db 4) $(list_field db 5) $(list_faults db)"
if [[ "$row" == "$DB_LISTEN $ECHO yes 0 -" ]]; then pass "list: db row '$row'"; else fail "list: db row is '$row', want '$DB_LISTEN $ECHO yes 0 -'"; fi

cli list --json
expect_rc "list --json" 0
expect_out_jq "list --json: array of proxies with name/listen/upstream/enabled/toxics and stats" \
  "type == \"array\" and length == 3 and ([.[].name] == [\"db\",\"db2\",\"db3\"]) and
   (.[0] | .listen == \"$DB_LISTEN\" and .upstream == \"$ECHO\" and .enabled == true and .toxics == [] and
     (.stats | (.active | type == \"number\") and (.accepted | type == \"number\")))"

# ---------------------------------------------------------------------------------------------
echo "== toggle / enable / disable"

cli toggle db
expect_rc "toggle db (enabled -> disabled)" 0
expect_out "toggle db" "proxy db is now disabled"
api GET /proxies/db
expect_jq "toggle db: API says disabled" '.enabled == false'
if port_open "$DB_PORT"; then fail "toggle db: listener still accepts connections"; else pass "toggle db: listener closed"; fi
cli list
if [[ "$(list_field db 4)" == no ]]; then pass "list: disabled db shows ENABLED no"; else fail "list: disabled db ENABLED column is '$(list_field db 4)'"; fi

cli --json toggle db
expect_rc "--json toggle db (disabled -> enabled)" 0
expect_out_jq "--json toggle db: proxy object with enabled true" '.name == "db" and .enabled == true and (.toxics | type == "array")'
if port_open "$DB_PORT"; then pass "toggle db: listening again on $DB_PORT"; else fail "toggle db: not listening again on $DB_PORT"; fi

cli disable db
expect_rc "disable db" 0
expect_out "disable db" "proxy db is now disabled"
cli disable db --json
expect_rc "disable db --json (already disabled)" 0
expect_out_jq "disable db --json: enabled false" '.name == "db" and .enabled == false'
cli enable db
expect_rc "enable db" 0
expect_out "enable db" "proxy db is now enabled"
cli enable db --json
expect_rc "enable db --json (already enabled)" 0
expect_out_jq "enable db --json: enabled true" '.name == "db" and .enabled == true'
api GET /proxies/db
expect_jq "enable db: API says enabled" '.enabled == true'

# ---------------------------------------------------------------------------------------------
echo "== fault add / update / remove"

cli fault add db latency --latency 300ms --jitter 50ms
expect_rc "fault add db latency --latency 300ms --jitter 50ms" 0
expect_out "fault add db latency" "added fault latency_downstream to db: latency 300ms±50ms ↓"
api GET /proxies/db/toxics/latency_downstream
expect_compact "fault add latency: API toxic (ms)" \
  '{"attributes":{"latency":300,"jitter":50},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}'

cli fault add db limit_data --bytes 1KiB --stream up
expect_rc "fault add db limit_data --bytes 1KiB --stream up" 0
expect_out "fault add db limit_data" "added fault limit_data_upstream to db: limit_data 1KiB ↑"
api GET /proxies/db/toxics/limit_data_upstream
expect_jq "fault add limit_data --bytes 1KiB: API bytes 1024, upstream" \
  '.attributes == {"bytes":1024} and .stream == "upstream" and .type == "limit_data"'

cli list
faults=$(list_faults db)
if [[ "$faults" == "latency 300ms±50ms ↓, limit_data 1KiB ↑" || "$faults" == "limit_data 1KiB ↑, latency 300ms±50ms ↓" ]]; then
  pass "list: db FAULTS summary '$faults'"
else
  fail "list: db FAULTS is $(_show "$faults"), want 'latency 300ms±50ms ↓' and 'limit_data 1KiB ↑' joined by ', '"
fi

read -r t n < <(python3 "$TOOL" rtt "$DB_PORT" 2>/dev/null || echo "99 0")
if [[ "$n" == 4 ]] && float_ge "$t" 0.25 && float_lt "$t" 1.5; then
  pass "latency 300ms±50ms added by the CLI delays a round trip through db (${t}s)"
else
  fail "latency 300ms±50ms: round trip through db took ${t}s with $n/4 bytes back (want 4 bytes, >= 0.25 s, < 1.5 s)"
fi

cli --json fault add db2 bandwidth --rate 64KiB/s
expect_rc "--json fault add db2 bandwidth --rate 64KiB/s" 0
expect_out_jq "--json fault add bandwidth: 64KiB/s -> rate 66 (KB/s)" \
  '.attributes == {"rate":66} and .name == "bandwidth_downstream" and .type == "bandwidth" and .stream == "downstream" and .toxicity == 1'
api GET /proxies/db2/toxics/bandwidth_downstream
expect_jq "fault add bandwidth: API rate 66" '.attributes.rate == 66'

cli fault add db2 latency --name slowish --stream down --toxicity 0.25 --latency 2s --json
expect_rc "fault add db2 latency --name slowish --toxicity 0.25 --latency 2s" 0
expect_out_jq "fault add --name/--toxicity/--latency 2s" \
  '.name == "slowish" and .toxicity == 0.25 and .stream == "downstream" and .attributes.latency == 2000'

# brownout's own types and the controls every fault takes.
cli fault add db2 connection_limit --max_connections 2 --mode queue --queue_timeout 2s \
  --clients 10.0.0.0/8,127.0.0.2 --after 1s --for 5m --count 7 --flap 5s/10s --probability 0.5 --json
expect_rc "fault add connection_limit with every control" 0
expect_out_jq "fault add connection_limit: words, units and controls reach the API" \
  '.attributes == {"max_connections":2,"mode":"queue","queue_timeout":2000} and .clients == ["10.0.0.0/8","127.0.0.2"] and .after == 1000 and .for == 300000 and .count == 7 and .flap == {"on":5000,"off":10000} and .probability == 0.5'
cli fault add db2 stall --percentage 1.5% --rto 300ms --json
expect_rc "fault add stall --percentage 1.5%" 0
expect_out_jq "fault add stall: a percentage stays a fraction" '.attributes.percentage == 1.5 and .attributes.rto == 300'
cli fault add db2 flaky --mean_lifetime 1s --mode sometimes
expect_rc "fault add flaky --mode sometimes: refused" 1
expect_err_has "fault add flaky --mode sometimes: names the words" 'mode must be one of reset, close'
cli fault add db2 latency --name scoped --latency 1ms --clients 10.0.0.0/33
expect_rc "fault add --clients with a bad prefix: usage error" 2
expect_err_has "fault add --clients 10.0.0.0/33: says why" 'prefix length'
cli fault add db2 latency --name flapper --latency 1ms --flap 5s
expect_rc "fault add --flap without OFF: usage error" 2
api DELETE /proxies/db2/toxics/connection_limit_downstream
api DELETE /proxies/db2/toxics/stall_downstream

cli fault update db latency_downstream --latency 100ms --jitter 0ms
expect_rc "fault update db latency_downstream --latency 100ms --jitter 0ms" 0
expect_out_re "fault update: prints the new summary" '^updated fault latency_downstream on db: latency 100ms ↓$'
api GET /proxies/db/toxics/latency_downstream
expect_jq "fault update: API attributes {latency:100, jitter:0}" '.attributes == {"latency":100,"jitter":0}'
cli fault update db latency_downstream --latency 1.5s --json
expect_rc "fault update --latency 1.5s --json" 0
expect_out_jq "fault update --json: latency 1500" '.attributes.latency == 1500 and .name == "latency_downstream"'
cli fault update db latency_downstream --latency 100ms --toxicity 1
expect_rc "fault update back to 100ms" 0

cli inspect db
expect_rc "inspect db (with faults)" 0
expect_out_re "inspect db: fault table header" $'\nFAULT +TYPE +STREAM +TOXICITY +ATTRIBUTES'
expect_out_re "inspect db: latency_downstream row" $'\nlatency_downstream +latency +downstream +1 +latency=100ms jitter=0ms'
expect_out_re "inspect db: limit_data_upstream row" $'\nlimit_data_upstream +limit_data +upstream +1 +bytes=1KiB'
cli inspect db --json
expect_out_jq "inspect db --json: both faults with API units" \
  '([.toxics[] | {(.name): .attributes}] | add) == {"latency_downstream":{"latency":100,"jitter":0},"limit_data_upstream":{"bytes":1024}}'

cli fault remove db limit_data_upstream
expect_rc "fault remove db limit_data_upstream" 0
expect_out "fault remove" "removed fault limit_data_upstream from db"
api GET /proxies/db/toxics/limit_data_upstream
expect_status "fault remove: API no longer has it" 404
cli fault remove db2 slowish --json
expect_rc "fault remove db2 slowish --json" 0
expect_out_jq "fault remove --json" '.removed == "slowish" and .proxy == "db2"'

# ---------------------------------------------------------------------------------------------
echo "== list CONNS while a client holds a connection"

READY="$E2E_TMP/hold.ready"
RELEASE="$E2E_TMP/hold.release"
python3 "$TOOL" hold "$DB_PORT" "$READY" "$RELEASE" >>"$E2E_TMP/hold.log" 2>&1 &
HOLD_PID=$!
e2e_track_pid "$HOLD_PID"
if wait_for_file "$READY" 10; then
  cli list
  if [[ "$(list_field db 5)" == 1 ]]; then pass "list: db CONNS is 1 while a client holds a connection"; else fail "list: db CONNS is '$(list_field db 5)' while a client holds a connection, want 1 (output $(_show "$OUT"))"; fi
  if [[ "$(list_field db2 5)" == 0 ]]; then pass "list: db2 CONNS is 0"; else fail "list: db2 CONNS is '$(list_field db2 5)', want 0"; fi
  cli list --json
  expect_out_jq "list --json: db stats.active == 1" '.[] | select(.name == "db") | .stats.active == 1'
else
  fail "hold: the client could not open a connection through db"
fi
touch "$RELEASE"
for ((i = 0; i < 50; i++)); do kill -0 "$HOLD_PID" 2>/dev/null || break; sleep 0.1; done
wait "$HOLD_PID" 2>/dev/null || true
ok=0
for ((i = 0; i < 50; i++)); do
  cli list
  [[ "$(list_field db 5)" == 0 ]] && { ok=1; break; }
  sleep 0.1
done
if ((ok)); then pass "list: db CONNS back to 0 after the client closed"; else fail "list: db CONNS still '$(list_field db 5)' 5 s after the client closed"; fi

# ---------------------------------------------------------------------------------------------
echo "== reset / delete"

cli disable db2
cli reset
expect_rc "reset" 0
expect_out "reset" "every proxy enabled, every fault removed"
api GET /proxies
expect_jq "reset: every proxy enabled and without faults" '[.[] | .enabled and .toxics == []] | all'
if port_open "$DB2_PORT"; then pass "reset: disabled db2 listens again on $DB2_PORT"; else fail "reset: db2 not listening again on $DB2_PORT"; fi
cli reset --json
expect_rc "reset --json" 0
expect_out_jq "reset --json" '. == {"reset":true}'

cli delete db3
expect_rc "delete db3" 0
expect_out "delete db3" "deleted proxy db3"
api GET /proxies/db3
expect_status "delete db3: API 404" 404
cli delete db2 --json
expect_rc "delete db2 --json" 0
expect_out_jq "delete db2 --json" '. == {"deleted":"db2"}'
cli list --json
expect_out_jq "list --json after deletes: only db" '[.[].name] == ["db"]'

# ---------------------------------------------------------------------------------------------
echo "== exit codes"

DEAD_API_PORT=$(free_port)
DEAD_API="http://127.0.0.1:$DEAD_API_PORT"
for args in "list" "list --json" "inspect db" "create x --listen 127.0.0.1:0 --upstream $ECHO" "toggle db" \
  "delete db" "reset" "fault add db latency --latency 5ms" "fault remove db x"; do
  # shellcheck disable=SC2086
  run "$BIN" -s "$DEAD_API" $args
  if [[ "$RC" == 3 && "$ERR" == *"127.0.0.1:$DEAD_API_PORT"* && "$ERR" == *"brownout serve"* && "$(err_lines)" == 1 && -z "$OUT" ]]; then
    pass "server down: '$args' exits 3, names 127.0.0.1:$DEAD_API_PORT and 'brownout serve'"
  else
    fail "server down: '$args' expected exit 3 and a one-line message naming 127.0.0.1:$DEAD_API_PORT and 'brownout serve'; got exit $RC, stdout $(_show "$OUT"), stderr $(_show "$ERR")"
  fi
done
if port_open 8474; then
  note "something listens on 127.0.0.1:8474: default-server check skipped"
else
  run "$BIN" list
  if [[ "$RC" == 3 && "$ERR" == *"127.0.0.1:8474"* ]]; then pass "default server http://127.0.0.1:8474: exit 3 naming it"; else fail "default server: expected exit 3 naming 127.0.0.1:8474, got exit $RC, stderr $(_show "$ERR")"; fi
fi

for args in "inspect nope" "toggle nope" "enable nope" "disable nope" "delete nope" "fault add nope latency --latency 5ms" \
  "fault update db nope --latency 5ms" "fault remove db nope" "inspect nope --json"; do
  # shellcheck disable=SC2086
  cli $args
  expect_refused "server refuses '$args'"
done
cli inspect nope
expect_err_has "inspect nope" "not found"
cli fault add db latency --name dup --latency 1ms
cli fault add db latency --name dup --latency 1ms
expect_refused "fault add duplicate name"
cli fault remove db dup

cli fault add db latency --latency 3parsecs
expect_usage "fault add --latency 3parsecs"
expect_err_has "fault add --latency 3parsecs" "--latency" "3parsecs" "ms" "ns" "us" "s,"
if [[ "$(err_lines)" == 1 ]]; then pass "--latency 3parsecs: one-line message"; else fail "--latency 3parsecs: message has $(err_lines) lines"; fi
cli fault add db bandwidth --rate fast
expect_usage "fault add bandwidth --rate fast"
expect_err_has "fault add bandwidth --rate fast" "--rate" "KiB/s"
cli fault add db limit_data --bytes 12parsecs
expect_usage "fault add limit_data --bytes 12parsecs"
expect_err_has "fault add limit_data --bytes 12parsecs" "--bytes"
cli fault add db latency --bytes 10
expect_usage "fault add db latency --bytes 10 (attribute of another type)"
expect_err_has "fault add latency --bytes" "bytes"
cli fault add db latency --rate 1KB/s
expect_usage "fault add db latency --rate 1KB/s (attribute of another type)"
cli fault add db noop --latency 1ms
expect_usage "fault add db noop --latency 1ms (noop has no attributes)"
cli fault add db latency --frobnicate 10
expect_usage "fault add db latency --frobnicate 10 (no such attribute at all)"
cli fault add db earthquake
expect_usage "fault add db earthquake (unknown type)"
cli fault add db latency --stream sideways
expect_usage "fault add --stream sideways"
cli fault add db latency --toxicity 1.5
expect_usage "fault add --toxicity 1.5"
api GET /proxies/db/toxics
expect_jq "usage errors added no fault" '. == []'

cli create x
expect_usage "create x (missing --listen/--upstream)"
cli create x --listen 127.0.0.1:0
expect_usage "create x --listen only (missing --upstream)"
cli create --listen 127.0.0.1:0 --upstream "$ECHO"
expect_usage "create without a name"
cli inspect
expect_usage "inspect (missing name)"
cli toggle
expect_usage "toggle (missing name)"
cli fault add db
expect_usage "fault add db (missing type)"
cli fault update db
expect_usage "fault update db (missing fault)"
cli fault remove db
expect_usage "fault remove db (missing fault)"
cli completion
expect_usage "completion (missing shell)"
cli completion fish
expect_usage "completion fish (unknown shell)"
cli frobnicate
expect_usage "unknown command"
run "$BIN"
expect_usage "no command"
api GET /proxies
expect_jq "usage errors created no proxy" 'keys == ["db"]'

cli fault types --json
expect_rc "fault types --json" 0
expect_out_jq "fault types --json: valid JSON listing latency with unit ms" \
  'type == "array" and (.[] | select(.type == "latency") | .attributes | map({(.name): .unit}) | add) == {"latency":"ms","jitter":"ms","distribution":"","correlation":"%"}'
expect_out_jq "fault types --json: every type, every attribute has name, unit and default" \
  '([.[].type] | sort) == (["accept_rate","bandwidth","blackhole","connection_limit","corrupt","flaky","latency","limit_data","noop","reset_peer","slicer","slow_close","stall","timeout"]) and
   ([.[].attributes[] | has("name") and has("unit") and has("default")] | all)'
expect_out_jq "fault types --json: bandwidth rate in KB/s, limit_data bytes in bytes" \
  '(.[] | select(.type == "bandwidth") | .attributes[0] | .name == "rate" and .unit == "KB/s") and
   (.[] | select(.type == "limit_data") | .attributes[0] | .name == "bytes" and .unit == "bytes") and
   (.[] | select(.type == "connection_limit") | .attributes[1] | .name == "mode" and .kind == "choice" and .default == "reject" and .choices == ["reject","reset","queue","hang"])'
run "$BIN" fault types
expect_rc "fault types (no server needed)" 0
expect_out_re "fault types: table with units and defaults" 'TYPE +ATTRIBUTE +UNIT +DEFAULT'
missing=()
for a in --latency --jitter --rate --delay --timeout --average_size --size_variation --bytes; do
  [[ "$OUT" == *"$a "* ]] || missing+=("$a")
done
if ((${#missing[@]} == 0)); then pass "fault types: lists every attribute"; else fail "fault types: attributes missing: ${missing[*]}"; fi

# ---------------------------------------------------------------------------------------------
echo "== completion and BROWNOUT_SERVER"

run "$BIN" completion bash
expect_rc "completion bash" 0
if printf '%s\n' "$OUT" | bash -n 2>"$E2E_TMP/bashn.err"; then pass "completion bash | bash -n"; else fail "completion bash | bash -n: $(<"$E2E_TMP/bashn.err")"; fi
printf '%s\n' "$OUT" >"$E2E_TMP/completion.bash"
# What bash offers after `brownout <TAB>` and after `brownout fault <TAB>`.
top=$(bash -c 'source "$1"; COMP_WORDS=(brownout ""); COMP_CWORD=1; _brownout; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$E2E_TMP/completion.bash" 2>&1)
want_top=$(printf '%s\n' serve list inspect create disable enable toggle delete reset fault profile apply timeline drill completion | sort | tr '\n' ' ')
if [[ "$top" == "$want_top" ]]; then pass "completion bash: 'brownout <TAB>' offers the commands"; else fail "completion bash: 'brownout <TAB>' offers '$top', want '$want_top'"; fi
sub=$(bash -c 'source "$1"; COMP_WORDS=(brownout fault ""); COMP_CWORD=2; _brownout; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$E2E_TMP/completion.bash" 2>&1)
if [[ "$sub" == "add remove types update " ]]; then pass "completion bash: 'brownout fault <TAB>' offers add remove types update"; else fail "completion bash: 'brownout fault <TAB>' offers '$sub'"; fi
sub=$(bash -c 'source "$1"; COMP_WORDS=(brownout profile ""); COMP_CWORD=2; _brownout; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$E2E_TMP/completion.bash" 2>&1)
if [[ "$sub" == "check import " ]]; then pass "completion bash: 'brownout profile <TAB>' offers check import"; else fail "completion bash: 'brownout profile <TAB>' offers '$sub'"; fi
opt=$(bash -c 'source "$1"; COMP_WORDS=(brownout fault add db latency --lat); COMP_CWORD=5; _brownout; printf "%s\n" "${COMPREPLY[@]}"' _ "$E2E_TMP/completion.bash" 2>&1)
if [[ "$opt" == "--latency" ]]; then pass "completion bash: '--lat<TAB>' completes to --latency"; else fail "completion bash: '--lat<TAB>' gives '$opt'"; fi
run "$BIN" completion zsh
expect_rc "completion zsh" 0
if command -v zsh >/dev/null; then
  if printf '%s\n' "$OUT" | zsh -n 2>"$E2E_TMP/zshn.err"; then pass "completion zsh | zsh -n"; else fail "completion zsh | zsh -n: $(<"$E2E_TMP/zshn.err")"; fi
elif [[ "$OUT" == *brownout* ]]; then
  pass "completion zsh: prints a script (zsh not installed: syntax not checked)"
else
  fail "completion zsh: printed $(_show "$OUT")"
fi

BROWNOUT_SERVER=$API run "$BIN" list --json
expect_rc "BROWNOUT_SERVER=\$API list --json" 0
expect_out_jq "BROWNOUT_SERVER is honoured" '[.[].name] == ["db"]'
BROWNOUT_SERVER=$DEAD_API run "$BIN" list
if [[ "$RC" == 3 && "$ERR" == *"127.0.0.1:$DEAD_API_PORT"* ]]; then pass "BROWNOUT_SERVER=dead: exit 3 naming it"; else fail "BROWNOUT_SERVER=dead: expected exit 3 naming 127.0.0.1:$DEAD_API_PORT, got $RC $(_show "$ERR")"; fi
BROWNOUT_SERVER=$DEAD_API run "$BIN" --server "$API" list --json
expect_rc "--server overrides BROWNOUT_SERVER" 0
BROWNOUT_SERVER=$DEAD_API run "$BIN" list -s "$API"
expect_rc "-s after the command overrides BROWNOUT_SERVER" 0

# ---------------------------------------------------------------------------------------------
echo "== /metrics and /stats after known traffic"

cli --json create m --listen 127.0.0.1:0 --upstream "$ECHO"
expect_rc "create m" 0
M_PORT=$(proxy_port "$OUT")
got=$(python3 "$TOOL" conns "$M_PORT" 7 100)
if [[ "$got" == "100 100 100 100 100 100 100" ]]; then pass "7 connections through m, 100 bytes each echoed back"; else fail "7 connections through m: received '$got'"; fi
expect_metric 'brownout_connections_active{proxy="m"}' 0
expect_metric 'brownout_connections_accepted_total{proxy="m"}' 7
expect_metric 'brownout_bytes_total{proxy="m",direction="upstream"}' 700
expect_metric 'brownout_bytes_total{proxy="m",direction="downstream"}' 700
expect_metric 'brownout_connections_refused_total{proxy="m"}' 0
expect_metric 'brownout_upstream_connect_failures_total{proxy="m"}' 0
api GET /metrics
if [[ "$RESP_CT" == text/plain* ]]; then pass "/metrics content type $RESP_CT"; else fail "/metrics content type '$RESP_CT', want text/plain (Prometheus text)"; fi
for fam in brownout_connections_accepted_total:counter brownout_connections_active:gauge brownout_connections_refused_total:counter \
  brownout_upstream_connect_failures_total:counter brownout_bytes_total:counter brownout_fault_applied_total:counter \
  brownout_fault_ended_total:counter brownout_process_open_fds:gauge brownout_process_resident_memory_bytes:gauge; do
  if grep -qx "# TYPE ${fam%%:*} ${fam##*:}" <<<"$RESP_BODY"; then pass "/metrics: # TYPE ${fam%%:*} ${fam##*:}"; else fail "/metrics: no '# TYPE ${fam%%:*} ${fam##*:}' line"; fi
done
fetch_metrics
fds=$(metric brownout_process_open_fds)
rss=$(metric brownout_process_resident_memory_bytes)
if [[ "$fds" =~ ^[0-9]+$ ]] && ((fds > 0)); then pass "/metrics: brownout_process_open_fds $fds"; else fail "/metrics: brownout_process_open_fds '$fds'"; fi
if [[ "$rss" =~ ^[0-9]+(\.[0-9]+)?([eE][+]?[0-9]+)?$ ]] && float_ge "$rss" 1000000; then pass "/metrics: resident memory $rss"; else fail "/metrics: brownout_process_resident_memory_bytes '$rss'"; fi
api GET /stats
expect_jq "/stats: m has accepted 7, active 0, bytes 700/700, no upstream failures" \
  '.proxies.m == {"accepted":7,"active":0,"upstream_failures":0,"bytes_upstream":700,"bytes_downstream":700}'

cli fault add m limit_data --bytes 10
expect_rc "fault add m limit_data --bytes 10" 0
got=$(python3 "$TOOL" conns "$M_PORT" 3 100)
if [[ "$got" == "10 10 10" ]]; then pass "limit_data 10: each of 3 connections got exactly 10 bytes"; else fail "limit_data 10: received '$got', want '10 10 10'"; fi
expect_metric 'brownout_fault_ended_total{proxy="m",type="limit_data"}' 3
expect_metric 'brownout_fault_applied_total{proxy="m",type="limit_data"}' 3
expect_metric 'brownout_connections_accepted_total{proxy="m"}' 10
expect_metric 'brownout_connections_active{proxy="m"}' 0

DEAD_UP_PORT=$(free_port)
cli --json create dead --listen 127.0.0.1:0 --upstream "127.0.0.1:$DEAD_UP_PORT"
expect_rc "create dead (upstream port with no listener)" 0
DEAD_PORT=$(proxy_port "$OUT")
got=$(python3 "$TOOL" conns "$DEAD_PORT" 4 10)
if [[ "$got" == "0 0 0 0" ]]; then pass "4 attempts through dead: each closed without data"; else fail "4 attempts through dead: received '$got', want '0 0 0 0'"; fi
expect_metric 'brownout_upstream_connect_failures_total{proxy="dead"}' 4
expect_metric 'brownout_connections_accepted_total{proxy="dead"}' 4
expect_metric 'brownout_connections_active{proxy="dead"}' 0
api GET /stats
expect_jq "/stats: dead has upstream_failures 4" '.proxies.dead.upstream_failures == 4 and .proxies.dead.accepted == 4'

# ---------------------------------------------------------------------------------------------
echo "== event log"

# An API change made by another client is attributed to its User-Agent.
api POST /proxies/m/toxics '{"type":"latency","name":"by_agent","attributes":{"latency":1}}' -A 'e2e-agent/7'
expect_status "POST toxic with User-Agent e2e-agent/7" 200
api DELETE /proxies/m/toxics/by_agent - -A 'e2e-agent/7'

# Wait (max 5 s) until the file has the last expected event, then read it.
for ((i = 0; i < 50; i++)); do
  jq -e -s 'any(.[]; .action == "fault_removed" and .fault == "by_agent")' "$EVFILE" >/dev/null 2>&1 && break
  sleep 0.1
done
if [[ -s "$EVFILE" ]] && jq -e -s 'length > 0' "$EVFILE" >/dev/null 2>&1; then
  pass "--events FILE: every line is JSON ($(wc -l <"$EVFILE") lines)"
else
  fail "--events FILE: missing, empty or not JSON lines: $(head -c 300 "$EVFILE" 2>/dev/null)"
fi
EV=$(jq -c -s '.' "$EVFILE" 2>/dev/null || echo '[]')
ev_jq() {
  if printf '%s' "$EV" | jq -e "$2" >/dev/null 2>&1; then pass "events file: $1"; else fail "events file: $1 (jq '$2' false)"; fi
}
# shellcheck disable=SC2016 # $ids is a jq variable
ev_jq "every event has a numeric id, time, proxy and action; ids strictly increase" \
  'all(.[]; (.id | type == "number") and (.time | type == "string") and (.proxy | type == "string") and (.action | type == "string")) and
   ([.[].id] as $ids | $ids == ($ids | sort | unique))'
ev_jq "fault_added latency_downstream on db, detail contains 'by brownout-cli'" \
  'any(.[]; .action == "fault_added" and .proxy == "db" and .fault == "latency_downstream" and .type == "latency" and (.detail | contains("by brownout-cli")))'
ev_jq "every API change (fault_*, proxy_*) detail ends with 'by <User-Agent>'" \
  'all(.[] | select(.action | test("^(fault_added|fault_updated|fault_removed|proxy_enabled|proxy_disabled|proxy_deleted|faults_cleared)$")); .detail | test("by [^ ]+$"))'
ev_jq "fault_updated latency_downstream on db by brownout-cli" \
  'any(.[]; .action == "fault_updated" and .proxy == "db" and .fault == "latency_downstream" and (.detail | contains("by brownout-cli")))'
ev_jq "fault_removed limit_data_upstream on db" \
  'any(.[]; .action == "fault_removed" and .proxy == "db" and .fault == "limit_data_upstream")'
ev_jq "proxy_disabled and proxy_enabled for db (toggle)" \
  'any(.[]; .action == "proxy_disabled" and .proxy == "db") and any(.[]; .action == "proxy_enabled" and .proxy == "db")'
ev_jq "proxy_deleted for db3 and db2" \
  'any(.[]; .action == "proxy_deleted" and .proxy == "db3") and any(.[]; .action == "proxy_deleted" and .proxy == "db2")'
ev_jq "faults_cleared on reset" 'any(.[]; .action == "faults_cleared")'
ev_jq "exactly 3 cut events on m, each with a link and the fault name limit_data_downstream" \
  '[.[] | select(.action == "cut")] | length == 3 and all(.[]; .proxy == "m" and (.link | type == "number") and .fault == "limit_data_downstream" and .type == "limit_data")'
ev_jq "the 3 cut events name 3 different links" '[.[] | select(.action == "cut") | .link] | unique | length == 3'
ev_jq "exactly 4 upstream_unreachable events on dead, each with a link" \
  '[.[] | select(.action == "upstream_unreachable")] | length == 4 and all(.[]; .proxy == "dead" and (.link | type == "number"))'
ev_jq "upstream_unreachable names the upstream address" \
  "all(.[] | select(.action == \"upstream_unreachable\"); .detail | contains(\"127.0.0.1:$DEAD_UP_PORT\"))"
ev_jq "a change by another client ends with 'by e2e-agent/7'" \
  'any(.[]; .action == "fault_added" and .fault == "by_agent" and (.detail | endswith("by e2e-agent/7"))) and
   any(.[]; .action == "fault_removed" and .fault == "by_agent" and (.detail | endswith("by e2e-agent/7")))'

api GET '/events?since=0'
expect_status "GET /events?since=0" 200
expect_jq "GET /events?since=0: {events:[...], last:N}, last is the newest id" \
  '(.events | type == "array") and (.events | length > 0) and .last == (.events | map(.id) | max)'
LAST=$(printf '%s' "$RESP_BODY" | jq -r .last)
FILE_IDS=$(printf '%s' "$EV" | jq -c '[.[].id]')
api_ids=$(printf '%s' "$RESP_BODY" | jq -c '[.events[].id]')
if [[ "$api_ids" == "$FILE_IDS" ]]; then pass "GET /events and the --events file hold the same events"; else fail "GET /events ids $api_ids != file ids $FILE_IDS"; fi
K=$((LAST - 8))
api GET "/events?since=$K"
expect_status "GET /events?since=$K" 200
expect_jq "GET /events?since=$K: only ids > $K, all of them, in order" \
  "[.events[].id] == [range($K + 1; $LAST + 1)] and .last == $LAST"
api GET "/events?since=$LAST"
expect_jq "GET /events?since=last: no events" ".events == [] and .last == $LAST"
api GET '/events'
expect_jq "GET /events (no since): every event" "(.events | length) == ($FILE_IDS | length)"

# ---------------------------------------------------------------------------------------------
echo "== --seed: same seed, same toxicity decisions"

# start_seed_server SEED: a fresh server; sets SEED_API and SEED_PID.
start_seed_server() {
  local seed=$1 port i attempt
  for ((attempt = 1; attempt <= 3; attempt++)); do
    port=$(free_port)
    "$BIN" serve --host 127.0.0.1 --port "$port" --seed "$seed" >>"$E2E_TMP/seed$seed.log" 2>&1 &
    SEED_PID=$!
    e2e_track_pid "$SEED_PID"
    for ((i = 0; i < 100; i++)); do
      kill -0 "$SEED_PID" 2>/dev/null || break
      if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/version"; then
        SEED_API="http://127.0.0.1:$port"
        return 0
      fi
      sleep 0.1
    done
    kill -KILL "$SEED_PID" 2>/dev/null || true
    wait "$SEED_PID" 2>/dev/null || true
  done
  return 1
}
stop_seed_server() {
  local i
  kill -TERM "$SEED_PID" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$SEED_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SEED_PID" 2>/dev/null || true
  wait "$SEED_PID" 2>/dev/null || true
}
# seed_pattern SEED: 16 sequential connections through a latency 80ms / toxicity 0.5 fault.
seed_pattern() {
  local p
  start_seed_server "$1" || { echo "START-FAILED"; return; }
  run "$BIN" -s "$SEED_API" --json create s --listen 127.0.0.1:0 --upstream "$ECHO"
  p=$(proxy_port "$OUT")
  run "$BIN" -s "$SEED_API" fault add s latency --latency 80ms --toxicity 0.5
  if [[ "$RC" == 0 && "$p" =~ ^[0-9]+$ ]]; then
    python3 "$TOOL" pattern "$p" 16 0.070
  else
    echo "SETUP-FAILED($RC)"
  fi
  stop_seed_server
}
PAT_A=$(seed_pattern 5)
PAT_B=$(seed_pattern 5)
PAT_C=$(seed_pattern 6)
note "seed 5: $PAT_A, seed 5 again: $PAT_B, seed 6: $PAT_C (1 = delayed >= 70 ms)"
if [[ "$PAT_A" =~ ^[01]{16}$ && "$PAT_A" == *0* && "$PAT_A" == *1* ]]; then
  pass "seed 5: toxicity 0.5 delays some connections and not others ($PAT_A)"
else
  fail "seed 5: pattern '$PAT_A' should be 16 digits with both delayed and undelayed connections"
fi
if [[ "$PAT_A" =~ ^[01]{16}$ && "$PAT_A" == "$PAT_B" ]]; then pass "--seed 5 twice: identical toxicity decisions ($PAT_A)"; else fail "--seed 5 twice: patterns differ: '$PAT_A' vs '$PAT_B'"; fi
# Two independent fair 16-draw sequences coincide with probability 2^-16.
if [[ "$PAT_C" =~ ^[01]{16}$ && "$PAT_C" != "$PAT_A" ]]; then pass "--seed 6: a different pattern ($PAT_C)"; else fail "--seed 6: pattern '$PAT_C' should be valid and differ from seed 5's '$PAT_A'"; fi

# ---------------------------------------------------------------------------------------------
if brownout_alive; then pass "brownout still running at the end"; else fail "brownout died during the test"; fi
stop_brownout
finish
