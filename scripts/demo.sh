#!/usr/bin/env bash
# Installs what is missing, builds, and starts brownout on the bundled demo
# profile (profiles/demo.toml): an HTTP upstream on 127.0.0.1:26000 and four
# proxies in front of it
#   web_clean  127.0.0.1:26080  no fault
#   web_slow   127.0.0.1:26081  1 s of latency on every response
#   web_flaky  127.0.0.1:26082  responses cut after 250 bytes (headers pass, the body is cut short)
#   web_pulse  127.0.0.1:26083  a repeating timeline: 10 s healthy, 10 s of latency ramping to 800 ms
# The control API listens on 127.0.0.1:8474. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$BROWNOUT_ROOT"
cmake --preset default >/dev/null
cmake --build --preset default --target brownout

API=http://127.0.0.1:8474
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

python3 -m http.server 26000 --bind 127.0.0.1 --directory scripts/demo-site >/dev/null 2>&1 &
pids+=($!)
./build/brownout serve --host 127.0.0.1 --port 8474 --profile profiles/demo.toml &
pids+=($!)

for _ in $(seq 1 100); do
  curl -sf "$API/version" >/dev/null && curl -sf -o /dev/null http://127.0.0.1:26000/ && break
  sleep 0.1
done
curl -sf "$API/version" >/dev/null || { echo "brownout did not start" >&2; exit 1; }
curl -sf -o /dev/null http://127.0.0.1:26000/ || { echo "the demo upstream did not start" >&2; exit 1; }

cat <<'TOUR'

brownout is running. In another terminal:
  curl -w '%{time_total}s\n' http://127.0.0.1:26080/   # clean: instant
  curl -w '%{time_total}s\n' http://127.0.0.1:26081/   # web_slow: one second late
  curl http://127.0.0.1:26082/                          # web_flaky: body cut short, curl says so
  curl -w '%{time_total}s\n' -o /dev/null -s http://127.0.0.1:26083/   # web_pulse: follows the timeline
  ./build/brownout timeline                             # where the timeline is
  curl http://127.0.0.1:8474/proxies                    # what is configured
  curl -X DELETE http://127.0.0.1:8474/proxies/web_slow/toxics/slow   # heal web_slow
Ctrl-C stops the demo.
TOUR
wait "${pids[1]}"
