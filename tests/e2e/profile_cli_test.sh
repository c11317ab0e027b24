#!/usr/bin/env bash
# End-to-end checks of profiles from the command line, as a user runs them:
#   - `brownout profile check` on a good profile (table and --json), on a file with several
#     mistakes (exit 2, every error as file:line:column, "nothing applied") and on every file of
#     the repository's profiles/ directory;
#   - `brownout serve --profile A.toml`: an always-on 300 ms latency plus a timeline (calm 1 s,
#     slow 2 s turning on another 500 ms) measured with curl through the proxy, and
#     `brownout timeline` during and after it;
#   - `brownout apply`: a bad file and a profile whose listen address is taken change nothing;
#     a second profile adds its proxy and replaces the timeline; `brownout timeline stop` removes
#     the timeline's fault and keeps the always-on ones;
#   - SIGHUP: a reload adds a proxy and changes a fault while a connection stays open through the
#     kept proxy; a broken file is refused (logged with file:line:column) and changes nothing; a
#     proxy deleted from the file is removed;
#   - `brownout profile import` of a Toxiproxy config and of a saved GET /proxies output.
#
# Usage: bash tests/e2e/profile_cli_test.sh /path/to/brownout
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init profile_cli

BIN=${1:?usage: $0 /path/to/brownout}
command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required"
command -v python3 >/dev/null || die "python3 is required"
[[ -x "$BIN" ]] || die "brownout binary not found or not executable: $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
"$BIN" serve --help 2>/dev/null | grep -q -- '--profile' || die "$BIN serve has no --profile option"

# The CLI must never pick up a server from the caller's environment by accident.
unset BROWNOUT_SERVER

DIR=$(e2e_mktemp_dir)

# ---------------------------------------------------------------------------------------------
# Helpers (same conventions as cli_test.sh)

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

expect_rc() {
  if [[ "$RC" == "$2" ]]; then
    pass "$1: exit $2"
  else
    fail "$1: expected exit $2, got $RC (stdout $(_show "$OUT"), stderr $(_show "$ERR"))"
  fi
}
expect_out_re() {
  if [[ "$OUT" =~ $2 ]]; then pass "$1"; else fail "$1: stdout $(_show "$OUT") does not match /$2/"; fi
}
expect_out_jq() {
  if printf '%s' "$OUT" | jq -e "$2" >/dev/null 2>&1; then
    pass "$1"
  else
    fail "$1: jq '$2' not true for stdout $(_show "$OUT")"
  fi
}
expect_err_has() {
  local label=$1 s missing=()
  shift
  for s in "$@"; do [[ "$ERR" == *"$s"* ]] || missing+=("$s"); done
  if ((${#missing[@]} == 0)); then pass "$label: stderr mentions $*"; else fail "$label: stderr $(_show "$ERR") lacks: ${missing[*]}"; fi
}
# expect_err_line LABEL FILE LINE SUBSTRING: stderr has a line "FILE:LINE:COL: ...SUBSTRING...".
expect_err_line() {
  local label=$1 file=$2 line=$3 sub=$4 l
  while IFS= read -r l; do
    if [[ "$l" == "$file:$line:"* ]]; then
      local rest=${l#"$file:$line:"}
      if [[ "$rest" =~ ^[1-9][0-9]*:\ .+ && "$rest" == *"$sub"* ]]; then
        pass "$label: $(_show "$l")"
        return
      fi
    fi
  done <<<"$ERR"
  fail "$label: no stderr line '$file:$line:COLUMN: ...$sub...' in $(_show "$ERR")"
}

# rowcols TEXT NAME: the whitespace-separated fields of the first line of TEXT whose first field
# is NAME (without the NAME), or of a line "▶  NAME ..." (the current phase marker).
rowcols() {
  printf '%s\n' "$1" | awk -v n="$2" '
    $1 == "▶" { $1 = ""; sub(/^ +/, "") }
    $1 == n { $1 = ""; sub(/^ +/, ""); print; exit }'
}

# The proxies as the API has them, without the traffic counters: what `apply` may change.
# proxies_config: prints `brownout list --json` minus .stats, keys sorted ("ERROR ..." if it fails).
proxies_config() {
  local out
  out=$(timeout 15 "$BIN" -s "$API" list --json 2>&1) || { echo "ERROR $out"; return; }
  printf '%s' "$out" | jq -S -c 'map(del(.stats))' 2>/dev/null || echo "ERROR invalid JSON: $out"
}

# tl: GET /timeline into TL; tl_get FILTER prints a jq -r filter of it.
tl() { TL=$(curl -s --max-time 2 "$API/timeline" 2>/dev/null) || TL=""; }
tl_get() { printf '%s' "$TL" | jq -r "$1" 2>/dev/null; }

# wait_timeline FILTER TENTHS: polls GET /timeline until `jq -e FILTER` is true (bounded).
wait_timeline() {
  local filter=$1 max=$2 i
  for ((i = 0; i < max; i++)); do
    tl
    printf '%s' "$TL" | jq -e "$filter" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

# sample_in_phase PHASE PORT: one timed GET through the proxy on PORT, kept only when the timeline
# was in PHASE just before and just after it. Sets SAMPLE (seconds), or "" (SAMPLE_WHY says why).
sample_in_phase() {
  local want=$1 port=$2 before after r code
  SAMPLE=""
  tl
  before=$(tl_get '.phase // "none"')
  r=$(http_time "http://127.0.0.1:$port/")
  tl
  after=$(tl_get '.phase // "none"')
  code=${r%% *}
  if [[ "$before" == "$want" && "$after" == "$want" && "$code" == 200 ]]; then
    SAMPLE=${r#* }
  else
    SAMPLE_WHY="phase before '$before', after '$after', result '$r'"
  fi
}

# expect_latency LABEL SECONDS LOW HIGH
expect_latency() {
  if [[ -n "$2" ]] && float_ge "$2" "$3" && float_lt "$2" "$4"; then
    pass "$1: ${2}s in [$3, $4)"
  else
    fail "$1: ${2:-no sample}s not in [$3, $4)"
  fi
}

# wait_port_open PORT TENTHS / wait_port_closed PORT TENTHS
wait_port_open() {
  local i
  for ((i = 0; i < $2; i++)); do port_open "$1" && return 0; sleep 0.1; done
  return 1
}
wait_port_closed() {
  local i
  for ((i = 0; i < $2; i++)); do port_open "$1" || return 0; sleep 0.1; done
  return 1
}

# ---------------------------------------------------------------------------------------------
echo "== profile check: a good profile"

start_http_upstream
HTTP="127.0.0.1:$HTTP_UPSTREAM_PORT"
WEB_PORT=$(free_port)
A="$DIR/A.toml"
cat >"$A" <<TOML
# A web service with a constant 300 ms, and 500 ms more during the "slow" phase.
[[proxy]]
name = "web"
listen = "127.0.0.1:$WEB_PORT"
upstream = "$HTTP"

[[proxy.fault]]
name = "base"
type = "latency"
latency = "300ms"

[[proxy.fault]]
name = "extra"
type = "latency"
latency = "500ms"

[[phase]]
name = "calm"
duration = "1s"

[[phase]]
name = "slow"
duration = "2s"
[[phase.fault]]
fault = "extra"
TOML

run "$BIN" profile check "$A"
expect_rc "profile check A.toml" 0
if [[ -z "$ERR" ]]; then pass "profile check A.toml: nothing on stderr"; else fail "profile check A.toml: stderr $(_show "$ERR")"; fi
expect_out_re "profile check A.toml: summary names the file, 1 proxy, 2 faults, 2 phases" \
  "A\.toml: 1 proxy, 2 faults, 2 phases"
row=$(rowcols "$OUT" web)
if [[ "$row" == "127.0.0.1:$WEB_PORT $HTTP "* ]]; then pass "profile check: proxy row 'web 127.0.0.1:$WEB_PORT $HTTP ...'"; else fail "profile check: proxy row for web is $(_show "$row")"; fi
expect_out_re "profile check: base is listed as always on" $'base: latency[^\n]*300ms[^\n]*always'
expect_out_re "profile check: extra is listed as a timeline fault" $'extra: latency[^\n]*500ms[^\n]*timeline'
row=$(rowcols "$OUT" calm)
if [[ "$row" == "0ms 1s "* ]]; then pass "profile check: phase calm from 0ms to 1s"; else fail "profile check: phase row calm is $(_show "$row"), want start 0ms, end 1s"; fi
row=$(rowcols "$OUT" slow)
if [[ "$row" == "1s 3s "* && "$row" == *web/extra* ]]; then pass "profile check: phase slow from 1s to 3s, turns on web/extra"; else fail "profile check: phase row slow is $(_show "$row"), want '1s 3s ... web/extra'"; fi

run "$BIN" --json profile check "$A"
expect_rc "--json profile check A.toml" 0
expect_out_jq "--json profile check: proxies and phases with start_ms/end_ms" \
  "[.proxies[].name] == [\"web\"] and .proxies[0].listen == \"127.0.0.1:$WEB_PORT\" and
   ([.proxies[0].faults[] | {name, timeline}] == [{name: \"base\", timeline: false}, {name: \"extra\", timeline: true}]) and
   ([.phases[] | {name, start_ms, end_ms}] == [{name: \"calm\", start_ms: 0, end_ms: 1000}, {name: \"slow\", start_ms: 1000, end_ms: 3000}]) and
   .phases[1].faults == [\"web/extra\"]"

# ---------------------------------------------------------------------------------------------
echo "== profile check: a file with several mistakes"

GHOST_PORT=$(free_port)
BAD="$DIR/bad.toml"
# Line numbers matter: the errors are on lines 10, 14, 20 and 24.
cat >"$BAD" <<TOML
# A profile with several mistakes.
[[proxy]]
name = "ghost"
listen = "127.0.0.1:$GHOST_PORT"
upstream = "$HTTP"

[[proxy.fault]]
name = "base"
type = "latency"
latncy = "300ms"

[[proxy.fault]]
name = "odd"
type = "nosuchtype"

[[phase]]
name = "outage"
duration = "1s"
[[phase.fault]]
fault = "dead"

[[phase]]
name = "later"
duration = "5 parsecs"
TOML

run "$BIN" profile check "$BAD"
expect_rc "profile check bad.toml" 2
if [[ -z "$OUT" ]]; then pass "profile check bad.toml: nothing on stdout"; else fail "profile check bad.toml: stdout $(_show "$OUT")"; fi
expect_err_line "profile check bad.toml: misspelt attribute" "$BAD" 10 "latncy"
expect_err_line "profile check bad.toml: unknown fault type" "$BAD" 14 "nosuchtype"
expect_err_line "profile check bad.toml: phase names an undeclared fault" "$BAD" 20 "dead"
expect_err_line "profile check bad.toml: bad duration unit" "$BAD" 24 "parsecs"
expect_err_has "profile check bad.toml" "nothing applied"
nerr=$(printf '%s\n' "$ERR" | grep -c -- "^$BAD:[0-9]*:[0-9]*: ")
if [[ "$nerr" == 4 ]]; then pass "profile check bad.toml: exactly 4 file:line:column errors"; else fail "profile check bad.toml: $nerr file:line:column lines, want 4: $(_show "$ERR")"; fi

# ---------------------------------------------------------------------------------------------
echo "== profile check: every profile in the repository's profiles/"

mapfile -t REPO_PROFILES < <(find "$REPO/profiles" -type f -name '*.toml' 2>/dev/null | sort)
if ((${#REPO_PROFILES[@]} > 0)); then pass "profiles/ has ${#REPO_PROFILES[@]} profiles"; else fail "no *.toml in $REPO/profiles"; fi
for f in "${REPO_PROFILES[@]}"; do
  run "$BIN" profile check "$f"
  if [[ "$RC" == 0 && -n "$OUT" ]]; then
    pass "profile check ${f#"$REPO"/}: exit 0"
  else
    fail "profile check ${f#"$REPO"/}: exit $RC, stderr $(_show "$ERR")"
  fi
done

# ---------------------------------------------------------------------------------------------
echo "== serve --profile A.toml: the timeline through curl"

start_brownout "$BIN" --profile "$A"

# The timeline starts with the server. One pass: a GET inside calm (only the always-on 300 ms),
# then, inside slow, `brownout timeline` (text and --json) and a GET (300 + 500 ms). A sample
# only counts when the timeline was in that phase just before and just after it; if a pass
# misses a phase (a slow or busy machine), the timeline is stopped and A.toml applied again to
# start it over (at most 3 passes).
CALM_T="" SLOW_T="" TL_TEXT="" TL_TEXT_RC="" TL_JSON="" SLOW_SEEN=0
for attempt in 1 2 3; do
  CALM_T="" SLOW_T="" TL_TEXT="" TL_TEXT_RC="" TL_JSON="" SAMPLE_WHY=""
  if wait_timeline '.state == "running" and .phase == "calm" and .elapsed_ms < 550' 1; then
    sample_in_phase calm "$WEB_PORT"
    CALM_T=$SAMPLE
  else
    SAMPLE_WHY="timeline at $(tl_get '"\(.state) \(.phase) \(.elapsed_ms)ms"')"
  fi
  if [[ -n "$CALM_T" ]]; then
    if wait_timeline '.state == "running" and .phase == "slow" and .phase_left_ms > 1000' 60; then
      SLOW_SEEN=1
      cli timeline
      TL_TEXT=$OUT TL_TEXT_RC=$RC
      cli --json timeline
      TL_JSON=$OUT
      sample_in_phase slow "$WEB_PORT"
      SLOW_T=$SAMPLE
      [[ -n "$SLOW_T" ]] || SAMPLE_WHY="slow: $SAMPLE_WHY"
    else
      SAMPLE_WHY="slow: timeline at $(tl_get '"\(.state) \(.phase) \(.elapsed_ms)ms"')"
    fi
  else
    SAMPLE_WHY="calm: $SAMPLE_WHY"
  fi
  if [[ -n "$CALM_T" && -n "$SLOW_T" ]] && printf '%s' "$TL_JSON" | jq -e '.phase == "slow"' >/dev/null 2>&1; then
    break
  fi
  if ((attempt < 3)); then
    note "pass $attempt missed a phase ($SAMPLE_WHY); restarting A's timeline"
    cli timeline stop
    cli apply "$A"
  fi
done
expect_latency "calm: GET through web (300ms always on)" "$CALM_T" 0.25 0.65
if ((SLOW_SEEN)); then pass "timeline reached phase slow"; else fail "timeline did not reach phase slow: $(_show "$TL")"; fi
OUT=$TL_TEXT RC=$TL_TEXT_RC
expect_rc "brownout timeline (slow)" 0
expect_out_re "brownout timeline: running, current phase slow with time left" \
  "running.*phase slow, [0-9.]+m?s left"
expect_out_re "brownout timeline: lists phase calm and slow" $'(^|\n)[ ▶]*calm +0ms +1s[^\n]*\n[ ▶]*slow +1s +3s'
OUT=$TL_JSON
expect_out_jq "brownout --json timeline: running, phase slow, 0 < phase_left_ms <= 2000, extra active" \
  '.state == "running" and .phase == "slow" and .phase_left_ms > 0 and .phase_left_ms <= 2000 and
   ([.active[] | "\(.proxy)/\(.fault)"] == ["web/extra"])'
expect_latency "slow: GET through web (300ms + 500ms)" "$SLOW_T" 0.7 1.4

# after the end: finished, back to 300 ms.
if wait_timeline '.state == "finished"' 80; then
  pass "timeline finished after its 3 s"
else
  fail "timeline did not finish: $(_show "$TL")"
fi
cli timeline
expect_rc "brownout timeline (after the end)" 0
expect_out_re "brownout timeline: says finished" "finished"
if [[ "$OUT" != *"left"* ]]; then pass "brownout timeline (finished): no time left shown"; else fail "brownout timeline (finished) still shows time left: $(_show "$OUT")"; fi
cli --json timeline
expect_out_jq "brownout --json timeline: finished, no phase, nothing active" '.state == "finished" and .phase == null and .active == []'
read -r code t < <(http_time "http://127.0.0.1:$WEB_PORT/")
if [[ "$code" == 200 ]]; then pass "after the timeline: GET through web answers 200"; else fail "after the timeline: GET through web gave $code"; fi
expect_latency "after the timeline: GET through web (back to 300ms)" "$t" 0.25 0.65
cli inspect web --json
expect_out_jq "inspect web --json: only the always-on fault base (300ms) remains" \
  '[.toxics[] | {name, latency: .attributes.latency}] == [{name: "base", latency: 300}]'
api GET /events
expect_jq "GET /events: the timeline turned extra on and off on web, 'by timeline'" \
  'any(.events[]; .action == "fault_added" and .proxy == "web" and .fault == "extra" and (.detail | contains("by timeline"))) and
   any(.events[]; .action == "fault_removed" and .proxy == "web" and .fault == "extra")'

# ---------------------------------------------------------------------------------------------
echo "== apply: a bad file and a taken listen address change nothing"

BEFORE=$(proxies_config)
[[ "$BEFORE" == ERROR* ]] && fail "list --json before apply: $BEFORE"
cli apply "$BAD"
expect_rc "apply bad.toml" 2
expect_err_line "apply bad.toml: misspelt attribute" "$BAD" 10 "latncy"
expect_err_line "apply bad.toml: unknown fault type" "$BAD" 14 "nosuchtype"
expect_err_line "apply bad.toml: undeclared fault" "$BAD" 20 "dead"
expect_err_line "apply bad.toml: bad duration" "$BAD" 24 "parsecs"
expect_err_has "apply bad.toml" "nothing applied"
AFTER=$(proxies_config)
if [[ "$AFTER" == "$BEFORE" ]]; then pass "apply bad.toml: brownout list --json unchanged"; else fail "apply bad.toml changed the proxies: $BEFORE -> $AFTER"; fi
if port_open "$GHOST_PORT"; then fail "apply bad.toml: its proxy listens on $GHOST_PORT"; else pass "apply bad.toml: its proxy does not listen"; fi

start_port_holder
FRESH_PORT=$(free_port)
INUSE="$DIR/inuse.toml"
cat >"$INUSE" <<TOML
[[proxy]]
name = "fresh"
listen = "127.0.0.1:$FRESH_PORT"
upstream = "$HTTP"

[[proxy]]
name = "clash"
listen = "127.0.0.1:$HELD_PORT"
upstream = "$HTTP"
TOML
run "$BIN" profile check "$INUSE"
expect_rc "profile check inuse.toml (valid; only the bind fails)" 0
cli apply "$INUSE"
expect_rc "apply inuse.toml (127.0.0.1:$HELD_PORT taken by another process)" 1
expect_err_has "apply inuse.toml" "$HELD_PORT"
if [[ "$ERR" == *"in use"* ]]; then pass "apply inuse.toml: says the address is in use"; else fail "apply inuse.toml: stderr $(_show "$ERR") does not say 'in use'"; fi
AFTER=$(proxies_config)
if [[ "$AFTER" == "$BEFORE" ]]; then pass "apply inuse.toml: brownout list --json unchanged"; else fail "apply inuse.toml changed the proxies: $BEFORE -> $AFTER"; fi
if port_open "$FRESH_PORT"; then fail "apply inuse.toml: proxy fresh listens on $FRESH_PORT although the apply failed"; else pass "apply inuse.toml: proxy fresh does not listen"; fi

# ---------------------------------------------------------------------------------------------
echo "== apply B.toml: a new proxy and a new timeline; timeline stop"

BEE_PORT=$(free_port)
B="$DIR/B.toml"
cat >"$B" <<TOML
[[proxy]]
name = "bee"
listen = "127.0.0.1:$BEE_PORT"
upstream = "$HTTP"

[[proxy.fault]]
name = "steady"
type = "latency"
latency = "100ms"

[[proxy.fault]]
name = "spike"
type = "latency"
latency = "400ms"

[[phase]]
name = "warmup"
duration = "500ms"

[[phase]]
name = "spiking"
duration = "30s"
[[phase.fault]]
fault = "spike"
TOML
cli apply "$B"
expect_rc "apply B.toml" 0
expect_out_re "apply B.toml: reports bee created" $'(^|\n)created: bee(\n|$)'
if wait_port_open "$BEE_PORT" 30; then pass "apply B.toml: bee listens on $BEE_PORT"; else fail "apply B.toml: nothing listens on $BEE_PORT"; fi
cli timeline
expect_rc "brownout timeline (B)" 0
expect_out_re "brownout timeline: shows B.toml running" "B\.toml: running"
expect_out_re "brownout timeline: B's phases warmup and spiking" $'(^|\n)[ ▶]*warmup +0ms +500ms[^\n]*\n[ ▶]*spiking +500ms +30\.5s'
if [[ "$OUT" != *calm* ]]; then pass "brownout timeline: A's phases are gone"; else fail "brownout timeline still shows A's phases: $(_show "$OUT")"; fi
cli list --json
expect_out_jq "list --json: web (from A) is still there with base, bee added with steady" \
  '([.[].name] | sort) == ["bee", "web"] and
   ([.[] | select(.name == "web") | .toxics[].name] == ["base"])'

if wait_timeline '.state == "running" and .phase == "spiking"' 60; then pass "B's timeline reached spiking"; else fail "B's timeline did not reach spiking: $(_show "$TL")"; fi
cli inspect bee --json
expect_out_jq "inspect bee --json during spiking: steady and spike" '([.toxics[].name] | sort) == ["spike", "steady"]'

cli timeline stop
expect_rc "brownout timeline stop" 0
expect_out_re "brownout timeline stop: says stopped" "stopped"
cli --json timeline
expect_out_jq "brownout --json timeline: stopped, no phase" '.state == "stopped" and .phase == null and .active == []'
cli inspect bee --json
expect_out_jq "inspect bee --json after stop: spike gone, always-on steady (100ms) stays" \
  '[.toxics[] | {name, latency: .attributes.latency}] == [{name: "steady", latency: 100}]'
cli inspect web --json
expect_out_jq "inspect web --json after stop: A's always-on base stays" '[.toxics[].name] == ["base"]'
read -r code t < <(http_time "http://127.0.0.1:$BEE_PORT/")
if [[ "$code" == 200 ]]; then pass "after timeline stop: GET through bee answers 200"; else fail "after timeline stop: GET through bee gave $code"; fi
expect_latency "after timeline stop: GET through bee (100ms, no spike)" "$t" 0.08 0.4

# Saved for `profile import` below.
SAVED="$DIR/proxies.json"
curl -s --max-time 5 "$API/proxies" >"$SAVED" 2>/dev/null || true

if brownout_alive; then pass "brownout (A) still running"; else fail "brownout (A) died"; fi
stop_brownout

# ---------------------------------------------------------------------------------------------
echo "== SIGHUP: reload keeps connections, adds a proxy, refuses a broken file"

start_echo_upstream
ECHO="127.0.0.1:$ECHO_PORT"
KEEP_PORT=$(free_port)
EXTRA_PORT=$(free_port)
C="$DIR/C.toml"
write_c() { # write_c LAG_MS WITH_EXTRA
  {
    printf '[[proxy]]\nname = "keep"\nlisten = "127.0.0.1:%s"\nupstream = "%s"\n\n' "$KEEP_PORT" "$ECHO"
    printf '[[proxy.fault]]\nname = "lag"\ntype = "latency"\nlatency = "%sms"\n' "$1"
    if [[ "$2" == yes ]]; then
      printf '\n[[proxy]]\nname = "extra"\nlisten = "127.0.0.1:%s"\nupstream = "%s"\n' "$EXTRA_PORT" "$ECHO"
    fi
  } >"$C.tmp" && mv "$C.tmp" "$C"
}
write_c 20 no
start_brownout "$BIN" --profile "$C"
LOG_OFF=$(stat -c %s "$BROWNOUT_LOG")
if wait_port_open "$KEEP_PORT" 30; then pass "serve --profile C.toml: keep listens"; else fail "serve --profile C.toml: keep does not listen on $KEEP_PORT"; fi
cli timeline
expect_rc "brownout timeline (a profile without phases)" 0
cli --json timeline
expect_out_jq "brownout --json timeline: state none" '.state == "none"'

# A client that keeps one connection open through keep across the reload.
HOLD_READY="$DIR/hold.ready"
HOLD_GO="$DIR/hold.go"
HOLD_DONE="$DIR/hold.done"
python3 -c '
import os, socket, sys, time
port, ready, go, done = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def line(s):
    got = b""
    while not got.endswith(b"\n"):
        c = s.recv(100)
        if not c:
            break
        got += c
    return got.decode(errors="replace").strip()
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"one\n")
first = line(s)
with open(ready + ".tmp", "w") as f:
    f.write(first)
os.rename(ready + ".tmp", ready)
deadline = time.monotonic() + 30
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.05)
t0 = time.monotonic()
try:
    s.sendall(b"two\n")
    second = line(s)
except OSError as e:
    second = "error:" + str(e)
dt = time.monotonic() - t0
with open(done + ".tmp", "w") as f:
    f.write("%s %.3f" % (second or "-", dt))
os.rename(done + ".tmp", done)
s.close()
' "$KEEP_PORT" "$HOLD_READY" "$HOLD_GO" "$HOLD_DONE" >>"$E2E_TMP/hold.log" 2>&1 &
e2e_track_pid $!
if wait_for_file "$HOLD_READY" 10 && [[ "$(<"$HOLD_READY")" == one ]]; then
  pass "long-lived connection through keep echoes 'one'"
else
  fail "long-lived connection through keep: got '$(cat "$HOLD_READY" 2>/dev/null)' ($(tail -n 3 "$E2E_TMP/hold.log" 2>/dev/null))"
fi

write_c 250 yes
kill -HUP "$BROWNOUT_PID"
ok=0
for ((i = 0; i < 50; i++)); do
  cli list --json
  if printf '%s' "$OUT" | jq -e 'any(.[]; .name == "extra")' >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
if ((ok)); then pass "SIGHUP: proxy extra appears"; else fail "SIGHUP: proxy extra did not appear: $(_show "$OUT")"; fi
if wait_port_open "$EXTRA_PORT" 30; then pass "SIGHUP: extra listens on $EXTRA_PORT"; else fail "SIGHUP: nothing listens on $EXTRA_PORT"; fi
cli inspect keep
expect_rc "inspect keep" 0
expect_out_re "inspect keep: fault lag now latency=250ms" $'(^|\n)lag +latency[^\n]*latency=250ms'
cli inspect keep --json
expect_out_jq "inspect keep --json: lag latency 250" '[.toxics[] | {name, latency: .attributes.latency}] == [{name: "lag", latency: 250}]'
cli list --json
expect_out_jq "list --json: the old connection through keep is still open" '.[] | select(.name == "keep") | .stats.active == 1'
touch "$HOLD_GO"
if wait_for_file "$HOLD_DONE" 10; then
  read -r word dt <"$HOLD_DONE"
  if [[ "$word" == two ]]; then pass "the connection opened before the reload still echoes 'two'"; else fail "the old connection through keep answered '$word'"; fi
  if [[ "$word" == two ]] && float_ge "$dt" 0.2 && float_lt "$dt" 1.5; then
    pass "the old connection sees the new lag (${dt}s >= 0.2s)"
  else
    fail "the old connection's round trip took ${dt}s, want ~0.25s (the reloaded lag)"
  fi
else
  fail "the long-lived client did not finish ($(tail -n 3 "$E2E_TMP/hold.log" 2>/dev/null))"
fi
if tail -c +"$((LOG_OFF + 1))" "$BROWNOUT_LOG" | grep -q 'reload applied'; then pass "log: reload applied"; else fail "log does not say the reload was applied"; fi

# A broken file: refused, logged, nothing changes. Errors on lines 9 and 15.
BEFORE=$(proxies_config)
LOG_OFF=$(stat -c %s "$BROWNOUT_LOG")
cat >"$C.tmp" <<TOML
[[proxy]]
name = "keep"
listen = "127.0.0.1:$KEEP_PORT"
upstream = "$ECHO"

[[proxy.fault]]
name = "lag"
type = "latency"
latency = "a while"

[[proxy]]
name = "extra"
listen = "127.0.0.1:$EXTRA_PORT"
upstream = "$ECHO"
colour = "blue"
TOML
mv "$C.tmp" "$C"
kill -HUP "$BROWNOUT_PID"
LOGTAIL=""
for ((i = 0; i < 50; i++)); do
  LOGTAIL=$(tail -c +"$((LOG_OFF + 1))" "$BROWNOUT_LOG")
  [[ "$LOGTAIL" == *"$C:15:"* ]] && break
  sleep 0.1
done
if [[ "$LOGTAIL" == *"refused"* ]]; then pass "broken reload: log says the reload was refused"; else fail "broken reload: log $(_show "$LOGTAIL") does not say refused"; fi
if [[ "$LOGTAIL" =~ "$C:9:"[1-9][0-9]*:\ [^$'\n']*while ]]; then pass "broken reload: log has $C:9:COL: (bad duration)"; else fail "broken reload: log lacks '$C:9:COL: ...' in $(_show "$LOGTAIL")"; fi
if [[ "$LOGTAIL" =~ "$C:15:"[1-9][0-9]*:\ [^$'\n']*colour ]]; then pass "broken reload: log has $C:15:COL: (unknown key)"; else fail "broken reload: log lacks '$C:15:COL: ...' in $(_show "$LOGTAIL")"; fi
if brownout_alive; then pass "broken reload: server still running"; else fail "broken reload: server exited"; fi
AFTER=$(proxies_config)
if [[ "$AFTER" == "$BEFORE" ]]; then pass "broken reload: brownout list --json unchanged"; else fail "broken reload changed the proxies: $BEFORE -> $AFTER"; fi
if port_open "$EXTRA_PORT"; then pass "broken reload: extra still listens"; else fail "broken reload: extra stopped listening"; fi

# Deleting a proxy from the file and reloading removes it.
write_c 250 no
kill -HUP "$BROWNOUT_PID"
ok=0
for ((i = 0; i < 50; i++)); do
  cli list --json
  if printf '%s' "$OUT" | jq -e '[.[].name] == ["keep"]' >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
if ((ok)); then pass "SIGHUP after deleting extra from C.toml: only keep is left"; else fail "SIGHUP after deleting extra: proxies $(_show "$OUT")"; fi
if wait_port_closed "$EXTRA_PORT" 30; then pass "SIGHUP after deleting extra: $EXTRA_PORT closed"; else fail "SIGHUP after deleting extra: $EXTRA_PORT still accepts"; fi

if brownout_alive; then pass "brownout (C) still running"; else fail "brownout (C) died"; fi
stop_brownout

# ---------------------------------------------------------------------------------------------
echo "== profile import"

TP="$DIR/toxiproxy.json"
cat >"$TP" <<'JSON'
[
  {"name": "redis", "listen": "127.0.0.1:26379", "upstream": "127.0.0.1:6379", "enabled": true},
  {"name": "pg", "listen": "127.0.0.1:25432", "upstream": "127.0.0.1:5432"},
  {"name": "off", "listen": "127.0.0.1:23306", "upstream": "127.0.0.1:3306", "enabled": false}
]
JSON
run "$BIN" profile import "$TP"
expect_rc "profile import toxiproxy.json" 0
printf '%s\n' "$OUT" >"$DIR/imported.toml"
for p in redis pg off; do
  if [[ "$OUT" =~ name\ =\ [\"\']${p}[\"\'] ]]; then pass "profile import: proxy $p"; else fail "profile import: no proxy $p in $(_show "$OUT")"; fi
done
run "$BIN" --json profile check "$DIR/imported.toml"
expect_rc "profile check of the imported toxiproxy.json" 0
expect_out_jq "profile check --json of the import: the 3 proxies with their addresses" \
  '[.proxies[] | {name, listen, upstream}] == [
     {name: "redis", listen: "127.0.0.1:26379", upstream: "127.0.0.1:6379"},
     {name: "pg", listen: "127.0.0.1:25432", upstream: "127.0.0.1:5432"},
     {name: "off", listen: "127.0.0.1:23306", upstream: "127.0.0.1:3306"}]'
if [[ "$(<"$DIR/imported.toml")" =~ enabled\ =\ false ]]; then pass "profile import: the disabled proxy keeps enabled = false"; else fail "profile import: enabled = false lost"; fi

if jq -e 'type == "object" and has("web") and has("bee")' "$SAVED" >/dev/null 2>&1; then
  pass "saved GET /proxies output has web and bee"
else
  fail "saved GET /proxies output: $(_show "$(cat "$SAVED" 2>/dev/null)")"
fi
run "$BIN" profile import "$SAVED"
expect_rc "profile import of a saved GET /proxies" 0
printf '%s\n' "$OUT" >"$DIR/saved.toml"
if [[ "$OUT" =~ latency\ =\ [\"\']300ms[\"\'] ]]; then pass "profile import: web's fault as latency = '300ms'"; else fail "profile import: no latency = '300ms' in $(_show "$OUT")"; fi
if [[ "$OUT" =~ latency\ =\ [\"\']100ms[\"\'] ]]; then pass "profile import: bee's fault as latency = '100ms'"; else fail "profile import: no latency = '100ms' in $(_show "$OUT")"; fi
run "$BIN" profile check "$DIR/saved.toml"
expect_rc "profile check of the imported GET /proxies" 0
run "$BIN" --json profile check "$DIR/saved.toml"
expect_out_jq "profile check --json of the import: web with base, bee with steady, always on" \
  '([.proxies[] | {name, listen, faults: [.faults[] | {name, type, timeline}]}] | sort_by(.name)) == [
     {name: "bee", listen: "127.0.0.1:'"$BEE_PORT"'", faults: [{name: "steady", type: "latency", timeline: false}]},
     {name: "web", listen: "127.0.0.1:'"$WEB_PORT"'", faults: [{name: "base", type: "latency", timeline: false}]}]'

finish
