#include "drill/diff.hpp"

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <map>

namespace brownout::drill {

namespace json = boost::json;

namespace {

struct Hyp {
  std::string verdict;
  double samples = 0;
  std::map<std::string, std::pair<double, std::string>> checks;  // metric -> observed, threshold
  std::optional<double> recovery_ms;
};

struct Report {
  std::string status;
  std::vector<std::string> order;
  std::map<std::string, Hyp> hyps;
};

double number(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return 0;
}

std::optional<Report> read(const std::string& text, std::string& error) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  const auto* o = v.if_object();
  if (ec || !o) {
    error = "not JSON";
    return std::nullopt;
  }
  const auto* schema = o->if_contains("schema");
  if (!schema || !schema->is_string() || schema->get_string() != "brownout.drill/1") {
    error = "not a brownout drill report (schema brownout.drill/1)";
    return std::nullopt;
  }
  Report r;
  if (const auto* s = o->if_contains("status"); s && s->is_string()) r.status = s->get_string();
  const auto* hyps = o->if_contains("hypotheses");
  if (hyps && hyps->is_array())
    for (const auto& h : hyps->get_array()) {
      const auto* ho = h.if_object();
      if (!ho || !ho->contains("name") || !ho->at("name").is_string()) continue;
      const std::string name(ho->at("name").get_string());
      Hyp out;
      if (const auto* x = ho->if_contains("verdict"); x && x->is_string())
        out.verdict = x->get_string();
      if (const auto* x = ho->if_contains("samples")) out.samples = number(*x);
      if (const auto* x = ho->if_contains("recovery_ms")) out.recovery_ms = number(*x);
      if (const auto* checks = ho->if_contains("checks"); checks && checks->is_array())
        for (const auto& c : checks->get_array()) {
          const auto* co = c.if_object();
          if (!co || !co->contains("metric") || !co->contains("observed")) continue;
          const auto& m = co->at("metric");
          const auto* t = co->if_contains("threshold");
          if (!m.is_string()) continue;
          out.checks[std::string(m.get_string())] = {
              number(co->at("observed")),
              t && t->is_string() ? std::string(t->get_string()) : std::string()};
        }
      if (!r.hyps.count(name)) r.order.push_back(name);
      r.hyps[name] = std::move(out);
    }
  return r;
}

std::string fmt(double v, bool ms) {
  char buf[48];
  if (ms)
    std::snprintf(buf, sizeof buf, "%.1fms", v);
  else
    std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// +1 when higher is better (">=0.99"), -1 when lower is ("<800ms"), 0 when
// the threshold says neither.
int better_direction(const std::string& threshold) {
  std::size_t i = 0;
  while (i < threshold.size() && threshold[i] == ' ') ++i;
  if (i < threshold.size() && threshold[i] == '>') return 1;
  if (i < threshold.size() && threshold[i] == '<') return -1;
  return 0;
}

bool is_rate(const std::string& metric) {
  return metric.size() > 5 && metric.compare(metric.size() - 5, 5, "_rate") == 0;
}

}  // namespace

DiffResult diff_reports(const std::string& a_json, const std::string& b_json,
                        const DiffOptions& opt) {
  DiffResult d;
  std::string why;
  const auto a = read(a_json, why);
  if (!a) {
    d.error = "A: " + why;
    return d;
  }
  const auto b = read(b_json, why);
  if (!b) {
    d.error = "B: " + why;
    return d;
  }
  if (a->status != b->status) {
    DiffRow row{"(the run)", "status", a->status, b->status, "", false, false};
    row.worse = a->status == "PASS";
    row.better = b->status == "PASS";
    row.change = row.worse ? "worse" : row.better ? "better" : "changed";
    d.rows.push_back(row);
  }
  for (const auto& name : a->order) {
    const auto it = b->hyps.find(name);
    if (it == b->hyps.end()) {
      d.notes.push_back("only in A: " + name);
      continue;
    }
    const Hyp& ha = a->hyps.at(name);
    const Hyp& hb = it->second;
    if (ha.verdict != hb.verdict) {
      DiffRow row{name, "verdict", ha.verdict, hb.verdict, "", false, false};
      row.worse = ha.verdict == "PASS" && hb.verdict == "FAIL";
      row.better = ha.verdict == "FAIL" && hb.verdict == "PASS";
      row.change = row.worse ? "worse" : row.better ? "better" : "changed";
      d.rows.push_back(row);
    }
    for (const auto& [metric, av] : ha.checks) {
      const auto bit = hb.checks.find(metric);
      if (bit == hb.checks.end()) continue;
      const double x = av.first, y = bit->second.first;
      const int dir = better_direction(av.second);
      if (dir == 0 || x == y) continue;
      const bool ms = metric.rfind("latency", 0) == 0;
      DiffRow row{name, metric, fmt(x, ms), fmt(y, ms), "", false, false};
      const bool moved_worse = dir > 0 ? y < x : y > x;
      if (is_rate(metric)) {
        // Two proportions: is the difference more than sampling explains?
        const double na = ha.samples, nb = hb.samples;
        double z = 0;
        if (na > 0 && nb > 0) {
          const double p = (x * na + y * nb) / (na + nb);
          const double se = std::sqrt(p * (1 - p) * (1 / na + 1 / nb));
          z = se > 0 ? std::fabs(x - y) / se : (x != y ? INFINITY : 0);
        }
        const bool significant = std::fabs(x - y) >= opt.rate_tolerance && z >= opt.z;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%+.4g (z=%.1f)", y - x, std::isinf(z) ? 99.0 : z);
        row.change = buf;
        row.worse = significant && moved_worse;
        row.better = significant && !moved_worse;
      } else if (ms) {
        const double grew = dir < 0 ? y - x : x - y;  // how much worse, in ms
        char buf[64];
        std::snprintf(buf, sizeof buf, "%+.1fms (%+.0f%%)", y - x,
                      x != 0 ? (y - x) / std::fabs(x) * 100 : 0.0);
        row.change = buf;
        const bool big = std::fabs(y - x) > opt.latency_floor_ms &&
                         std::fabs(y - x) > opt.latency_tolerance * std::fabs(x);
        row.worse = big && grew > 0;
        row.better = big && grew < 0;
      } else {
        continue;  // counts and equalities: no direction to judge
      }
      d.rows.push_back(row);
    }
    if (ha.recovery_ms && hb.recovery_ms && *ha.recovery_ms != *hb.recovery_ms) {
      const double x = *ha.recovery_ms, y = *hb.recovery_ms;
      DiffRow row{name, "recovery", fmt(x, true), fmt(y, true), "", false, false};
      char buf[64];
      std::snprintf(buf, sizeof buf, "%+.1fms", y - x);
      row.change = buf;
      const bool big = std::fabs(y - x) > 100 * opt.latency_floor_ms &&
                       std::fabs(y - x) > opt.latency_tolerance * std::fabs(x);
      row.worse = big && y > x;
      row.better = big && y < x;
      d.rows.push_back(row);
    }
  }
  for (const auto& name : b->order)
    if (!a->hyps.count(name)) d.notes.push_back("only in B: " + name);
  for (const auto& r : d.rows) d.regressed = d.regressed || r.worse;
  return d;
}

std::string format_diff(const DiffResult& d, const std::string& a_name, const std::string& b_name) {
  std::string out;
  if (!d.error.empty()) return "brownout: " + d.error + "\n";
  out += "A: " + a_name + "\nB: " + b_name + "\n\n";
  for (const auto& r : d.rows) {
    const char* mark = r.worse ? "✗ worse " : r.better ? "✓ better" : "· noise ";
    out += std::string("  ") + mark + "  " + r.hypothesis + " · " + r.what + ": " + r.a + " → " +
           r.b +
           (r.change.empty() || r.change == "worse" || r.change == "better" ? std::string()
                                                                            : "  " + r.change) +
           "\n";
  }
  if (d.rows.empty()) out += "  no differences in verdicts, checks or recovery\n";
  for (const auto& n : d.notes) out += "  note: " + n + "\n";
  std::size_t worse = 0;
  for (const auto& r : d.rows) worse += r.worse;
  out += d.regressed ? "\nregression: " + std::to_string(worse) + " significantly worse in B\n"
                     : "\nno significant regression\n";
  return out;
}

}  // namespace brownout::drill
