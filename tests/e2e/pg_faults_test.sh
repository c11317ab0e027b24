#!/usr/bin/env bash
# PostgreSQL message-level faults (a proxy with "protocol": "postgres") against a real PostgreSQL,
# through real clients (psql, pgbench) and a tiny wire-protocol client (python3, below) where a
# check needs to see single protocol messages or hold a connection open:
#
#   1. baseline: psql (sslmode=prefer: the proxy answers SSLRequest) SELECT 1 returns 1; pgbench
#      -i (COPY) through the proxy; pgbench -c 4 in the simple and the prepared (extended)
#      protocol: every transaction processed, none failed;
#   2. pg_error serialization_failure on kind = update at probability 0.1: pgbench --max-tries=1
#      reports failed transactions (3 UPDATEs a transaction: ~27% fail), all of them
#      serialization failures, and does not abort; the server rolled each one back (one
#      pgbench_history row per processed transaction, none for the failed ones); with
#      --max-tries=10 every transaction succeeds and some were retried. Simple and -M prepared;
#   3. every pg_error preset gives its SQLSTATE and severity (ERROR: the session goes on; FATAL:
#      the connection closes and the server's session ends); sqlstate/message/severity override;
#      every = 3 hits every third matching statement;
#   4. inside BEGIN..COMMIT (first = 1): the UPDATE fails with 40001, COMMIT answers ROLLBACK,
#      the row is unchanged, the server's backend is idle (not idle in transaction) while psql
#      is still connected, the session goes on, and the next UPDATE (past first) commits. The
#      same in the extended protocol, with ReadyForQuery's transaction status checked, and
#      match prepared = NAME hitting only that prepared statement;
#   5. pg_delay 300ms (added with `brownout fault add`) on a statement regex: the matching
#      statement takes >= 300 ms (psql, and the extended protocol), a non-matching one stays fast;
#   6. pg_terminate fatal: psql sees FATAL "terminating connection due to administrator command"
#      instead of the answer; the statement did not run (docs/faults.md: as a terminated backend
#      rolls back: its row is not there); the server-side session is gone; mode cut
#      after_rows 5: SELECT generate_series(1,1000) loses the connection after 5 DataRows;
#   7. pg_refuse: psql (sslmode=disable) sees "FATAL:  sorry, too many clients already"; at
#      probability 0.5 some of 30 connections are refused and the others work;
#   8. a profile with protocol = "postgres" and a pg_error fault, applied with `brownout apply`.
#
# Usage: bash tests/e2e/pg_faults_test.sh /path/to/brownout
# Needs PostgreSQL's server binaries, psql and pgbench (Debian: postgresql); missing is a failure.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/postgres.sh"
e2e_init pg_faults

BIN=${1:?usage: $0 /path/to/brownout}
for tool in curl jq python3 timeout; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"
# The interpreter itself, not a version manager's shim (pyenv's costs ~0.5 s a start).
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=""
[[ -x "$PY" ]] || die "python3 does not run"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
unset BROWNOUT_SERVER PGHOST PGPORT PGSSLMODE PGAPPNAME PGOPTIONS PGPASSWORD PGSERVICE PGTARGETSESSIONATTRS
DIR=$(e2e_mktemp_dir)

start_postgres
export PGCONNECT_TIMEOUT=5 PGUSER="$PG_USER" PGDATABASE=postgres
PSQL="$PG_BIN/psql"
PGBENCH="$PG_BIN/pgbench"
start_brownout "$BIN"

# ---------------------------------------------------------------------------------------------
# Helpers

check() { # check LABEL CONDITION-RESULT(0/1) DETAIL
  if (($2 == 0)); then pass "$1"; else fail "$1: $3"; fi
}

# direct SQL: one value (psql -At) straight from PostgreSQL, not through the proxy.
direct() { timeout -k 2 15 "$PSQL" -X -At -h "$PG_HOST" -p "$PG_PORT" -c "$1" 2>&1; }

# pq ARGS...: psql through the proxy (bounded). PQ_OUT, PQ_ERR, PQ_RC.
pq() {
  timeout -k 2 30 "$PSQL" -X -h 127.0.0.1 -p "$PROXY_PORT" "$@" >"$DIR/pq.out" 2>"$DIR/pq.err" </dev/null
  PQ_RC=$?
  PQ_OUT=$(<"$DIR/pq.out")
  PQ_ERR=$(<"$DIR/pq.err")
}
pq_show() { echo "exit $PQ_RC; stdout $(_show "$PQ_OUT"); stderr $(_show "$PQ_ERR")"; }

# add_fault JSON: (re)creates the toxic named in JSON on proxy pg (its counters start at 0).
add_fault() {
  local name
  name=$(jq -r .name <<<"$1")
  api DELETE "/proxies/pg/toxics/$name"
  api POST /proxies/pg/toxics "$1"
  if [[ "$RESP_STATUS" == 200 ]]; then
    pass "POST toxic $name ($(jq -c '{type, probability} + .attributes | with_entries(select(.value != null))' <<<"$1"))"
  else
    fail "POST toxic $name: status $RESP_STATUS body $(_show "$RESP_BODY") for $1"
  fi
}
del_fault() {
  api DELETE "/proxies/pg/toxics/$1"
  [[ "$RESP_STATUS" == 204 ]] || fail "DELETE toxic $1: status $RESP_STATUS body $(_show "$RESP_BODY")"
}

# A minimal PostgreSQL client (protocol 3.0, trust authentication) that reports every message.
# pg_client.py PORT APPNAME STEPS_JSON prints a JSON report: {"startup": RESULT, "steps": [RESULT]}
# where RESULT = {rows: [[...]], tags: [...], errors: [{S, C, M}], z: "I"|"T"|"E"|null (the
# last ReadyForQuery's transaction status), eof: bool (the server side closed), ms: float}.
# A step is one of
#   {"q": SQL}                          simple Query
#   {"x": SQL}                          extended: Parse/Bind/Describe/Execute (unnamed), Sync
#   {"prepare": NAME, "sql": SQL}       Parse NAME, Sync
#   {"execute": NAME}                   Bind NAME/Describe/Execute, Sync
#   {"direct": SQL}                     SQL on a new connection straight to PostgreSQL (DIRECT
#                                       port, env PG_DIRECT_PORT), while the proxied one stays open
#   {"wait_direct": SQL, "until": V, "secs": S}  repeats that until its first value is V (max S s)
# Steps after the proxied connection ended still run if they are direct ones.
cat >"$DIR/pg_client.py" <<'EOF'
import json, os, socket, struct, sys, time

class Conn:
    def __init__(self, port, app):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.eof = False
        params = b""
        for k, v in (("user", "postgres"), ("database", "postgres"), ("application_name", app)):
            params += k.encode() + b"\0" + v.encode() + b"\0"
        params += b"\0"
        self.s.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)

    def send(self, data):
        try:
            self.s.sendall(data)
        except OSError:
            self.eof = True

    def read(self):
        while True:
            if len(self.buf) >= 5:
                n = struct.unpack("!i", self.buf[1:5])[0]
                if len(self.buf) >= 1 + n:
                    t, body = self.buf[0:1], self.buf[5:1 + n]
                    self.buf = self.buf[1 + n:]
                    return t, body
            if self.eof:
                return None, None
            try:
                d = self.s.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                d = b""
            if not d:
                self.eof = True
                continue
            self.buf += d

    # Reads until ReadyForQuery (or the end of the stream).
    def result(self):
        r = {"rows": [], "tags": [], "errors": [], "z": None, "eof": False, "other": []}
        t0 = time.monotonic()
        while True:
            t, body = self.read()
            if t is None:
                r["eof"] = True
                break
            if t == b"D":
                ncol = struct.unpack("!h", body[:2])[0]
                off, row = 2, []
                for _ in range(ncol):
                    ln = struct.unpack("!i", body[off:off + 4])[0]
                    off += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(body[off:off + ln].decode("utf-8", "replace"))
                        off += ln
                r["rows"].append(row)
            elif t == b"C":
                r["tags"].append(body.rstrip(b"\0").decode())
            elif t in (b"E", b"N"):
                fields, off = {}, 0
                while off < len(body) and body[off] != 0:
                    end = body.index(b"\0", off + 1)
                    fields[chr(body[off])] = body[off + 1:end].decode("utf-8", "replace")
                    off = end + 1
                if t == b"E":
                    r["errors"].append({"S": fields.get("V", fields.get("S")), "C": fields.get("C"), "M": fields.get("M")})
            elif t == b"Z":
                r["z"] = body.decode()
                break
            elif t not in (b"T", b"1", b"2", b"3", b"n", b"t", b"s", b"S", b"K", b"R", b"I"):
                r["other"].append(t.decode())
        r["ms"] = round((time.monotonic() - t0) * 1000, 3)
        return r

def cstr(s):
    return s.encode() + b"\0"

def msg(t, body):
    return t + struct.pack("!i", 4 + len(body)) + body

def run_direct(sql):
    c = Conn(int(os.environ["PG_DIRECT_PORT"]), "brownout_e2e_probe")
    c.result()
    c.send(msg(b"Q", cstr(sql)))
    r = c.result()
    c.s.close()
    return r

port, app, steps = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
c = Conn(port, app)
report = {"startup": c.result(), "steps": []}
for st in steps:
    if "direct" in st:
        report["steps"].append(run_direct(st["direct"]))
        continue
    if "wait_direct" in st:
        deadline = time.monotonic() + st.get("secs", 5)
        while True:
            r = run_direct(st["wait_direct"])
            v = r["rows"][0][0] if r["rows"] and r["rows"][0] else None
            if v == st["until"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        report["steps"].append(r)
        continue
    t0 = time.monotonic()
    if "q" in st:
        c.send(msg(b"Q", cstr(st["q"])))
    elif "x" in st:
        c.send(msg(b"P", cstr("") + cstr(st["x"]) + struct.pack("!h", 0))
               + msg(b"B", cstr("") + cstr("") + struct.pack("!hhh", 0, 0, 0))
               + msg(b"D", b"P" + cstr("")) + msg(b"E", cstr("") + struct.pack("!i", 0)) + msg(b"S", b""))
    elif "prepare" in st:
        c.send(msg(b"P", cstr(st["prepare"]) + cstr(st["sql"]) + struct.pack("!h", 0)) + msg(b"S", b""))
    elif "execute" in st:
        c.send(msg(b"B", cstr("") + cstr(st["execute"]) + struct.pack("!hhh", 0, 0, 0))
               + msg(b"D", b"P" + cstr("")) + msg(b"E", cstr("") + struct.pack("!i", 0)) + msg(b"S", b""))
    r = c.result()
    r["ms"] = round((time.monotonic() - t0) * 1000, 3)
    report["steps"].append(r)
try:
    c.send(msg(b"X", b""))
    c.s.close()
except OSError:
    pass
print(json.dumps(report))
EOF

# pgc APP STEPS_JSON: runs pg_client.py through the proxy; the report in PGC (JSON, or
# {"crash": "..."} when the client itself failed).
pgc() {
  if PGC=$(PG_DIRECT_PORT=$PG_PORT timeout -k 2 30 "$PY" "$DIR/pg_client.py" "$PROXY_PORT" "$1" "$2" 2>"$DIR/pgc.err" </dev/null); then
    :
  else
    PGC=$(jq -cn --arg e "$(<"$DIR/pgc.err")" '{crash: $e}')
  fi
}
# pgc_is LABEL JQ: the report satisfies JQ.
pgc_is() {
  if jq -e "$2" >/dev/null 2>&1 <<<"$PGC"; then
    pass "$1"
  else
    fail "$1: jq '$2' not true for $(jq -c 'del(.startup) | .steps |= map(del(.other) | .rows |= .[:8])' <<<"$PGC" 2>/dev/null || echo "$PGC")"
  fi
}

# pgb LABEL ARGS...: pgbench through the proxy (bounded); parses its summary into PGB_* and
# prints a note. PGB_OUT is the output file, PGB_RC the exit status.
pgb() {
  local label=$1
  shift
  PGB_OUT="$DIR/pgbench.$label.out"
  timeout -k 5 90 "$PGBENCH" -h 127.0.0.1 -p "$PROXY_PORT" "$@" >"$PGB_OUT" 2>&1
  PGB_RC=$?
  PGB_PROCESSED=$(sed -n 's|^number of transactions actually processed: \([0-9]*\)/.*|\1|p' "$PGB_OUT")
  PGB_FAILED=$(sed -n 's|^number of failed transactions: \([0-9]*\) .*|\1|p' "$PGB_OUT")
  PGB_SERIAL=$(sed -n 's|^number of serialization failures: \([0-9]*\) .*|\1|p' "$PGB_OUT")
  PGB_DEADLOCK=$(sed -n 's|^number of deadlock failures: \([0-9]*\) .*|\1|p' "$PGB_OUT")
  PGB_RETRIED=$(sed -n 's|^number of transactions retried: \([0-9]*\) .*|\1|p' "$PGB_OUT")
  PGB_RETRIES=$(sed -n 's|^total number of retries: \([0-9]*\)$|\1|p' "$PGB_OUT")
  PGB_ABORTED=0
  grep -Eqi 'aborted|Run was aborted' "$PGB_OUT" && PGB_ABORTED=1
  : "${PGB_PROCESSED:=-1}" "${PGB_FAILED:=-1}" "${PGB_SERIAL:=-1}" "${PGB_DEADLOCK:=-1}" "${PGB_RETRIED:=-1}" "${PGB_RETRIES:=-1}"
  note "pgbench $label: exit $PGB_RC, processed $PGB_PROCESSED, failed $PGB_FAILED (serialization $PGB_SERIAL, deadlock $PGB_DEADLOCK), retried $PGB_RETRIED ($PGB_RETRIES retries), aborted $PGB_ABORTED"
}
pgb_show() { echo "exit $PGB_RC: $(tail -n 25 "$PGB_OUT" | tr '\n' '|')"; }

# ---------------------------------------------------------------------------------------------
# The proxy

api POST /proxies "{\"name\":\"pg\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:$PG_PORT\",\"protocol\":\"postgres\"}"
expect_status "POST /proxies pg (protocol postgres) -> 127.0.0.1:$PG_PORT" 201
expect_jq "the proxy as created says protocol postgres" '.protocol == "postgres"'
PROXY_PORT=$(jq -r '.listen // empty' <<<"$RESP_BODY" 2>/dev/null)
PROXY_PORT=${PROXY_PORT##*:}
[[ "$PROXY_PORT" =~ ^[0-9]+$ && "$PROXY_PORT" != 0 ]] || die "no listen port in $RESP_BODY"
note "proxy pg listens on 127.0.0.1:$PROXY_PORT"
# (Not piped into grep -q: with pipefail, brownout would die of SIGPIPE when grep stops early.)
TYPES=$("$BIN" fault types 2>/dev/null)
grep -q pg_error <<<"$TYPES" || die "$BIN fault types lists no pg_error: the postgres faults are not in this build"

# ---------------------------------------------------------------------------------------------
echo "== 1. baseline, no fault [${SECONDS}s]"

# libpq's default sslmode=prefer sends SSLRequest first: the proxy must answer it.
pq -At -c 'SELECT 1'
check "psql (sslmode=prefer) SELECT 1 through the proxy returns 1" "$([[ $PQ_RC == 0 && "$PQ_OUT" == 1 ]]; echo $?)" "$(pq_show)"
pq -At "sslmode=disable" -c "SELECT current_setting('application_name') || '/' || count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
check "psql (sslmode=disable) through the proxy works" "$([[ $PQ_RC == 0 && "$PQ_OUT" == psql/* ]]; echo $?)" "$(pq_show)"

timeout -k 5 90 "$PGBENCH" -h 127.0.0.1 -p "$PROXY_PORT" -i -q -s 1 >"$DIR/pgbench-init.out" 2>&1
rc=$?
accounts=$(direct 'SELECT count(*) FROM pgbench_accounts')
check "pgbench -i -s 1 through the proxy (COPY): exit 0, 100000 accounts" "$([[ $rc == 0 && "$accounts" == 100000 ]]; echo $?)" \
  "exit $rc, accounts $accounts: $(tail -n 5 "$DIR/pgbench-init.out" | tr '\n' '|')"

HIST=$(direct 'SELECT count(*) FROM pgbench_history')
for mode in simple prepared; do
  pgb "baseline-$mode" -n -M "$mode" -c 4 -j 2 -t 200
  hist=$(direct 'SELECT count(*) FROM pgbench_history')
  check "baseline pgbench -M $mode -c 4 -t 200: exit 0, 800/800 processed, 0 failed, one history row each" \
    "$([[ $PGB_RC == 0 && $PGB_PROCESSED == 800 && $PGB_FAILED == 0 && $PGB_ABORTED == 0 && $((hist - HIST)) == 800 ]]; echo $?)" \
    "history +$((hist - HIST)); $(pgb_show)"
  HIST=$hist
done

# ---------------------------------------------------------------------------------------------
echo "== 2. pg_error serialization_failure on kind = update, probability 0.1, under pgbench [${SECONDS}s]"

add_fault '{"name":"ser","type":"pg_error","probability":0.1,"attributes":{"error":"serialization_failure","match":{"kind":"update"}}}'
api GET /proxies/pg/toxics/ser
expect_jq "GET the toxic: pg_error, probability 0.1, serialization_failure, match kind update" \
  '.type == "pg_error" and .probability == 0.1 and .attributes.error == "serialization_failure" and ((.attributes.match.kind == "update") or (.attributes.match.kind == ["update"]))'

# tpcb: 3 UPDATEs a transaction, each failing with probability 0.1: P(fail) = 1 - 0.9^3 = 0.271;
# over 800 transactions sigma is 0.016: the band [0.17, 0.38] is > 6 sigma wide each side.
for mode in simple prepared; do
  pgb "ser1-$mode" -n -M "$mode" -c 4 -j 2 -t 200 --max-tries=1 --failures-detailed
  hist=$(direct 'SELECT count(*) FROM pgbench_history')
  check "pgbench -M $mode --max-tries=1: exit 0, not aborted, processed + failed = 800" \
    "$([[ $PGB_RC == 0 && $PGB_ABORTED == 0 && $((PGB_PROCESSED + PGB_FAILED)) == 800 ]]; echo $?)" "$(pgb_show)"
  check "pgbench -M $mode --max-tries=1: failed $PGB_FAILED of 800 in [136, 304] (expected ~217: 27%)" \
    "$([[ $PGB_FAILED -ge 136 && $PGB_FAILED -le 304 ]]; echo $?)" "$(pgb_show)"
  check "pgbench -M $mode --max-tries=1: every failure is a serialization failure ($PGB_SERIAL), no deadlock" \
    "$([[ $PGB_SERIAL == "$PGB_FAILED" && $PGB_DEADLOCK == 0 ]]; echo $?)" "$(pgb_show)"
  # The server itself failed those transactions: it rolled them back (no history row), and
  # committed each processed one.
  check "pgbench -M $mode --max-tries=1: the server committed exactly the processed transactions (history +$((hist - HIST)) == $PGB_PROCESSED)" \
    "$([[ $((hist - HIST)) == "$PGB_PROCESSED" ]]; echo $?)" "history +$((hist - HIST)), processed $PGB_PROCESSED"
  HIST=$hist

  pgb "ser10-$mode" -n -M "$mode" -c 4 -j 2 -t 200 --max-tries=10 --failures-detailed
  hist=$(direct 'SELECT count(*) FROM pgbench_history')
  check "pgbench -M $mode --max-tries=10: exit 0, 800/800 processed, 0 failed" \
    "$([[ $PGB_RC == 0 && $PGB_ABORTED == 0 && $PGB_PROCESSED == 800 && $PGB_FAILED == 0 ]]; echo $?)" "$(pgb_show)"
  check "pgbench -M $mode --max-tries=10: $PGB_RETRIED transactions retried in [136, 304], $PGB_RETRIES retries >= that" \
    "$([[ $PGB_RETRIED -ge 136 && $PGB_RETRIED -le 304 && $PGB_RETRIES -ge $PGB_RETRIED ]]; echo $?)" "$(pgb_show)"
  check "pgbench -M $mode --max-tries=10: 800 history rows committed" "$([[ $((hist - HIST)) == 800 ]]; echo $?)" "history +$((hist - HIST))"
  HIST=$hist
done
# Balances stay consistent (each committed transaction moved the same delta through all three).
sums=$(direct 'SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches) AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT sum(delta) FROM pgbench_history)')
check "after the runs: sum(abalance) = sum(bbalance) and sum(tbalance) = sum(history.delta)" "$([[ "$sums" == t ]]; echo $?)" "got $sums"
del_fault ser
pgb "after-ser" -n -c 4 -j 2 -t 50 --max-tries=1
check "after DELETE ser: pgbench 200/200, no failure" "$([[ $PGB_RC == 0 && $PGB_PROCESSED == 200 && $PGB_FAILED == 0 ]]; echo $?)" "$(pgb_show)"

# ---------------------------------------------------------------------------------------------
echo "== 3. pg_error presets and overrides [${SECONDS}s]"

# preset SQLSTATE SEVERITY
PRESETS="serialization_failure 40001 ERROR
deadlock_detected 40P01 ERROR
query_canceled 57014 ERROR
lock_not_available 55P03 ERROR
admin_shutdown 57P01 FATAL
too_many_connections 53300 FATAL
cannot_connect_now 57P03 FATAL
read_only_sql_transaction 25006 ERROR
disk_full 53100 ERROR"
while read -r preset code sev; do
  add_fault "{\"name\":\"preset\",\"type\":\"pg_error\",\"attributes\":{\"error\":\"$preset\",\"match\":{\"statement\":\"preset_marker\"}}}"
  app="brownout_preset_$preset"
  if [[ $sev == ERROR ]]; then
    pgc "$app" "[{\"q\":\"SELECT 'preset_marker'\"},{\"q\":\"SELECT 'after'\"}]"
    pgc_is "pg_error $preset: ERROR $code, no row; the next statement on the session works" \
      ".steps[0].errors == [{S: \"ERROR\", C: \"$code\", M: .steps[0].errors[0].M}] and (.steps[0].errors[0].M | length > 0) and .steps[0].rows == [] and .steps[0].z == \"I\" and .steps[1].rows == [[\"after\"]] and .steps[1].errors == [] and (.steps[1].eof | not)"
  else
    pgc "$app" "[{\"q\":\"SELECT 'preset_marker'\"},{\"wait_direct\":\"SELECT count(*) FROM pg_stat_activity WHERE application_name = '$app'\",\"until\":\"0\",\"secs\":5}]"
    [[ $preset == admin_shutdown ]] && note "admin_shutdown on the wire: $(jq -c '.steps[0].errors' <<<"$PGC" 2>/dev/null)"
    pgc_is "pg_error $preset: FATAL $code, then the connection closes; the server's session is gone" \
      ".steps[0].errors[0].S == \"FATAL\" and .steps[0].errors[0].C == \"$code\" and .steps[0].eof and .steps[0].rows == [] and .steps[1].rows == [[\"0\"]]"
  fi
done <<<"$PRESETS"

add_fault '{"name":"preset","type":"pg_error","attributes":{"error":"query_canceled","message":"canceled by brownout","match":{"statement":"preset_marker"}}}'
pgc brownout_custom '[{"q":"SELECT '"'preset_marker'"'"},{"q":"SELECT 2"}]'
pgc_is "pg_error query_canceled with message: ERROR 57014 'canceled by brownout'" \
  '.steps[0].errors == [{S: "ERROR", C: "57014", M: "canceled by brownout"}] and .steps[1].rows == [["2"]]'
add_fault '{"name":"preset","type":"pg_error","attributes":{"sqlstate":"53100","message":"could not extend file: No space left on device","match":{"statement":"preset_marker"}}}'
pgc brownout_custom '[{"q":"SELECT '"'preset_marker'"'"},{"q":"SELECT 3"}]'
pgc_is "pg_error with sqlstate and message, no preset: ERROR 53100 and that message" \
  '.steps[0].errors == [{S: "ERROR", C: "53100", M: "could not extend file: No space left on device"}] and .steps[1].rows == [["3"]]'
add_fault '{"name":"preset","type":"pg_error","attributes":{"error":"serialization_failure","severity":"FATAL","match":{"statement":"preset_marker"}}}'
pgc brownout_custom '[{"q":"SELECT '"'preset_marker'"'"}]'
pgc_is "pg_error serialization_failure with severity FATAL: FATAL 40001 and the connection closes" \
  '.steps[0].errors[0].S == "FATAL" and .steps[0].errors[0].C == "40001" and .steps[0].eof'
# The same FATAL as psql shows it.
add_fault '{"name":"preset","type":"pg_error","attributes":{"error":"admin_shutdown","match":{"statement":"preset_marker"}}}'
pq -c '\set VERBOSITY verbose' -c "SELECT 'preset_marker'" -c "SELECT 'unreached'"
check "psql: pg_error admin_shutdown: 'FATAL:  57P01', the connection is lost, exit 2" \
  "$([[ $PQ_RC == 2 && "$PQ_ERR" == *"FATAL:  57P01"* && ("$PQ_ERR" == *"connection to server was lost"* || "$PQ_ERR" == *"server closed the connection"*) && "$PQ_OUT" != *unreached* ]]; echo $?)" "$(pq_show)"
# every = 3: every third matching statement, whichever session it comes from (proxy-wide).
add_fault '{"name":"preset","type":"pg_error","attributes":{"error":"lock_not_available","every":3,"match":{"statement":"every_marker"}}}'
steps=$(jq -cn '[range(0; 9) | {q: "SELECT \(.) AS every_marker"}] + [{q: "SELECT 0 AS other"}]')
pgc brownout_every "$steps"
# shellcheck disable=SC2016 # jq variables
pgc_is "pg_error every = 3: 3 of 9 matching statements fail with 55P03, 3 apart; the others and a non-matching one pass" \
  '[.steps[:9][] | .errors[0].C // "ok"] as $r | ($r | map(select(. == "55P03")) | length) == 3 and ($r | map(select(. == "ok")) | length) == 6 and ([range(0; 9) | select($r[.] == "55P03")] | .[1] - .[0] == 3 and .[2] - .[1] == 3) and .steps[9].rows == [["0"]]'
del_fault preset

# ---------------------------------------------------------------------------------------------
echo "== 4. inside a transaction [${SECONDS}s]"

direct 'DROP TABLE IF EXISTS acct; CREATE TABLE acct (id int PRIMARY KEY, balance int); INSERT INTO acct VALUES (1, 100), (2, 100)' >/dev/null
add_fault '{"name":"txn","type":"pg_error","attributes":{"error":"serialization_failure","first":1,"match":{"statement":"update\\s+acct","kind":"update"}}}'

# One psql session. While it is still connected (\! runs a shell from inside it), the server's
# view of its backend is taken straight from PostgreSQL.
PROBE="PGAPPNAME=probe '$PSQL' -X -At -h $PG_HOST -p $PG_PORT -c \"SELECT state FROM pg_stat_activity WHERE application_name = 'brownout_txn' AND pid <> pg_backend_pid()\" > '$DIR/txn.state' 2>&1"
cat >"$DIR/txn.sql" <<EOF
\\set VERBOSITY verbose
BEGIN;
UPDATE acct SET balance = balance - 30 WHERE id = 1;
\\echo @@sqlstate :LAST_ERROR_SQLSTATE
\\echo @@commit
COMMIT;
\\echo @@committed
\\! $PROBE
SELECT 'still usable' AS s;
UPDATE acct SET balance = balance - 30 WHERE id = 1;
\\echo @@done
EOF
PGAPPNAME=brownout_txn pq -At -v ON_ERROR_STOP=0 -f "$DIR/txn.sql"
after_commit=$(awk 'f { print; exit } /^@@commit$/ { f = 1 }' <<<"$PQ_OUT")
state=$(<"$DIR/txn.state")
check "psql exits 0 and ran the whole script" "$([[ $PQ_RC == 0 && "$PQ_OUT" == *@@done* ]]; echo $?)" "$(pq_show)"
check "the UPDATE in BEGIN..COMMIT fails with SQLSTATE 40001 (LAST_ERROR_SQLSTATE; psql prints ERROR:  40001)" \
  "$([[ "$PQ_OUT" == *"@@sqlstate 40001"* && "$PQ_ERR" == *"ERROR:  40001"* ]]; echo $?)" "$(pq_show)"
check "COMMIT of the failed block answers ROLLBACK" "$([[ "$after_commit" == ROLLBACK ]]; echo $?)" "line after COMMIT: $(_show "$after_commit"); $(pq_show)"
check "while psql is still connected, its backend is 'idle' (not idle in transaction)" "$([[ "$state" == idle ]]; echo $?)" \
  "pg_stat_activity state for brownout_txn: $(_show "$state")"
check "the same session goes on: SELECT 'still usable', and the second UPDATE (past first = 1) commits" \
  "$([[ "$PQ_OUT" == *"still usable"*"UPDATE 1"* ]]; echo $?)" "$(pq_show)"
bal=$(direct 'SELECT balance FROM acct WHERE id = 1')
check "the row: the failed UPDATE left no trace, the second one committed (balance 70)" "$([[ "$bal" == 70 ]]; echo $?)" "balance $bal"

# The same in the extended protocol (Parse/Bind/Execute/Sync), ReadyForQuery status checked.
add_fault '{"name":"txn","type":"pg_error","attributes":{"error":"serialization_failure","first":1,"match":{"statement":"update\\s+acct","kind":"update"}}}'
pgc brownout_txx '[{"q":"BEGIN"},{"x":"UPDATE acct SET balance = balance - 30 WHERE id = 2"},{"x":"SELECT 1"},{"q":"COMMIT"},
  {"direct":"SELECT state FROM pg_stat_activity WHERE application_name = '"'brownout_txx'"'"},{"direct":"SELECT balance FROM acct WHERE id = 2"},
  {"x":"SELECT 42"},{"x":"UPDATE acct SET balance = balance - 30 WHERE id = 2"}]'
pgc_is "extended: BEGIN, then UPDATE fails with ERROR 40001, ReadyForQuery status E (failed block)" \
  '.steps[0].z == "T" and .steps[1].errors[0].C == "40001" and .steps[1].errors[0].S == "ERROR" and .steps[1].z == "E"'
pgc_is "extended: a SELECT in the failed block gets 25P02 from the server itself" '.steps[2].errors[0].C == "25P02" and .steps[2].z == "E"'
pgc_is "extended: COMMIT answers ROLLBACK, status I; the server's backend is idle; the row unchanged (100)" \
  '.steps[3].tags == ["ROLLBACK"] and .steps[3].z == "I" and .steps[4].rows == [["idle"]] and .steps[5].rows == [["100"]]'
pgc_is "extended: the session goes on (SELECT 42) and the next UPDATE passes (first = 1)" \
  '.steps[6].rows == [["42"]] and .steps[6].z == "I" and .steps[7].tags == ["UPDATE 1"] and .steps[7].errors == []'

# match prepared = NAME: only executions of that named prepared statement.
add_fault '{"name":"txn","type":"pg_error","attributes":{"error":"deadlock_detected","match":{"prepared":"transfer"}}}'
pgc brownout_prep '[{"prepare":"transfer","sql":"UPDATE acct SET balance = balance + 1 WHERE id = 2"},{"prepare":"peek","sql":"SELECT balance FROM acct WHERE id = 2"},
  {"execute":"peek"},{"execute":"transfer"},{"execute":"peek"},{"q":"SELECT 5"}]'
pgc_is "match prepared = transfer: executing 'transfer' gets 40P01, 'peek' runs, balance unchanged" \
  '.steps[0].errors == [] and .steps[2].rows == [["70"]] and .steps[3].errors[0].C == "40P01" and .steps[3].z == "I" and .steps[4].rows == [["70"]] and .steps[5].rows == [["5"]]'
del_fault txn

# ---------------------------------------------------------------------------------------------
echo "== 5. pg_delay 300ms on a statement regex (brownout fault add) [${SECONDS}s]"

timeout -k 2 15 "$BIN" -s "$API" fault add pg pg_delay --name slow --set delay=300ms --match statement='slow_marker' >"$DIR/cli.out" 2>&1
rc=$?
check "brownout fault add pg pg_delay --set delay=300ms --match statement=slow_marker: exit 0" "$rc" "exit $rc: $(<"$DIR/cli.out")"
api GET /proxies/pg/toxics/slow
expect_jq "GET the toxic: pg_delay, delay 300 ms, match statement slow_marker" \
  '.type == "pg_delay" and (.attributes.delay == 300 or .attributes.delay == "300ms") and .attributes.match.statement == "slow_marker"'
if [[ "$RESP_STATUS" != 200 ]]; then
  note "the CLI did not add the fault: adding it through the API, to check the delay itself"
  add_fault '{"name":"slow","type":"pg_delay","attributes":{"delay":300,"match":{"statement":"slow_marker"}}}'
fi
# shellcheck disable=SC2016 # $$ is SQL dollar quoting
printf '\\timing on\nSELECT 1 AS fast_before;\nselect $$SLOW_MARKER$$;\nSELECT 2 AS fast_after;\n' >"$DIR/delay.sql"
pq -At -f "$DIR/delay.sql"
mapfile -t times < <(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$PQ_OUT")
note "psql \\timing: ${times[*]:-none} ms"
if ((${#times[@]} == 3)) && [[ $PQ_RC == 0 ]]; then
  check "a matching statement (regex, case-insensitive) takes >= 300 ms (${times[1]} ms) and < 1500 ms" \
    "$(float_ge "${times[1]}" 300 && float_lt "${times[1]}" 1500; echo $?)" "$(pq_show)"
  check "non-matching statements stay fast: ${times[0]} ms, ${times[2]} ms < 100 ms" \
    "$(float_lt "${times[0]}" 100 && float_lt "${times[2]}" 100; echo $?)" "$(pq_show)"
else
  fail "psql with \\timing: expected 3 timings, got ${#times[@]}: $(pq_show)"
fi
# The extended protocol (Parse/Bind/Execute/Sync) is held too.
pgc brownout_delay '[{"x":"SELECT 1 AS fast"},{"x":"SELECT 2 AS slow_marker"},{"x":"SELECT 3 AS fast"}]'
pgc_is "extended protocol: the matching statement takes >= 300 ms, the others < 100 ms, all answered" \
  '.steps[1].ms >= 300 and .steps[1].ms < 1500 and .steps[0].ms < 100 and .steps[2].ms < 100 and .steps[1].rows == [["2"]] and .steps[2].rows == [["3"]]'
del_fault slow

# ---------------------------------------------------------------------------------------------
echo "== 6. pg_terminate [${SECONDS}s]"

direct 'DROP TABLE IF EXISTS term_log; CREATE TABLE term_log (note text)' >/dev/null
add_fault '{"name":"term","type":"pg_terminate","attributes":{"match":{"statement":"term_marker"}}}'
pq -c "INSERT INTO term_log VALUES ('term_marker psql')" -c "SELECT 'unreached'"
check "psql: pg_terminate (fatal): 'FATAL:  terminating connection due to administrator command', connection lost, exit 2" \
  "$([[ $PQ_RC == 2 && "$PQ_ERR" == *"FATAL:  terminating connection due to administrator command"* && "$PQ_OUT" != *unreached* && "$PQ_OUT" != *"INSERT 0 1"* ]]; echo $?)" "$(pq_show)"
rows=$(direct "SELECT count(*) FROM term_log WHERE note = 'term_marker psql'")
check "pg_terminate fatal: the statement did not run (its row is not there)" "$([[ "$rows" == 0 ]]; echo $?)" "rows $rows"
# The client keeps its socket open: the proxy itself must end the server's session.
pgc brownout_term '[{"q":"INSERT INTO term_log VALUES ('"'term_marker raw'"')"},
  {"wait_direct":"SELECT count(*) FROM pg_stat_activity WHERE application_name = '"'brownout_term'"'","until":"0","secs":5},
  {"direct":"SELECT count(*) FROM term_log WHERE note = '"'term_marker raw'"'"}]'
pgc_is "pg_terminate fatal: instead of INSERT's answer, FATAL 57P01, then the end of the stream" \
  '.steps[0].errors == [{S: "FATAL", C: "57P01", M: "terminating connection due to administrator command"}] and .steps[0].tags == [] and .steps[0].eof'
pgc_is "pg_terminate fatal: the server-side session is gone (client socket still open), no row" \
  '.steps[1].rows == [["0"]] and .steps[2].rows == [["0"]]'

add_fault '{"name":"term","type":"pg_terminate","attributes":{"mode":"cut","after_rows":5,"match":{"statement":"^select generate_series"}}}'
pq -At -c 'SELECT generate_series(1, 1000)'
check "psql: pg_terminate cut after_rows 5: SELECT generate_series(1,1000) fails with a lost connection, exit 2" \
  "$([[ $PQ_RC == 2 && ("$PQ_ERR" == *"server closed the connection unexpectedly"* || "$PQ_ERR" == *"connection to server was lost"*) && "$PQ_OUT" != *1000* ]]; echo $?)" "$(pq_show)"
pgc brownout_cut '[{"q":"SELECT generate_series(1, 1000)"},
  {"wait_direct":"SELECT count(*) FROM pg_stat_activity WHERE application_name = '"'brownout_cut'"'","until":"0","secs":5}]'
pgc_is "pg_terminate cut: exactly 5 DataRows (1..5), no CommandComplete, no error, then the end of the stream" \
  '.steps[0].rows == [["1"],["2"],["3"],["4"],["5"]] and .steps[0].tags == [] and .steps[0].errors == [] and .steps[0].eof'
pgc_is "pg_terminate cut: the server-side session is gone" '.steps[1].rows == [["0"]]'
pq -At -c 'SELECT count(*) FROM generate_series(1, 1000)'
check "pg_terminate cut: a non-matching statement (count(*) of the same series) passes" "$([[ $PQ_RC == 0 && "$PQ_OUT" == 1000 ]]; echo $?)" "$(pq_show)"
del_fault term

# ---------------------------------------------------------------------------------------------
echo "== 7. pg_refuse [${SECONDS}s]"

backends_before=$(direct "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'brownout_refused'")
add_fault '{"name":"refuse","type":"pg_refuse"}'
PGAPPNAME=brownout_refused pq -At "sslmode=disable" -c 'SELECT 1'
check "psql (sslmode=disable) through pg_refuse: 'FATAL:  sorry, too many clients already', exit 2" \
  "$([[ $PQ_RC == 2 && "$PQ_ERR" == *"FATAL:  sorry, too many clients already"* && "$PQ_OUT" != 1 ]]; echo $?)" "$(pq_show)"
PGAPPNAME=brownout_refused pq -At -c 'SELECT 1'
check "psql (sslmode=prefer) through pg_refuse: the same FATAL" \
  "$([[ $PQ_RC == 2 && "$PQ_ERR" == *"FATAL:  sorry, too many clients already"* ]]; echo $?)" "$(pq_show)"
pgc brownout_refused_raw '[]'
pgc_is "pg_refuse on the wire: FATAL 53300 in answer to the startup packet, then the end of the stream" \
  '.startup.errors[0].S == "FATAL" and .startup.errors[0].C == "53300" and .startup.errors[0].M == "sorry, too many clients already" and .startup.eof'

add_fault '{"name":"refuse","type":"pg_refuse","probability":0.5}'
refused=0 served=0 other=0
for ((i = 0; i < 30; i++)); do
  pq -At "sslmode=disable" -c 'SELECT 7'
  if [[ $PQ_RC == 0 && "$PQ_OUT" == 7 ]]; then
    served=$((served + 1))
  elif [[ $PQ_RC == 2 && "$PQ_ERR" == *"FATAL:  sorry, too many clients already"* ]]; then
    refused=$((refused + 1))
  else
    other=$((other + 1))
    note "connection $i: $(pq_show)"
  fi
done
# Binomial(30, 0.5): [6, 24] is beyond 3 sigma (2.7) each side.
check "pg_refuse probability 0.5: $refused of 30 connections refused, $served served (each in [6, 24]), no other outcome" \
  "$([[ $refused -ge 6 && $refused -le 24 && $other == 0 ]]; echo $?)" "refused $refused, served $served, other $other"
del_fault refuse
pq -At "sslmode=disable" -c 'SELECT 1'
check "after DELETE refuse: psql connects" "$([[ $PQ_RC == 0 && "$PQ_OUT" == 1 ]]; echo $?)" "$(pq_show)"
note "backends named brownout_refused before: $backends_before"

# ---------------------------------------------------------------------------------------------
echo "== 8. a profile with protocol = \"postgres\" (brownout apply) [${SECONDS}s]"

PF_PORT=$(free_port)
cat >"$DIR/db.toml" <<EOF
[[proxy]]
name = "pgprof"
listen = "127.0.0.1:$PF_PORT"
upstream = "127.0.0.1:$PG_PORT"
protocol = "postgres"

[[proxy.fault]]
name = "deadlocks"
type = "pg_error"
error = "deadlock_detected"
match = { statement = "profile_marker", kind = ["select", "update"] }
EOF
timeout -k 2 15 "$BIN" -s "$API" apply "$DIR/db.toml" >"$DIR/apply.out" 2>&1
rc=$?
check "brownout apply db.toml: exit 0" "$rc" "exit $rc: $(<"$DIR/apply.out")"
api GET /proxies/pgprof
expect_jq "GET /proxies/pgprof: protocol postgres" '.protocol == "postgres"'
out=$(timeout -k 2 15 "$PSQL" -X -At -h 127.0.0.1 -p "$PF_PORT" -c '\set VERBOSITY verbose' -c "SELECT 'profile_marker'" -c "SELECT 'after profile'" 2>&1)
rc=$?
check "profile pg_error deadlock_detected: ERROR 40P01 on the matching SELECT, the session goes on" \
  "$([[ "$out" == *"ERROR:  40P01"* && "$out" == *"after profile"* ]] && ! grep -qx profile_marker <<<"$out"; echo $?)" "exit $rc: $(_show "$out")"

# ---------------------------------------------------------------------------------------------
# Nothing left behind: no backend idle in transaction anywhere.
stuck=$(direct "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'")
check "at the end: no backend idle in transaction" "$([[ "$stuck" == 0 ]]; echo $?)" "$stuck backends idle in transaction"
# Every client is gone: the proxy must have ended each server session too (bounded: 5 s).
for ((i = 0; i < 50; i++)); do
  left=$(direct "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
  [[ "$left" == 0 ]] && break
  sleep 0.1
done
check "at the end: no server session left from the proxy" "$([[ "$left" == 0 ]]; echo $?)" \
  "$left left: $(direct "SELECT string_agg(application_name || ':' || state, ', ') FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")"

note "total: ${SECONDS}s"
stop_brownout
finish
