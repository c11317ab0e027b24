#include "drill/spec.hpp"

#include <algorithm>
#include <charconv>
#include <regex>

#include "control/toml_util.hpp"
#include "faults/units.hpp"

namespace brownout::drill {

using control::ProfileError;
using control::SourcePos;

const Probe* DrillSpec::probe(const std::string& name) const {
  for (const auto& p : probes)
    if (p.name == name) return &p;
  return nullptr;
}

std::optional<Threshold> parse_threshold(const std::string& text, bool duration,
                                         std::string& error) {
  Threshold t;
  t.text = text;
  std::string_view s = text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  struct OpText {
    const char* text;
    Threshold::Op op;
  };
  constexpr OpText kOps[] = {{"<=", Threshold::Op::le}, {">=", Threshold::Op::ge},
                             {"==", Threshold::Op::eq}, {"!=", Threshold::Op::ne},
                             {"<", Threshold::Op::lt},  {">", Threshold::Op::gt}};
  bool found = false;
  for (const auto& o : kOps) {
    if (s.rfind(o.text, 0) == 0) {
      t.op = o.op;
      s.remove_prefix(std::string_view(o.text).size());
      found = true;
      break;
    }
  }
  if (!found) {
    error = "a threshold starts with <, <=, >, >=, == or != (such as \"" +
            std::string(duration ? "<800ms" : ">=0.99") + "\"), got \"" + text + "\"";
    return std::nullopt;
  }
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (duration) {
    auto ms = faults::parse_quantity(s, "ms");
    if (!ms) {
      error = "\"" + text + "\": " + ms.error.message;
      return std::nullopt;
    }
    t.value = static_cast<double>(*ms.value);
    return t;
  }
  std::string number(s);
  const bool percent = !number.empty() && number.back() == '%';
  if (percent) number.pop_back();
  double v = 0;
  auto [p, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (number.empty() || ec != std::errc() || p != number.data() + number.size()) {
    error = "\"" + text + "\": the value must be a number such as 0.99 or 99%";
    return std::nullopt;
  }
  t.value = percent ? v / 100.0 : v;
  return t;
}

namespace {

class SpecLoader {
 public:
  SpecLoader(std::string path, const std::vector<std::string>& phases)
      : path_(std::move(path)), phases_(phases) {}

  std::vector<ProfileError> errors;
  DrillSpec spec;

  void load(const toml::table& doc) {
    for (auto&& [k, v] : doc) {
      const std::string key(k.str());
      if (key == "drill") {
        if (const auto* t = table(k, v)) parse_drill(*t);
      } else if (key == "probe") {
        for_each_table(k, v, [&](const toml::table& t) { parse_probe(t); });
      } else if (key == "steady_state") {
        if (const auto* t = table(k, v)) parse_steady(*t);
      } else if (key == "hypothesis") {
        for_each_table(k, v, [&](const toml::table& t) { parse_hypothesis(t); });
      } else if (key == "guard") {
        for_each_table(k, v, [&](const toml::table& t) { parse_guard(t); });
      }
    }
    if (spec.probes.empty() && (!spec.hypotheses.empty() || spec.steady || !spec.guards.empty()))
      error(SourcePos{path_, 1, 1}, "the drill has no [[probe]]");
    if (spec.hypotheses.empty() && !spec.steady)
      error(SourcePos{path_, 1, 1},
            "nothing to judge: the profile has no [[hypothesis]] and no [steady_state]");
    check_names();
  }

 private:
  void error(SourcePos where, std::string message) {
    errors.push_back({std::move(where), std::move(message)});
  }
  SourcePos pos(const toml::node& n) const { return control::pos_of(n.source(), path_); }
  SourcePos pos(const toml::key& k) const { return control::pos_of(k.source(), path_); }

  const toml::table* table(const toml::key& k, const toml::node& v) {
    if (const auto* t = v.as_table()) return t;
    error(pos(v), "'" + std::string(k.str()) + "' must be a table, got " + control::type_name(v));
    return nullptr;
  }
  template <class F>
  void for_each_table(const toml::key& k, const toml::node& v, F f) {
    const auto* a = v.as_array();
    if (!a) {
      error(pos(v), "'" + std::string(k.str()) + "' must be an array of tables ([[" +
                        std::string(k.str()) + "]]), got " + control::type_name(v));
      return;
    }
    for (const auto& item : *a) {
      if (const auto* t = item.as_table())
        f(*t);
      else
        error(pos(item), "each [[" + std::string(k.str()) + "]] must be a table");
    }
  }

  std::optional<std::string> string(const toml::key& k, const toml::node& v) {
    if (auto s = v.value_exact<std::string>()) return *s;
    error(pos(v), "'" + std::string(k.str()) + "' must be a string, got " + control::type_name(v));
    return std::nullopt;
  }
  std::optional<Ms> duration(const toml::key& k, const toml::node& v) {
    auto s = v.value_exact<std::string>();
    if (!s) {
      error(pos(v), "'" + std::string(k.str()) + "' must be a duration such as \"1s\", got " +
                        control::type_name(v));
      return std::nullopt;
    }
    auto ms = faults::parse_quantity(*s, "ms");
    if (!ms) {
      error(pos(v), "'" + std::string(k.str()) + "': " + ms.error.message);
      return std::nullopt;
    }
    return *ms.value;
  }
  std::optional<std::int64_t> integer(const toml::key& k, const toml::node& v, std::int64_t min) {
    auto i = v.value_exact<std::int64_t>();
    if (!i || *i < min) {
      error(pos(v), "'" + std::string(k.str()) + "' must be an integer >= " + std::to_string(min));
      return std::nullopt;
    }
    return *i;
  }
  std::vector<std::string> strings(const toml::key& k, const toml::node& v) {
    std::vector<std::string> out;
    if (auto s = v.value_exact<std::string>()) return {*s};
    if (const auto* a = v.as_array()) {
      for (const auto& item : *a) {
        if (auto s = item.value_exact<std::string>())
          out.push_back(*s);
        else
          error(pos(item), "'" + std::string(k.str()) + "' entries must be strings");
      }
      return out;
    }
    error(pos(v), "'" + std::string(k.str()) + "' must be a string or a list of strings");
    return out;
  }
  void unknown(const toml::key& k, std::string_view what, const std::vector<std::string>& keys) {
    error(pos(k), control::unknown_key_message(what, k.str(), keys));
  }

  // A metric key of a hypothesis, the steady state or a guard.
  bool parse_check(const std::string& key, const toml::node& v, std::vector<Check>& out) {
    auto metric = metric_from(key);
    if (!metric) return false;
    auto text = v.value_exact<std::string>();
    if (!text) {
      error(pos(v), "'" + key + "' must be a threshold string such as \"" +
                        (is_latency(*metric) ? "<800ms" : ">=0.99") + "\"");
      return true;
    }
    std::string why;
    if (auto t = parse_threshold(*text, is_latency(*metric), why))
      out.push_back({*metric, *t});
    else
      error(pos(v), "'" + key + "': " + why);
    return true;
  }

  static std::vector<std::string> metric_keys() {
    return {"success_rate", "ok_rate",     "degraded_rate", "error_rate",
            "latency_p50",  "latency_p90", "latency_p95",   "latency_p99",
            "latency_max",  "latency_avg", "count"};
  }

  void parse_drill(const toml::table& t) {
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (key == "title") {
        if (auto s = string(k, v)) spec.title = *s;
      } else if (key == "reports") {
        if (auto s = string(k, v)) spec.reports = *s;
      } else if (key == "inconclusive") {
        auto s = string(k, v);
        if (s && *s == "pass")
          spec.inconclusive_as = Exit::pass;
        else if (s && *s == "fail")
          spec.inconclusive_as = Exit::fail;
        else if (s && *s == "inconclusive")
          spec.inconclusive_as = Exit::inconclusive;
        else if (s)
          error(pos(v), "'inconclusive' must be \"pass\", \"fail\" or \"inconclusive\"");
      } else {
        unknown(k, "drill key", {"title", "reports", "inconclusive"});
      }
    }
  }

  void parse_expect(const toml::key& k, const toml::node& v, Expect& e) {
    const auto* t = table(k, v);
    if (!t) return;
    e.given = true;
    for (auto&& [ek, ev] : *t) {
      const std::string key(ek.str());
      if (key == "status" || key == "exit_code") {
        if (!e.status.empty()) {
          error(pos(ek), "'status' and 'exit_code' are the same list: give one");
          continue;
        }
        std::string text;
        if (auto i = ev.value_exact<std::int64_t>())
          text = std::to_string(*i);
        else if (auto s = string(ek, ev))
          text = *s;
        // "200-299;429"
        std::size_t start = 0;
        while (start <= text.size() && !text.empty()) {
          const auto end = std::min(text.find(';', start), text.size());
          const std::string part = text.substr(start, end - start);
          int a = 0, b = 0;
          const auto dash = part.find('-');
          const std::string lo = part.substr(0, dash);
          const std::string hi = dash == std::string::npos ? lo : part.substr(dash + 1);
          auto r1 = std::from_chars(lo.data(), lo.data() + lo.size(), a);
          auto r2 = std::from_chars(hi.data(), hi.data() + hi.size(), b);
          if (lo.empty() || hi.empty() || r1.ec != std::errc() || r2.ec != std::errc() ||
              r1.ptr != lo.data() + lo.size() || r2.ptr != hi.data() + hi.size() || a > b) {
            error(pos(ev), "'" + key + "' must be codes and ranges such as \"" +
                               (key == "status" ? "200-299;429" : "0;2-3") + "\"");
            break;
          }
          e.status.emplace_back(a, b);
          start = end + 1;
        }
      } else if (key == "header") {
        if (auto s = string(ek, ev)) e.header = *s;
      } else if (key == "body_regex" || key == "recv_regex") {
        if (auto s = string(ek, ev)) {
          try {
            std::regex check(*s);
          } catch (const std::regex_error&) {
            error(pos(ev), "'" + key + "' is not a valid regular expression");
          }
          (key == "body_regex" ? e.body_regex : e.recv_regex) = *s;
        }
      } else if (key == "latency") {
        if (auto ms = duration(ek, ev)) e.latency = *ms;
      } else if (key == "value") {
        if (auto s = string(ek, ev)) {
          std::string why;
          if (auto t = parse_threshold(*s, false, why))
            e.value = *t;
          else
            error(pos(ev), "'value': " + why);
        }
      } else {
        unknown(ek, "expect key",
                {"status", "exit_code", "header", "body_regex", "recv_regex", "latency", "value"});
      }
    }
  }

  void parse_probe(const toml::table& t) {
    Probe p;
    const auto where = pos(t);
    SourcePos query_pos = where;
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (key == "name") {
        if (auto s = string(k, v)) p.name = *s;
      } else if (key == "kind") {
        if (auto s = string(k, v)) {
          p.kind = *s;
          if (*s != "http" && *s != "tcp" && *s != "exec" && *s != "prometheus")
            error(pos(v), "'kind' must be \"http\", \"tcp\", \"exec\" or \"prometheus\", got \"" +
                              *s + "\"");
        }
      } else if (key == "method") {
        if (auto s = string(k, v)) p.method = *s;
      } else if (key == "url") {
        if (auto s = string(k, v)) {
          p.url = *s;
          if (s->rfind("http://", 0) != 0)
            error(pos(v), "'url' must start with http:// (https is not supported)");
        }
      } else if (key == "headers") {
        if (const auto* h = table(k, v))
          for (auto&& [hk, hv] : *h)
            if (auto s = string(hk, hv)) p.headers[std::string(hk.str())] = *s;
      } else if (key == "body") {
        if (auto s = string(k, v)) p.body = *s;
      } else if (key == "address") {
        if (auto s = string(k, v)) p.address = *s;
      } else if (key == "send") {
        if (auto s = string(k, v)) p.send = *s;
      } else if (key == "command") {
        if (auto s = v.value_exact<std::string>())
          p.command = {"/bin/sh", "-c", *s};
        else
          p.command = strings(k, v);
        if (p.command.empty() || p.command.front().empty())
          error(pos(v), "'command' must name a program");
      } else if (key == "query") {
        if (auto s = string(k, v)) {
          p.query = *s;
          query_pos = pos(v);
        }
      } else if (key == "every") {
        if (auto ms = duration(k, v)) {
          p.every = *ms;
          if (*ms < 10) error(pos(v), "'every' must be at least 10ms");
        }
      } else if (key == "timeout") {
        if (auto ms = duration(k, v)) p.timeout = std::max<Ms>(1, *ms);
      } else if (key == "max_in_flight") {
        if (auto i = integer(k, v, 1))
          p.max_in_flight = static_cast<int>(std::min<std::int64_t>(*i, 10'000));
      } else if (key == "expect") {
        parse_expect(k, v, p.expect);
      } else if (key == "degraded") {
        parse_expect(k, v, p.degraded);
      } else {
        unknown(k, "probe key",
                {"name", "kind", "method", "url", "headers", "body", "address", "send", "command",
                 "query", "every", "timeout", "max_in_flight", "expect", "degraded"});
      }
    }
    if (p.name.empty()) error(where, "a [[probe]] needs a 'name'");
    if (p.kind.empty())
      error(where, "probe '" + p.name + "' needs a 'kind' (http, tcp, exec or prometheus)");
    if ((p.kind == "http" || p.kind == "prometheus") && p.url.empty())
      error(where, p.kind + " probe '" + p.name + "' needs a 'url'");
    if (p.kind == "exec" && p.command.empty())
      error(where, "exec probe '" + p.name + "' needs a 'command'");
    if (p.kind == "prometheus") {
      if (p.query.empty()) {
        error(where, "prometheus probe '" + p.name +
                         "' needs a 'query' (PromQL for a url ending in /api/v1/query, else a "
                         "series selector such as errors_total{code=\"500\"})");
      } else if (!prom::is_query_url(p.url)) {
        std::string why;
        p.selector = prom::parse_selector(p.query, why);
        if (!p.selector) error(query_pos, "'query': " + why);
      }
      if (!p.expect.value)
        error(where, "prometheus probe '" + p.name +
                         "' needs expect = { value = \"...\" } (such as \"<0.05\")");
    }
    if (p.kind == "tcp" && p.address.empty())
      error(where, "tcp probe '" + p.name + "' needs an 'address' (host:port)");
    if (spec.probe(p.name)) error(where, "two probes are named '" + p.name + "'");
    probe_pos_.push_back(where);
    spec.probes.push_back(std::move(p));
  }

  void parse_steady(const toml::table& t) {
    SteadyState s;
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (key == "probes") {
        s.probes = strings(k, v);
        for (const auto& name : s.probes) probe_refs_.push_back({name, pos(v)});
      } else if (key == "before") {
        if (auto ms = duration(k, v)) s.before = *ms;
      } else if (key == "after") {
        if (auto ms = duration(k, v)) s.after = *ms;
      } else if (key == "min_samples") {
        if (auto i = integer(k, v, 0)) s.min_samples = *i;
      } else if (!parse_check(key, v, s.checks)) {
        auto keys = metric_keys();
        keys.insert(keys.begin(), {"probes", "before", "after", "min_samples"});
        unknown(k, "steady_state key", keys);
      }
    }
    spec.steady = std::move(s);
  }

  void parse_hypothesis(const toml::table& t) {
    Hypothesis h;
    const auto where = pos(t);
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (key == "name") {
        if (auto s = string(k, v)) h.name = *s;
      } else if (key == "probe") {
        if (auto s = string(k, v)) {
          h.probe = *s;
          probe_refs_.push_back({*s, pos(v)});
        }
      } else if (key == "during") {
        h.during = strings(k, v);
        for (const auto& d : h.during)
          if (d != "steady" && d != "faulted" && d != "all" &&
              std::find(phases_.begin(), phases_.end(), d) == phases_.end())
            error(pos(v), "'during' names '" + d +
                              "', which is no phase of the profile (nor steady, faulted or all)");
      } else if (key == "skip") {
        if (auto ms = duration(k, v)) h.skip = *ms;
      } else if (key == "after") {
        if (auto s = string(k, v)) {
          h.after = *s;
          if (std::find(phases_.begin(), phases_.end(), *s) == phases_.end())
            error(pos(v), "'after' names '" + *s + "', which is no phase of the profile");
        }
      } else if (key == "recovery") {
        if (auto s = string(k, v)) {
          std::string why;
          h.recovery = parse_threshold(*s, true, why);
          if (!h.recovery) error(pos(v), "'recovery': " + why);
        }
      } else if (key == "stable_for") {
        if (auto ms = duration(k, v)) h.stable_for = *ms;
      } else if (key == "recovered") {
        auto s = string(k, v);
        if (s && *s == "success")
          h.degraded_recovers = true;
        else if (s && *s != "ok")
          error(pos(v),
                "'recovered' must be \"ok\" (back to normal answers, the default) or "
                "\"success\" (a degraded fallback counts as back)");
      } else if (key == "min_samples") {
        if (auto i = integer(k, v, 0)) h.min_samples = *i;
      } else if (key == "severity") {
        auto s = string(k, v);
        if (s && *s == "warn")
          h.warn_only = true;
        else if (s && *s != "fail")
          error(pos(v), "'severity' must be \"fail\" or \"warn\"");
      } else if (!parse_check(key, v, h.checks)) {
        auto keys = metric_keys();
        keys.insert(keys.begin(), {"name", "probe", "during", "skip", "after", "recovery",
                                   "stable_for", "recovered", "min_samples", "severity"});
        unknown(k, "hypothesis key", keys);
      }
    }
    if (h.name.empty()) error(where, "a [[hypothesis]] needs a 'name'");
    if (h.probe.empty()) error(where, "hypothesis '" + h.name + "' needs a 'probe'");
    if (h.checks.empty() && !h.recovery)
      error(where, "hypothesis '" + h.name +
                       "' has nothing to check (a threshold such as success_rate, or recovery)");
    if (!h.checks.empty() && h.during.empty())
      error(where, "hypothesis '" + h.name + "' needs 'during' (a phase, steady, faulted or all)");
    if (h.recovery && h.after.empty())
      error(where, "hypothesis '" + h.name + "': recovery needs 'after' (a phase)");
    spec.hypotheses.push_back(std::move(h));
  }

  void parse_guard(const toml::table& t) {
    Guard g;
    const auto where = pos(t);
    bool has_when = false;
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (key == "probe") {
        if (auto s = string(k, v)) {
          g.probe = *s;
          probe_refs_.push_back({*s, pos(v)});
        }
      } else if (key == "when") {
        // "success_rate<0.5"
        auto s = string(k, v);
        if (!s) continue;
        const auto op = s->find_first_of("<>=!");
        const auto metric = metric_from(s->substr(0, op));
        std::string why;
        std::optional<Threshold> th;
        if (metric && op != std::string::npos)
          th = parse_threshold(s->substr(op), is_latency(*metric), why);
        if (!metric || !th) {
          error(pos(v), "'when' must be a metric and a threshold such as \"success_rate<0.5\"" +
                            (why.empty() ? std::string() : ": " + why));
          continue;
        }
        g.when = {*metric, *th};
        has_when = true;
      } else if (key == "over") {
        if (auto ms = duration(k, v)) g.over = std::max<Ms>(1, *ms);
      } else if (key == "delay") {
        if (auto ms = duration(k, v)) g.delay = *ms;
      } else {
        unknown(k, "guard key", {"probe", "when", "over", "delay"});
      }
    }
    if (g.probe.empty() || !has_when) error(where, "a [[guard]] needs 'probe' and 'when'");
    spec.guards.push_back(std::move(g));
  }

  void check_names() {
    for (const auto& [name, where] : probe_refs_)
      if (!spec.probe(name)) error(where, "no [[probe]] is named '" + name + "'");
  }

  std::string path_;
  const std::vector<std::string>& phases_;
  std::vector<SourcePos> probe_pos_;
  std::vector<std::pair<std::string, SourcePos>> probe_refs_;
};

}  // namespace

SpecResult load_spec(const std::string& path, const std::string& text,
                     const std::vector<std::string>& phases) {
  SpecResult out;
  toml::table doc;
  try {
    doc = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    out.errors.push_back({control::pos_of(e.source(), path), std::string(e.description())});
    return out;
  }
  SpecLoader loader(path, phases);
  loader.load(doc);
  out.errors = std::move(loader.errors);
  if (out.errors.empty()) out.spec = std::move(loader.spec);
  return out;
}

}  // namespace brownout::drill
