// Shared fixture for the fault unit tests: fake-clock helpers, a seeded rng with scratch space,
// the faults under test built from their attributes, and links that run chunks and EOFs through
// one fault. Header-only; a test file says `using namespace brownout::test;` and gets it all.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
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

// A seeded rng and scratch space; at(now) is the Context for a call at `now`.
struct Env {
  explicit Env(std::uint64_t seed = 1) : rng(seed) {}
  Rng rng;
  std::vector<Piece> scratch;
  Context at(TimePoint now) { return Context{now, rng, scratch}; }
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
