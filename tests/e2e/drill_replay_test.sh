#!/usr/bin/env bash
# `brownout drill --replay` and `brownout drill diff` end to end: a drill
# through an HTTP proxy whose fault answers 503 to a share of the requests;
# its replay runs the embedded profile with the same seed (same trace ids,
# even after the profile file changed); a worse run (a larger share) makes
# `drill diff` exit 1 and name what got worse; a run against itself exits 0.
# Usage: bash tests/e2e/drill_replay_test.sh /path/to/brownout
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init drill_replay

BIN=${1:?usage: $0 /path/to/brownout}
[[ -x "$BIN" ]] || die "brownout binary not found: $BIN"

start_http_upstream
DIR=$(e2e_mktemp_dir)
PROXY_PORT=$(free_port)

# write_profile PROBABILITY
write_profile() {
  cat >"$DIR/drill.toml" <<TOML
[drill]
title = "the site through a flaky gateway"

[[proxy]]
name = "web"
listen = "127.0.0.1:$PROXY_PORT"
upstream = "127.0.0.1:$HTTP_UPSTREAM_PORT"
protocol = "http"

[[proxy.fault]]
name = "flaky"
type = "http_abort"
probability = $1
status = 503

[[phase]]
name = "flaky"
duration = "3s"
[[phase.fault]]
fault = "flaky"

[[probe]]
name = "home"
kind = "http"
url = "http://127.0.0.1:$PROXY_PORT/index.html"
every = "25ms"
timeout = "1s"

[[hypothesis]]
name = "home mostly answers"
probe = "home"
during = "flaky"
success_rate = ">=0.5"
TOML
}

# drill OUTDIR ARGS...: runs brownout drill, bounded; sets CODE and OUT.
drill() {
  local out=$1
  shift
  set +e
  OUT=$(timeout -k 5 60 "$BIN" drill "$@" --reports "$out" --quiet 2>&1)
  CODE=$?
  set -e
  printf '%s\n' "$OUT" | sed 's/^/    | /'
}

write_profile 0.1
drill "$DIR/a" "$DIR/drill.toml" --seed 1234
[[ "$CODE" == 0 ]] && pass "the first run passes" || fail "first run: exit $CODE"

# The file changes; the replay runs what the report embedded.
write_profile 0.9
drill "$DIR/replay" --replay "$DIR/a/report.json"
[[ "$CODE" == 0 ]] && pass "the replay passes too (it ran the embedded profile, not the edited file)" ||
  fail "replay: exit $CODE"
jq -e --slurpfile a "$DIR/a/report.json" '.seed == 1234 and .profile_text == $a[0].profile_text and
  (.replay_of | endswith("a/report.json"))' "$DIR/replay/report.json" >/dev/null &&
  pass "the replay's report: the same seed and profile text, replay_of names the report" ||
  fail "replay report: $(jq -c '{seed, replay_of}' "$DIR/replay/report.json")"
python3 - "$DIR/a/samples.ndjson" "$DIR/replay/samples.ndjson" <<'PY' &&
import json, sys
a = {s["seq"]: s["trace"] for s in map(json.loads, open(sys.argv[1])) if "trace" in s}
b = {s["seq"]: s["trace"] for s in map(json.loads, open(sys.argv[2])) if "trace" in s}
common = sorted(set(a) & set(b))
assert len(common) >= 50, len(common)
assert all(a[k] == b[k] for k in common)
PY
  pass "the replay sent the same trace ids, request by request" || fail "trace ids differ"

# A worse run: 90% of the requests fail.
drill "$DIR/worse" "$DIR/drill.toml" --seed 1234
[[ "$CODE" == 1 ]] && pass "the worse run fails its hypothesis" || fail "worse run: exit $CODE"

set +e
SAME=$("$BIN" drill diff "$DIR/a/report.json" "$DIR/replay/report.json" 2>&1)
SAME_CODE=$?
WORSE=$("$BIN" drill diff "$DIR/a/report.json" "$DIR/worse/report.json" 2>&1)
WORSE_CODE=$?
BACK=$("$BIN" drill diff "$DIR/worse/report.json" "$DIR/a/report.json" 2>&1)
BACK_CODE=$?
BAD=$("$BIN" drill diff "$DIR/a/report.json" "$DIR/drill.toml" 2>&1)
BAD_CODE=$?
set -e
printf '%s\n' "$WORSE" | sed 's/^/    | /'
[[ "$SAME_CODE" == 0 ]] && grep -q "no significant regression" <<<"$SAME" &&
  pass "diff of a run and its replay: no significant regression (exit 0)" ||
  fail "diff same: exit $SAME_CODE: $SAME"
[[ "$WORSE_CODE" == 1 ]] && grep -q "✗ worse .*home mostly answers · success_rate" <<<"$WORSE" &&
  grep -q "✗ worse .*verdict: PASS → FAIL" <<<"$WORSE" &&
  pass "diff against the worse run exits 1 and names the verdict and the rate" ||
  fail "diff worse: exit $WORSE_CODE"
[[ "$BACK_CODE" == 0 ]] && grep -q "✓ better" <<<"$BACK" &&
  pass "the other way round it is better, exit 0" || fail "diff back: exit $BACK_CODE: $BACK"
[[ "$BAD_CODE" == 2 ]] && grep -q "not JSON\|not a brownout drill report" <<<"$BAD" &&
  pass "a file that is no report: exit 2 with the reason" || fail "diff bad: exit $BAD_CODE: $BAD"

set +e
NOTHING=$("$BIN" drill 2>&1)
NOTHING_CODE=$?
BOTH=$("$BIN" drill "$DIR/drill.toml" --replay "$DIR/a/report.json" 2>&1)
BOTH_CODE=$?
set -e
[[ "$NOTHING_CODE" != 0 ]] && grep -q "give a PROFILE" <<<"$NOTHING" &&
  pass "drill with nothing to run says what it needs" || fail "drill alone: $NOTHING_CODE $NOTHING"
[[ "$BOTH_CODE" != 0 ]] && grep -qi "excludes" <<<"$BOTH" &&
  pass "a profile and --replay together are refused" || fail "both: $BOTH_CODE $BOTH"

finish
