#!/usr/bin/env bash
# report.html in a real browser: a short drill with two proxies (web gets a
# latency phase, api an outage), then Debian's headless Chromium loads the
# page offline and the RENDERED DOM is checked against report.json:
#   - one shaded band per window, in order, side by side on one time axis;
#   - one lane per proxy, named after it, its fault drawn over its phase;
#   - latency lines per probe, a dashed threshold line per latency check and
#     window in its scope, over that window, red when the check failed;
#   - failed outcomes drawn during the outage; the verdict and the table;
#   - nothing fetched: no remote src/href/url() in the DOM, and Chromium's
#     net log shows no request from the page (a canary page with a remote
#     image proves the net-log check can fail);
#   - scripts/drill-screenshot.sh gives a PNG of the requested size showing
#     the chart's colours, and a full-page PNG cut under the page.
# Usage: bash tests/e2e/report_html_test.sh /path/to/brownout
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init report_html

BIN=${1:?usage: $0 /path/to/brownout}
[[ -x "$BIN" ]] || die "brownout binary not found: $BIN"
CHROMIUM=${CHROMIUM:-chromium}
command -v "$CHROMIUM" >/dev/null || die "$CHROMIUM is missing (scripts/bootstrap.sh installs it)"
command -v jq >/dev/null || die "jq is required"
command -v python3 >/dev/null || die "python3 is required"
SCREENSHOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/drill-screenshot.sh"
[[ -f "$SCREENSHOT" ]] || die "missing $SCREENSHOT"

start_http_upstream
DIR=$(e2e_mktemp_dir)
WEB_PORT=$(free_port)
API_PORT=$(free_port)

cat >"$DIR/profile.toml" <<TOML
[drill]
title = "web through a slow upstream, then an api outage"

[[proxy]]
name = "web"
listen = "127.0.0.1:$WEB_PORT"
upstream = "127.0.0.1:$HTTP_UPSTREAM_PORT"

[[proxy.fault]]
name = "slow"
type = "latency"
latency = "300ms"

[[proxy]]
name = "api"
listen = "127.0.0.1:$API_PORT"
upstream = "127.0.0.1:$HTTP_UPSTREAM_PORT"

[[proxy.fault]]
name = "dead"
type = "reset_peer"

[[phase]]
name = "web_slow"
duration = "2s"
[[phase.fault]]
proxy = "web"
fault = "slow"

[[phase]]
name = "api_down"
duration = "2s"
[[phase.fault]]
proxy = "api"
fault = "dead"

[[probe]]
name = "home"
kind = "http"
url = "http://127.0.0.1:$WEB_PORT/index.html"
every = "50ms"
timeout = "1s"
expect = { status = "200", body_regex = "hello from upstream" }

[[probe]]
name = "status"
kind = "http"
url = "http://127.0.0.1:$API_PORT/index.html"
every = "50ms"
timeout = "1s"
expect = { status = "200", body_regex = "hello from upstream" }

[steady_state]
probes = ["home", "status"]
before = "1s"
after = "1s"
success_rate = ">=0.9"
min_samples = 10

[[hypothesis]]
name = "home stays fast while web is slow"
probe = "home"
during = "web_slow"
skip = "400ms"
latency_p95 = "<100ms"
min_samples = 10

[[hypothesis]]
name = "home answers while web is slow"
probe = "home"
during = "web_slow"
success_rate = ">=0.9"
min_samples = 10

[[hypothesis]]
name = "status answers within 1.5 s through both phases"
probe = "status"
during = ["web_slow", "api_down"]
latency_p99 = "<1500ms"
min_samples = 10

[[hypothesis]]
name = "status answers through the api outage"
probe = "status"
during = "api_down"
success_rate = ">=0.95"
min_samples = 10
TOML

REPORTS="$DIR/reports"
OUT=$(timeout 60 "$BIN" drill "$DIR/profile.toml" --reports "$REPORTS" --seed 11 2>&1)
RC=$?
echo "$OUT" | sed 's/^/    | /'
[[ $RC == 1 ]] && pass "the drill fails as planned (exit 1)" || fail "the drill exits 1 (got $RC)"
[[ -s "$REPORTS/report.html" && -s "$REPORTS/report.json" ]] ||
  die "no report.html / report.json in $REPORTS"
jq -e '[.windows[].name] == ["before", "web_slow", "api_down", "after"] and
  ([.hypotheses[] | select(.verdict == "FAIL") | .name] | sort ==
    ["home stays fast while web is slow", "status answers through the api outage"])' \
  "$REPORTS/report.json" >/dev/null && pass "report.json: 4 windows, the 2 planned failures" ||
  fail "report.json: $(jq -c '{windows: [.windows[].name], v: [.hypotheses[] | [.name, .verdict]]}' "$REPORTS/report.json")"

# run_chromium NAME ARGS...: Debian's headless Chromium with a throw-away
# profile and HOME, no host name resolving, at most 60 s (`timeout` signals
# its whole process group, Chromium's helpers included). Output in
# $DIR/NAME.out, messages in $DIR/NAME.log; sets CHROMIUM_RC.
run_chromium() {
  local name=$1 pid
  shift
  mkdir -p "$DIR/$name.home"
  HOME="$DIR/$name.home" XDG_CONFIG_HOME="$DIR/$name.home/.config" \
    XDG_CACHE_HOME="$DIR/$name.home/.cache" \
    timeout -k 5 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --no-default-browser-check --disable-extensions --disable-sync \
    --disable-background-networking --disable-component-update \
    --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$DIR/$name.profile" \
    "$@" >"$DIR/$name.out" 2>"$DIR/$name.log" &
  pid=$!
  e2e_track_pid "$pid"
  wait "$pid"
  CHROMIUM_RC=$?
  ((CHROMIUM_RC == 0)) || echo "chromium $name: exit $CHROMIUM_RC; $(grep -v dbus "$DIR/$name.log" | tail -n 5)" >&2
}

# page_requests NETLOG: prints the non-file URLs the page itself asked for
# (Chromium's own background requests, blocked anyway, are not the page's:
# only a page's requests carry its file:// isolation key).
page_requests() {
  python3 - "$1" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
for e in log["events"]:
    p = e.get("params", {})
    if e["type"] == start and not p.get("url", "").startswith("file:") and (
            p.get("network_isolation_key", "").startswith("file://") or
            p.get("site_for_cookies", "").find("site=file://") >= 0):
        print(p["url"])
PY
}

# --- the net-log check can see a page's request: a canary with a remote image
printf '<!DOCTYPE html><html><body><img src="http://brownout.invalid/x.png"></body></html>\n' \
  >"$DIR/canary.html"
run_chromium canary --log-net-log="$DIR/canary.netlog.json" --dump-dom "file://$DIR/canary.html"
[[ $CHROMIUM_RC == 0 && -s "$DIR/canary.netlog.json" ]] &&
  grep -q "brownout.invalid" <<<"$(page_requests "$DIR/canary.netlog.json")" &&
  pass "the net-log check sees a canary page's remote image" ||
  fail "the net-log check does not see the canary's request (rc $CHROMIUM_RC)"

# --- the report, rendered: DOM and network
run_chromium dom --log-net-log="$DIR/report.netlog.json" --dump-dom "file://$REPORTS/report.html"
[[ $CHROMIUM_RC == 0 && -s "$DIR/dom.out" ]] && pass "chromium renders report.html (--dump-dom)" ||
  fail "chromium --dump-dom failed (exit $CHROMIUM_RC)"
REQUESTS=$(page_requests "$DIR/report.netlog.json" 2>&1)
[[ -s "$DIR/report.netlog.json" && -z "$REQUESTS" ]] &&
  pass "the page makes no network request (Chromium's net log)" ||
  fail "the page made requests: $REQUESTS"

python3 - "$DIR/dom.out" "$REPORTS/report.json" <<'PY' >"$DIR/dom.checks" 2>&1
import json, re, sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}

class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.text = tag, dict(attrs), parent, [], ""
    def classes(self):
        return (self.attrs.get("class") or "").split()
    def all(self):
        yield self
        for c in self.children:
            yield from c.all()
    def find(self, tag=None, cls=None):
        return [n for n in self.all() if (tag is None or n.tag == tag) and
                (cls is None or cls in n.classes())]
    def text_all(self):
        return self.text + "".join(c.text_all() for c in self.children)

class Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", [], None)
        self.cur = self.root
    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n
    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent
    def handle_data(self, data):
        self.cur.text += data

dom = open(sys.argv[1], encoding="utf-8").read()
report = json.load(open(sys.argv[2]))
t = Tree()
t.feed(dom)
root = t.root
failures = []

def check(ok, label, detail=""):
    print(("ok:   " if ok else "FAIL: ") + label + ("" if ok else ": " + str(detail)))
    if not ok:
        failures.append(label)

def num(n, attr):
    return float(n.attrs[attr])

# Offline and self-contained.
bad = [n.tag for n in root.all() if n.tag in ("script", "iframe", "img", "link", "object", "embed",
                                              "video", "audio", "source")]
refs = [(n.tag, k, v) for n in root.all() for k, v in n.attrs.items()
        if k in ("src", "href", "xlink:href", "srcset", "poster", "data", "action") and
        v and not v.startswith("#")]
urls = [u for n in root.find("style") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", n.text)
        if not u.startswith("#")]
urls += [u for n in root.all() for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)",
                                                   n.attrs.get("style") or "")
         if not u.startswith("#")]
check(not bad and not refs and not urls and "@import" not in dom,
      "self-contained: no script, no external element, src, href or url()", (bad, refs, urls))
svgs = root.find("svg")
check(len(svgs) == 1, "one inline SVG chart", len(svgs))
svg = svgs[0]

# Phase bands: one per window, in order, contiguous on one axis.
windows = report["windows"]
bands = svg.find("g", "phase")
check([b.attrs.get("data-name") for b in bands] == [w["name"] for w in windows],
      "one phase band per window of report.json, in order",
      [b.attrs.get("data-name") for b in bands])
band = {}
for b in bands:
    r = b.find("rect")[0]
    band[b.attrs["data-name"]] = (num(r, "x"), num(r, "x") + num(r, "width"), r.attrs.get("fill"))
spans = [band[w["name"]] for w in windows]
# One linear time axis: every band edge where its window's times put it.
t0, t1 = windows[0]["start_ms"], windows[-1]["end_ms"]
scale = (spans[-1][1] - spans[0][0]) / max(1, t1 - t0)
check(scale > 0 and all(abs(s[0] - spans[0][0] - scale * (w["start_ms"] - t0)) < 0.5 and
                        abs(s[1] - spans[0][0] - scale * (w["end_ms"] - t0)) < 0.5
                        for s, w in zip(spans, windows)) and
      all(-0.5 < b[0] - a[1] < 2 for a, b in zip(spans, spans[1:])),
      "the bands sit side by side on one linear time axis", (spans, windows))
calm = {band[w["name"]][2] for w in windows if not w["faulted"]}
hot = {band[w["name"]][2] for w in windows if w["faulted"]}
check(len(calm) == 1 and len(hot) == 1 and calm != hot,
      "phases are shaded apart from the windows with no fault", (calm, hot))
check(all(w["name"] in b.text_all() for w, b in zip(windows, bands)), "each band is labelled")

# One lane per proxy, named after it, each fault drawn over its phase.
lanes = svg.find("g", "lane")
check(sorted(l.attrs.get("data-proxy") for l in lanes) == ["api", "web"] and len(lanes) == 2,
      "one lane per proxy (api, web)", [l.attrs.get("data-proxy") for l in lanes])
for lane in lanes:
    proxy = lane.attrs.get("data-proxy")
    names = [n.text.strip() for n in lane.find("text") if "fault-name" not in n.classes()]
    check(proxy in names, f"lane {proxy} is labelled with the proxy's name", names)
want = {"web": ("slow", "web_slow"), "api": ("dead", "api_down")}
for lane in lanes:
    proxy = lane.attrs["data-proxy"]
    fault, phase = want.get(proxy, ("?", "?"))
    on = lane.find("rect", "fault-on")
    names = [n.text.strip() for n in lane.find("text", "fault-name")]
    check(names == [fault], f"lane {proxy} names its fault {fault}", names)
    check(len(on) == 1 and abs(num(on[0], "x") - band[phase][0]) < 3 and
          abs(num(on[0], "x") + num(on[0], "width") - band[phase][1]) < 3,
          f"lane {proxy}: {fault} is on over the {phase} band",
          [(num(r, "x"), num(r, "x") + num(r, "width")) for r in on] + [band.get(phase)])
    dots = lane.find("circle")
    check(len(dots) >= 2 and all(band[phase][0] - 3 <= num(d, "cx") <= band[phase][1] + 3
                                 for d in dots),
          f"lane {proxy}: its fault events are dots within {phase}", len(dots))
api = [l for l in lanes if l.attrs.get("data-proxy") == "api"]
acted = [d for d in api[0].find("circle") if "reset" in d.text_all()] if api else []
check(len(acted) >= 10, "lane api: a dot per connection the reset fault acted on", len(acted))

# Latency per probe, thresholds as dashed lines over their scope.
probes = sorted({h["probe"] for h in report["hypotheses"]})
latency = {g.attrs.get("data-probe"): g for g in svg.find("g", "latency")}
check(sorted(latency) == probes, "a latency panel per probe", sorted(latency))
for probe, g in latency.items():
    lines = {p: g.find("polyline", p) for p in ("p50", "p95", "p99")}
    check(all(len(v) == 1 and len(v[0].attrs.get("points", "").split()) >= 4
              for v in lines.values()), f"{probe}: p50, p95 and p99 lines with points")
expected = []  # (probe, window, met) per latency check and window in scope
for h in report["hypotheses"]:
    names = [s.strip() for s in h["scope"].split(",")]
    for c in h.get("checks", []):
        if c["metric"].startswith("latency_"):
            expected += [(h["probe"], w["name"], c["met"]) for w in windows if w["name"] in names]
got = []
for probe, g in latency.items():
    for ln in g.find("line", "threshold"):
        x1, x2 = num(ln, "x1"), num(ln, "x2")
        where = [n for n, (a, b, _) in band.items() if abs(a - x1) < 0.2 and abs(b - x2) < 0.2]
        got.append((probe, where[0] if where else None, ln.attrs.get("stroke"),
                    ln.attrs.get("stroke-dasharray"), num(ln, "y1") == num(ln, "y2")))
check(len(got) == len(expected) and len(expected) >= 3 and
      sorted((p, w) for p, w, *_ in got) == sorted((p, w) for p, w, _ in expected),
      f"a threshold line per latency check and window in scope ({len(expected)})", (got, expected))
check(all(dash and flat for *_, dash, flat in got), "threshold lines are dashed and level", got)
unmet = sorted((p, w) for p, w, met in expected if not met)
red = sorted((p, w) for p, w, stroke, *_ in got if stroke == "#c92a2a")
check(unmet == red and len(unmet) == 1, "the broken threshold is red, the others not", (unmet, red))

# Outcomes per probe: the outage shows as failed bars over its band.
outcomes = {g.attrs.get("data-probe"): g for g in svg.find("g", "outcomes")}
check(sorted(outcomes) == probes, "an outcomes panel per probe", sorted(outcomes))
# (A request cut at a phase change may land in the bucket next to the band.)
bars = [r for r in outcomes.get("status", root).find("rect")]
failed_bars = [r for r in bars if r.attrs.get("fill") == "#fa5252"]
full = max([num(r, "height") for r in bars] or [0])
bucket = max([num(r, "width") for r in bars] or [0]) + 1
a, b, _ = band["api_down"]
inside = [r for r in failed_bars if a - 1 <= num(r, "x") < b and num(r, "height") > full * 0.5]
check(len(inside) >= 2 and all(a - bucket - 1 <= num(r, "x") < b + 1 for r in failed_bars),
      "status: failed bars fill the api_down band, none far from it",
      [(num(r, "x"), num(r, "height")) for r in failed_bars] + [(a, b, full)])

# The verdict and the hypotheses table.
verdict = " ".join(n.text_all() for n in root.find("p", "verdict"))
nfail = sum(h["verdict"] == "FAIL" for h in report["hypotheses"])
check(verdict.startswith("FAIL · exit 1") and
      f"{nfail} of {len(report['hypotheses'])} hypotheses failed" in verdict,
      "the verdict: FAIL, exit 1, how many hypotheses failed", verdict)
h1 = root.find("h1")
check(h1 and h1[0].text_all().strip() == report["title"], "the title", h1 and h1[0].text_all())
rows = {}
for tr in root.find("tr"):
    cells = tr.find("td")
    if len(cells) >= 6:
        rows[cells[1].text_all().strip()] = (tr.attrs.get("class"), cells[0].text_all().strip(),
                                            cells[5].text_all())
check(sorted(rows) == sorted(h["name"] for h in report["hypotheses"]) and
      all(rows[h["name"]][:2] == (h["verdict"], h["verdict"]) for h in report["hypotheses"]),
      "a table row per hypothesis with its verdict", rows)
outage = rows.get("status answers through the api outage", ("", "", ""))[2]
check("failed while api/dead was active" in outage, "the outage's row names the fault", outage)
sys.exit(1 if failures else 0)
PY
DOM_RC=$?
while IFS= read -r line; do
  case "$line" in
    "ok:   "*) pass "DOM: ${line#ok:   }" ;;
    "FAIL: "*) fail "DOM: ${line#FAIL: }" ;;
    *) echo "    $line" ;;
  esac
done <"$DIR/dom.checks"
((DOM_RC == 0)) || grep -q '^FAIL: ' "$DIR/dom.checks" || fail "the DOM checks crashed (exit $DOM_RC)"

# --- screenshots through scripts/drill-screenshot.sh
# png_check FILE: prints "WIDTH HEIGHT" and, decoded, the chart colours it
# shows, the number of distinct colours and whether the last row is white.
png_check() {
  PYTHONPATH="$(dirname "$SCREENSHOT")" python3 - "$1" <<'PY'
import sys
from png import Png
png = Png(sys.argv[1])
w, h, prev, colours = png.width, png.height, None, {}
for row in png.rows():
    if row != prev:
        for x in range(0, png.stride, png.bpp):
            px = bytes(row[x:x + 3])
            colours[px] = colours.get(px, 0) + 1
    prev = row
named = {"calm": "e6fcf5", "phase": "ffe3e3", "fault-on": "ffc078", "ok": "40c057",
         "failed": "fa5252"}
shown = [k for k, v in named.items() if colours.get(bytes.fromhex(v), 0) >= 20]
last_white = prev[:3] == b"\xff\xff\xff" and len(set(prev)) == 1
print(w, h, len(colours), ",".join(shown), "white" if last_white else "ink")
PY
}

SHOT="$DIR/shot.png"
if timeout 90 bash "$SCREENSHOT" "$REPORTS/report.html" "$SHOT" 1280 1500 >"$DIR/shot.log" 2>&1; then
  read -r W H NCOL SHOWN _ <<<"$(png_check "$SHOT" 2>&1)"
  [[ "$W $H" == "1280 1500" ]] && pass "screenshot: a 1280x1500 PNG as asked" ||
    fail "screenshot size: $W x $H"
  ((${NCOL:-0} > 30)) && pass "screenshot: not blank ($NCOL colours)" ||
    fail "screenshot looks blank: ${NCOL:-?} colours"
  [[ "$SHOWN" == "calm,phase,fault-on,ok,failed" ]] &&
    pass "screenshot: bands, fault bars and ok/failed bars are drawn ($SHOWN)" ||
    fail "screenshot colours: ${SHOWN:-none} (want calm,phase,fault-on,ok,failed)"
else
  fail "drill-screenshot.sh with a size: $(tail -n 5 "$DIR/shot.log")"
fi
FULL="$DIR/full.png"
if timeout 90 bash "$SCREENSHOT" "$REPORTS/report.html" "$FULL" >"$DIR/full.log" 2>&1; then
  read -r W H NCOL SHOWN LAST <<<"$(png_check "$FULL" 2>&1)"
  [[ "$W" == 1280 ]] && ((H > 900 && H < 3000)) && [[ "$LAST" == white ]] &&
    [[ "$SHOWN" == "calm,phase,fault-on,ok,failed" ]] &&
    pass "full-page screenshot: 1280 wide, cut under the page (${H} px), the whole chart in it" ||
    fail "full-page screenshot: ${W}x${H}, last row $LAST, colours $SHOWN"
else
  fail "drill-screenshot.sh full page: $(tail -n 5 "$DIR/full.log")"
fi

finish
