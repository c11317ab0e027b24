// Unit tests for faults/flaky.cpp. Fake clock, seeded rng: a lifetime is drawn in on_attach and
// set as the plan's end.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fault_fixture.hpp"
#include "faults/registry.hpp"

using namespace brownout::test;

namespace {

const TimePoint t0 = TimePoint{} + 300s;

std::shared_ptr<const Fault> flaky(std::int64_t mean_ms, const std::string& distribution,
                                   const std::string& mode = "reset") {
  return make_fault(
      "flaky",
      {{"mean_lifetime", I(mean_ms)}, {"distribution", Word(distribution)}, {"mode", Word(mode)}});
}

// The lifetimes (ms) of n connections: on_attach at t0 + i s, each on a fresh state and plan.
std::vector<double> lifetimes_ms(const std::shared_ptr<const Fault>& f, int n,
                                 std::uint64_t seed = 1) {
  Env env(seed);
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(n));
  int unended = 0;
  for (int i = 0; i < n; ++i) {
    const TimePoint now = t0 + i * 1s;
    auto state = f->make_state();
    const Plan plan = attach(*f, state.get(), env, now);
    if (plan.end.kind == EndKind::none || !plan.pieces.empty()) ++unended;
    out.push_back(static_cast<double>(ns(plan.end.at - now)) / 1e6);
  }
  CHECK(unended == 0);
  return out;
}

}  // namespace

TEST_CASE("flaky: exponential lifetimes: mean mean_lifetime, median mean * ln 2") {
  // n = 1e5, sd = mean: standard error of the mean 0.32%, of the median ~0.3%.
  const Stats s = stats_of(lifetimes_ms(flaky(2000, "exponential"), 100'000));
  CHECK(s.min() >= 0.0);
  CHECK(s.mean == near(2000.0, 0.02));
  CHECK(s.median() == near(2000.0 * std::log(2.0), 0.02));
  CHECK(s.sd == near(2000.0, 0.03));
  // Memoryless tail: P(T > 2 mean) = e^-2 = 13.5% (standard error 0.1%).
  CHECK(1.0 - s.share_within(0.0, 4000.0) == near(std::exp(-2.0), 0.04));
}

TEST_CASE("flaky: uniform lifetimes lie in [0, 2 x mean) with mean mean_lifetime") {
  const Stats s = stats_of(lifetimes_ms(flaky(2000, "uniform"), 100'000));
  CHECK(s.min() >= 0.0);
  CHECK(s.max() < 4000.0);
  CHECK(s.mean == near(2000.0, 0.01));  // standard error 3.7 ms
  CHECK(s.quantile(0.25) == near(1000.0, 0.02));
  CHECK(s.quantile(0.75) == near(3000.0, 0.01));
  CHECK(s.min() < 5.0);
  CHECK(s.max() > 3995.0);
}

TEST_CASE("flaky: fixed lifetimes are exactly mean_lifetime") {
  const auto f = flaky(2000, "fixed");
  Env env;
  for (int i = 0; i < 100; ++i) {
    const TimePoint now = t0 + i * 1ms;
    CHECK(attach(*f, nullptr, env, now).end.at == now + 2000ms);
  }
}

TEST_CASE("flaky: the default is exponential, by reset") {
  const auto built = build_ok(type("flaky"), {{"mean_lifetime", I(2000)}});
  CHECK(built.values.text("distribution") == "exponential");
  CHECK(built.values.text("mode") == "reset");
  // Same draws as exponential: the same seed gives the same lifetimes.
  CHECK(lifetimes_ms(built.fault, 100, 5) == lifetimes_ms(flaky(2000, "exponential"), 100, 5));
  Env env;
  CHECK(attach(*built.fault, nullptr, env, t0).end.kind == EndKind::reset);
}

TEST_CASE("flaky: mode reset ends with RST, close with FIN") {
  Env env;
  CHECK(attach(*flaky(100, "fixed", "reset"), nullptr, env, t0).end.kind == EndKind::reset);
  CHECK(attach(*flaky(100, "fixed", "close"), nullptr, env, t0).end.kind == EndKind::close);
  CHECK(std::string(flaky(100, "fixed")->end_event()) == "cut");
}

TEST_CASE("flaky: an earlier end that comes sooner is kept; a later one is brought forward") {
  const auto f = flaky(1000, "fixed", "close");
  Env env;
  {
    Plan plan;
    plan.reset_empty();
    plan.end = End{EndKind::reset, t0 + 500ms};
    auto ctx = env.at(t0);
    f->on_attach(nullptr, ctx, plan);
    CHECK(plan.end.kind == EndKind::reset);
    CHECK(plan.end.at == t0 + 500ms);
  }
  {
    Plan plan;
    plan.reset_empty();
    plan.end = End{EndKind::reset, t0 + 5s};
    auto ctx = env.at(t0);
    f->on_attach(nullptr, ctx, plan);
    CHECK(plan.end.kind == EndKind::close);
    CHECK(plan.end.at == t0 + 1s);
  }
}

TEST_CASE("flaky: data and EOF pass unchanged") {
  FaultLink link(flaky(1000, "fixed"));
  auto& plan = link.data(40, 10, t0);
  REQUIRE(plan.pieces.size() == 1);
  CHECK(plan.pieces[0].release == t0);
  CHECK(plan.end.kind == EndKind::none);
  auto& eof = link.eof(t0 + 1s);
  CHECK(eof.end.kind == EndKind::fin);
  CHECK(eof.end.at == t0 + 1s);
}

TEST_CASE("flaky: build refuses a lifetime of 0 and unknown words") {
  CHECK(build_error("flaky", {{"mean_lifetime", I(0)}}).attribute == "mean_lifetime");
  CHECK(build_error("flaky", {}).attribute == "mean_lifetime");  // required
  CHECK(build_error("flaky", {{"mean_lifetime", I(10)}, {"distribution", Word("pareto")}})
            .attribute == "distribution");
  CHECK(build_error("flaky", {{"mean_lifetime", I(10)}, {"mode", Word("hang")}}).attribute ==
        "mode");
}
