#!/usr/bin/env bash
# Screenshots a drill's report.html with Debian's headless Chromium, offline.
#
#   bash scripts/drill-screenshot.sh REPORT_HTML OUT_PNG [WIDTH] [HEIGHT]
#
# WIDTH defaults to 1280 CSS pixels. With HEIGHT, the PNG is exactly WIDTH x
# HEIGHT (the top of the page). Without it, the whole page: Chromium renders
# into a window 4000 px tall (again $DRILL_SCREENSHOT_MAX_HEIGHT, 16000, tall
# when the page fills it) and the empty white rows under the page are cut
# off (a 24 px margin is kept).
#
# Nothing is fetched: every host name resolves to nothing, so a page that
# needed the network would show it. Chromium runs with a throw-away profile
# and HOME, at most 60 s. As root it needs --no-sandbox; in a container
# /dev/shm may be small, hence --disable-dev-shm-usage. $CHROMIUM overrides
# the browser (default: chromium). Used for docs/img/drill-report.png and by
# tests/e2e/report_html_test.sh:
#
#   brownout drill profiles/demo-drill.toml --reports drill-report --seed 42
#   bash scripts/drill-screenshot.sh drill-report/report.html docs/img/drill-report.png
set -euo pipefail

usage() {
  echo "usage: $0 REPORT_HTML OUT_PNG [WIDTH] [HEIGHT]" >&2
  exit 2
}
(($# >= 2 && $# <= 4)) || usage
REPORT=$1
OUT=$2
WIDTH=${3:-1280}
HEIGHT=${4:-}
MAX_HEIGHT=${DRILL_SCREENSHOT_MAX_HEIGHT:-16000}
CHROMIUM=${CHROMIUM:-chromium}
[[ -f "$REPORT" ]] || { echo "no such file: $REPORT" >&2; exit 2; }
[[ "$WIDTH" =~ ^[0-9]+$ && ( -z "$HEIGHT" || "$HEIGHT" =~ ^[0-9]+$ ) ]] || usage
command -v "$CHROMIUM" >/dev/null ||
  { echo "$CHROMIUM is not installed (scripts/bootstrap.sh installs chromium)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/drill-screenshot.XXXXXX")
CHROME_PID=
cleanup() {
  if [[ -n "$CHROME_PID" ]]; then
    kill -TERM "$CHROME_PID" 2>/dev/null || true
    wait "$CHROME_PID" 2>/dev/null || true
  fi
  rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

URL="file://$(cd "$(dirname "$REPORT")" && pwd)/$(basename "$REPORT")"
mkdir -p "$TMP/home"
# shoot WINDOW_HEIGHT: the page into $TMP/shot.png, Chromium at most 60 s
# (`timeout` signals its whole process group, Chromium's helpers included).
shoot() {
  local rc=0
  rm -rf "$TMP/profile" "$TMP/shot.png"
  HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/home/.config" XDG_CACHE_HOME="$TMP/home/.cache" \
    timeout -k 5 60 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --no-default-browser-check --disable-extensions --disable-sync \
    --disable-background-networking --disable-component-update \
    --host-resolver-rules="MAP * ~NOTFOUND" --force-color-profile=srgb --hide-scrollbars \
    --user-data-dir="$TMP/profile" --window-size="$WIDTH,$1" \
    --screenshot="$TMP/shot.png" "$URL" >"$TMP/chromium.log" 2>&1 &
  CHROME_PID=$!
  wait "$CHROME_PID" || rc=$?
  CHROME_PID=
  if ((rc != 0)) || [[ ! -s "$TMP/shot.png" ]]; then
    echo "chromium failed (exit $rc):" >&2
    grep -v 'dbus' "$TMP/chromium.log" | tail -n 20 >&2
    exit 1
  fi
}

if [[ -n "$HEIGHT" ]]; then
  shoot "$HEIGHT"
  cp "$TMP/shot.png" "$OUT"
else
  # crop FINAL: cuts $TMP/shot.png into $OUT; exits 3 when the page fills
  # the window and FINAL is 0 (a taller window is worth a try).
  crop() {
  # Cut the white rows under the page. PNG rows are filtered against the rows
  # above only, so the kept rows' bytes are reused as they are.
  PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")" python3 - "$TMP/shot.png" "$OUT" "$1" <<'PY'
import sys
from png import Png

src, dst, final = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
png = Png(src)
white, last = b"\xff" * (png.width * 3), -1
for y, row in enumerate(png.rows()):
    if png.rgb(row) != white:
        last = y
h = png.height
if last < 0:
    sys.exit("the screenshot is blank")
if last >= h - 24:
    if not final:
        sys.exit(3)
    print(f"warning: the page may be taller than {h} px; set DRILL_SCREENSHOT_MAX_HEIGHT",
          file=sys.stderr)
open(dst, "wb").write(png.cropped(min(h, last + 1 + 24)))
PY
  }
  FIRST=$((MAX_HEIGHT < 4000 ? MAX_HEIGHT : 4000))
  shoot "$FIRST"
  rc=0
  crop "$((FIRST == MAX_HEIGHT))" || rc=$?
  if ((rc == 3)); then
    shoot "$MAX_HEIGHT"
    crop 1
  elif ((rc != 0)); then
    exit "$rc"
  fi
fi
python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read(24)
print("%s: %dx%d PNG" % ((sys.argv[1],) + struct.unpack(">II", d[16:24])))' "$OUT"
