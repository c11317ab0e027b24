#include "drill/html.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "drill/judge.hpp"

namespace brownout::drill {

namespace {

std::string esc(const std::string& s) {
  return escape_markup(s);
}

std::string f1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Per-second figures of one probe.
struct Second {
  std::vector<double> latencies;
  int ok = 0, degraded = 0, failed = 0;
};

constexpr double kWidth = 960, kLeft = 60, kRight = 20;
constexpr double kPlot = kWidth - kLeft - kRight;

const char* action_colour(const std::string& action) {
  if (action == "fault_added" || action == "fault_on") return "#d9822b";
  if (action == "fault_removed" || action == "fault_off" || action == "fault_expired" ||
      action == "faults_cleared")
    return "#2b8a3e";
  return "#c92a2a";  // a decision that hurt a connection: reset, refused, cut, ...
}

}  // namespace

std::string report_html(const RunRecord& r) {
  const double total = static_cast<double>(std::max<Ms>(r.duration, 1000));
  const auto x = [&](double ms) { return kLeft + kPlot * std::clamp(ms / total, 0.0, 1.0); };

  std::set<std::string> proxies;
  for (const auto& e : r.events)
    if (!e.proxy.empty()) proxies.insert(e.proxy);
  std::map<std::string, std::map<Ms, Second>> per_probe;
  double max_latency = 1;
  for (const auto& s : r.samples) {
    if (s.outcome == Outcome::skipped) continue;
    auto& sec = per_probe[s.probe][s.planned / 1000];
    sec.latencies.push_back(s.latency);
    max_latency = std::max(max_latency, s.latency);
    (s.outcome == Outcome::ok         ? sec.ok
     : s.outcome == Outcome::degraded ? sec.degraded
                                      : sec.failed)++;
  }
  for (const auto& h : r.results)
    for (const auto& c : h.checks)
      if (is_latency(c.metric)) max_latency = std::max(max_latency, c.threshold.value * 1.1);

  const double lane_h = 22, lat_h = 180, ok_h = 90, gap = 28;
  const double lanes_top = 40;
  const double lat_top = lanes_top + lane_h * static_cast<double>(proxies.size()) + gap;
  const double probes_h = (lat_h + gap + ok_h + gap) * static_cast<double>(per_probe.size());
  const double height = lat_top + probes_h + 30;

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + f1(kWidth) +
                    "\" height=\"" + f1(height) +
                    "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  // Phase bands across the whole chart, labelled at the top.
  for (const auto& w : r.windows) {
    const double x0 = x(static_cast<double>(w.start)), x1 = x(static_cast<double>(w.end));
    svg += "<g class=\"phase\" data-name=\"" + esc(w.name) + "\"><rect x=\"" + f1(x0) +
           "\" y=\"20\" width=\"" + f1(std::max(1.0, x1 - x0)) + "\" height=\"" + f1(height - 40) +
           "\" fill=\"" + (w.faulted ? "#ffe3e3" : "#e6fcf5") + "\" opacity=\"0.7\"/><text x=\"" +
           f1(x0 + 3) + "\" y=\"15\">" + esc(w.name) + "</text></g>\n";
  }
  // Time axis.
  const double axis_y = height - 20;
  svg += "<line x1=\"" + f1(kLeft) + "\" y1=\"" + f1(axis_y) + "\" x2=\"" + f1(kLeft + kPlot) +
         "\" y2=\"" + f1(axis_y) + "\" stroke=\"#495057\"/>\n";
  const Ms step = total > 60'000 ? 10'000 : total > 20'000 ? 5000 : 1000;
  for (Ms t = 0; static_cast<double>(t) <= total; t += step)
    svg += "<text x=\"" + f1(x(static_cast<double>(t))) + "\" y=\"" + f1(axis_y + 14) +
           "\" text-anchor=\"middle\">" + std::to_string(t / 1000) + "s</text>\n";
  // A lane per proxy: its fault events.
  double y = lanes_top;
  for (const auto& p : proxies) {
    svg += "<g class=\"lane\" data-proxy=\"" + esc(p) + "\"><text x=\"4\" y=\"" + f1(y + 14) +
           "\">" + esc(p) + "</text><line x1=\"" + f1(kLeft) + "\" y1=\"" + f1(y + lane_h / 2) +
           "\" x2=\"" + f1(kLeft + kPlot) + "\" y2=\"" + f1(y + lane_h / 2) +
           "\" stroke=\"#ced4da\"/>";
    for (const auto& e : r.events) {
      if (e.proxy != p || e.fault.empty()) continue;
      svg += "<circle cx=\"" + f1(x(static_cast<double>(e.at))) + "\" cy=\"" + f1(y + lane_h / 2) +
             "\" r=\"3\" fill=\"" + action_colour(e.action) + "\"><title>" +
             esc(e.fault + " " + e.action) + "</title></circle>";
    }
    svg += "</g>\n";
    y += lane_h;
  }
  // Per probe: latency percentiles and outcomes per second.
  y = lat_top;
  for (const auto& [probe, seconds] : per_probe) {
    const auto ly = [&](double ms) { return y + lat_h - lat_h * std::min(ms / max_latency, 1.0); };
    svg += "<g class=\"latency\" data-probe=\"" + esc(probe) + "\"><text x=\"4\" y=\"" +
           f1(y + 10) + "\">" + esc(probe) + " latency (max " + f1(max_latency) + " ms)</text>";
    const struct {
      double p;
      const char* colour;
    } lines[] = {{50, "#1c7ed6"}, {95, "#f08c00"}, {99, "#e03131"}};
    for (const auto& l : lines) {
      std::string points;
      for (const auto& [sec, s] : seconds)
        points += f1(x(static_cast<double>(sec) * 1000 + 500)) + "," +
                  f1(ly(percentile(s.latencies, l.p))) + " ";
      svg += "<polyline class=\"p" + std::to_string(static_cast<int>(l.p)) +
             "\" fill=\"none\" stroke=\"" + l.colour + "\" stroke-width=\"1.5\" points=\"" +
             points + "\"/>";
    }
    // Thresholds of this probe's latency hypotheses, dashed over their scope.
    for (const auto& h : r.results) {
      if (h.probe != probe) continue;
      for (const auto& c : h.checks) {
        if (!is_latency(c.metric)) continue;
        for (const auto& w : r.windows) {
          if (h.scope.find(w.name) == std::string::npos && !(h.scope == "faulted" && w.faulted) &&
              h.scope != "all")
            continue;
          svg += "<line class=\"threshold\" x1=\"" + f1(x(static_cast<double>(w.start))) +
                 "\" y1=\"" + f1(ly(c.threshold.value)) + "\" x2=\"" +
                 f1(x(static_cast<double>(w.end))) + "\" y2=\"" + f1(ly(c.threshold.value)) +
                 "\" stroke=\"#212529\" stroke-dasharray=\"6 4\"><title>" +
                 esc(h.name + ": " + metric_name(c.metric) + " " + c.threshold.text) +
                 "</title></line>";
        }
      }
    }
    svg += "</g>\n";
    y += lat_h + gap;
    svg += "<g class=\"outcomes\" data-probe=\"" + esc(probe) + "\"><text x=\"4\" y=\"" +
           f1(y + 10) + "\">" + esc(probe) + " ok / degraded / failed</text>";
    for (const auto& [sec, s] : seconds) {
      const double n = s.ok + s.degraded + s.failed;
      if (n == 0) continue;
      const double bx = x(static_cast<double>(sec) * 1000), bw = std::max(1.0, x(1000) - x(0) - 1);
      double top = y + ok_h;
      for (const auto& [count, colour] :
           {std::pair{s.ok, "#40c057"}, std::pair{s.degraded, "#fab005"},
            std::pair{s.failed, "#fa5252"}}) {
        const double h = ok_h * count / n;
        top -= h;
        if (count)
          svg += "<rect x=\"" + f1(bx) + "\" y=\"" + f1(top) + "\" width=\"" + f1(bw) +
                 "\" height=\"" + f1(h) + "\" fill=\"" + colour + "\"/>";
      }
    }
    svg += "</g>\n";
    y += ok_h + gap;
  }
  svg += "</svg>\n";

  std::string rows;
  for (const auto& h : r.results)
    rows += std::string("<tr class=\"") + verdict_name(h.verdict) + "\"><td>" +
            verdict_name(h.verdict) + "</td><td>" + esc(h.name) + "</td><td>" + esc(h.probe) +
            "</td><td>" + esc(h.scope) + "</td><td>" + std::to_string(h.samples) + "</td><td>" +
            esc(h.why) + "</td></tr>\n";
  const std::string colour = r.status == "PASS"           ? "#2b8a3e"
                             : r.status == "INCONCLUSIVE" ? "#e67700"
                                                          : "#c92a2a";
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + esc(r.title) +
         " — brownout drill</title>\n<style>body{font-family:sans-serif;margin:24px;color:#212529}"
         "table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #dee2e6;padding:4px "
         "8px;"
         "text-align:left}.FAIL td:first-child{color:#c92a2a;font-weight:bold}.PASS "
         "td:first-child{color:#2b8a3e}.INCONCLUSIVE td:first-child{color:#e67700}</style></head>\n"
         "<body>\n<h1>" +
         esc(r.title.empty() ? r.profile : r.title) +
         "</h1>\n<p class=\"verdict\" "
         "style=\"font-size:20px;color:" +
         colour + "\">" + esc(r.status) + " · exit " + std::to_string(static_cast<int>(r.exit)) +
         (r.aborted_by.empty() ? std::string() : " · aborted by " + esc(r.aborted_by)) +
         "</p>\n<p>" + esc(r.profile) + " · seed " + std::to_string(r.seed) + " · started " +
         esc(r.started) + " · " + f1(static_cast<double>(r.duration) / 1000) + " s · " +
         std::to_string(r.requests_sent) +
         " probe requests</p>\n<table><tr><th>verdict</th><th>hypothesis</th><th>probe</th>"
         "<th>scope</th><th>samples</th><th>why</th></tr>\n" +
         rows + "</table>\n" + svg +
         "<p>Bands: green, no fault; red, a phase. Dots: orange, a fault turned on; green, turned "
         "off; red, a fault acted on a connection. Lines: p50 blue, p95 orange, p99 red; dashed, a "
         "hypothesis's threshold.</p>\n</body></html>\n";
}

}  // namespace brownout::drill
