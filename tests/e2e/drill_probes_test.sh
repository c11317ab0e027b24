#!/usr/bin/env bash
# `brownout drill` with every probe kind against real parts: an HTTP probe
# through an HTTP-aware proxy whose fault answers 503 to half the requests
# (each failure traced to the proxy's own decision by its traceparent), an
# exec probe running curl (exit codes, a command killed at its timeout with
# its children), and prometheus probes reading a scraped /metrics page and a
# Prometheus-style /api/v1/query answer (served by a stub).
# Usage: bash tests/e2e/drill_probes_test.sh /path/to/brownout
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init drill_probes

BIN=${1:?usage: $0 /path/to/brownout}
[[ -x "$BIN" ]] || die "brownout binary not found: $BIN"
command -v curl >/dev/null || die "curl is missing (scripts/bootstrap.sh installs it)"

start_http_upstream
DIR=$(e2e_mktemp_dir)
PROXY_PORT=$(free_port)
UP=$HTTP_UPSTREAM_PORT
# The stub's metrics: a page to scrape and a query answer (the static server
# ignores the query string).
cat >"$HTTP_UPSTREAM_DIR/metrics" <<'M'
# TYPE app_requests_total counter
app_requests_total{code="200"} 1000
app_requests_total{code="500"} 3
app_requests_total{code="503"} 1
M
mkdir -p "$HTTP_UPSTREAM_DIR/api/v1"
printf '%s' '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.25"]}]}}' \
  >"$HTTP_UPSTREAM_DIR/api/v1/query"
MARK="brownout-e2e-sleeper-$$"

cat >"$DIR/drill.toml" <<TOML
[drill]
title = "every probe kind"

[[proxy]]
name = "web"
listen = "127.0.0.1:$PROXY_PORT"
upstream = "127.0.0.1:$UP"
protocol = "http"

[[proxy.fault]]
name = "half"
type = "http_abort"
probability = 0.5
status = 503

[[phase]]
name = "errors"
duration = "3s"
[[phase.fault]]
fault = "half"

[[probe]]
name = "home"
kind = "http"
url = "http://127.0.0.1:$PROXY_PORT/index.html"
every = "50ms"
timeout = "1s"

[[probe]]
name = "curl"
kind = "exec"
command = ["curl", "-sf", "--max-time", "2", "http://127.0.0.1:$PROXY_PORT/index.html"]
every = "200ms"
timeout = "3s"
expect = { exit_code = "0", body_regex = "hello from upstream" }

[[probe]]
name = "hung"
kind = "exec"
command = "sleep 30 # $MARK"
every = "500ms"
timeout = "300ms"

[[probe]]
name = "errors_scraped"
kind = "prometheus"
url = "http://127.0.0.1:$UP/metrics"
query = 'app_requests_total{code=~"5.."}'
every = "200ms"
expect = { value = "<10" }

[[probe]]
name = "error_rate"
kind = "prometheus"
url = "http://127.0.0.1:$UP/api/v1/query"
query = 'sum(rate(app_requests_total{code=~"5.."}[30s]))'
every = "200ms"
expect = { value = "<0.1" }
degraded = { value = "<1" }

[steady_state]
probes = ["home"]
before = "1s"
after = "1s"
success_rate = ">=0.95"

[[hypothesis]]
name = "home answers through the errors"
probe = "home"
during = "errors"
success_rate = ">=0.95"

[[hypothesis]]
name = "curl succeeds while steady"
probe = "curl"
during = "steady"
success_rate = ">=0.9"
min_samples = 3

[[hypothesis]]
name = "5xx counted on the page stay under 10"
probe = "errors_scraped"
during = "all"
success_rate = "==1"

[[hypothesis]]
name = "the error rate stays under 0.1"
probe = "error_rate"
during = "all"
ok_rate = ">=0.9"
severity = "warn"
TOML

REPORTS="$DIR/out"
T0=$(date +%s)
set +e
OUT=$(timeout -k 5 60 "$BIN" drill "$DIR/drill.toml" --reports "$REPORTS" --seed 7 --quiet 2>&1)
CODE=$?
set -e
T1=$(date +%s)
printf '%s\n' "$OUT" | sed 's/^/    | /'
[[ "$CODE" == 1 ]] && pass "the drill fails on the 503s (exit 1)" || fail "exit $CODE, wanted 1"
((T1 - T0 < 30)) && pass "a hung command does not hold the drill up ($((T1 - T0)) s)" ||
  fail "the drill took $((T1 - T0)) s"

# HTTP: every failure during the errors phase is traced to the proxy's decision.
jq -e '[.hypotheses[] | select(.name == "home answers through the errors")][0] |
  .verdict == "FAIL" and (.attribution | length == 1) and .attribution[0].fault == "web/half" and
  .attribution[0].failures >= 5 and .attribution[0].traced == .attribution[0].failures' \
  "$REPORTS/report.json" >/dev/null &&
  pass "each 503 is traced to web/half's decision on that very request" ||
  fail "traced attribution: $(jq -c '.hypotheses[0].attribution' "$REPORTS/report.json")"
# Surfaced counts every failure while the fault was on (the hung probe's
# timeouts too); traced ones are exact.
jq -e '.faults[] | select(.fault == "web/half") | .acted >= .traced and .traced >= 5 and
  .surfaced >= .traced and .absorbed == ([.acted - .surfaced, 0] | max)' \
  "$REPORTS/report.json" >/dev/null &&
  pass "report.json: web/half acted on N requests; traced, surfaced and absorbed add up" ||
  fail "faults: $(jq -c '.faults' "$REPORTS/report.json")"
grep -q "traced to its decisions" <<<"$OUT" && grep -q "web/half: acted" <<<"$OUT" &&
  pass "the summary shows traced failures and the fault's acted/surfaced/absorbed" ||
  fail "summary lines"
python3 - "$REPORTS/samples.ndjson" "$REPORTS/events.ndjson" <<'PY' &&
import json, re, sys
samples = [json.loads(l) for l in open(sys.argv[1])]
events = [json.loads(l) for l in open(sys.argv[2])]
home = [s for s in samples if s["probe"] == "home"]
assert home and all(re.fullmatch(r"[0-9a-f]{32}", s["trace"]) for s in home)
assert len({s["trace"] for s in home}) == len(home), "trace ids repeat"
traced = {e["trace"] for e in events if e["action"] == "http_fault" and "trace" in e}
failed = {s["trace"] for s in home if s["outcome"] == "failed"}
assert failed and failed <= traced, (len(failed), len(traced))
assert not (traced - {s["trace"] for s in home}), "the proxy saw a trace id no probe sent"
PY
  pass "every HTTP sample carries its own trace id; the proxy logged the failed ones" ||
  fail "trace ids in samples.ndjson / events.ndjson"

# exec: curl's exit code is the sample's status; the hung command timed out.
python3 - "$REPORTS/samples.ndjson" <<'PY' &&
import json, sys
samples = [json.loads(l) for l in open(sys.argv[1])]
curl = [s for s in samples if s["probe"] == "curl"]
assert [s for s in curl if s["outcome"] == "ok"], "no curl sample succeeded"
bad = [s for s in curl if s["outcome"] == "failed"]
assert bad and all(s["failure"] == "status" and s["status"] == 22 for s in bad), bad[:3]
hung = [s for s in samples if s["probe"] == "hung"]
assert hung and all(s["failure"] == "timeout" for s in hung), hung[:3]
assert all(300 <= s["latency_ms"] < 1500 for s in hung), [s["latency_ms"] for s in hung][:5]
PY
  pass "exec: curl's exit 22 fails a sample with class status; the hung command times out at 300 ms" ||
  fail "exec samples"
sleep 0.5
if pgrep -f "$MARK" >/dev/null; then
  fail "a timed-out command was left running: $(pgrep -af "$MARK" | head -3)"
  pkill -9 -f "$MARK" || true
else
  pass "timed-out commands were killed with their children"
fi

# prometheus: the page is scraped and summed; the query answer is read.
python3 - "$REPORTS/samples.ndjson" <<'PY' &&
import json, sys
samples = [json.loads(l) for l in open(sys.argv[1])]
page = [s for s in samples if s["probe"] == "errors_scraped"]
query = [s for s in samples if s["probe"] == "error_rate"]
assert page and all(s["outcome"] == "ok" and s["value"] == 4 for s in page), page[:3]
assert query and all(s["outcome"] == "degraded" and s["value"] == 0.25 for s in query), query[:3]
PY
  pass "prometheus: 3 + 1 5xx summed from the page (ok); a rate of 0.25 from the query (degraded)" ||
  fail "prometheus samples"
jq -e '[.hypotheses[] | select(.name == "the error rate stays under 0.1")][0] |
  .verdict == "FAIL" and .severity == "warn"' "$REPORTS/report.json" >/dev/null &&
  pass "a warn-only hypothesis fails without failing the run on its own" || fail "warn hypothesis"

finish
