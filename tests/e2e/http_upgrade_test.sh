#!/usr/bin/env bash
# An HTTP proxy hands an Upgrade (101 Switching Protocols) over to byte
# forwarding: the upgraded stream flows both ways, and the TCP faults act on
# it from then on, while plain requests on other connections still get the
# HTTP faults.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init http_upgrade
BIN=${1:?usage: http_upgrade_test.sh /path/to/brownout}

up_port=$(free_port)
# An upstream that answers an Upgrade with 101 and then echoes, and any other
# request with a small 200.
cat >"$E2E_TMP/upstream.py" <<'PY'
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(16)
def serve(c):
    c.settimeout(20)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            return
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    if b"upgrade: echo" in head.lower():
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
        if rest:
            c.sendall(rest)
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            c.sendall(chunk)
    else:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    c.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY
python3 "$E2E_TMP/upstream.py" "$up_port" &
e2e_track_pid $!
for ((i = 0; i < 50; i++)); do port_open "$up_port" && break; sleep 0.1; done

start_brownout "$BIN"
px_port=$(free_port)
curl -s -X POST "$API/proxies" \
  -d "{\"name\":\"ws\",\"listen\":\"127.0.0.1:$px_port\",\"upstream\":\"127.0.0.1:$up_port\",\"protocol\":\"http\"}" >/dev/null
# Every plain request is aborted; an upgraded stream is bytes, not requests.
curl -s -X POST "$API/proxies/ws/toxics" -d '{"name":"nope","type":"http_abort","attributes":{"status":503,"match":{"path":"/plain"}}}' >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$px_port/plain")
if [[ $code == 503 ]]; then pass "a plain request gets the HTTP fault (503)"; else fail "plain request: $code"; fi

cat >"$E2E_TMP/client.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    chunk = s.recv(4096)
    if not chunk:
        print("closed-before-101"); sys.exit(0)
    data += chunk
status = data.split(b"\r\n", 1)[0].decode()
rtts = []
for i in range(int(sys.argv[2])):
    msg = b"ping-%d\n" % i
    t0 = time.monotonic()
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    rtts.append((time.monotonic() - t0) * 1000)
    if got != msg:
        print("%s mismatch %r" % (status, got)); sys.exit(0)
print("%s ok %.1f" % (status, min(rtts)))
PY
out=$(timeout 20 python3 "$E2E_TMP/client.py" "$px_port" 5)
case "$out" in
  "HTTP/1.1 101 Switching Protocols ok "*) pass "Upgrade: 101 passes and the stream echoes both ways ($out)" ;;
  *) fail "Upgrade: $out" ;;
esac

# After the switch the TCP faults apply: 150 ms of latency on the echo.
curl -s -X POST "$API/proxies/ws/toxics" -d '{"name":"lag","type":"latency","stream":"downstream","attributes":{"latency":150}}' >/dev/null
out=$(timeout 20 python3 "$E2E_TMP/client.py" "$px_port" 3)
rtt=${out##* }
if [[ $out == "HTTP/1.1 101 Switching Protocols ok "* ]] && python3 -c "import sys; sys.exit(0 if float('$rtt') >= 140 else 1)"; then
  pass "after the switch the latency fault acts on the upgraded bytes (min RTT ${rtt} ms)"
else
  fail "latency after the switch: $out"
fi
finish
