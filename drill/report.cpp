#include "drill/report.hpp"

#include <boost/json.hpp>
#include <cstdio>
#include <map>

#include "control/json_text.hpp"

namespace brownout::drill {

namespace json = boost::json;

namespace {

json::value num(double d) {
  // Fixed precision so two runs' reports diff cleanly.
  if (d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", d);
  return std::strtod(buf, nullptr);
}

json::object result_json(const HypothesisResult& h) {
  json::array checks;
  for (const auto& c : h.checks)
    checks.push_back(json::object{{"metric", metric_name(c.metric)},
                                  {"threshold", c.threshold.text},
                                  {"observed", num(c.observed)},
                                  {"met", c.met}});
  json::array attribution;
  for (const auto& a : h.attribution)
    attribution.push_back(
        json::object{{"fault", a.fault.empty() ? json::value(nullptr) : json::value(a.fault)},
                     {"failures", a.failures},
                     {"traced", a.exact}});
  json::object o{{"name", h.name},
                 {"probe", h.probe},
                 {"scope", h.scope},
                 {"verdict", verdict_name(h.verdict)},
                 {"samples", h.samples},
                 {"checks", checks},
                 {"why", h.why},
                 {"attribution", attribution},
                 {"severity", h.warn_only ? "warn" : "fail"}};
  if (h.recovery_ms) o["recovery_ms"] = num(*h.recovery_ms);
  return o;
}

struct Counts {
  std::int64_t ok = 0, degraded = 0, failed = 0, skipped = 0;
};

}  // namespace

std::string escape_markup(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out += c;
    }
  }
  return out;
}

std::string report_json(const RunRecord& r) {
  json::array windows;
  for (const auto& w : r.windows)
    windows.push_back(json::object{
        {"name", w.name}, {"start_ms", w.start}, {"end_ms", w.end}, {"faulted", w.faulted}});
  json::array results;
  for (const auto& h : r.results) results.push_back(result_json(h));
  std::map<std::string, Counts> by_probe;
  for (const auto& s : r.samples) {
    auto& c = by_probe[s.probe];
    (s.outcome == Outcome::ok         ? c.ok
     : s.outcome == Outcome::degraded ? c.degraded
     : s.outcome == Outcome::failed   ? c.failed
                                      : c.skipped)++;
  }
  json::object probes;
  for (const auto& [name, c] : by_probe)
    probes[name] = json::object{
        {"ok", c.ok}, {"degraded", c.degraded}, {"failed", c.failed}, {"skipped", c.skipped}};
  std::map<std::string, std::int64_t> decisions;
  for (const auto& e : r.events)
    if (!e.fault.empty()) ++decisions[e.proxy + "/" + e.fault + " " + e.action];
  json::object faults;
  for (const auto& [k, n] : decisions) faults[k] = n;
  json::array impact;
  for (const auto& f : r.impact)
    impact.push_back(
        json::object{{"fault", f.fault},
                     {"acted", f.acted},
                     {"surfaced", f.surfaced},
                     {"absorbed", f.acted > static_cast<std::uint64_t>(f.surfaced)
                                      ? f.acted - static_cast<std::uint64_t>(f.surfaced)
                                      : 0},
                     {"traced", f.exact}});
  json::object o{
      {"schema", "brownout.drill/1"},
      {"title", r.title},
      {"profile", r.profile},
      {"replay_of", r.replay_of.empty() ? json::value(nullptr) : json::value(r.replay_of)},
      {"seed", r.seed},
      {"started", r.started},
      {"duration_ms", r.duration},
      {"status", r.status},
      {"exit_code", static_cast<int>(r.exit)},
      {"aborted_by", r.aborted_by.empty() ? json::value(nullptr) : json::value(r.aborted_by)},
      {"requests_sent", r.requests_sent},
      {"windows", windows},
      {"hypotheses", results},
      {"probes", probes},
      {"fault_events", faults},
      {"faults", impact},
      {"profile_text", r.profile_text}};
  return control::dump(o) + "\n";
}

std::string junit_xml(const RunRecord& r) {
  std::int64_t failures = 0, skipped = 0, errors = 0;
  for (const auto& h : r.results) {
    if (h.warn_only) continue;
    failures += h.verdict == Verdict::fail;
    skipped += h.verdict == Verdict::inconclusive;
  }
  const bool error_case = r.status == "NOT_STEADY" || r.status == "ABORTED";
  errors += error_case;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", static_cast<double>(r.duration) / 1000.0);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  const auto tests = r.results.size() + (error_case ? 1 : 0);
  out += "<testsuites name=\"brownout drill\" tests=\"" + std::to_string(tests) + "\" failures=\"" +
         std::to_string(failures) + "\" errors=\"" + std::to_string(errors) + "\" skipped=\"" +
         std::to_string(skipped) + "\" time=\"" + secs + "\">\n";
  out += "  <testsuite name=\"" + escape_markup(r.title.empty() ? r.profile : r.title) +
         "\" tests=\"" + std::to_string(tests) + "\" failures=\"" + std::to_string(failures) +
         "\" errors=\"" + std::to_string(errors) + "\" skipped=\"" + std::to_string(skipped) +
         "\" time=\"" + secs + "\" timestamp=\"" + escape_markup(r.started) + "\">\n";
  out += "    <properties>\n      <property name=\"seed\" value=\"" + std::to_string(r.seed) +
         "\"/>\n      <property name=\"profile\" value=\"" + escape_markup(r.profile) +
         "\"/>\n      <property name=\"status\" value=\"" + r.status + "\"/>\n    </properties>\n";
  if (error_case)
    out += "    <testcase classname=\"drill\" name=\"" +
           std::string(r.status == "NOT_STEADY" ? "steady state before faults"
                                                : "guard " + escape_markup(r.aborted_by)) +
           "\" time=\"0\">\n      <error message=\"" + r.status + "\"/>\n    </testcase>\n";
  for (const auto& h : r.results) {
    out += "    <testcase classname=\"" + escape_markup(h.probe + "." + h.scope) + "\" name=\"" +
           escape_markup(h.name) + "\" time=\"0\">\n";
    if (h.verdict == Verdict::fail && !h.warn_only) {
      std::string body;
      for (const auto& a : h.attribution)
        body += (a.fault.empty() ? std::string("(no fault active)") : a.fault) + ": " +
                std::to_string(a.failures) + " failed samples" +
                (a.exact ? " (" + std::to_string(a.exact) + " traced)" : std::string()) + "\n";
      out += "      <failure message=\"" + escape_markup(h.why) + "\">" + escape_markup(body) +
             "</failure>\n";
    } else if (h.verdict == Verdict::inconclusive && !h.warn_only) {
      out += "      <skipped message=\"" + escape_markup(h.why) + "\"/>\n";
    }
    out += "    </testcase>\n";
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

std::string samples_ndjson(const RunRecord& r) {
  std::string out;
  for (const auto& s : r.samples) {
    json::object o{{"probe", s.probe},
                   {"seq", s.seq},
                   {"planned_ms", s.planned},
                   {"latency_ms", num(s.latency)},
                   {"outcome", outcome_name(s.outcome)}};
    if (!s.failure.empty()) o["failure"] = s.failure;
    if (s.status) o["status"] = s.status;
    if (!s.trace.empty()) o["trace"] = s.trace;
    if (s.value) o["value"] = num(*s.value);
    out += control::dump(o) + "\n";
  }
  return out;
}

std::string events_ndjson(const RunRecord& r) {
  std::string out;
  for (const auto& e : r.events) {
    json::object o{{"at_ms", e.at}, {"proxy", e.proxy}, {"fault", e.fault}, {"action", e.action}};
    if (e.acted) o["acted"] = *e.acted;
    if (!e.trace.empty()) o["trace"] = e.trace;
    out += control::dump(o) + "\n";
  }
  return out;
}

void print_summary(std::ostream& out, const RunRecord& r, const std::string& reports_dir) {
  out << "\n";
  for (const auto& h : r.results) {
    const char* mark = h.verdict == Verdict::pass   ? "✓"
                       : h.verdict == Verdict::fail ? (h.warn_only ? "!" : "✗")
                                                    : "?";
    out << "  " << mark << " " << h.name << " [" << h.probe << ", " << h.scope
        << ", n=" << h.samples << "]: " << verdict_name(h.verdict) << " — " << h.why << "\n";
    if (h.verdict == Verdict::fail)
      for (const auto& a : h.attribution)
        out << "      " << a.failures << " failed while "
            << (a.fault.empty() ? std::string("no fault was active") : a.fault + " was active")
            << (a.exact ? " (" + std::to_string(a.exact) + " traced to its decisions)"
                        : std::string())
            << "\n";
  }
  if (!r.impact.empty()) out << "\n  faults: acted on / surfaced as probe failures / absorbed\n";
  for (const auto& f : r.impact) {
    const auto absorbed = f.acted > static_cast<std::uint64_t>(f.surfaced)
                              ? f.acted - static_cast<std::uint64_t>(f.surfaced)
                              : 0;
    out << "    " << f.fault << ": acted " << f.acted << ", surfaced " << f.surfaced
        << ", absorbed " << absorbed << "\n";
  }
  out << "\ndrill " << r.status;
  if (!r.aborted_by.empty()) out << " (aborted by " << r.aborted_by << ")";
  out << ", exit " << static_cast<int>(r.exit) << ", " << r.requests_sent << " probe requests, "
      << "reports in " << reports_dir << "/\n";
}

}  // namespace brownout::drill
