#!/usr/bin/env bash
# `brownout serve` itself: --config (Toxiproxy's JSON), a refused config,
# --log-format json, bad flags, an occupied API port, and the README's demo.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init serve
BIN=${1:?usage: serve_test.sh /path/to/brownout}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# --- --config loads proxies, --log-format json logs JSON lines
p1=$(free_port)
p2=$(free_port)
cat >"$E2E_TMP/config.json" <<JSON
[
  {"name": "alpha", "listen": "127.0.0.1:$p1", "upstream": "127.0.0.1:9"},
  {"name": "beta", "listen": "127.0.0.1:$p2", "upstream": "127.0.0.1:9", "enabled": false}
]
JSON
start_brownout "$BIN" --config "$E2E_TMP/config.json" --log-format json
body=$(curl -s "$API/proxies")
if [[ $(jq -r '.alpha.listen + " " + (.alpha.enabled|tostring) + " " + (.beta.enabled|tostring)' <<<"$body") == "127.0.0.1:$p1 true false" ]]; then
  pass "--config loaded both proxies, beta disabled"
else
  fail "--config: GET /proxies gave $body"
fi
if port_open "$p1"; then pass "alpha listens on $p1"; else fail "alpha does not listen on $p1"; fi
stop_brownout
lines=$(grep -c . "$BROWNOUT_LOG")
json_lines=$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line: continue
    d = json.loads(line)
    assert {"time", "level", "msg"} <= d.keys(), d
    n += 1
print(n)' "$BROWNOUT_LOG" 2>/dev/null)
if [[ -n "$json_lines" && "$json_lines" == "$lines" && "$lines" -gt 0 ]]; then
  pass "--log-format json: all $lines log lines are JSON objects with time, level, msg"
else
  fail "--log-format json: $lines lines, $json_lines parsed: $(head -3 "$BROWNOUT_LOG")"
fi

# --- a refused config stops the start with a clear error, and nothing listens
p3=$(free_port)
echo '[{"name": "x", "listen": "127.0.0.1:'"$p3"'"}]' >"$E2E_TMP/bad.json"
out=$("$BIN" serve --host 127.0.0.1 --port "$(free_port)" --config "$E2E_TMP/bad.json" 2>&1)
rc=$?
if ((rc == 1)) && [[ "$out" == *"bad.json"* && "$out" == *"missing required field: upstream at proxy 1"* ]]; then
  pass "bad config: exit 1 naming the file and the problem"
else
  fail "bad config: rc=$rc out=$out"
fi
echo '[{"name": ' >"$E2E_TMP/broken.json"
out=$("$BIN" serve --host 127.0.0.1 --port "$(free_port)" --config "$E2E_TMP/broken.json" 2>&1)
rc=$?
if ((rc == 1)) && [[ "$out" == *"broken.json"* && "$out" == *"bad request body"* ]]; then
  pass "unparsable config: exit 1 naming the file"
else
  fail "unparsable config: rc=$rc out=$out"
fi

# --- bad flags are usage errors (exit 2); an occupied port is an error (exit 1)
out=$("$BIN" serve --log-level loud 2>&1)
rc=$?
if ((rc == 2)) && [[ "$out" == *"log level"* ]]; then pass "--log-level loud: exit 2"; else fail "--log-level loud: rc=$rc out=$out"; fi
out=$("$BIN" serve --log-format xml 2>&1)
rc=$?
if ((rc == 2)); then pass "--log-format xml: exit 2"; else fail "--log-format xml: rc=$rc out=$out"; fi
start_port_holder
out=$("$BIN" serve --host 127.0.0.1 --port "$HELD_PORT" 2>&1)
rc=$?
if ((rc == 1)) && [[ "$out" == *"address already in use"* ]]; then
  pass "occupied API port: exit 1, address already in use"
else
  fail "occupied API port: rc=$rc out=$out"
fi

# --- the README's first command: the demo shows faults at once
if port_open 8474 || port_open 26000 || port_open 26080 || port_open 26081 || port_open 26082; then
  note "demo ports busy here: demo check skipped"
else
  (cd "$ROOT" && exec bash scripts/demo.sh) >"$E2E_TMP/demo.log" 2>&1 &
  demo=$!
  e2e_track_pid "$demo"
  for ((i = 0; i < 300; i++)); do # 30 s: the demo may build first
    grep -q "brownout is running" "$E2E_TMP/demo.log" 2>/dev/null && break
    sleep 0.1
  done
  if grep -q "brownout is running" "$E2E_TMP/demo.log"; then
    clean=$(curl -s -o /dev/null -w '%{time_total}' http://127.0.0.1:26080/)
    slow=$(curl -s -o /dev/null -w '%{time_total}' http://127.0.0.1:26081/)
    flaky_rc=0
    curl -s -o "$E2E_TMP/flaky.out" http://127.0.0.1:26082/ || flaky_rc=$?
    if float_lt "$clean" 0.5 && float_ge "$slow" 1.0; then
      pass "demo: web_clean ${clean}s, web_slow ${slow}s"
    else
      fail "demo: web_clean ${clean}s, web_slow ${slow}s; log: $(tail -20 "$E2E_TMP/demo.log")"
    fi
    if ((flaky_rc == 18)); then pass "demo: web_flaky's body is cut short (curl exit 18)"; else fail "demo: web_flaky curl exit $flaky_rc"; fi
  else
    fail "demo did not start: $(tail -5 "$E2E_TMP/demo.log")"
  fi
  pkill -TERM -P "$demo" 2>/dev/null
  kill -TERM "$demo" 2>/dev/null
  for ((i = 0; i < 50; i++)); do port_open 8474 || break; sleep 0.1; done
  if port_open 8474; then fail "demo left its server running"; else pass "demo stopped cleanly"; fi
fi

finish
