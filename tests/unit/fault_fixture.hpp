// Shared fixture for the fault unit tests: fake-clock helpers, a seeded rng with scratch space,
// the faults under test built from their attributes, and links that run chunks and EOFs through
// one fault. Header-only; a test file says `using namespace brownout::test;` and gets it all.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "faults/registry.hpp"

namespace brownout::test {

// What every fault test speaks: the fault vocabulary (Plan, Piece, TimePoint, ...) and 5ms, 60s.
using namespace brownout::faults;
using namespace std::chrono_literals;

// A duration in nanoseconds.
inline std::int64_t ns(Duration d) {
  return d.count();
}

// Returns `since` for a test file's fake-clock origin t0: nanoseconds from t0 to a time point.
inline auto since_from(TimePoint t0) {
  return [t0](TimePoint t) { return ns(t - t0); };
}

// An integer attribute value.
inline Value I(std::int64_t v) {
  return Value{v};
}
// A number attribute value (a percentage), as JSON would give it.
inline Value Num(double v) {
  return Value{v};
}
// A choice attribute value.
inline Value Word(std::string w) {
  return Value{std::move(w)};
}

// The registered fault type `name`; REQUIREs that it exists.
inline const FaultType& type(std::string_view name) {
  const FaultType* t = find_type(name);
  REQUIRE_MESSAGE(t != nullptr, "type not found: " << std::string(name));
  return *t;
}

// build() that must succeed: REQUIREs it and returns what it built.
inline Built build_ok(const FaultType& fault_type, const std::map<std::string, Value>& attrs) {
  auto b = build(fault_type, attrs);
  REQUIRE_MESSAGE(b, b.error.message);
  return std::move(*b.value);
}

// build() that must fail: REQUIREs it and returns the error (its message and attribute).
inline Error build_error(std::string_view name, const std::map<std::string, Value>& attrs) {
  auto b = build(type(name), attrs);
  REQUIRE_FALSE_MESSAGE(b, "built, but expected a refusal");
  return b.error;
}

// The fault of the (known) type `name` built from `attrs`; REQUIREs that the build succeeds.
inline std::shared_ptr<const Fault> make_fault(std::string_view name,
                                               const std::map<std::string, Value>& attrs) {
  return build_ok(*find_type(name), attrs).fault;
}

// The faults under test, as the test files build them.
inline std::shared_ptr<const Fault> latency(std::int64_t ms, std::int64_t jitter_ms = 0) {
  return make_fault("latency", {{"latency", Value{ms}}, {"jitter", Value{jitter_ms}}});
}
inline std::shared_ptr<const Fault> bandwidth(std::int64_t rate_kbps) {
  return make_fault("bandwidth", {{"rate", Value{rate_kbps}}});
}
inline std::shared_ptr<const Fault> slow_close(std::int64_t delay_ms) {
  return make_fault("slow_close", {{"delay", Value{delay_ms}}});
}
inline std::shared_ptr<const Fault> timeout(std::int64_t ms) {
  return make_fault("timeout", {{"timeout", Value{ms}}});
}
inline std::shared_ptr<const Fault> reset_peer(std::int64_t ms) {
  return make_fault("reset_peer", {{"timeout", Value{ms}}});
}
inline std::shared_ptr<const Fault> slicer(std::int64_t average, std::int64_t variation,
                                           std::int64_t delay_us) {
  return make_fault("slicer", {{"average_size", Value{average}},
                               {"size_variation", Value{variation}},
                               {"delay", Value{delay_us}}});
}
inline std::shared_ptr<const Fault> limit_data(std::int64_t bytes) {
  return make_fault("limit_data", {{"bytes", Value{bytes}}});
}

// A seeded rng and scratch space; at(now) is the Context for a call at `now`. `shared` is the
// fault's proxy-wide state (from make_shared_state()) the Context carries, as the chain runner
// sets it; nullptr by default.
struct Env {
  explicit Env(std::uint64_t seed = 1) : rng(seed) {}
  Rng rng;
  std::vector<Piece> scratch;
  FaultState* shared = nullptr;
  Context at(TimePoint now) { return Context{now, rng, scratch, shared}; }
};

// One link's direction through a single fault, with the fault's per-link state and a plan.
struct FaultLink : Env {
  explicit FaultLink(std::shared_ptr<const Fault> f, std::uint64_t seed = 1)
      : Env(seed), fault(std::move(f)), state(fault->make_state()) {}
  std::shared_ptr<const Fault> fault;
  std::unique_ptr<FaultState> state;
  Plan plan;

  // Runs one chunk of `size` bytes at `offset` arriving at `now`.
  Plan& data(std::uint64_t offset, std::uint32_t size, TimePoint now) {
    plan.reset_for(offset, size, now);
    auto ctx = at(now);
    fault->on_data(state.get(), ctx, plan);
    return plan;
  }
  // Runs the direction's EOF arriving at `now`.
  Plan& eof(TimePoint now) {
    plan.reset_for_eof(now);
    auto ctx = at(now);
    fault->on_eof(state.get(), ctx, plan);
    return plan;
  }
};

// A FaultLink through the fault that `make` builds from the constructor's arguments:
// `using Link = LinkTo<bandwidth>;` makes `Link link(100)` a link through bandwidth(100).
template <auto make>
struct LinkTo : FaultLink {
  template <typename... Args>
  explicit LinkTo(Args... args) : FaultLink(make(args...)) {}
};

// Runs on_attach at `now` on a fresh, empty plan and returns it.
inline Plan attach(const Fault& fault, FaultState* state, Env& env, TimePoint now) {
  Plan plan;
  plan.reset_empty();
  auto ctx = env.at(now);
  fault.on_attach(state, ctx, plan);
  return plan;
}

// The named figures a fault reports for its shared state (gauges()), by name.
inline std::map<std::string, std::int64_t> gauges_of(const Fault& fault, const FaultState* shared) {
  Gauges g;
  fault.gauges(shared, g);
  std::map<std::string, std::int64_t> out;
  for (const auto& [name, value] : g) out[std::string(name)] = value;
  return out;
}

// `expected` within a relative tolerance, for CHECK(x == near(expected, 0.05)). A plain
// doctest::Approx adds 1.0 to its scale, so for a share like 0.01 its epsilon would be an
// absolute bound that anything passes; scale 0 makes the bound purely relative.
inline doctest::Approx near(double expected, double relative) {
  return doctest::Approx(expected).epsilon(relative).scale(0);
}

// Summary statistics of a sample (population standard deviation; quantiles by rank).
struct Stats {
  std::vector<double> sorted;
  double mean = 0;
  double sd = 0;
  double min() const { return sorted.front(); }
  double max() const { return sorted.back(); }
  double median() const { return quantile(0.5); }
  // The value at rank floor(q * (n - 1)) of the sorted sample.
  double quantile(double q) const {
    return sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))];
  }
  // The share of the sample within [lo, hi].
  double share_within(double lo, double hi) const {
    const auto a = std::lower_bound(sorted.begin(), sorted.end(), lo);
    const auto b = std::upper_bound(sorted.begin(), sorted.end(), hi);
    return static_cast<double>(b - a) / static_cast<double>(sorted.size());
  }
};

inline Stats stats_of(std::vector<double> xs) {
  REQUIRE_FALSE(xs.empty());
  Stats s;
  const auto n = static_cast<double>(xs.size());
  for (double x : xs) s.mean += x;
  s.mean /= n;
  double ss = 0;
  for (double x : xs) ss += (x - s.mean) * (x - s.mean);
  s.sd = std::sqrt(ss / n);
  std::sort(xs.begin(), xs.end());
  s.sorted = std::move(xs);
  return s;
}

// The lag-1 autocorrelation of a series (successive values' Pearson correlation).
inline double lag1_autocorrelation(const std::vector<double>& xs) {
  REQUIRE(xs.size() > 2);
  double mean = 0;
  for (double x : xs) mean += x;
  mean /= static_cast<double>(xs.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    den += (xs[i] - mean) * (xs[i] - mean);
    if (i > 0) num += (xs[i] - mean) * (xs[i - 1] - mean);
  }
  return num / den;
}

// CHECKs that the plan's pieces cover [offset, offset + size) in order, with no gap.
inline void check_contiguous(const Plan& plan, std::uint64_t offset, std::uint64_t size) {
  std::uint64_t next = offset;
  for (const auto& p : plan.pieces) {
    CHECK(p.offset == next);
    CHECK(p.size > 0);
    next += p.size;
  }
  CHECK(next == offset + size);
}

}  // namespace brownout::test
