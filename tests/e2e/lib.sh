# shellcheck shell=bash
# Shared helpers for brownout end-to-end tests. Source it from a *_test.sh script:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   e2e_init api_compat            # name used in the summary line
#   start_brownout "$1"            # exports API, BROWNOUT_PID, BROWNOUT_PORT, BROWNOUT_LOG
#   start_http_upstream            # exports HTTP_UPSTREAM_PORT, HTTP_UPSTREAM_DIR
#   start_echo_upstream            # exports ECHO_PORT
#   ...checks using pass/fail/expect_*...
#   finish                         # prints "NAME: N passed, M failed", exits non-zero on any failure
#
# Everything listens on 127.0.0.1 only. Every process started here is killed (by its own pid)
# and every temp dir removed on exit, whatever the exit path. Every wait loop is bounded.

set -u
set -o pipefail

E2E_NAME=${E2E_NAME:-e2e}
E2E_PASSED=0
E2E_FAILED=0
E2E_FAILURES=()
E2E_PIDS=()
E2E_TMPDIRS=()
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/brownout-e2e.XXXXXX") || { echo "FATAL: mktemp failed" >&2; exit 2; }
E2E_TMPDIRS+=("$E2E_TMP")

e2e_init() { E2E_NAME=$1; }

# ---------------------------------------------------------------------------------------------
# Cleanup

e2e_cleanup() {
  local pid i
  for pid in "${E2E_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${E2E_PIDS[@]}"; do
    # Bounded: at most 30 x 0.1 s per process, then SIGKILL.
    for ((i = 0; i < 30; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  E2E_PIDS=()
  local d
  for d in "${E2E_TMPDIRS[@]}"; do
    [[ -n "$d" && -d "$d" ]] && rm -rf -- "$d"
  done
  E2E_TMPDIRS=()
}

e2e_on_exit() {
  local rc=$?
  trap - EXIT
  if ((rc != 0)) && [[ -n "${BROWNOUT_LOG:-}" && -s "${BROWNOUT_LOG}" && "${E2E_SHOW_LOG_ON_FAIL:-1}" == 1 ]]; then
    echo "---- last 40 lines of brownout log ----" >&2
    tail -n 40 "$BROWNOUT_LOG" >&2 || true
    echo "---------------------------------------" >&2
  fi
  e2e_cleanup
  exit "$rc"
}
trap e2e_on_exit EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'echo "terminated" >&2; exit 143' TERM

e2e_track_pid() { E2E_PIDS+=("$1"); }

# e2e_mktemp_dir: prints a new directory inside $E2E_TMP (removed with it on exit; safe to call
# inside $(...), unlike registering a separate dir from a subshell).
e2e_mktemp_dir() {
  mktemp -d "$E2E_TMP/dir.XXXXXX"
}

# ---------------------------------------------------------------------------------------------
# Results

fail() {
  E2E_FAILED=$((E2E_FAILED + 1))
  E2E_FAILURES+=("$*")
  echo "FAIL: $*" >&2
}

pass() {
  E2E_PASSED=$((E2E_PASSED + 1))
  echo "ok:   $*"
}

note() { echo "note: $*"; }

# Fatal setup problem: the test cannot go on.
die() {
  echo "FATAL: $*" >&2
  E2E_FAILED=$((E2E_FAILED + 1))
  echo "${E2E_NAME}: ${E2E_PASSED} passed, ${E2E_FAILED} failed"
  exit 1
}

finish() {
  if ((E2E_FAILED > 0)); then
    echo "---- failed checks ----" >&2
    local f
    for f in "${E2E_FAILURES[@]}"; do echo "  - $f" >&2; done
  fi
  echo "${E2E_NAME}: ${E2E_PASSED} passed, ${E2E_FAILED} failed"
  ((E2E_FAILED == 0)) && exit 0
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Ports and waiting

# Prints a currently free TCP port on 127.0.0.1 (bound to port 0 and released).
free_port() {
  python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(0.5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

# wait_for_file FILE SECONDS: wait until FILE exists and is non-empty (polls every 0.05 s).
wait_for_file() {
  local file=$1 secs=$2 i max
  max=$((secs * 20))
  for ((i = 0; i < max; i++)); do
    [[ -s "$file" ]] && return 0
    sleep 0.05
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# Processes under test

# start_brownout BIN [extra serve args...]
# Starts brownout on a free loopback port and waits (max 10 s) for GET /version to answer.
# Exports API, BROWNOUT_PID, BROWNOUT_PORT, BROWNOUT_LOG.
start_brownout() {
  local bin=$1
  shift
  [[ -x "$bin" ]] || die "brownout binary not found or not executable: $bin"
  local attempt port i pid
  BROWNOUT_LOG="$E2E_TMP/brownout.log"
  export BROWNOUT_LOG
  # A free port can be taken by someone else between the probe and the bind: retry a few times.
  for ((attempt = 1; attempt <= 3; attempt++)); do
    port=$(free_port) || die "free_port failed"
    "$bin" serve --host 127.0.0.1 --port "$port" --seed 1 "$@" >>"$BROWNOUT_LOG" 2>&1 &
    pid=$!
    e2e_track_pid "$pid"
    for ((i = 0; i < 100; i++)); do # 100 x 0.1 s = 10 s
      if ! kill -0 "$pid" 2>/dev/null; then
        break
      fi
      if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/version"; then
        export API="http://127.0.0.1:$port" BROWNOUT_PID=$pid BROWNOUT_PORT=$port
        echo "brownout pid $pid serving $API"
        return 0
      fi
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "brownout did not answer on port $port (attempt $attempt)" >&2
  done
  die "brownout failed to start; log: $(tail -n 20 "$BROWNOUT_LOG" 2>/dev/null)"
}

# stop_brownout: SIGTERM, wait (max 10 s) and check a graceful exit with status 0; records a
# pass or a failure. Catches crashes at shutdown and sanitizer aborts. Safe to call once.
stop_brownout() {
  local pid=${BROWNOUT_PID:-} i rc
  [[ -n "$pid" ]] || return 0
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    rc=$?
    fail "brownout (pid $pid) had already exited (status $rc) before the end of the test"
    BROWNOUT_PID=
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do # 100 x 0.1 s = 10 s
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    fail "brownout did not exit within 10 s of SIGTERM"
  else
    wait "$pid" 2>/dev/null
    rc=$?
    if ((rc == 0)); then
      pass "brownout exited cleanly on SIGTERM"
    else
      fail "brownout exited with status $rc on SIGTERM (log: $BROWNOUT_LOG)"
    fi
  fi
  BROWNOUT_PID=
}

# brownout_alive: true while the server process is still running.
brownout_alive() { kill -0 "${BROWNOUT_PID:-0}" 2>/dev/null; }

# Runs a python3 server script that binds 127.0.0.1:0 and writes its port to PORTFILE.
# _start_py_server NAME PORTFILE SCRIPT [args...]; prints the pid... via global _PY_PID.
_start_py_server() {
  local name=$1 portfile=$2 script=$3
  shift 3
  python3 -u -c "$script" "$portfile" "$@" >>"$E2E_TMP/$name.log" 2>&1 &
  _PY_PID=$!
  e2e_track_pid "$_PY_PID"
  wait_for_file "$portfile" 10 || die "$name did not start: $(tail -n 5 "$E2E_TMP/$name.log")"
}

# start_http_upstream: HTTP server serving a fresh temp dir on a free loopback port.
# Creates index.html ("hello from upstream\n") and big.bin (100000 bytes).
# Exports HTTP_UPSTREAM_PORT, HTTP_UPSTREAM_DIR, HTTP_UPSTREAM_PID.
start_http_upstream() {
  local dir
  dir=$(e2e_mktemp_dir)
  printf 'hello from upstream\n' >"$dir/index.html"
  python3 -c 'import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range(100000)))' >"$dir/big.bin"
  local portfile="$E2E_TMP/http_upstream.port"
  rm -f "$portfile"
  _start_py_server http_upstream "$portfile" '
import functools, http.server, os, sys
portfile, root = sys.argv[1], sys.argv[2]
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, fmt, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
srv.daemon_threads = True
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(tmp, portfile)
srv.serve_forever()
' "$dir"
  HTTP_UPSTREAM_PORT=$(<"$portfile")
  HTTP_UPSTREAM_DIR=$dir
  HTTP_UPSTREAM_PID=$_PY_PID
  export HTTP_UPSTREAM_PORT HTTP_UPSTREAM_DIR HTTP_UPSTREAM_PID
  echo "http upstream pid $HTTP_UPSTREAM_PID on 127.0.0.1:$HTTP_UPSTREAM_PORT serving $dir"
}

# start_echo_upstream: TCP echo server (one thread per connection) on a free loopback port.
# Exports ECHO_PORT, ECHO_PID.
start_echo_upstream() {
  local portfile="$E2E_TMP/echo_upstream.port"
  rm -f "$portfile"
  _start_py_server echo_upstream "$portfile" '
import os, socketserver, sys
portfile = sys.argv[1]
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    break
                self.request.sendall(data)
        except OSError:
            pass
class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
srv = Server(("127.0.0.1", 0), Echo)
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(tmp, portfile)
srv.serve_forever()
'
  ECHO_PORT=$(<"$portfile")
  ECHO_PID=$_PY_PID
  export ECHO_PORT ECHO_PID
  echo "echo upstream pid $ECHO_PID on 127.0.0.1:$ECHO_PORT"
}

# start_port_holder: a plain listener that accepts nothing, to occupy a port. Exports HELD_PORT.
start_port_holder() {
  local portfile="$E2E_TMP/holder.port"
  rm -f "$portfile"
  _start_py_server port_holder "$portfile" '
import os, socket, sys, time
portfile = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(tmp, portfile)
time.sleep(600)
'
  HELD_PORT=$(<"$portfile")
  export HELD_PORT
}

# ---------------------------------------------------------------------------------------------
# HTTP helpers (curl). Results land in RESP_STATUS, RESP_CT, RESP_BODY (exact bytes, incl. any
# trailing newline), RESP_HEADERS.

# api METHOD PATH [BODY] [extra curl args...]
# BODY "-" or absent means: send no body.
api() {
  local method=$1 path=$2 body=${3-"-"}
  shift 2
  (($# > 0)) && shift
  local out="$E2E_TMP/resp.body" hdr="$E2E_TMP/resp.headers" meta
  local args=(-s -S --max-time 10 -X "$method" -o "$out" -D "$hdr" -w '%{http_code} %{content_type}')
  if [[ "$body" != "-" ]]; then
    args+=(-H 'Content-Type: application/json' --data-binary "$body")
  fi
  : >"$out"
  : >"$hdr"
  meta=$(curl "${args[@]}" "$@" "$API$path" 2>"$E2E_TMP/curl.err") || {
    RESP_STATUS=000
    RESP_CT=""
    RESP_BODY=""
    RESP_HEADERS=""
    echo "curl $method $path failed: $(<"$E2E_TMP/curl.err")" >&2
    return 0
  }
  RESP_STATUS=${meta%% *}
  RESP_CT=${meta#* }
  RESP_BODY=$(
    cat "$out"
    printf x
  )
  RESP_BODY=${RESP_BODY%x}
  RESP_HEADERS=$(tr -d '\r' <"$hdr")
}

# Shows a body in one line for messages.
_show() { printf '%q' "$1"; }

# expect_status LABEL CODE
expect_status() {
  if [[ "$RESP_STATUS" == "$2" ]]; then
    pass "$1: status $2"
  else
    fail "$1: expected status $2, got $RESP_STATUS (body $(_show "$RESP_BODY"))"
  fi
}

# expect_ct LABEL CONTENT_TYPE   ("" = no Content-Type header)
expect_ct() {
  if [[ "$RESP_CT" == "$2" ]]; then
    pass "$1: content-type '$2'"
  else
    fail "$1: expected content-type '$2', got '$RESP_CT'"
  fi
}

# expect_body LABEL EXACT_BODY
expect_body() {
  if [[ "$RESP_BODY" == "$2" ]]; then
    pass "$1: body $(_show "$2")"
  else
    fail "$1: expected body $(_show "$2"), got $(_show "$RESP_BODY")"
  fi
}

# expect_response LABEL STATUS CONTENT_TYPE EXACT_BODY: all three in one check.
expect_response() {
  local label=$1 st=$2 ct=$3 body=$4 problems=()
  [[ "$RESP_STATUS" == "$st" ]] || problems+=("status $RESP_STATUS != $st")
  [[ "$RESP_CT" == "$ct" ]] || problems+=("content-type '$RESP_CT' != '$ct'")
  [[ "$RESP_BODY" == "$body" ]] || problems+=("body $(_show "$RESP_BODY") != $(_show "$body")")
  if ((${#problems[@]} == 0)); then
    pass "$label: $st $(_show "$body")"
  else
    fail "$label: $(IFS=';'; echo "${problems[*]}")"
  fi
}

# expect_error LABEL STATUS MESSAGE: Toxiproxy error shape, exact bytes and content type.
expect_error() {
  expect_response "$1" "$2" 'text/plain; charset=utf-8' "{\"error\":\"$3\",\"status\":$2}
"
}

# expect_jq LABEL JQ_FILTER: the filter, run with `jq -e` on the body, must yield true.
expect_jq() {
  if printf '%s' "$RESP_BODY" | jq -e "$2" >/dev/null 2>&1; then
    pass "$1"
  else
    fail "$1: jq '$2' not true for body $(_show "$RESP_BODY")"
  fi
}

# expect_compact LABEL JSON: body, re-serialised by `jq -c` (key order kept), equals JSON.
# Toxiproxy's stray "Logger":{} key (optional per the reference) is dropped before comparing.
expect_compact() {
  local got
  got=$(printf '%s' "$RESP_BODY" | jq -c 'walk(if type == "object" then del(.Logger) else . end)' 2>/dev/null) || got="<invalid JSON: $RESP_BODY>"
  if [[ "$got" == "$2" ]]; then
    pass "$1: $2"
  else
    fail "$1: expected $2, got $got"
  fi
}

# header_value NAME: value of a response header (case-insensitive), from the last response.
header_value() {
  printf '%s\n' "$RESP_HEADERS" | awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" '
    { split($0, a, ":"); if (tolower(a[1]) == n) { sub(/^[^:]*:[ \t]*/, ""); print; exit } }'
}

# http_time URL: prints "HTTP_CODE TIME_TOTAL" of a GET (max 10 s); "000 T" when it failed.
http_time() {
  curl -s -o /dev/null --max-time 10 -w '%{http_code} %{time_total}' "$1" 2>/dev/null || true
}

# float_ge A B / float_lt A B
float_ge() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"; }
float_lt() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$1" "$2"; }
