#!/usr/bin/env bash
# End-to-end checks of HTTP-aware faults, as a client sees them, through the real binary with a
# real HTTP/1.1 upstream (python3 http.server, keep-alive, logging every request it receives) and
# real clients (curl, python3 http.client):
#   - each fault type: http_abort (status, headers, body; the upstream never sees the request),
#     http_delay (request: the upstream gets it late; response: the upstream gets it at once and
#     time to first byte grows), http_reset (a reset error, before or after N body bytes),
#     http_truncate (a body shorter than Content-Length), http_drop_response (the upstream got
#     the request, the client gets no answer: close, reset, hang with timeout), http_status (status
#     and body replaced), http_dribble (slow but intact), http_garbage (a protocol error);
#   - match on method, path glob and header: non-matching requests pass untouched;
#   - header-controlled faults only with header_faults on; the upstream never sees them;
#   - a malformed request gets a 400 and counts in brownout_http_malformed_requests_total;
#   - 20 MiB down and up (Content-Length and chunked) intact; chunked responses; HEAD;
#   - a HEAD answered by an abort or changed by http_status carries no body (keep-alive stays in
#     sync); an abort of a POST sent with Expect: 100-continue is answered without waiting for
#     the body;
#   - probability 0.3 over 2,000 requests within 3 sigma of 600, and `serve --seed` hits the same
#     requests on a second run with a fresh server;
#   - 1,000 requests over one keep-alive connection with a 10% abort rate: one connection;
#   - a profile (protocol = "http", http_abort with match and with a quota) via `brownout apply`:
#     request 21 within the window gets 429 with a Retry-After that, honoured, succeeds.
#
# Usage: bash tests/e2e/http_faults_test.sh /path/to/brownout
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init http_faults

BIN=${1:?usage: $0 /path/to/brownout}
command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required"
command -v python3 >/dev/null || die "python3 is required"
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
unset BROWNOUT_SERVER

DIR=$(e2e_mktemp_dir)

# ---------------------------------------------------------------------------------------------
# The upstream: HTTP/1.1 with keep-alive, one thread per connection; logs every request.

UPLOG="$DIR/upstream.jsonl"
: >"$UPLOG"
cat >"$DIR/upstream.py" <<'EOF'
# GET /big?n=N: N bytes (i % 251), Content-Length. GET /chunked: 5 chunks "chunk I\n".
# POST /sha: {"sha256","length"} of the body (Content-Length or chunked). POST /echo: the body.
# Anything else: "hello METHOD PATH\n". HEAD: GET's headers, no body.
# Every request is appended to LOG as a JSON line: t (epoch s), method, path, headers.
import hashlib, http.server, json, os, sys, threading, time
portfile, logpath = sys.argv[1], sys.argv[2]
lock = threading.Lock()
PATTERN = bytes(i % 251 for i in range(251 * 1024))

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # else header and body writes wait for a delayed ACK: 40 ms
    def log_message(self, fmt, *args):
        pass
    def record(self):
        entry = {"t": time.time(), "method": self.command, "path": self.path,
                 "headers": [[k, v] for k, v in self.headers.items()]}
        with lock, open(logpath, "a") as f:
            f.write(json.dumps(entry) + "\n")
    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            for _ in range(10_000_000):
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                out += self.rfile.read(size)
                self.rfile.readline()
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""
    def send_fixed(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Upstream", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def do_HEAD(self):
        self.do_GET()
    def do_GET(self):
        self.record()
        path = self.path.split("?")[0]
        if path == "/big":
            n = int(self.path.split("n=")[1]) if "n=" in self.path else 100000
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command == "HEAD":
                return
            left = n
            while left > 0:
                k = min(left, len(PATTERN))
                self.wfile.write(PATTERN[:k])
                left -= k
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                return
            for i in range(5):
                piece = ("chunk %d\n" % i).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_fixed(("hello %s %s\n" % (self.command, path)).encode())
    def do_POST(self):
        self.record()
        body = self.read_body()
        path = self.path.split("?")[0]
        if path == "/sha":
            self.send_fixed(json.dumps({"sha256": hashlib.sha256(body).hexdigest(),
                                        "length": len(body)}).encode(), "application/json")
        elif path == "/echo":
            self.send_fixed(body, "application/octet-stream")
        else:
            self.send_fixed(("hello %s %s\n" % (self.command, path)).encode())

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
tmp = portfile + ".tmp"
with open(tmp, "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(tmp, portfile)
srv.serve_forever()
EOF

# A keep-alive client: COUNT requests in order on one connection (a new one only when the
# server closes it, or every RECONNECT requests when > 0). Odd requests are POSTs with a 1 KiB
# body when BODIES is 1. Prints JSON: codes (one char per request: '.' for 200, 'A' for ABORT
# status, 'x' for anything else, 'E' for an error), connections (distinct client sockets),
# errors, bad (responses that were not what the upstream sends), seconds.
cat >"$DIR/client.py" <<'EOF'
import http.client, json, sys, time
port, count, prefix, abort_status, reconnect, bodies = (
    int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
    sys.argv[6] == "1")
deadline = time.monotonic() + 40
codes, sockets, errors, bad = [], set(), [], 0
conn = None
t0 = time.monotonic()
for i in range(count):
    if time.monotonic() > deadline:
        errors.append("deadline")
        break
    if conn is None or (reconnect > 0 and i % reconnect == 0):
        if conn is not None:
            conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.connect()
        sockets.add(conn.sock.getsockname()[1])
    path = "%s/%d" % (prefix, i)
    method, body = "GET", None
    if bodies and i % 2 == 1:
        method, body = "POST", b"b" * 1024
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status == 200:
            codes.append(".")
            if data != ("hello %s %s\n" % (method, path)).encode():
                bad += 1
        elif resp.status == abort_status:
            codes.append("A")
        else:
            codes.append("x")
        if resp.will_close:
            conn.close()
            conn = None
    except Exception as e:  # noqa: BLE001 - the kind of failure is reported
        codes.append("E")
        errors.append("%d: %r" % (i, e))
        conn.close()
        conn = None
print(json.dumps({"codes": "".join(codes), "connections": len(sockets), "errors": errors[:5],
                  "bad": bad, "seconds": round(time.monotonic() - t0, 3)}))
EOF

start_upstream() {
  local portfile="$DIR/upstream.port"
  rm -f "$portfile"
  python3 -u "$DIR/upstream.py" "$portfile" "$UPLOG" >>"$E2E_TMP/upstream.log" 2>&1 &
  e2e_track_pid $!
  wait_for_file "$portfile" 10 || die "upstream did not start: $(tail -n 5 "$E2E_TMP/upstream.log")"
  UP_PORT=$(<"$portfile")
  echo "upstream on 127.0.0.1:$UP_PORT"
}

# ---------------------------------------------------------------------------------------------
# Helpers

# req URL [curl args...]: one curl (max 15 s). Sets C_RC (curl's exit status), C_CODE, C_TTFB,
# C_TOTAL, C_SIZE (body bytes received), C_ERR (curl's message), C_BODY (file), C_HDRS (text).
C_BODY="$DIR/c.body"
req() {
  local url=$1 meta
  shift
  : >"$C_BODY"
  : >"$DIR/c.hdrs"
  meta=$(curl -sS --max-time 15 -o "$C_BODY" -D "$DIR/c.hdrs" \
    -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}' "$@" "$url" 2>"$DIR/c.err")
  C_RC=$?
  read -r C_CODE C_TTFB C_TOTAL C_SIZE <<<"$meta"
  C_ERR=$(<"$DIR/c.err")
  C_HDRS=$(tr -d '\r' <"$DIR/c.hdrs")
}

# hdr NAME: a header of the last req (case-insensitive), "" when absent.
hdr() {
  printf '%s\n' "$C_HDRS" | awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" '
    { i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v; exit } }'
}

check() { # check LABEL CONDITION-RESULT(0/1) DETAIL
  if (($2 == 0)); then pass "$1"; else fail "$1: $3"; fi
}

# upstream_count PATH: how many requests for exactly PATH (with query) the upstream received.
upstream_count() { jq -r --arg p "$1" 'select(.path == $p) | .path' "$UPLOG" | wc -l; }
# upstream_arrival PATH: epoch seconds at which the upstream received PATH (first one).
upstream_arrival() { jq -r --arg p "$1" 'select(.path == $p) | .t' "$UPLOG" | head -n 1; }
# upstream_fault_headers PATH: x-brownout-fault-* header names the upstream saw on PATH.
upstream_fault_headers() {
  jq -r --arg p "$1" 'select(.path == $p) | .headers[] | .[0] | select(ascii_downcase | startswith("x-brownout-fault-"))' "$UPLOG"
}

toxic() { # toxic PROXY JSON
  api POST "/proxies/$1/toxics" "$2"
  [[ "$RESP_STATUS" == 200 ]] || fail "adding toxic to $1 ($2): $RESP_STATUS $(_show "$RESP_BODY")"
}
untoxic() { # untoxic PROXY NAME
  api DELETE "/proxies/$1/toxics/$2"
  [[ "$RESP_STATUS" == 204 ]] || fail "removing toxic $2 of $1: $RESP_STATUS $(_show "$RESP_BODY")"
}

# make_proxy NAME HEADER_FAULTS: an http proxy to the upstream on a free port; prints the port.
make_proxy() {
  api POST /proxies "{\"name\":\"$1\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:$UP_PORT\",\"protocol\":\"http\",\"header_faults\":$2}"
  [[ "$RESP_STATUS" == 201 ]] || die "creating proxy $1: $RESP_STATUS $(_show "$RESP_BODY")"
  local listen
  listen=$(printf '%s' "$RESP_BODY" | jq -r .listen)
  echo "${listen##*:}"
}

# metric NAME LABELS: a sample of GET /metrics ("" when absent).
metric() {
  curl -s --max-time 5 "$API/metrics" | awk -v k="$1{$2}" '$1 == k { print $2; exit }'
}

pattern_sha() { # sha256 of N bytes of the upstream's /big pattern
  python3 -c 'import hashlib, sys
n = int(sys.argv[1]); p = bytes(i % 251 for i in range(251 * 1024)); h = hashlib.sha256()
while n > 0:
    k = min(n, len(p)); h.update(p[:k]); n -= k
print(h.hexdigest())' "$1"
}

# client PORT COUNT PREFIX ABORT_STATUS RECONNECT BODIES: runs client.py; sets CL (its JSON).
client() {
  CL=$(timeout 50 python3 "$DIR/client.py" "$@" 2>"$DIR/client.err") || CL="{\"codes\":\"\",\"connections\":0,\"errors\":[\"client failed: $(tr -d '"\n' <"$DIR/client.err" | tail -c 300)\"],\"bad\":0}"
}
cl() { printf '%s' "$CL" | jq -r "$1"; }

now() { echo "$EPOCHREALTIME"; }
fsub() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$1" "$2"; }

# ---------------------------------------------------------------------------------------------
start_upstream
start_brownout "$BIN"
H_PORT=$(make_proxy h true)
PLAIN_PORT=$(make_proxy plain false)
H="http://127.0.0.1:$H_PORT"
PLAIN="http://127.0.0.1:$PLAIN_PORT"

echo "== no fault: requests pass untouched"
req "$H/hello/1"
check "GET through the http proxy: 200 with the upstream's body" \
  "$([[ $C_RC == 0 && $C_CODE == 200 && "$(<"$C_BODY")" == "hello GET /hello/1" && "$(hdr X-Upstream)" == yes ]]; echo $?)" \
  "rc $C_RC code $C_CODE body $(_show "$(<"$C_BODY")")"
check "the upstream received GET /hello/1 once" "$([[ $(upstream_count /hello/1) == 1 ]]; echo $?)" "count $(upstream_count /hello/1)"

# ---------------------------------------------------------------------------------------------
echo "== http_abort with match on method and path glob"
BODY503='{"error":"unavailable"}'
toxic h '{"name":"charges_503","type":"http_abort","attributes":{"status":503,"headers":{"Retry-After":"2"},"body":"{\"error\":\"unavailable\"}","match":{"method":"POST","path":"/v1/charges*"}}}'
req "$H/v1/charges/ch_1" -X POST --data-binary 'amount=100'
check "POST /v1/charges/ch_1: 503, Retry-After 2, the configured JSON body, framed by Content-Length" \
  "$([[ $C_RC == 0 && $C_CODE == 503 && "$(hdr Retry-After)" == 2 && "$(<"$C_BODY")" == "$BODY503" &&
    "$(hdr Content-Length)" == "${#BODY503}" && "$(hdr Content-Type)" == application/json ]]; echo $?)" \
  "rc $C_RC code $C_CODE headers $(_show "$C_HDRS") body $(_show "$(<"$C_BODY")")"
check "abort names the fault in X-Brownout-Fault" "$([[ "$(hdr X-Brownout-Fault)" == charges_503 ]]; echo $?)" "got '$(hdr X-Brownout-Fault)'"
check "an aborted request never reaches the upstream" "$([[ $(upstream_count /v1/charges/ch_1) == 0 ]]; echo $?)" "upstream saw it $(upstream_count /v1/charges/ch_1) times"
req "$H/v1/charges/ch_2?expand=customer" -X POST --data-binary 'amount=100'
check "path glob ignores the query string: POST /v1/charges/ch_2?expand=customer aborted" \
  "$([[ $C_CODE == 503 && $(upstream_count '/v1/charges/ch_2?expand=customer') == 0 ]]; echo $?)" "code $C_CODE"
req "$H/v1/charges/ch_3"
check "GET /v1/charges/ch_3 (method does not match): the upstream's 200" \
  "$([[ $C_CODE == 200 && "$(<"$C_BODY")" == "hello GET /v1/charges/ch_3" && $(upstream_count /v1/charges/ch_3) == 1 ]]; echo $?)" \
  "code $C_CODE body $(_show "$(<"$C_BODY")")"
req "$H/v1/refunds/re_1" -X POST --data-binary 'amount=100'
check "POST /v1/refunds/re_1 (path does not match): the upstream's 200" \
  "$([[ $C_CODE == 200 && "$(<"$C_BODY")" == "hello POST /v1/refunds/re_1" && $(upstream_count /v1/refunds/re_1) == 1 && -z "$(hdr X-Brownout-Fault)" ]]; echo $?)" \
  "code $C_CODE body $(_show "$(<"$C_BODY")") headers $(_show "$C_HDRS")"
untoxic h charges_503

echo "== http_abort with match on a header"
toxic h '{"name":"prod_only","type":"http_abort","attributes":{"status":418,"match":{"headers":{"X-Env":"prod"}}}}'
req "$H/env/prod" -H 'X-Env: prod'
check "X-Env: prod: 418 with the default JSON body" \
  "$([[ $C_CODE == 418 && $(upstream_count /env/prod) == 0 ]] && jq -e '.status == 418 and .injected_by == "brownout"' "$C_BODY" >/dev/null; echo $?)" \
  "code $C_CODE body $(_show "$(<"$C_BODY")")"
req "$H/env/dev" -H 'X-Env: dev'
check "X-Env: dev: passes to the upstream" "$([[ $C_CODE == 200 && $(upstream_count /env/dev) == 1 ]]; echo $?)" "code $C_CODE"
req "$H/env/none"
check "no X-Env: passes to the upstream" "$([[ $C_CODE == 200 && $(upstream_count /env/none) == 1 ]]; echo $?)" "code $C_CODE"
untoxic h prod_only

# ---------------------------------------------------------------------------------------------
echo "== http_delay"
req "$H/delay/none"
BASE_TTFB=$C_TTFB
toxic h '{"name":"slow_req","type":"http_delay","attributes":{"delay":400,"where":"request"}}'
t0=$(now)
req "$H/delay/request"
arr=$(fsub "$(upstream_arrival /delay/request)" "$t0")
check "where=request: 200, total >= 0.4 s, the upstream got the request >= 0.38 s late" \
  "$([[ $C_CODE == 200 ]] && float_ge "$C_TOTAL" 0.4 && float_ge "$arr" 0.38 && float_lt "$C_TOTAL" 2; echo $?)" \
  "code $C_CODE total $C_TOTAL arrival after $arr s"
untoxic h slow_req
toxic h '{"name":"slow_resp","type":"http_delay","attributes":{"delay":400,"where":"response"}}'
t0=$(now)
req "$H/delay/response"
arr=$(fsub "$(upstream_arrival /delay/response)" "$t0")
check "where=response: the upstream got the request at once (< 0.3 s), time to first byte >= 0.4 s (baseline $BASE_TTFB s)" \
  "$([[ $C_CODE == 200 && "$(<"$C_BODY")" == "hello GET /delay/response" ]] && float_lt "$arr" 0.3 && float_ge "$C_TTFB" 0.4 && float_lt "$C_TTFB" 2; echo $?)" \
  "code $C_CODE ttfb $C_TTFB arrival after $arr s"
untoxic h slow_resp

# ---------------------------------------------------------------------------------------------
echo "== http_reset"
toxic h '{"name":"rst","type":"http_reset"}'
req "$H/reset/before"
check "reset before forwarding: curl reports a connection reset (exit 56), the upstream saw nothing" \
  "$([[ $C_RC == 56 && "$C_ERR" == *reset* && $(upstream_count /reset/before) == 0 ]]; echo $?)" \
  "rc $C_RC err $(_show "$C_ERR") upstream count $(upstream_count /reset/before)"
untoxic h rst
toxic h '{"name":"rst_after","type":"http_reset","attributes":{"after_bytes":1000}}'
req "$H/big?n=100000"
check "reset after 1000 body bytes: exit 56 (reset), at most 1000 of 100000 bytes, Content-Length 100000" \
  "$([[ $C_RC == 56 && "$C_ERR" == *reset* && $C_SIZE -le 1000 && "$(hdr Content-Length)" == 100000 ]]; echo $?)" \
  "rc $C_RC err $(_show "$C_ERR") size $C_SIZE content-length '$(hdr Content-Length)'"
untoxic h rst_after

echo "== http_truncate"
toxic h '{"name":"cut","type":"http_truncate","attributes":{"bytes":100}}'
req "$H/big?n=10000"
check "truncate 100: Content-Length 10000 promised, 100 bytes arrive, curl exit 18 (partial)" \
  "$([[ $C_RC == 18 && $C_SIZE == 100 && "$(hdr Content-Length)" == 10000 ]] && cmp -s "$C_BODY" <(head -c 100 <(python3 -c 'import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range(100)))')); echo $?)" \
  "rc $C_RC size $C_SIZE content-length '$(hdr Content-Length)' err $(_show "$C_ERR")"
untoxic h cut

echo "== http_drop_response"
toxic h '{"name":"lost","type":"http_drop_response","attributes":{"mode":"close"}}'
req "$H/v1/charges/drop_close" -X POST --data-binary 'amount=1'
check "drop close: the upstream received the POST, the client gets an empty reply (exit 52)" \
  "$([[ $C_RC == 52 && $(upstream_count /v1/charges/drop_close) == 1 ]]; echo $?)" \
  "rc $C_RC err $(_show "$C_ERR") upstream count $(upstream_count /v1/charges/drop_close)"
untoxic h lost
toxic h '{"name":"lost","type":"http_drop_response","attributes":{"mode":"reset"}}'
req "$H/v1/charges/drop_reset" -X POST --data-binary 'amount=1'
check "drop reset: the upstream received the POST, the client gets a reset (exit 56)" \
  "$([[ $C_RC == 56 && "$C_ERR" == *reset* && $(upstream_count /v1/charges/drop_reset) == 1 ]]; echo $?)" \
  "rc $C_RC err $(_show "$C_ERR") upstream count $(upstream_count /v1/charges/drop_reset)"
untoxic h lost
toxic h '{"name":"lost","type":"http_drop_response","attributes":{"mode":"hang","timeout":500}}'
req "$H/v1/charges/drop_hang" -X POST --data-binary 'amount=1'
check "drop hang 500 ms: the upstream received the POST, no answer, closed after >= 0.5 s" \
  "$([[ $C_RC == 52 && $(upstream_count /v1/charges/drop_hang) == 1 ]] && float_ge "$C_TOTAL" 0.5 && float_lt "$C_TOTAL" 3; echo $?)" \
  "rc $C_RC total $C_TOTAL err $(_show "$C_ERR")"
req "$H/v1/charges/drop_hang2" -X POST --data-binary 'amount=1' --max-time 1
check "drop hang 500 ms, client timeout 1 s: the client sees the close, not its own timeout" \
  "$([[ $C_RC == 52 ]]; echo $?)" "rc $C_RC err $(_show "$C_ERR")"
untoxic h lost

echo "== http_status"
toxic h '{"name":"st","type":"http_status","attributes":{"status":502,"body":"bad gateway\n"}}'
req "$H/status/1"
check "status 502 with body: 502, 'bad gateway', Content-Length 12, the upstream was asked" \
  "$([[ $C_RC == 0 && $C_CODE == 502 && "$(<"$C_BODY")" == "bad gateway" && "$(hdr Content-Length)" == 12 && $(upstream_count /status/1) == 1 ]]; echo $?)" \
  "rc $C_RC code $C_CODE body $(_show "$(<"$C_BODY")") headers $(_show "$C_HDRS")"
untoxic h st
toxic h '{"name":"st","type":"http_status","attributes":{"status":500}}'
req "$H/status/2"
check "status 500 without body: 500 with the upstream's body and headers" \
  "$([[ $C_RC == 0 && $C_CODE == 500 && "$(<"$C_BODY")" == "hello GET /status/2" && "$(hdr X-Upstream)" == yes ]]; echo $?)" \
  "rc $C_RC code $C_CODE body $(_show "$(<"$C_BODY")")"
untoxic h st

echo "== http_dribble"
req "$H/big?n=1000"
BASE_TOTAL=$C_TOTAL
toxic h '{"name":"drib","type":"http_dribble","attributes":{"size":100,"delay":60}}'
req "$H/big?n=1000"
check "dribble 100 B every 60 ms: 1000 bytes intact, >= 0.5 s (baseline $BASE_TOTAL s)" \
  "$([[ $C_RC == 0 && $C_CODE == 200 && $C_SIZE == 1000 && "$(sha256sum <"$C_BODY" | cut -d' ' -f1)" == "$(pattern_sha 1000)" ]] &&
    float_ge "$C_TOTAL" 0.5 && float_lt "$C_TOTAL" 3 && float_lt "$BASE_TOTAL" 0.3; echo $?)" \
  "rc $C_RC code $C_CODE size $C_SIZE total $C_TOTAL"
untoxic h drib

echo "== http_garbage"
toxic h '{"name":"junk","type":"http_garbage"}'
req "$H/garbage/1"
check "garbage: curl fails with a protocol error (exit 1 or 8), the upstream saw nothing" \
  "$([[ ($C_RC == 1 || $C_RC == 8) && $(upstream_count /garbage/1) == 0 ]]; echo $?)" \
  "rc $C_RC err $(_show "$C_ERR")"
untoxic h junk

# ---------------------------------------------------------------------------------------------
echo "== header-controlled faults"
req "$H/hf/abort" -H 'x-brownout-fault-abort: 503'
check "header_faults on: x-brownout-fault-abort: 503 answers 503, the upstream saw nothing" \
  "$([[ $C_CODE == 503 && $(upstream_count /hf/abort) == 0 ]] && jq -e '.status == 503' "$C_BODY" >/dev/null; echo $?)" \
  "code $C_CODE body $(_show "$(<"$C_BODY")")"
t0=$(now)
req "$H/hf/delay" -H 'x-brownout-fault-delay: 300ms' -H 'X-Keep: me'
arr=$(fsub "$(upstream_arrival /hf/delay)" "$t0")
check "header_faults on: x-brownout-fault-delay: 300ms holds the request >= 0.3 s" \
  "$([[ $C_CODE == 200 ]] && float_ge "$C_TOTAL" 0.3 && float_ge "$arr" 0.28; echo $?)" "code $C_CODE total $C_TOTAL arrival $arr"
check "header_faults on: the upstream got no x-brownout-fault-* header, and the others" \
  "$([[ -z "$(upstream_fault_headers /hf/delay)" ]] && jq -e 'select(.path == "/hf/delay") | [.headers[] | select(.[0] == "X-Keep" and .[1] == "me")] | length == 1' "$UPLOG" >/dev/null; echo $?)" \
  "upstream saw: $(jq -c 'select(.path == "/hf/delay") | .headers' "$UPLOG")"
req "$H/hf/rdelay" -H 'X-Brownout-Fault-Response-Delay: 300ms'
check "header_faults on: X-Brownout-Fault-Response-Delay (any case) delays the response, stripped upstream" \
  "$([[ $C_CODE == 200 && -z "$(upstream_fault_headers /hf/rdelay)" && $(upstream_count /hf/rdelay) == 1 ]] && float_ge "$C_TTFB" 0.3; echo $?)" \
  "code $C_CODE ttfb $C_TTFB upstream fault headers '$(upstream_fault_headers /hf/rdelay)'"
req "$H/hf/status" -H 'x-brownout-fault-status: 502'
check "header_faults on: x-brownout-fault-status: 502 replaces the status, stripped upstream" \
  "$([[ $C_CODE == 502 && -z "$(upstream_fault_headers /hf/status)" && $(upstream_count /hf/status) == 1 ]]; echo $?)" "code $C_CODE"
req "$H/hf/bad" -H 'x-brownout-fault-delay: soon'
check "header_faults on: a bad value answers 400 naming the header, the upstream saw nothing" \
  "$([[ $C_CODE == 400 && "$(<"$C_BODY")" == *x-brownout-fault-delay* && $(upstream_count /hf/bad) == 0 ]]; echo $?)" \
  "code $C_CODE body $(_show "$(<"$C_BODY")")"
req "$PLAIN/hf/off_abort" -H 'x-brownout-fault-abort: 503'
check "header_faults off: x-brownout-fault-abort is not obeyed (the upstream's 200)" \
  "$([[ $C_CODE == 200 && "$(<"$C_BODY")" == "hello GET /hf/off_abort" && $(upstream_count /hf/off_abort) == 1 ]]; echo $?)" "code $C_CODE"
req "$PLAIN/hf/off_delay" -H 'x-brownout-fault-delay: 300ms'
check "header_faults off: x-brownout-fault-delay is not obeyed (< 0.3 s)" \
  "$([[ $C_CODE == 200 ]] && float_lt "$C_TOTAL" 0.3; echo $?)" "code $C_CODE total $C_TOTAL"

# ---------------------------------------------------------------------------------------------
echo "== malformed requests"
before=$(metric brownout_http_malformed_requests_total 'proxy="h"')
RAW=$(python3 - "$H_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"THIS IS NOT\x01 HTTP AT ALL\r\n\r\n")
out = b""
try:
    while len(out) < 65536:
        k = s.recv(65536)
        if not k:
            break
        out += k
except OSError as e:
    out += b"<recv error %r>" % e
print(out.decode("latin-1").replace("\r", ""))
EOF
)
after=$(metric brownout_http_malformed_requests_total 'proxy="h"')
check "a malformed request gets 400 Bad Request from the proxy (and the connection closes)" \
  "$([[ "$RAW" == "HTTP/1.1 400 "* && "$RAW" != *"recv error"* ]]; echo $?)" "got $(_show "$RAW")"
check "brownout_http_malformed_requests_total{proxy=\"h\"} counts it (+1)" \
  "$([[ -n "$before" && -n "$after" && $((after - before)) == 1 ]]; echo $?)" "before '$before' after '$after'"

# ---------------------------------------------------------------------------------------------
echo "== large bodies, chunked, HEAD (no fault)"
N=$((20 * 1024 * 1024))
req "$H/big?n=$N"
check "20 MiB download: intact (sha256), Content-Length kept" \
  "$([[ $C_RC == 0 && $C_SIZE == "$N" && "$(hdr Content-Length)" == "$N" && "$(sha256sum <"$C_BODY" | cut -d' ' -f1)" == "$(pattern_sha "$N")" ]]; echo $?)" \
  "rc $C_RC size $C_SIZE"
head -c "$N" /dev/urandom >"$DIR/up.bin"
UPSHA=$(sha256sum <"$DIR/up.bin" | cut -d' ' -f1)
req "$H/sha" -X POST --data-binary "@$DIR/up.bin" -H 'Content-Type: application/octet-stream'
check "20 MiB upload (Content-Length, Expect: 100-continue): the upstream hashed the same bytes" \
  "$([[ $C_RC == 0 && $C_CODE == 200 ]] && jq -e --arg s "$UPSHA" --argjson n "$N" '.sha256 == $s and .length == $n' "$C_BODY" >/dev/null; echo $?)" \
  "rc $C_RC code $C_CODE body $(_show "$(<"$C_BODY")")"
req "$H/sha" -X POST --data-binary "@$DIR/up.bin" -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked'
check "20 MiB upload (chunked): the upstream hashed the same bytes" \
  "$([[ $C_RC == 0 && $C_CODE == 200 ]] && jq -e --arg s "$UPSHA" --argjson n "$N" '.sha256 == $s and .length == $n' "$C_BODY" >/dev/null; echo $?)" \
  "rc $C_RC code $C_CODE body $(_show "$(<"$C_BODY")")"
head -c 1048576 "$DIR/up.bin" >"$DIR/up1.bin"
req "$H/echo" -X POST --data-binary "@$DIR/up1.bin"
check "1 MiB echo: the same bytes come back" "$([[ $C_RC == 0 ]] && cmp -s "$C_BODY" "$DIR/up1.bin"; echo $?)" "rc $C_RC size $C_SIZE"

req "$H/chunked"
check "chunked response: Transfer-Encoding chunked, all five chunks" \
  "$([[ $C_RC == 0 && "$(hdr Transfer-Encoding)" == chunked && "$(<"$C_BODY")" == $'chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4' ]]; echo $?)" \
  "rc $C_RC headers $(_show "$C_HDRS") body $(_show "$(<"$C_BODY")")"
req "$H/hello/head" -I
check "HEAD: 200, the upstream's Content-Length (of 'hello HEAD /hello/head\\n'), no body" \
  "$([[ $C_RC == 0 && $C_CODE == 200 && "$(hdr Content-Length)" == 23 && $C_SIZE == 0 ]]; echo $?)" \
  "rc $C_RC code $C_CODE size $C_SIZE headers $(_show "$C_HDRS")"
# HEAD of a 20 MiB resource, of a chunked one, then GETs, all on one connection.
KA=$(timeout 20 python3 - "$H_PORT" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
out, ports = [], set()
for method, path in [("HEAD", "/big?n=20971520"), ("HEAD", "/chunked"), ("GET", "/chunked"),
                     ("HEAD", "/hello/x"), ("GET", "/hello/y")]:
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    ports.add(c.sock.getsockname()[1] if c.sock else -1)
    out.append("%s %s %d %d" % (method, path, r.status, len(body)))
print("; ".join(out) + " | connections %d" % len(ports))
EOF
)
check "HEAD (20 MiB, chunked) and GET on one keep-alive connection" \
  "$([[ "$KA" == "HEAD /big?n=20971520 200 0; HEAD /chunked 200 0; GET /chunked 200 40; HEAD /hello/x 200 0; GET /hello/y 200 19 | connections 1" ]]; echo $?)" \
  "got $(_show "$KA")"

echo "== HEAD answered or changed by a fault: no body, the connection stays in sync"
# head_then_get EXTRA_HEADER: HEAD /hello/hx with EXTRA_HEADER, then GET /hello/gx on the same
# connection. Prints "STATUS CONTENT-LENGTH EXTRA-BYTES | GET-STATUS GET-BODY" where EXTRA-BYTES
# counts bytes the HEAD's answer carried after its head (a HEAD response has no body).
head_then_get() {
  timeout 15 python3 - "$H_PORT" "$1" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
name, _, value = sys.argv[2].partition(":")
def settle(deadline=2.0):
    # everything the proxy sends until 0.3 s pass without a byte (at most `deadline` s)
    out, t0 = b"", time.monotonic()
    s.settimeout(0.3)
    while time.monotonic() - t0 < deadline:
        try:
            k = s.recv(65536)
        except socket.timeout:
            if out:
                break
            continue
        if not k:
            break
        out += k
    return out
s.sendall(b"HEAD /hello/hx HTTP/1.1\r\nHost: t\r\n%s: %s\r\n\r\n" % (name.encode(), value.strip().encode()))
head = settle()
top, _, extra = head.partition(b"\r\n\r\n")
lines = top.split(b"\r\n")
length = [l.split(b":", 1)[1].strip().decode() for l in lines[1:] if l.lower().startswith(b"content-length:")]
s.sendall(b"GET /hello/gx HTTP/1.1\r\nHost: t\r\n\r\n")
got = settle()
status = got.split(b"\r\n", 1)[0].decode("latin-1")
body = got.partition(b"\r\n\r\n")[2].decode("latin-1").strip()
print("%s %s %d | %s %s" % (lines[0].decode("latin-1")[9:12], (length or ["-"])[0], len(extra), status[9:12], body))
EOF
}
hg=$(head_then_get 'x-brownout-fault-abort: 503')
check "HEAD aborted (x-brownout-fault-abort: 503): 503 without a body; the next GET on the connection gets its 200" \
  "$([[ "$hg" =~ ^503\ [0-9]+\ 0\ \|\ 200\ hello\ GET\ /hello/gx$ ]]; echo $?)" "got $(_show "$hg") (STATUS CONTENT-LENGTH BODY-BYTES-AFTER-HEAD | NEXT-GET)"
toxic h '{"name":"head_abort","type":"http_abort","attributes":{"status":503,"match":{"method":"HEAD"}}}'
hg=$(head_then_get 'X-Test: 1')
check "HEAD aborted (http_abort matching HEAD): 503 without a body; the next GET gets its 200" \
  "$([[ "$hg" =~ ^503\ [0-9]+\ 0\ \|\ 200\ hello\ GET\ /hello/gx$ ]]; echo $?)" "got $(_show "$hg") (STATUS CONTENT-LENGTH BODY-BYTES-AFTER-HEAD | NEXT-GET)"
untoxic h head_abort
# "hello HEAD /hello/hx\n" is 21 bytes: the upstream's Content-Length for this HEAD.
hg=$(head_then_get 'x-brownout-fault-status: 502')
check "HEAD with its status replaced (x-brownout-fault-status: 502): 502, the upstream's Content-Length (21), no body" \
  "$([[ "$hg" == "502 21 0 | 200 hello GET /hello/gx" ]]; echo $?)" "got $(_show "$hg") (STATUS CONTENT-LENGTH BODY-BYTES-AFTER-HEAD | NEXT-GET)"
toxic h '{"name":"head_status","type":"http_status","attributes":{"status":502,"body":"bad gateway\n","match":{"method":"HEAD"}}}'
hg=$(head_then_get 'X-Test: 1')
check "HEAD with status and body replaced (http_status): 502 without a body; the next GET gets its 200" \
  "$([[ "$hg" =~ ^502\ [0-9]+\ 0\ \|\ 200\ hello\ GET\ /hello/gx$ ]]; echo $?)" "got $(_show "$hg") (STATUS CONTENT-LENGTH BODY-BYTES-AFTER-HEAD | NEXT-GET)"
untoxic h head_status

echo "== an abort does not wait for a body the client holds back (Expect: 100-continue)"
head -c 5000000 "$DIR/up.bin" >"$DIR/up5.bin"
toxic h '{"name":"upload_503","type":"http_abort","attributes":{"status":503,"match":{"path":"/upload/*"}}}'
req "$H/upload/expect" -X POST --data-binary "@$DIR/up5.bin" -H 'Expect: 100-continue' --expect100-timeout 3
check "POST of 5 MB with Expect: 100-continue, aborted: 503 at once (< 1 s; curl sends the body unasked after 3 s)" \
  "$([[ $C_CODE == 503 && $(upstream_count /upload/expect) == 0 ]] && float_lt "$C_TOTAL" 1; echo $?)" \
  "code $C_CODE total $C_TOTAL s"
req "$H/upload/plain" -X POST --data-binary "@$DIR/up5.bin" -H 'Expect:'
check "POST of 5 MB without Expect, aborted: 503 at once (the body read and dropped)" \
  "$([[ $C_CODE == 503 && $(upstream_count /upload/plain) == 0 ]] && float_lt "$C_TOTAL" 1; echo $?)" "code $C_CODE total $C_TOTAL s"
untoxic h upload_503

# ---------------------------------------------------------------------------------------------
echo "== keep-alive: 1000 requests over one connection, 10% aborts"
toxic h '{"name":"ten_pct","type":"http_abort","probability":0.1,"attributes":{"status":503,"body":"try later"}}'
client "$H_PORT" 1000 /ka 503 0 1
codes=$(cl .codes)
aborts=$(tr -cd A <<<"$codes" | wc -c)
oks=$(tr -cd . <<<"$codes" | wc -c)
check "1000 requests (half POSTs with bodies): every answer 200 or 503, one connection, no error" \
  "$([[ ${#codes} == 1000 && $((aborts + oks)) == 1000 && $(cl .connections) == 1 && $(cl '.errors | length') == 0 && $(cl .bad) == 0 ]]; echo $?)" \
  "$(printf '%s' "$CL" | jq -c 'del(.codes)') aborts $aborts oks $oks"
# 10% of 1000: sigma = sqrt(1000 * 0.1 * 0.9) = 9.5; 3 sigma = 28.5
check "about 10% aborted: $aborts in [72, 128]" "$([[ $aborts -ge 72 && $aborts -le 128 ]]; echo $?)" "aborts $aborts"
ka_up=$(jq -r 'select(.path | startswith("/ka/")) | .path' "$UPLOG" | wc -l)
check "the upstream got exactly the $oks requests not aborted" "$([[ $ka_up == "$oks" ]]; echo $?)" "upstream got $ka_up"
untoxic h ten_pct

# ---------------------------------------------------------------------------------------------
echo "== probability 0.3 over 2000 requests"
toxic h '{"name":"p30","type":"http_abort","probability":0.3,"attributes":{"status":503}}'
client "$H_PORT" 2000 /p30 503 0 0
codes=$(cl .codes)
hits=$(tr -cd A <<<"$codes" | wc -c)
# sigma = sqrt(2000 * 0.3 * 0.7) = 20.49; 3 sigma = 61.5
check "2000 requests, probability 0.3: $hits aborted, in [539, 661]" \
  "$([[ ${#codes} == 2000 && $(tr -cd '.A' <<<"$codes" | wc -c) == 2000 && $hits -ge 539 && $hits -le 661 ]]; echo $?)" \
  "$(printf '%s' "$CL" | jq -c 'del(.codes)') hits $hits"
untoxic h p30

# ---------------------------------------------------------------------------------------------
echo "== serve --seed: the same requests are hit on a second run"
# seeded_run SEED: a fresh server with --seed SEED, an http proxy with probability 0.3 aborts;
# 150 requests on one connection, then 150 with a new connection every 10. Sets SEEDED.
seeded_run() {
  local seed=$1 port pid i api listen
  port=$(free_port)
  "$BIN" serve --host 127.0.0.1 --port "$port" --seed "$seed" >>"$E2E_TMP/seeded.log" 2>&1 &
  pid=$!
  e2e_track_pid "$pid"
  api="http://127.0.0.1:$port"
  for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null --max-time 1 "$api/version" && break
    sleep 0.1
  done
  SEEDED="no server"
  listen=$(curl -s --max-time 5 -X POST "$api/proxies" -d "{\"name\":\"s\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:$UP_PORT\",\"protocol\":\"http\"}" | jq -r .listen 2>/dev/null)
  if [[ "$listen" == 127.0.0.1:* ]] &&
    [[ $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X POST "$api/proxies/s/toxics" -d '{"name":"p","type":"http_abort","probability":0.3}') == 200 ]]; then
    client "${listen##*:}" 150 "/seed$seed" 503 0 0
    SEEDED=$(cl .codes)
    client "${listen##*:}" 150 "/seed$seed" 503 10 0
    SEEDED+="|$(cl .codes)"
  fi
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
}
seeded_run 11
RUN1=$SEEDED
seeded_run 11
RUN2=$SEEDED
seeded_run 12
RUN3=$SEEDED
check "seed 11: hits and passes both occur, over 300 requests" \
  "$([[ ${#RUN1} == 301 && "$RUN1" == *A* && "$RUN1" == *.* && "$RUN1" != *[xE]* ]]; echo $?)" "run 1: $RUN1"
check "seed 11 twice, fresh servers: the same request indices are hit" "$([[ "$RUN1" == "$RUN2" ]]; echo $?)" \
  "run 1: $RUN1 run 2: $RUN2"
check "seed 12: other requests are hit" "$([[ ${#RUN3} == 301 && "$RUN1" != "$RUN3" ]]; echo $?)" "seed 11: $RUN1 seed 12: $RUN3"

# ---------------------------------------------------------------------------------------------
echo "== a profile with protocol = \"http\" applied with brownout apply"
PF_PORT=$(free_port)
cat >"$DIR/gateway.toml" <<EOF
[[proxy]]
name = "gateway"
listen = "127.0.0.1:$PF_PORT"
upstream = "127.0.0.1:$UP_PORT"
protocol = "http"

[[proxy.fault]]
name = "unavailable"
type = "http_abort"
status = 503
headers = { "Retry-After" = "2" }
body = '{"error":"unavailable"}'
match = { method = "POST", path = "/v1/charges*" }

[[proxy.fault]]
name = "rate_limited"
type = "http_abort"
quota = { requests = 20, window = "2s" }
match = { path_prefix = "/limited" }
EOF
timeout 15 "$BIN" -s "$API" apply "$DIR/gateway.toml" >"$DIR/apply.out" 2>&1
rc=$?
check "brownout apply gateway.toml: exit 0" $((rc != 0)) "exit $rc: $(<"$DIR/apply.out")"
G="http://127.0.0.1:$PF_PORT"
req "$G/v1/charges/pf_1" -X POST --data-binary 'amount=5'
check "profile http_abort: POST /v1/charges/pf_1 gets 503, Retry-After 2, the body; not forwarded" \
  "$([[ $C_CODE == 503 && "$(hdr Retry-After)" == 2 && "$(<"$C_BODY")" == "$BODY503" && $(upstream_count /v1/charges/pf_1) == 0 ]]; echo $?)" \
  "code $C_CODE headers $(_show "$C_HDRS") body $(_show "$(<"$C_BODY")")"
req "$G/v1/charges/pf_2"
check "profile http_abort: GET /v1/charges/pf_2 passes" "$([[ $C_CODE == 200 && $(upstream_count /v1/charges/pf_2) == 1 ]]; echo $?)" "code $C_CODE"

echo "== quota: 20 requests per 2 s"
client "$PF_PORT" 20 /limited 429 0 0
check "requests 1-20 within the window: all 200" "$([[ "$(cl .codes)" == "...................." ]]; echo $?)" "$CL"
req "$G/limited/21"
ra=$(hdr Retry-After)
check "request 21 within the window: 429 with Retry-After 1 or 2 (s), not forwarded" \
  "$([[ $C_CODE == 429 && ("$ra" == 1 || "$ra" == 2) && $(upstream_count /limited/21) == 0 ]]; echo $?)" \
  "code $C_CODE headers $(_show "$C_HDRS") body $(_show "$(<"$C_BODY")")"
req "$G/limited/22"
check "request 22 within the window: 429 too" "$([[ $C_CODE == 429 ]]; echo $?)" "code $C_CODE"
if [[ "$ra" =~ ^[0-9]+$ ]] && ((ra <= 5)); then
  sleep "$ra"
  req "$G/limited/after"
  check "after honouring Retry-After ($ra s): the next window serves the request" \
    "$([[ $C_CODE == 200 && $(upstream_count /limited/after) == 1 ]]; echo $?)" "code $C_CODE headers $(_show "$C_HDRS")"
else
  fail "no usable Retry-After to honour: '$ra'"
fi

stop_brownout
finish
