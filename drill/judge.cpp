#include "drill/judge.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace brownout::drill {

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::ok:
      return "ok";
    case Outcome::degraded:
      return "degraded";
    case Outcome::failed:
      return "failed";
    case Outcome::skipped:
      return "skipped";
  }
  return "?";
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass:
      return "PASS";
    case Verdict::fail:
      return "FAIL";
    case Verdict::inconclusive:
      return "INCONCLUSIVE";
  }
  return "?";
}

namespace {
struct MetricName {
  Metric m;
  const char* name;
};
constexpr MetricName kMetrics[] = {
    {Metric::success_rate, "success_rate"},
    {Metric::ok_rate, "ok_rate"},
    {Metric::degraded_rate, "degraded_rate"},
    {Metric::error_rate, "error_rate"},
    {Metric::latency_p50, "latency_p50"},
    {Metric::latency_p90, "latency_p90"},
    {Metric::latency_p95, "latency_p95"},
    {Metric::latency_p99, "latency_p99"},
    {Metric::latency_max, "latency_max"},
    {Metric::latency_avg, "latency_avg"},
    {Metric::count, "count"},
};
}  // namespace

const char* metric_name(Metric m) {
  for (const auto& x : kMetrics)
    if (x.m == m) return x.name;
  return "?";
}

std::optional<Metric> metric_from(const std::string& name) {
  for (const auto& x : kMetrics)
    if (name == x.name) return x.m;
  return std::nullopt;
}

bool is_latency(Metric m) {
  return m >= Metric::latency_p50 && m <= Metric::latency_avg;
}

bool Threshold::holds(double observed) const {
  // Rates and latencies are compared with a small tolerance for rounding.
  constexpr double eps = 1e-9;
  switch (op) {
    case Op::lt:
      return observed < value - eps;
    case Op::le:
      return observed <= value + eps;
    case Op::gt:
      return observed > value + eps;
    case Op::ge:
      return observed >= value - eps;
    case Op::eq:
      return std::fabs(observed - value) <= eps;
    case Op::ne:
      return std::fabs(observed - value) > eps;
  }
  return false;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const auto i =
      static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size())));
  return values[i - 1];
}

std::vector<const Sample*> in_scope(std::span<const Sample> samples, const std::string& probe,
                                    std::span<const Window> windows,
                                    std::span<const std::string> during, Ms skip) {
  std::vector<const Window*> chosen;
  for (const auto& w : windows) {
    for (const auto& d : during) {
      if (d == "all" || d == w.name || (d == "faulted" && w.faulted) ||
          (d == "steady" && !w.faulted)) {
        chosen.push_back(&w);
        break;
      }
    }
  }
  std::vector<const Sample*> out;
  for (const auto& s : samples) {
    if (s.probe != probe || s.outcome == Outcome::skipped) continue;
    for (const Window* w : chosen)
      if (s.planned >= w->start + skip && s.planned < w->end) {
        out.push_back(&s);
        break;
      }
  }
  return out;
}

double measure(Metric m, std::span<const Sample* const> samples) {
  const auto n = static_cast<double>(samples.size());
  if (m == Metric::count) return n;
  if (samples.empty()) return 0;
  std::int64_t ok = 0, degraded = 0, failed = 0;
  std::vector<double> latencies;
  latencies.reserve(samples.size());
  double sum = 0;
  for (const Sample* s : samples) {
    ok += s->outcome == Outcome::ok;
    degraded += s->outcome == Outcome::degraded;
    failed += s->outcome == Outcome::failed;
    latencies.push_back(s->latency);
    sum += s->latency;
  }
  switch (m) {
    case Metric::success_rate:
      return static_cast<double>(ok + degraded) / n;
    case Metric::ok_rate:
      return static_cast<double>(ok) / n;
    case Metric::degraded_rate:
      return static_cast<double>(degraded) / n;
    case Metric::error_rate:
      return static_cast<double>(failed) / n;
    case Metric::latency_p50:
      return percentile(std::move(latencies), 50);
    case Metric::latency_p90:
      return percentile(std::move(latencies), 90);
    case Metric::latency_p95:
      return percentile(std::move(latencies), 95);
    case Metric::latency_p99:
      return percentile(std::move(latencies), 99);
    case Metric::latency_max:
      return *std::max_element(latencies.begin(), latencies.end());
    case Metric::latency_avg:
      return sum / n;
    case Metric::count:
      break;
  }
  return n;
}

Ms faults_cleared_at(const Window& phase, std::span<const FaultEvent> events) {
  Ms at = phase.end;
  for (const auto& e : events)
    if ((e.action == "fault_removed" || e.action == "faults_cleared") && e.at >= phase.end &&
        e.at < phase.end + 60'000)
      at = std::max(at, e.at);
  return at;
}

std::optional<double> recovery_time(std::span<const Sample> samples, const std::string& probe,
                                    Ms t0, Ms stable_for, bool degraded_recovers,
                                    std::int64_t* judged) {
  std::vector<const Sample*> after;
  for (const auto& s : samples)
    if (s.probe == probe && s.outcome != Outcome::skipped && s.planned >= t0) after.push_back(&s);
  std::sort(after.begin(), after.end(),
            [](const Sample* a, const Sample* b) { return a->planned < b->planned; });
  // The candidate start of a good stretch: the first sample after the last
  // one that was not back to normal.
  std::optional<Ms> start;
  std::int64_t n = 0;
  for (const Sample* s : after) {
    ++n;
    if (s->outcome == Outcome::failed || (s->outcome == Outcome::degraded && !degraded_recovers)) {
      start.reset();
      continue;
    }
    if (!start) start = s->planned;
    if (s->planned - *start >= stable_for) {
      if (judged) *judged = n;
      return static_cast<double>(*start - t0);
    }
  }
  if (judged) *judged = n;
  return std::nullopt;
}

namespace {

// The faults behind one sample: those the proxy recorded acting on its very
// request (by trace id; `exact` set), else those on at some moment while it
// was in flight: on when it was planned (added before, not removed since), or
// turned on before its answer. A request sent under one fault and cut by the
// next names both.
std::set<std::string> faults_of(const Sample& s, std::span<const FaultEvent> events,
                                const std::map<std::string, std::set<std::string>>& traced,
                                bool& exact) {
  exact = false;
  if (!s.trace.empty())
    if (auto it = traced.find(s.trace); it != traced.end()) {
      exact = true;
      return it->second;
    }
  const double end = static_cast<double>(s.planned) + s.latency;
  std::set<std::string> on, seen;
  for (const auto& e : events) {
    if (static_cast<double>(e.at) > end) break;
    const std::string key = e.proxy + "/" + e.fault;
    const bool starts = e.action == "fault_added" || e.action == "fault_on";
    if (e.at > s.planned) {  // in flight: only what turns on counts
      if (starts) seen.insert(key);
      continue;
    }
    if (starts) on.insert(key);
    if (e.action == "fault_removed" || e.action == "fault_off" || e.action == "fault_expired")
      on.erase(key);
    if (e.action == "faults_cleared")
      for (auto it = on.begin(); it != on.end();)
        it = it->rfind(e.proxy + "/", 0) == 0 ? on.erase(it) : std::next(it);
  }
  on.insert(seen.begin(), seen.end());
  return on;
}

std::map<std::string, std::set<std::string>> traced_faults(std::span<const FaultEvent> events) {
  std::map<std::string, std::set<std::string>> traced;  // trace id -> faults that acted on it
  for (const auto& e : events)
    if (!e.trace.empty() && !e.fault.empty()) traced[e.trace].insert(e.proxy + "/" + e.fault);
  return traced;
}

}  // namespace

std::vector<Attribution> attribute(std::span<const Sample* const> failed,
                                   std::span<const FaultEvent> events) {
  const auto traced = traced_faults(events);
  std::map<std::string, Attribution> counts;
  for (const Sample* s : failed) {
    bool exact = false;
    const auto on = faults_of(*s, events, traced, exact);
    if (on.empty()) ++counts[""].failures;
    for (const auto& f : on) {
      ++counts[f].failures;
      counts[f].exact += exact;
    }
  }
  std::vector<Attribution> out;
  for (auto& [f, a] : counts) out.push_back({f, a.failures, a.exact});
  std::sort(out.begin(), out.end(), [](const Attribution& a, const Attribution& b) {
    return a.failures != b.failures ? a.failures > b.failures : a.fault < b.fault;
  });
  return out;
}

std::vector<FaultImpact> impact(std::span<const Sample> samples,
                                std::span<const FaultEvent> events) {
  std::map<std::string, FaultImpact> by;
  for (const auto& e : events) {
    if (e.fault.empty()) continue;
    auto& f = by[e.proxy + "/" + e.fault];
    if (e.acted) f.acted += *e.acted;
  }
  // Per probe: its samples and failures with no fault on (its baseline), and
  // per fault the samples and failures while it was on.
  struct Tally {
    std::int64_t samples = 0, failed = 0, exact = 0;
  };
  std::map<std::string, Tally> baseline;
  std::map<std::pair<std::string, std::string>, Tally> on_fault;  // (fault, probe)
  const auto traced = traced_faults(events);
  for (const auto& s : samples) {
    if (s.outcome == Outcome::skipped) continue;
    bool exact = false;
    const auto on = faults_of(s, events, traced, exact);
    const bool failed = s.outcome == Outcome::failed;
    if (on.empty()) {
      ++baseline[s.probe].samples;
      baseline[s.probe].failed += failed;
    }
    for (const auto& f : on) {
      auto& t = on_fault[{f, s.probe}];
      ++t.samples;
      t.failed += failed;
      t.exact += failed && exact;
    }
  }
  for (const auto& [key, t] : on_fault) {
    auto it = by.find(key.first);
    if (it == by.end()) continue;
    // Failures beyond what the probe fails anyway: a probe that fails with no
    // fault on does not make a fault look surfaced.
    const auto& b = baseline[key.second];
    const double expected = b.samples
                                ? static_cast<double>(b.failed) / static_cast<double>(b.samples) *
                                      static_cast<double>(t.samples)
                                : 0.0;
    const auto excess = static_cast<std::int64_t>(
        std::max(0.0, std::round(static_cast<double>(t.failed) - expected)));
    it->second.surfaced += std::max(excess, t.exact);
    it->second.exact += t.exact;
  }
  std::vector<FaultImpact> out;
  for (auto& [name, f] : by) {
    f.fault = name;
    out.push_back(f);
  }
  return out;
}

namespace {
std::string fmt_value(Metric m, double v) {
  char buf[64];
  if (is_latency(m))
    std::snprintf(buf, sizeof buf, "%.1fms", v);
  else if (m == Metric::count)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}
}  // namespace

HypothesisResult judge(const Hypothesis& h, std::span<const Sample> samples,
                       std::span<const Window> windows, std::span<const FaultEvent> events) {
  HypothesisResult r;
  r.name = h.name;
  r.probe = h.probe;
  r.warn_only = h.warn_only;
  for (const auto& d : h.during) r.scope += (r.scope.empty() ? "" : ",") + d;
  if (!h.after.empty()) r.scope += (r.scope.empty() ? "after " : ", after ") + h.after;

  bool failed = false;
  bool undecided = false;
  std::vector<std::string> reasons;
  if (!h.checks.empty()) {
    const auto scoped = in_scope(samples, h.probe, windows, h.during, h.skip);
    r.samples = static_cast<std::int64_t>(scoped.size());
    for (const auto& c : h.checks) {
      CheckResult cr{c.metric, c.threshold, measure(c.metric, scoped), false};
      cr.met = c.threshold.holds(cr.observed);
      r.checks.push_back(cr);
      if (!cr.met)
        reasons.push_back(std::string(metric_name(c.metric)) + " " +
                          fmt_value(c.metric, cr.observed) + " not " + c.threshold.text);
    }
    std::vector<const Sample*> bad;
    for (const Sample* s : scoped)
      if (s->outcome == Outcome::failed) bad.push_back(s);
    r.attribution = attribute(bad, events);
    if (r.samples < h.min_samples) {
      undecided = true;
      reasons.insert(reasons.begin(), std::to_string(r.samples) + " samples, fewer than " +
                                          std::to_string(h.min_samples));
    } else {
      failed = std::any_of(r.checks.begin(), r.checks.end(), [](auto& c) { return !c.met; });
    }
  }
  if (h.recovery) {
    const Window* phase = nullptr;
    for (const auto& w : windows)
      if (w.name == h.after) phase = &w;
    if (!phase) {
      undecided = true;
      reasons.push_back("phase " + h.after + " did not run");
    } else {
      const Ms t0 = faults_cleared_at(*phase, events);
      std::int64_t judged = 0;
      r.recovery_ms =
          recovery_time(samples, h.probe, t0, h.stable_for, h.degraded_recovers, &judged);
      if (h.checks.empty()) r.samples = judged;
      if (!r.recovery_ms) {
        failed = true;
        reasons.push_back("not recovered (no " + std::to_string(h.stable_for) +
                          " ms without a failure after the faults cleared)");
      } else if (!h.recovery->holds(*r.recovery_ms)) {
        failed = true;
        reasons.push_back("recovery " + fmt_value(Metric::latency_max, *r.recovery_ms) + " not " +
                          h.recovery->text);
      }
    }
  }
  r.verdict = failed ? Verdict::fail : undecided ? Verdict::inconclusive : Verdict::pass;
  for (const auto& why : reasons) r.why += (r.why.empty() ? "" : "; ") + why;
  if (r.why.empty()) {
    for (const auto& c : r.checks)
      r.why += (r.why.empty() ? "" : ", ") + std::string(metric_name(c.metric)) + " " +
               fmt_value(c.metric, c.observed) + " " + c.threshold.text;
    if (r.recovery_ms)
      r.why += (r.why.empty() ? "" : ", ") + std::string("recovered in ") +
               fmt_value(Metric::latency_max, *r.recovery_ms);
  }
  return r;
}

Exit overall(std::span<const HypothesisResult> results, Exit inconclusive_as) {
  bool inconclusive = false;
  for (const auto& r : results) {
    if (r.warn_only) continue;
    if (r.verdict == Verdict::fail) return Exit::fail;
    if (r.verdict == Verdict::inconclusive) inconclusive = true;
  }
  return inconclusive ? inconclusive_as : Exit::pass;
}

}  // namespace brownout::drill
