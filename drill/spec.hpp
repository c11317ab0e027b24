// A drill's sections of a profile: [drill], [[probe]], [steady_state],
// [[hypothesis]] and [[guard]], read with toml++ and checked all at once, each
// error as file:line:column (the same as the profile's own errors).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/profile.hpp"
#include "drill/model.hpp"
#include "drill/prometheus.hpp"

namespace brownout::drill {

// Per-sample criteria: what makes a probe's answer ok (expect) or an
// acceptable fallback (degraded).
struct Expect {
  // Inclusive ranges of HTTP statuses (`status`; empty: any 2xx) or exit
  // codes (`exit_code`, exec probes; empty: 0).
  std::vector<std::pair<int, int>> status;
  std::string header;              // a header that must be present
  std::string body_regex;          // http: the body; exec: what the command printed
  std::string recv_regex;          // tcp: what the answer must match
  std::optional<Ms> latency;       // slower than this is not ok
  std::optional<Threshold> value;  // prometheus: the value read must meet it
  bool given = false;              // the table was written
};

struct Probe {
  std::string name;
  std::string kind;  // http, tcp, exec, prometheus
  // http (and prometheus: url)
  std::string method = "GET";
  std::string url;
  std::map<std::string, std::string> headers;
  std::string body;
  // tcp
  std::string address;
  std::string send;
  // exec: the program and its arguments (a string is run by /bin/sh -c)
  std::vector<std::string> command;
  // prometheus: a PromQL query (url ending in /api/v1/query) or a series
  // selector summed over a scraped /metrics page
  std::string query;
  std::optional<prom::Selector> selector;
  Ms every = 1000;
  Ms timeout = 1000;
  int max_in_flight = 20;
  Expect expect;
  Expect degraded;  // given = false: no fallback is acceptable
};

struct SteadyState {
  std::vector<std::string> probes;
  Ms before = 0;
  Ms after = 0;
  std::vector<Check> checks;
  std::int64_t min_samples = 5;
};

struct Guard {
  std::string probe;
  Check when;  // the metric over the last `over` trips the guard when it holds
  Ms over = 10'000;
  Ms delay = 0;  // not judged in the first `delay` of the faulted part
};

struct DrillSpec {
  std::string title;
  std::string reports = "drill-report";  // the folder reports are written to
  Exit inconclusive_as = Exit::inconclusive;
  std::vector<Probe> probes;
  std::optional<SteadyState> steady;
  std::vector<Hypothesis> hypotheses;
  std::vector<Guard> guards;
  const Probe* probe(const std::string& name) const;
};

struct SpecResult {
  std::optional<DrillSpec> spec;
  std::vector<control::ProfileError> errors;
};

// Reads the drill sections of `text` (the main profile file `path`);
// `phases` are the profile's phase names, which hypotheses may name.
SpecResult load_spec(const std::string& path, const std::string& text,
                     const std::vector<std::string>& phases);

// "<800ms", ">=0.99", ">= 99%", "<=10s": an operator and a value (durations in
// ms, percentages as fractions).
std::optional<Threshold> parse_threshold(const std::string& text, bool duration,
                                         std::string& error);

}  // namespace brownout::drill
