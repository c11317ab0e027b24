// What a drill records and what it asks: samples from probes, the phases the
// timeline ran, the proxy's fault events, and the hypotheses to judge them
// by. Plain data; times are milliseconds from the drill's start, so the judge
// is a pure function that tests drive with made-up numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace brownout::drill {

using Ms = std::int64_t;  // milliseconds since the drill started

enum class Outcome : std::uint8_t { ok, degraded, failed, skipped };
const char* outcome_name(Outcome o);

struct Sample {
  std::string probe;
  std::uint64_t seq = 0;
  Ms planned = 0;      // intended start (latency counts from here: no coordinated omission)
  double latency = 0;  // ms from the intended start to the answer (or the failure)
  Outcome outcome = Outcome::ok;
  std::string failure;          // timeout, refused, reset, status, body, exec-error, saturated
  int status = 0;               // HTTP status or exit code, 0 when none
  std::string detail;           // a short text for reports
  std::string trace;            // the W3C trace id sent in its traceparent header (http probes)
  std::optional<double> value;  // what a prometheus probe read
};

// A window of the run: a phase of the timeline, or the steady windows.
struct Window {
  std::string name;
  Ms start = 0;
  Ms end = 0;
  bool faulted = false;  // a phase (faults may be on); false for steady windows
};

// A fault event from the proxy (the event log), for attribution and recovery.
struct FaultEvent {
  FaultEvent() = default;
  FaultEvent(Ms at_, std::string proxy_, std::string fault_, std::string action_,
             std::optional<std::uint64_t> acted_ = std::nullopt, std::string trace_ = {})
      : at(at_),
        proxy(std::move(proxy_)),
        fault(std::move(fault_)),
        action(std::move(action_)),
        acted(acted_),
        trace(std::move(trace_)) {}
  Ms at = 0;
  std::string proxy;
  std::string fault;
  std::string action;  // fault_added, fault_removed, reset, refused, http_fault, ...
  std::optional<std::uint64_t> acted;  // on fault_removed / fault_expired: times it acted
  std::string trace;                   // on http_fault: the request's trace id, if it had one
};

// `op value`: "<800ms", ">=0.99", ">= 99%".
struct Threshold {
  enum class Op : std::uint8_t { lt, le, gt, ge, eq, ne };
  Op op = Op::ge;
  double value = 0;
  std::string text;  // as written, for reports
  bool holds(double observed) const;
};

enum class Metric : std::uint8_t {
  success_rate,  // (ok + degraded) / judged
  ok_rate,
  degraded_rate,
  error_rate,  // failed / judged
  latency_p50,
  latency_p90,
  latency_p95,
  latency_p99,
  latency_max,
  latency_avg,
  count,
};
const char* metric_name(Metric m);
std::optional<Metric> metric_from(const std::string& name);
bool is_latency(Metric m);

struct Check {
  Metric metric;
  Threshold threshold;
};

struct Hypothesis {
  std::string name;
  std::string probe;
  // A phase name, or "steady" (the steady windows), "faulted" (every phase),
  // "all"; several are allowed.
  std::vector<std::string> during;
  Ms skip = 0;  // samples planned in the first `skip` of each window are left out
  std::vector<Check> checks;
  // Recovery: after the faults of phase `after` are cleared, how long until
  // the probe succeeds for `stable_for` without a failure.
  std::string after;
  std::optional<Threshold> recovery;
  Ms stable_for = 5000;
  bool degraded_recovers = false;  // recovered = "success": a fallback answer counts as back
  std::int64_t min_samples = 10;
  bool warn_only = false;  // severity = "warn": reported, never fails the run
};

enum class Verdict : std::uint8_t { pass, fail, inconclusive };
const char* verdict_name(Verdict v);

struct CheckResult {
  Metric metric;
  Threshold threshold;
  double observed = 0;
  bool met = false;
};

struct Attribution {
  std::string fault;  // proxy/fault, or "" for failures with no fault active
  std::int64_t failures = 0;
  std::int64_t exact = 0;  // of them, linked by trace id: the proxy recorded this very request
};

// Per fault over the whole run: how often it acted on the system, and how
// many probe failures it surfaced as (the rest the system absorbed).
struct FaultImpact {
  std::string fault;          // proxy/fault
  std::uint64_t acted = 0;    // links, refused connections or requests it acted on
  std::int64_t surfaced = 0;  // failed samples attributed to it
  std::int64_t exact = 0;     // of them, linked by trace id
};

struct HypothesisResult {
  std::string name;
  std::string probe;
  std::string scope;  // the windows, as text
  Verdict verdict = Verdict::inconclusive;
  std::int64_t samples = 0;
  std::vector<CheckResult> checks;
  std::optional<double> recovery_ms;  // time to recover, when it recovered
  std::string why;                    // one line: what decided the verdict
  std::vector<Attribution> attribution;
  bool warn_only = false;
};

// Exit codes, stable and documented in docs/drills.md.
enum class Exit : int {
  pass = 0,
  fail = 1,
  bad_profile = 2,
  not_steady = 3,
  aborted = 4,
  inconclusive = 5,
  internal = 6,
};

}  // namespace brownout::drill
