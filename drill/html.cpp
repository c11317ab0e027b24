#include "drill/html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <utility>

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

// A number for a label: no decimals when whole, else up to three significant.
std::string num(double v) {
  char buf[32];
  if (std::fabs(v - std::round(v)) < 1e-9)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Seconds from the start, for the time axis and tooltips: "12s", "1m30s".
std::string at_label(Ms ms, bool minutes) {
  const Ms s = ms / 1000;
  if (!minutes || s < 60) return std::to_string(s) + "s";
  return std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : std::string());
}

// Figures of one probe in one time bucket.
struct Bucket {
  std::vector<double> latencies;
  int ok = 0, degraded = 0, failed = 0, skipped = 0;
};

// The chart's geometry: labels in the left margin, the plot to its right.
constexpr double kWidth = 1200, kLeft = 150, kRight = 24;
constexpr double kPlot = kWidth - kLeft - kRight;
constexpr double kCharW = 6.4;  // average width of an 11 px sans-serif character

// Colours, shared by the chart and the legend above it.
constexpr const char* kCalm = "#e6fcf5";     // a band with no fault
constexpr const char* kFaulted = "#ffe3e3";  // a band of a phase
constexpr const char* kOnBar = "#ffc078";    // a fault's active span
constexpr const char* kOn = "#d9480f";       // a fault turned on
constexpr const char* kOff = "#2b8a3e";      // a fault turned off
constexpr const char* kUpdated = "#f59f00";  // a fault's settings changed (a ramp step)
constexpr const char* kActed = "#c92a2a";    // a fault acted on a connection or request
constexpr const char* kOk = "#40c057";
constexpr const char* kDegraded = "#fab005";
constexpr const char* kFailed = "#fa5252";
constexpr const char* kSkipped = "#adb5bd";
constexpr const char* kThreshold = "#212529";
constexpr const char* kBroken = "#c92a2a";  // a threshold the run did not meet
// Latency lines, in drawing order: p95 (what hypotheses usually check) wide,
// p99 thin on top of it, so a p99 equal to the p95 still shows.
constexpr struct {
  double p;
  const char* colour;
  const char* width;
} kPercentiles[] = {{50, "#74c0fc", "1.8"}, {95, "#1c7ed6", "3"}, {99, "#5f3dc4", "1.2"}};
constexpr const char* kHalo =
    "stroke=\"#fff\" stroke-width=\"3\" stroke-opacity=\"0.85\" paint-order=\"stroke\"";

bool turns_on(const std::string& a) {
  return a == "fault_added" || a == "fault_on";
}
bool turns_off(const std::string& a) {
  return a == "fault_removed" || a == "fault_off" || a == "fault_expired" || a == "faults_cleared";
}
const char* action_colour(const std::string& a) {
  if (turns_on(a)) return kOn;
  if (turns_off(a)) return kOff;
  if (a == "fault_updated") return kUpdated;
  return kActed;  // a decision that hurt a connection: reset, refused, cut, http_fault, ...
}

// The first candidate step (ms) that cuts `total` into at most `most` parts.
Ms step_for(double total, double most, std::initializer_list<Ms> candidates) {
  Ms last = 0;
  for (const Ms c : candidates) {
    last = c;
    if (total / static_cast<double>(c) <= most) return c;
  }
  return last;
}

// A round top for a y axis and its grid step: 1, 2 or 5 times a power of ten.
std::pair<double, double> nice_axis(double max) {
  const double raw = std::max(max, 1.0) / 4;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (const double m : {1.0, 2.0, 5.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  return {std::ceil(max / step) * step, step};
}

// The windows a hypothesis's scope names, as the judge chooses them: its
// scope text is the `during` list joined by "," and then ", after PHASE".
bool scope_covers(const std::string& scope, const Window& w) {
  std::size_t pos = 0;
  while (pos <= scope.size()) {
    auto end = scope.find(',', pos);
    if (end == std::string::npos) end = scope.size();
    std::string d = scope.substr(pos, end - pos);
    d.erase(0, d.find_first_not_of(' '));
    if (d == "all" || d == w.name || (d == "faulted" && w.faulted) || (d == "steady" && !w.faulted))
      return true;
    pos = end + 1;
  }
  return false;
}

// The phase named by a recovery scope ("after PHASE" at its end), or "".
std::string recovery_phase(const std::string& scope) {
  const auto at = scope.rfind("after ");
  if (at == std::string::npos || (at != 0 && (at < 2 || scope.compare(at - 2, 2, ", ") != 0)))
    return {};
  return scope.substr(at + 6);
}

std::string short_metric(Metric m) {
  const std::string n = metric_name(m);
  return n.rfind("latency_", 0) == 0 ? n.substr(8) : n;
}

std::string text(double x, double y, const std::string& body, const std::string& attrs = {}) {
  return "<text x=\"" + f1(x) + "\" y=\"" + f1(y) + "\"" + (attrs.empty() ? "" : " " + attrs) +
         ">" + body + "</text>";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& attrs) {
  return "<line x1=\"" + f1(x1) + "\" y1=\"" + f1(y1) + "\" x2=\"" + f1(x2) + "\" y2=\"" + f1(y2) +
         "\" " + attrs + "/>";
}

std::string rect(double x, double y, double w, double h, const std::string& attrs) {
  return "<rect x=\"" + f1(x) + "\" y=\"" + f1(y) + "\" width=\"" + f1(w) + "\" height=\"" + f1(h) +
         "\" " + attrs + "/>";
}

std::string legend_item(const std::string& swatch_style, const std::string& label) {
  return "<span><i style=\"" + swatch_style + "\"></i>" + label + "</span>";
}

}  // namespace

std::string report_html(const RunRecord& r) {
  const double total = static_cast<double>(std::max<Ms>(r.duration, 1000));
  const auto x = [&](double ms) { return kLeft + kPlot * std::clamp(ms / total, 0.0, 1.0); };
  const bool minutes = total > 600'000;
  const Ms tick = step_for(total, 16,
                           {1000, 2000, 5000, 10'000, 15'000, 30'000, 60'000, 120'000, 300'000,
                            600'000, 900'000, 1'800'000, 3'600'000});
  // Latency and outcomes per bucket: a second, or longer for a long run.
  const Ms bucket =
      step_for(total, 150, {1000, 2000, 5000, 10'000, 15'000, 30'000, 60'000, 300'000});
  const std::string per = "per " + (bucket < 60'000 ? std::to_string(bucket / 1000) + " s"
                                                    : std::to_string(bucket / 60'000) + " min");

  // Proxies and, per proxy, its faults in the order they first appear.
  std::vector<std::string> proxies;
  std::map<std::string, std::vector<std::string>> faults_of;
  for (const auto& e : r.events) {
    if (e.proxy.empty()) continue;
    if (std::find(proxies.begin(), proxies.end(), e.proxy) == proxies.end())
      proxies.push_back(e.proxy);
    auto& faults = faults_of[e.proxy];
    if (!e.fault.empty() && std::find(faults.begin(), faults.end(), e.fault) == faults.end())
      faults.push_back(e.fault);
  }
  std::sort(proxies.begin(), proxies.end());
  std::map<std::string, std::map<Ms, Bucket>> per_probe;
  for (const auto& s : r.samples) {
    auto& b = per_probe[s.probe][s.planned / bucket];
    if (s.outcome == Outcome::skipped) {
      ++b.skipped;
      continue;
    }
    b.latencies.push_back(s.latency);
    (s.outcome == Outcome::ok ? b.ok : s.outcome == Outcome::degraded ? b.degraded : b.failed)++;
  }

  // Vertical layout.
  const double row_h = 16, lat_h = 130, ok_h = 40, title_h = 24;
  // Phase labels: one row, or two when neighbours would overlap.
  struct Label {
    double x;
    int row;
    std::string text;
  };
  std::vector<Label> labels;
  double row_end[2] = {-1e9, -1e9};
  for (const auto& w : r.windows) {
    const double x0 = x(static_cast<double>(w.start)) + 3;
    const double x1 = x(static_cast<double>(w.end));
    // The first row free at x0; else the one freed first, the label cut to its band.
    const int row = row_end[0] <= x0 ? 0 : row_end[1] <= x0 ? 1 : row_end[0] <= row_end[1] ? 0 : 1;
    const double room = row_end[row] <= x0 ? kLeft + kPlot - x0 : x1 - x0;
    std::string t = w.name;
    const auto fits = static_cast<std::size_t>(std::max(3.0, room / kCharW));
    if (t.size() > fits) {
      auto cut = fits - 1;
      while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
      t = t.substr(0, cut) + "…";
    }
    labels.push_back({x0, row, t});
    row_end[row] = x0 + kCharW * static_cast<double>(t.size()) + 6;
  }
  const int label_rows =
      std::any_of(labels.begin(), labels.end(), [](const Label& l) { return l.row == 1; }) ? 2 : 1;
  const double band_top = 14.0 * label_rows + 6;
  double lanes_h = 0;
  for (const auto& p : proxies)
    lanes_h += row_h * static_cast<double>(std::max<std::size_t>(1, faults_of[p].size())) + 10;
  const double probes_top = band_top + 8 + lanes_h + 14;
  const double probe_h = title_h + lat_h + 10 + title_h + ok_h + 22;
  const double axis_y = probes_top + probe_h * static_cast<double>(per_probe.size());
  const double height = axis_y + 24;

  std::string svg = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    f1(kWidth) + "\" height=\"" + f1(height) + "\" viewBox=\"0 0 " + f1(kWidth) +
                    " " + f1(height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  // Phase bands across the whole chart, labelled at the top, a line at each start.
  for (std::size_t i = 0; i < r.windows.size(); ++i) {
    const auto& w = r.windows[i];
    const double x0 = x(static_cast<double>(w.start)), x1 = x(static_cast<double>(w.end));
    const auto& l = labels[i];
    svg +=
        "<g class=\"phase\" data-name=\"" + esc(w.name) + "\"><title>" + esc(w.name) + ": " +
        at_label(w.start, minutes) + " to " + at_label(w.end, minutes) +
        (w.faulted ? ", a phase" : ", no fault") + "</title>" +
        rect(x0, band_top, std::max(1.0, x1 - x0), axis_y - band_top,
             std::string("fill=\"") + (w.faulted ? kFaulted : kCalm) + "\"") +
        line(x0, band_top - 2 - 14.0 * (label_rows - 1 - l.row), x0, axis_y, "stroke=\"#adb5bd\"") +
        text(l.x, 12 + 14.0 * l.row, esc(l.text), "font-weight=\"bold\" fill=\"#495057\"") +
        "</g>\n";
  }
  // The time axis at the bottom and its grid through every panel.
  svg += "<g class=\"axis\">" + line(kLeft, axis_y, kLeft + kPlot, axis_y, "stroke=\"#495057\"");
  for (Ms t = 0; static_cast<double>(t) <= total; t += tick) {
    const double tx = x(static_cast<double>(t));
    svg += line(tx, band_top, tx, axis_y, "stroke=\"#868e96\" stroke-opacity=\"0.25\"") +
           line(tx, axis_y, tx, axis_y + 4, "stroke=\"#495057\"") +
           text(tx, axis_y + 16, at_label(t, minutes), "text-anchor=\"middle\"");
  }
  svg += "</g>\n";

  // A lane per proxy: a row per fault, its active spans as bars and every
  // event as a dot (orange: on, green: off, red: it acted).
  double y = band_top + 8;
  for (const auto& p : proxies) {
    const auto& faults = faults_of[p];
    const double lane_h = row_h * static_cast<double>(std::max<std::size_t>(1, faults.size()));
    svg += "<g class=\"lane\" data-proxy=\"" + esc(p) + "\">" +
           text(kLeft - 8, y + lane_h / 2 + 4, esc(p),
                "text-anchor=\"end\" font-weight=\"bold\" font-size=\"12\"") +
           line(kLeft, y + lane_h + 5, kLeft + kPlot, y + lane_h + 5, "stroke=\"#ced4da\"");
    for (std::size_t i = 0; i < faults.size(); ++i) {
      const double cy = y + row_h * static_cast<double>(i) + row_h / 2;
      std::string spans, acted, switched;  // the on/off dots go over the others
      std::optional<Ms> on;
      const auto close = [&](Ms end) {
        if (!on) return;
        const double x0 = x(static_cast<double>(*on)), x1 = x(static_cast<double>(end));
        spans += rect(x0, cy - 5, std::max(2.0, x1 - x0), 10,
                      std::string("class=\"fault-on\" fill=\"") + kOnBar + "\" rx=\"2\"");
        on.reset();
      };
      double label_x = -1;
      for (const auto& e : r.events) {
        if (e.proxy != p) continue;
        if (e.fault.empty()) {
          if (e.action == "faults_cleared") close(e.at);
          continue;
        }
        if (e.fault != faults[i]) continue;
        if (turns_on(e.action) && !on) {
          on = e.at;
          if (label_x < 0) label_x = x(static_cast<double>(e.at));
        } else if (turns_off(e.action)) {
          close(e.at);
        }
        const bool toggles = turns_on(e.action) || turns_off(e.action);
        (toggles ? switched : acted) +=
            "<circle cx=\"" + f1(x(static_cast<double>(e.at))) + "\" cy=\"" + f1(cy) + "\" r=\"" +
            (toggles ? "3.5" : "2.5") + "\" fill=\"" + action_colour(e.action) + "\"><title>" +
            esc(p + "/" + e.fault + " " + e.action + " at " + f1(static_cast<double>(e.at) / 1000) +
                " s") +
            "</title></circle>";
      }
      close(static_cast<Ms>(total));
      svg +=
          spans + acted + switched +
          text(label_x < 0 ? kLeft + 4 : label_x + 6, cy + 4, esc(faults[i]),
               std::string("class=\"fault-name\" font-weight=\"bold\" fill=\"#5c2600\" ") + kHalo);
    }
    svg += "</g>\n";
    y += lane_h + 10;
  }

  // Per probe: latency percentiles with the thresholds, then the outcomes.
  y = probes_top;
  for (const auto& [probe, buckets] : per_probe) {
    double top = 1;
    for (const auto& [b, s] : buckets)
      if (!s.latencies.empty()) top = std::max(top, percentile(s.latencies, 99));
    for (const auto& h : r.results)
      if (h.probe == probe)
        for (const auto& c : h.checks)
          if (is_latency(c.metric)) top = std::max(top, c.threshold.value * 1.15);
    const auto [y_max, y_step] = nice_axis(top);
    const double py = y + title_h;
    const auto ly = [&, y_max = y_max](double ms) {
      return py + lat_h - lat_h * std::min(ms / y_max, 1.0);
    };
    svg += "<g class=\"latency\" data-probe=\"" + esc(probe) + "\">" +
           text(kLeft, y + 14,
                "<tspan font-weight=\"bold\">" + esc(probe) + "</tspan> latency (ms) " + per +
                    ": p50, p95, p99",
                "font-size=\"12\"");
    for (double v = 0; v <= y_max + 1e-9; v += y_step)
      svg += line(kLeft, ly(v), kLeft + kPlot, ly(v), "stroke=\"#868e96\" stroke-opacity=\"0.3\"") +
             text(kLeft - 6, ly(v) + 4, num(v), "text-anchor=\"end\" fill=\"#495057\"");
    for (const auto& l : kPercentiles) {
      std::string points;
      for (const auto& [b, s] : buckets) {
        if (s.latencies.empty()) continue;
        const double v = ly(percentile(s.latencies, l.p));
        const double b0 = static_cast<double>(b * bucket);
        points += f1(x(b0)) + "," + f1(v) + " " +
                  f1(x(std::min(b0 + static_cast<double>(bucket), total))) + "," + f1(v) + " ";
      }
      svg += "<polyline class=\"p" + std::to_string(static_cast<int>(l.p)) +
             "\" fill=\"none\" stroke=\"" + l.colour + "\" stroke-width=\"" + l.width +
             "\" stroke-linejoin=\"round\" points=\"" + points + "\"/>";
    }
    // Thresholds of this probe's latency hypotheses, dashed over their
    // scope: black when met, red when not.
    for (const auto& h : r.results) {
      if (h.probe != probe) continue;
      for (const auto& c : h.checks) {
        if (!is_latency(c.metric)) continue;
        const char* colour = c.met ? kThreshold : kBroken;
        for (const auto& w : r.windows) {
          if (!scope_covers(h.scope, w)) continue;
          const double x0 = x(static_cast<double>(w.start)), x1 = x(static_cast<double>(w.end));
          const double ty = ly(c.threshold.value);
          const std::string label = short_metric(c.metric) + " " + c.threshold.text;
          svg += "<line class=\"threshold\" x1=\"" + f1(x0) + "\" y1=\"" + f1(ty) + "\" x2=\"" +
                 f1(x1) + "\" y2=\"" + f1(ty) + "\" stroke=\"" + colour +
                 "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>" +
                 esc(h.name + ": " + metric_name(c.metric) + " " + c.threshold.text) +
                 "</title></line>";
          if (x1 - x0 > kCharW * static_cast<double>(label.size()) + 8)
            svg += text(x1 - 4, ty - 4, esc(label),
                        std::string("class=\"threshold-label\" text-anchor=\"end\" fill=\"") +
                            colour + "\" " + kHalo);
        }
      }
    }
    svg += line(kLeft, py, kLeft, py + lat_h, "stroke=\"#495057\"") + "</g>\n";

    const double oy = py + lat_h + 10;
    const double by = oy + title_h;
    svg +=
        "<g class=\"outcomes\" data-probe=\"" + esc(probe) + "\">" +
        text(kLeft, oy + 14,
             "<tspan font-weight=\"bold\">" + esc(probe) + "</tspan> ok / degraded / failed " + per,
             "font-size=\"12\"") +
        text(kLeft - 6, by + 9, "100%", "text-anchor=\"end\" fill=\"#495057\"") +
        text(kLeft - 6, by + ok_h, "0%", "text-anchor=\"end\" fill=\"#495057\"");
    for (const auto& [b, s] : buckets) {
      const double n = s.ok + s.degraded + s.failed + s.skipped;
      if (n == 0) continue;
      const double b0 = static_cast<double>(b * bucket);
      const double bx = x(b0) + 0.5;
      const double bw =
          std::max(1.0, x(std::min(b0 + static_cast<double>(bucket), total)) - bx - 0.5);
      double bar_top = by + ok_h;
      for (const auto& [count, colour] :
           {std::pair{s.ok, kOk}, std::pair{s.degraded, kDegraded}, std::pair{s.failed, kFailed},
            std::pair{s.skipped, kSkipped}}) {
        const double h = ok_h * count / n;
        bar_top -= h;
        if (count) svg += rect(bx, bar_top, bw, h, std::string("fill=\"") + colour + "\"");
      }
    }
    // Recovery: from the faults' removal to the probe's first stable success.
    for (const auto& h : r.results) {
      if (h.probe != probe) continue;
      const auto phase = recovery_phase(h.scope);
      const auto w = std::find_if(r.windows.begin(), r.windows.end(),
                                  [&](const Window& win) { return win.name == phase; });
      if (phase.empty() || w == r.windows.end()) continue;
      const Ms t0 = faults_cleared_at(*w, r.events);
      const double x0 = x(static_cast<double>(t0));
      const double ry = by + ok_h / 2;
      if (h.recovery_ms) {
        const double x1 = std::max(x0 + 2, x(static_cast<double>(t0) + *h.recovery_ms));
        svg +=
            "<g class=\"recovery\">" +
            line(x0, ry, x1, ry, "stroke=\"#212529\" stroke-width=\"2\"") +
            line(x0, ry - 6, x0, ry + 6, "stroke=\"#212529\" stroke-width=\"2\"") +
            line(x1, ry - 6, x1, ry + 6, "stroke=\"#212529\" stroke-width=\"2\"") +
            text(x1 + 5, ry + 4,
                 "recovered in " + (*h.recovery_ms < 1000 ? num(std::round(*h.recovery_ms)) + " ms"
                                                          : f1(*h.recovery_ms / 1000) + " s"),
                 std::string("font-weight=\"bold\" fill=\"#212529\" ") + kHalo) +
            "<title>" + esc(h.name) + "</title></g>";
      } else {
        svg += "<g class=\"recovery\">" +
               line(x0, ry - 6, x0, ry + 6,
                    std::string("stroke=\"") + kBroken + "\" stroke-width=\"2\"") +
               text(x0 + 5, ry + 4, "not recovered",
                    std::string("font-weight=\"bold\" fill=\"") + kBroken + "\" " + kHalo) +
               "<title>" + esc(h.name) + "</title></g>";
      }
    }
    svg += "</g>\n";
    y += probe_h;
  }
  svg += "</svg>\n";

  // The hypotheses, each failure with the faults that were on.
  std::string rows;
  int failed = 0;
  for (const auto& h : r.results) {
    failed += h.verdict == Verdict::fail;
    std::string why = esc(h.why);
    if (h.verdict == Verdict::fail)
      for (const auto& a : h.attribution)
        why +=
            "<div class=\"attribution\">" + std::to_string(a.failures) + " failed while " +
            (a.fault.empty() ? std::string("no fault was active") : esc(a.fault) + " was active") +
            (a.exact ? " (" + std::to_string(a.exact) + " traced to its decisions)"
                     : std::string()) +
            "</div>";
    rows += std::string("<tr class=\"") + verdict_name(h.verdict) + "\"><td>" +
            verdict_name(h.verdict) + (h.warn_only ? " (warn)" : "") + "</td><td>" + esc(h.name) +
            "</td><td>" + esc(h.probe) + "</td><td>" + esc(h.scope) + "</td><td>" +
            std::to_string(h.samples) + "</td><td>" + why + "</td></tr>\n";
  }
  // What each fault did, and how much of it the system absorbed.
  std::string impact;
  if (!r.impact.empty()) {
    impact =
        "<table class=\"impact\"><tr><th>fault</th><th>acted on</th><th>surfaced as probe "
        "failures</th><th>absorbed</th></tr>\n";
    for (const auto& f : r.impact) {
      const auto surfaced = static_cast<std::uint64_t>(std::max<std::int64_t>(f.surfaced, 0));
      impact += "<tr><td>" + esc(f.fault) + "</td><td>" + std::to_string(f.acted) + "</td><td>" +
                std::to_string(f.surfaced) +
                (f.exact ? " (" + std::to_string(f.exact) + " traced)" : std::string()) +
                "</td><td>" + std::to_string(f.acted > surfaced ? f.acted - surfaced : 0) +
                "</td></tr>\n";
    }
    impact += "</table>\n";
  }

  const std::string dot = "border-radius:50%;width:8px;height:8px;background:";
  const std::string legend =
      "<div class=\"legend\">" + legend_item(std::string("background:") + kCalm, "no fault") +
      legend_item(std::string("background:") + kFaulted, "a phase") +
      legend_item(std::string("height:8px;background:") + kOnBar, "a fault is on") +
      legend_item(dot + kOn, "turned on") + legend_item(dot + kOff, "turned off") +
      legend_item(dot + kUpdated, "changed (a ramp step)") +
      legend_item(dot + kActed, "acted on a connection or request") +
      legend_item(std::string("height:3px;background:") + kPercentiles[0].colour, "p50") +
      legend_item(std::string("height:4px;background:") + kPercentiles[1].colour, "p95") +
      legend_item(std::string("height:2px;background:") + kPercentiles[2].colour, "p99") +
      legend_item(std::string("height:0;border-top:2px dashed ") + kThreshold,
                  "threshold (red: not met)") +
      legend_item(std::string("background:") + kOk, "ok") +
      legend_item(std::string("background:") + kDegraded, "degraded") +
      legend_item(std::string("background:") + kFailed, "failed") +
      legend_item(std::string("background:") + kSkipped, "skipped (saturated)") + "</div>\n";

  const std::string colour = r.status == "PASS"           ? "#2b8a3e"
                             : r.status == "INCONCLUSIVE" ? "#e67700"
                                                          : "#c92a2a";
  const std::string tally = r.results.empty()
                                ? std::string()
                                : " · " + std::to_string(failed) + " of " +
                                      std::to_string(r.results.size()) + " hypotheses failed";
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + esc(r.title) +
         " — brownout drill</title>\n<style>"
         "body{font-family:sans-serif;margin:24px;color:#212529;font-size:14px}"
         "h1{font-size:24px;margin:0 0 6px}h2{font-size:17px;margin:22px 0 6px}"
         ".verdict{font-size:20px;font-weight:bold;margin:6px 0}.meta{color:#495057;margin:4px 0}"
         "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #dee2e6;padding:3px "
         "8px;text-align:left;vertical-align:top}th{background:#f1f3f5}"
         ".FAIL td:first-child{color:#c92a2a;font-weight:bold}tr.FAIL{background:#fff5f5}"
         ".PASS td:first-child{color:#2b8a3e}.INCONCLUSIVE td:first-child{color:#e67700}"
         ".attribution{color:#c92a2a;font-size:12px}"
         ".legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:#495057;"
         "margin:6px 0}.legend span{display:inline-flex;align-items:center;gap:5px}"
         ".legend i{display:inline-block;width:16px;height:11px;border:0}"
         "svg.chart{max-width:100%;height:auto;display:block}</style></head>\n"
         "<body>\n<h1>" +
         esc(r.title.empty() ? r.profile : r.title) +
         "</h1>\n<p class=\"verdict\" style=\"color:" + colour + "\">" + esc(r.status) +
         " · exit " + std::to_string(static_cast<int>(r.exit)) + tally +
         (r.aborted_by.empty() ? std::string() : " · aborted by " + esc(r.aborted_by)) +
         "</p>\n<p class=\"meta\">" + esc(r.profile) + " · seed " + std::to_string(r.seed) +
         " · started " + esc(r.started) + " · " + f1(static_cast<double>(r.duration) / 1000) +
         " s · " + std::to_string(r.requests_sent) +
         " probe requests</p>\n<h2>Hypotheses</h2>\n<table><tr><th>verdict</th><th>hypothesis</th>"
         "<th>probe</th><th>scope</th><th>samples</th><th>why</th></tr>\n" +
         rows + "</table>\n" + (impact.empty() ? "" : "<h2>Faults</h2>\n" + impact) +
         "<h2>Timeline</h2>\n" + legend + svg + "</body></html>\n";
}

}  // namespace brownout::drill
