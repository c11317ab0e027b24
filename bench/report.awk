# Turns bench/run's raw measurements (round<TAB>setup<TAB>figure<TAB>value)
# into the Markdown report: medians, ratios to direct, the HTTP codec's
# table (figures wrkh_*: the same setups, in HTTP mode), the Redis codec's
# table (setup brownout-redis: redis-benchmark through a "protocol":"redis"
# proxy, no fault) and the issue's targets.
# Rows and targets without any measurement (bench/run --http-only) are left out.
# Variables: toxi (1 when a toxiproxy column exists), idle_counts ("1000 5000 9900").

{
  k = $2 SUBSEP $3
  cnt[k]++
  val[k, cnt[k]] = $4 + 0
}

function median(s, f,    k, c, i, j, a, t) {
  k = s SUBSEP f
  c = cnt[k]
  if (!c) return ""
  for (i = 1; i <= c; i++) a[i] = val[k, i]
  for (i = 2; i <= c; i++) {
    t = a[i]
    for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
    a[j + 1] = t
  }
  return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}

function minimum(s, f,    k, c, i, m) {
  k = s SUBSEP f
  c = cnt[k]
  if (!c) return ""
  m = val[k, 1]
  for (i = 2; i <= c; i++) if (val[k, i] < m) m = val[k, i]
  return m
}

function fmt(f, v) { return v == "" ? "n/a" : sprintf(f, v) }
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "" : a / b }
function fr(v) { return v == "" ? "n/a" : sprintf("%.2f", v) }

function add_row(key, label, kind, f) {
  nrows++
  rkey[nrows] = key; rlabel[nrows] = label; rkind[nrows] = kind; rfmt[nrows] = f
}

END {
  nset = split(toxi ? "direct haproxy brownout brownout0 toxiproxy" : "direct haproxy brownout brownout0", S, " ")
  head["direct"] = "direct"; head["haproxy"] = "haproxy"; head["brownout"] = "brownout"
  head["brownout0"] = "brownout+0ms-latency"; head["toxiproxy"] = "toxiproxy"
  nprox = 0
  for (i = 2; i <= nset; i++) P[++nprox] = S[i]

  add_row("iperf1", "iperf3 1 stream, Gbit/s", "rate", "%.2f")
  add_row("iperf8", "iperf3 8 streams, Gbit/s", "rate", "%.2f")
  add_row("redis_GET_rps", "redis GET, req/s", "rate", "%.0f")
  add_row("redis_SET_rps", "redis SET, req/s", "rate", "%.0f")
  add_row("redis_GET_p50", "redis GET p50, ms", "lat", "%.3f")
  add_row("redis_GET_p99", "redis GET p99, ms", "lat", "%.3f")
  add_row("redis_SET_p50", "redis SET p50, ms", "lat", "%.3f")
  add_row("redis_SET_p99", "redis SET p99, ms", "lat", "%.3f")
  add_row("rtt_p50", "1-byte RTT p50, us", "lat", "%.1f")
  add_row("rtt_p99", "1-byte RTT p99, us", "lat", "%.1f")
  add_row("rtt_p50", "1-byte RTT added p50 over direct, us", "added", "%+.1f")
  add_row("rtt_p99", "1-byte RTT added p99 over direct, us", "added", "%+.1f")
  add_row("wrk_rps", "wrk HTTP, req/s", "rate", "%.0f")
  add_row("wrk_p50", "wrk HTTP p50, ms", "lat", "%.3f")
  add_row("wrk_p99", "wrk HTTP p99, ms", "lat", "%.3f")
  add_row("connrate", "new connections/s (connect, 1-byte echo, close)", "rate", "%.0f")
  nidle = split(idle_counts, IC, " ")
  for (i = 1; i <= nidle; i++)
    add_row("idle_kib_" IC[i], "memory per idle connection at " IC[i] ", KiB (PSS)", "mem", "%.2f")
  for (i = 1; i <= nidle; i++)
    add_row("idle_ans_" IC[i], "idle connections answering afterwards, of " IC[i] " (worst round)", "ans", "%d")

  # The table of figures.
  line = "| figure |"; sep = "|---|"
  for (i = 1; i <= nset; i++) { line = line " " head[S[i]] " |"; sep = sep "---:|" }
  for (i = 1; i <= nprox; i++) { line = line " " head[P[i]] " / direct |"; sep = sep "---:|" }
  line = line " brownout+0ms / brownout |"; sep = sep "---:|"
  print line; print sep
  for (r = 1; r <= nrows; r++) {
    key = rkey[r]; kind = rkind[r]; f = rfmt[r]
    if (!measured(key)) continue
    line = "| " rlabel[r] " |"
    d = median("direct", key)
    for (i = 1; i <= nset; i++) {
      s = S[i]
      if (kind == "added") {
        v = median(s, key)
        line = line " " (s == "direct" ? "0" : ((v == "" || d == "") ? "n/a" : sprintf(f, v - d))) " |"
      } else if (kind == "mem" || kind == "ans") {
        v = (kind == "ans") ? minimum(s, key) : median(s, key)
        line = line " " (v == "" ? "-" : sprintf(f, v)) " |"
      } else {
        line = line " " fmt(f, median(s, key)) " |"
      }
    }
    for (i = 1; i <= nprox; i++) {
      if (kind == "rate" || kind == "lat") line = line " " fr(ratio(median(P[i], key), d)) " |"
      else line = line " - |"
    }
    if (kind == "rate" || kind == "lat") line = line " " fr(ratio(median("brownout0", key), median("brownout", key))) " |"
    else line = line " - |"
    print line
  }

  # What each proxy spent: its CPU time (user + system) per unit of work.
  ncpu = 0
  cpu_row("cpu_iperf1", "iperf3 1 stream, ms per GB")
  cpu_row("cpu_iperf8", "iperf3 8 streams, ms per GB")
  cpu_row("cpu_redis", "redis-benchmark, us per request")
  cpu_row("cpu_rtt", "1-byte ping-pong, us per round trip")
  cpu_row("cpu_wrk", "wrk, us per HTTP request")
  cpu_row("cpu_conn", "connect/echo/close, us per connection")
  if (ncpu) {
    print ""
    print "## Proxy CPU time per unit of work (user + system, from /proc/PID/stat)"
    print ""
    line = "| figure |"; sep = "|---|"
    for (i = 1; i <= nprox; i++) { line = line " " head[P[i]] " |"; sep = sep "---:|" }
    print line " brownout / haproxy | brownout+0ms / brownout |"; print sep "---:|---:|"
    for (i = 1; i <= ncpu; i++) print cpu_lines[i]
  }

  http_codec_table()
  redis_codec_table()

  # The issue's targets.
  if (!measured("iperf1") && !measured("redis_GET_rps") && !measured("rtt_p50") && !measured("connrate")) exit
  print ""
  print "## Targets (issue \"Performance\")"
  print ""
  line = "| figure | HAProxy 1 thread (issue) | Toxiproxy 2.12 (issue) | brownout must reach | HAProxy here | brownout here |"
  sep = "|---|---:|---:|---:|---:|---:|"
  if (toxi) { line = line " Toxiproxy here |"; sep = sep "---:|" }
  print line " met? |"; print sep "---|"

  target_ratio("iperf1", "iperf3 1 stream, ratio to direct", "0.45", "0.28", 0.55)
  target_ratio("iperf8", "iperf3 8 streams, ratio to direct", "0.39", "0.35", 0.57)
  target_ratio("redis_GET_rps", "redis GET req/s, ratio to direct", "0.61", "0.50", 0.65)
  target_added("rtt_p50", "1-byte RTT added p50", "+22 us", "+59 us", 20)
  target_added("rtt_p99", "1-byte RTT added p99", "+36..50 us", "+112 us", 40)
  target_ratio("wrk_rps", "wrk HTTP req/s, ratio to direct", "0.71", "0.48", 0.72)
  target_ratio("connrate", "new connections/s, ratio to direct", "0.83", "0.31", 0.85)

  # Memory: the worst of the idle counts, and every connection must answer.
  if (nidle) {
    hv = worst_mem("haproxy"); bv = worst_mem("brownout"); tv = worst_mem("toxiproxy")
    ok = (bv != "" && bv <= 3)
    for (i = 1; i <= nidle; i++) {
      a = minimum("brownout", "idle_ans_" IC[i])
      if (a == "" || a < IC[i]) ok = 0
    }
    line = "| memory per idle connection (worst of " idle_counts "; all must answer) | 3.3 KiB | 68 KiB | <= 3 KiB | " \
           fmt("%.2f KiB", hv) " | " fmt("%.2f KiB", bv) " |"
    if (toxi) line = line " " fmt("%.2f KiB", tv) " |"
    print line " " (bv == "" ? "n/a" : (ok ? "met" : "**not met**")) " |"
  }

  # 0 ms latency on both streams against brownout's own no-fault figures.
  worst = ""; which = ""; all = ""
  split("iperf1 iperf8 redis_GET_rps redis_SET_rps wrk_rps connrate", RK, " ")
  split("iperf3 1 stream;iperf3 8 streams;redis GET;redis SET;wrk;new conns/s", RL, ";")
  for (i = 1; i <= 6; i++) {
    q = ratio(median("brownout0", RK[i]), median("brownout", RK[i]))
    if (q == "") continue
    all = all (all == "" ? "" : ", ") RL[i] " " sprintf("%.2f", q)
    if (worst == "" || q < worst) { worst = q; which = RL[i] }
  }
  line = "| with 0 ms latency fault on both streams (throughput figures, x brownout no-fault) | - | ~ no-fault | >= 0.9 | - | " \
         (worst == "" ? "n/a" : sprintf("worst %.2f (%s)", worst, which)) " |"
  if (toxi) line = line " - |"
  print line " " (worst == "" ? "n/a" : (worst >= 0.9 ? "met" : "**not met**")) " |"
  if (all != "") { print ""; print "0 ms latency / no fault, per throughput figure: " all "." }
}

# measured KEY: some setup has a value for KEY.
function measured(key,    i) {
  for (i = 1; i <= nset; i++) if (cnt[S[i] SUBSEP key]) return 1
  return 0
}

# The HTTP codec: wrk through HAProxy mode http and brownout "protocol":"http"
# (no fault; an http_delay of 0 ms on every request), figures wrkh_*.
function http_codec_table(    H, HL, i, r, key, d, line, sep, hb, bb, rows, RK, RL, RF) {
  if (!measured("wrkh_rps")) return
  split("direct haproxy brownout brownout0", H, " ")
  split("direct;haproxy mode http;brownout http;brownout http + http_delay 0", HL, ";")
  print ""
  print "## HTTP codec: wrk through HTTP-mode proxies"
  print ""
  print "Same nginx, same wrk as the wrk rows above; HAProxy `mode http`, brownout proxies with `\"protocol\":\"http\"`" \
        " (every request parsed and re-serialised by the codec), the last column with an `http_delay` of 0 ms that matches every request."
  print ""
  line = "| figure |"; sep = "|---|"
  for (i = 1; i <= 4; i++) { line = line " " HL[i] " |"; sep = sep "---:|" }
  line = line " haproxy / direct | brownout / direct | brownout+delay0 / direct | brownout / haproxy | brownout+delay0 / brownout |"
  sep = sep "---:|---:|---:|---:|---:|"
  print line; print sep
  rows = split("wrkh_rps wrkh_p50 wrkh_p99", RK, " ")
  split("wrk req/s;wrk p50, ms;wrk p99, ms", RL, ";")
  split("%.0f %.3f %.3f", RF, " ")
  for (r = 1; r <= rows; r++) {
    key = RK[r]
    if (!measured(key)) continue
    d = median("direct", key)
    line = "| " RL[r] " |"
    for (i = 1; i <= 4; i++) line = line " " fmt(RF[r], median(H[i], key)) " |"
    for (i = 2; i <= 4; i++) line = line " " fr(ratio(median(H[i], key), d)) " |"
    line = line " " fr(ratio(median("brownout", key), median("haproxy", key))) " | " \
           fr(ratio(median("brownout0", key), median("brownout", key))) " |"
    print line
  }
  if (measured("cpu_wrkh")) {
    line = "| proxy CPU, us per request | - |"
    for (i = 2; i <= 4; i++) line = line " " fmt("%.2f", median(H[i], "cpu_wrkh")) " |"
    line = line " - | - | - | " fr(ratio(median("brownout", "cpu_wrkh"), median("haproxy", "cpu_wrkh"))) " | " \
           fr(ratio(median("brownout0", "cpu_wrkh"), median("brownout", "cpu_wrkh"))) " |"
    print line
  }
  if (measured("wrk_rps")) {
    hb = ratio(median("haproxy", "wrkh_rps"), median("haproxy", "wrk_rps"))
    bb = ratio(median("brownout", "wrkh_rps"), median("brownout", "wrk_rps"))
    print "| req/s in HTTP mode / the same proxy in TCP mode, no fault (wrk row above) | - | " fr(hb) " | " fr(bb) " | - | - | - | - | - | - |"
  }
}

# The Redis codec: redis-benchmark through a brownout "protocol":"redis" proxy
# with no fault (setup brownout-redis, in the no-fault process), against the
# same redis-benchmark direct, through HAProxy mode tcp and brownout's plain
# TCP proxy. Target: req/s within 10 % of brownout's plain TCP mode.
function redis_codec_table(    H, HL, i, r, key, d, b, line, sep, rows, RK, RL, RF, q, worst, which, all) {
  if (!cnt["brownout-redis" SUBSEP "redis_GET_rps"] && !cnt["brownout-redis" SUBSEP "redis_SET_rps"]) return
  split("direct haproxy brownout brownout-redis", H, " ")
  split("direct;haproxy mode tcp;brownout tcp;brownout redis", HL, ";")
  print ""
  print "## Redis codec: redis-benchmark through a \"protocol\":\"redis\" proxy, no fault"
  print ""
  print "Same redis-server, same redis-benchmark as the redis rows above; brownout redis is a proxy created with" \
        " `\"protocol\":\"redis\"` (every command and reply framed by the RESP codec), no fault, in the no-fault process."
  print ""
  line = "| figure |"; sep = "|---|"
  for (i = 1; i <= 4; i++) { line = line " " HL[i] " |"; sep = sep "---:|" }
  line = line " haproxy / direct | brownout tcp / direct | brownout redis / direct | brownout redis / brownout tcp | brownout redis / haproxy |"
  sep = sep "---:|---:|---:|---:|---:|"
  print line; print sep
  rows = split("redis_GET_rps redis_SET_rps redis_GET_p50 redis_GET_p99 redis_SET_p50 redis_SET_p99", RK, " ")
  split("redis GET, req/s;redis SET, req/s;redis GET p50, ms;redis GET p99, ms;redis SET p50, ms;redis SET p99, ms", RL, ";")
  split("%.0f %.0f %.3f %.3f %.3f %.3f", RF, " ")
  for (r = 1; r <= rows; r++) {
    key = RK[r]
    if (!measured(key)) continue
    d = median("direct", key)
    line = "| " RL[r] " |"
    for (i = 1; i <= 4; i++) line = line " " fmt(RF[r], median(H[i], key)) " |"
    for (i = 2; i <= 4; i++) line = line " " fr(ratio(median(H[i], key), d)) " |"
    line = line " " fr(ratio(median("brownout-redis", key), median("brownout", key))) " | " \
           fr(ratio(median("brownout-redis", key), median("haproxy", key))) " |"
    print line
  }
  if (cnt["brownout-redis" SUBSEP "cpu_redis"]) {
    line = "| proxy CPU, us per request | - |"
    for (i = 2; i <= 4; i++) line = line " " fmt("%.2f", median(H[i], "cpu_redis")) " |"
    line = line " - | - | - | " fr(ratio(median("brownout-redis", "cpu_redis"), median("brownout", "cpu_redis"))) " | " \
           fr(ratio(median("brownout-redis", "cpu_redis"), median("haproxy", "cpu_redis"))) " |"
    print line
  }
  # The target: each req/s figure >= 0.90 of brownout's plain TCP mode.
  worst = ""; which = ""; all = ""
  split("redis_GET_rps redis_SET_rps", RK, " "); split("GET;SET", RL, ";")
  for (i = 1; i <= 2; i++) {
    q = ratio(median("brownout-redis", RK[i]), median("brownout", RK[i]))
    if (q == "") continue
    all = all (all == "" ? "" : ", ") RL[i] " " sprintf("%.2f", q)
    if (worst == "" || q < worst) { worst = q; which = RL[i] }
  }
  print ""
  print "Target (issue): req/s with the Redis codec on and no fault within 10 % of brownout's plain TCP mode (>= 0.90): " \
        (all == "" ? "n/a" : all) "; " (worst == "" ? "n/a" : (worst >= 0.9 ? "met" : "**not met** (" which ")")) \
        " (ratios of medians over " rounds " rounds)."
}

function worst_mem(s,    i, v, w) {
  w = ""
  for (i = 1; i <= nidle; i++) {
    v = median(s, "idle_kib_" IC[i])
    if (v != "" && (w == "" || v > w)) w = v
  }
  return w
}

function target_ratio(key, label, h, t, need,    d, hr, br, tr, line) {
  if (!measured(key)) return
  d = median("direct", key)
  hr = ratio(median("haproxy", key), d); br = ratio(median("brownout", key), d); tr = ratio(median("toxiproxy", key), d)
  line = "| " label " | " h " | " t " | >= " sprintf("%.2f", need) " | " fr(hr) " | " fr(br) " |"
  if (toxi) line = line " " fr(tr) " |"
  print line " " (br == "" ? "n/a" : (br >= need ? "met" : "**not met**")) " |"
}

function target_added(key, label, h, t, need,    d, hv, bv, tv, line) {
  if (!measured(key)) return
  d = median("direct", key)
  hv = median("haproxy", key); bv = median("brownout", key); tv = median("toxiproxy", key)
  line = "| " label " | " h " | " t " | <= +" need " us | " (hv == "" ? "n/a" : sprintf("%+.1f us", hv - d)) " | " \
         (bv == "" ? "n/a" : sprintf("%+.1f us", bv - d)) " |"
  if (toxi) line = line " " (tv == "" ? "n/a" : sprintf("%+.1f us", tv - d)) " |"
  print line " " ((bv == "" || d == "") ? "n/a" : (bv - d <= need ? "met" : "**not met**")) " |"
}

function cpu_row(key, label,    line, i, v) {
  if (!cnt["brownout" SUBSEP key] && !cnt["haproxy" SUBSEP key]) return
  line = "| " label " |"
  for (i = 1; i <= nprox; i++) { v = median(P[i], key); line = line " " fmt("%.2f", v) " |" }
  line = line " " fr(ratio(median("brownout", key), median("haproxy", key))) " | " \
         fr(ratio(median("brownout0", key), median("brownout", key))) " |"
  cpu_lines[++ncpu] = line
}
