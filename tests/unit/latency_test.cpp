// Unit tests for faults/latency.cpp. Fake clock, seeded rng.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include "fault_fixture.hpp"
#include "faults/registry.hpp"

using namespace brownout::test;

namespace {

const TimePoint t0 = TimePoint{} + 500s;
const auto since = since_from(t0);

}  // namespace

TEST_CASE("latency: a chunk is released exactly `latency` after its arrival") {
  const auto f = latency(100);
  CHECK(f->make_state() == nullptr);
  Env env;
  Plan plan;
  plan.reset_for(1234, 500, t0 + 7ms);
  auto ctx = env.at(t0 + 7ms);
  f->on_data(nullptr, ctx, plan);
  REQUIRE(plan.pieces.size() == 1);
  CHECK(plan.pieces[0].offset == 1234);
  CHECK(plan.pieces[0].size == 500);
  CHECK(since(plan.pieces[0].release) == ns(107ms));
  CHECK(plan.end.kind == EndKind::none);
  CHECK(plan.end.at == TimePoint{});  // untouched
}

TEST_CASE("latency: is pipelined, measured from each chunk's own arrival") {
  // Five chunks 50 ms apart through 200 ms: each is late by exactly 200 ms.
  const auto f = latency(200);
  Env env;
  for (int i = 0; i < 5; ++i) {
    const TimePoint arrival = t0 + i * 50ms;
    Plan plan;
    plan.reset_for(static_cast<std::uint64_t>(i) * 10, 10, arrival);
    auto ctx = env.at(arrival);
    f->on_data(nullptr, ctx, plan);
    REQUIRE(plan.pieces.size() == 1);
    CHECK(since(plan.pieces[0].release) == ns(200ms + i * 50ms));
  }
}

TEST_CASE("latency: every piece of a plan is shifted by the same delay") {
  const auto f = latency(30);
  Env env;
  Plan plan;
  plan.pieces = {Piece{0, 4, t0}, Piece{4, 4, t0 + 1ms}, Piece{8, 2, t0 + 9ms}};
  auto ctx = env.at(t0);
  f->on_data(nullptr, ctx, plan);
  REQUIRE(plan.pieces.size() == 3);
  CHECK(since(plan.pieces[0].release) == ns(30ms));
  CHECK(since(plan.pieces[1].release) == ns(31ms));
  CHECK(since(plan.pieces[2].release) == ns(39ms));
  CHECK(plan.pieces[2].offset == 8);
  CHECK(plan.pieces[2].size == 2);
}

TEST_CASE("latency: an end set by an earlier fault moves with the data") {
  const auto f = latency(100);
  Env env;
  Plan plan;
  plan.reset_for(0, 10, t0);
  plan.end = End{EndKind::close, t0 + 5ms};
  auto ctx = env.at(t0);
  f->on_data(nullptr, ctx, plan);
  CHECK(plan.end.kind == EndKind::close);
  CHECK(since(plan.end.at) == ns(105ms));
}

TEST_CASE("latency: EOF (fin) is delayed by latency") {
  const auto f = latency(250);
  Env env;
  Plan plan;
  plan.reset_for_eof(t0 + 1s);
  auto ctx = env.at(t0 + 1s);
  f->on_eof(nullptr, ctx, plan);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::fin);
  CHECK(since(plan.end.at) == ns(1250ms));
}

TEST_CASE("latency: an EOF an earlier fault turned into nothing stays nothing") {
  const auto f = latency(250);
  Env env;
  Plan plan;
  plan.reset_empty();
  auto ctx = env.at(t0);
  f->on_eof(nullptr, ctx, plan);
  CHECK(plan.end.kind == EndKind::none);
  CHECK(plan.end.at == TimePoint{});
}

TEST_CASE("latency: 0 changes nothing") {
  const auto f = latency(0);
  Env env;
  Plan plan;
  plan.reset_for(3, 3, t0 + 3ms);
  auto ctx = env.at(t0 + 3ms);
  f->on_data(nullptr, ctx, plan);
  CHECK(since(plan.pieces.at(0).release) == ns(3ms));
}

TEST_CASE("latency: jitter stays within [latency-jitter, latency+jitter) and varies") {
  const auto f = latency(100, 50);
  Env env(12345);
  std::int64_t lo = ns(1h), hi = -1;
  std::set<std::int64_t> distinct;
  double sum = 0;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    Plan plan;
    plan.reset_for(0, 1, t0);
    auto ctx = env.at(t0);
    f->on_data(nullptr, ctx, plan);
    const auto d = since(plan.pieces.at(0).release);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    distinct.insert(d);
    sum += static_cast<double>(d);
  }
  CHECK(lo >= ns(50ms));
  CHECK(hi < ns(150ms));
  // Not constant, and spread over (nearly) the whole range.
  CHECK(distinct.size() > kDraws / 2);
  CHECK(lo < ns(52ms));
  CHECK(hi > ns(148ms));
  const double mean_ms = sum / kDraws / 1e6;
  CHECK(mean_ms > 99.0);
  CHECK(mean_ms < 101.0);
}

TEST_CASE("latency: jitter applies to EOF too, within the same bounds") {
  const auto f = latency(100, 50);
  Env env(7);
  std::set<std::int64_t> distinct;
  for (int i = 0; i < 1000; ++i) {
    Plan plan;
    plan.reset_for_eof(t0);
    auto ctx = env.at(t0);
    f->on_eof(nullptr, ctx, plan);
    const auto d = since(plan.end.at);
    CHECK(d >= ns(50ms));
    CHECK(d < ns(150ms));
    distinct.insert(d);
  }
  CHECK(distinct.size() > 900);
}

TEST_CASE("latency: one draw per chunk shifts all its pieces and its end alike") {
  const auto f = latency(100, 50);
  Env env(99);
  for (int i = 0; i < 200; ++i) {
    Plan plan;
    plan.pieces = {Piece{0, 1, t0}, Piece{1, 1, t0 + 1ms}};
    plan.end = End{EndKind::close, t0 + 2ms};
    auto ctx = env.at(t0);
    f->on_data(nullptr, ctx, plan);
    const auto d = since(plan.pieces.at(0).release);
    CHECK(since(plan.pieces.at(1).release) == d + ns(1ms));
    CHECK(since(plan.end.at) == d + ns(2ms));
  }
}

TEST_CASE("latency: jitter larger than latency never makes a negative delay") {
  const auto f = latency(10, 50);
  Env env(3);
  int zero = 0;
  for (int i = 0; i < 5000; ++i) {
    Plan plan;
    plan.reset_for(0, 1, t0);
    auto ctx = env.at(t0);
    f->on_data(nullptr, ctx, plan);
    const auto d = since(plan.pieces.at(0).release);
    CHECK(d >= 0);
    CHECK(d < ns(60ms));
    if (d == 0) ++zero;
  }
  // (50 - 10) / 100 of the draws would go negative and are clamped to 0.
  CHECK(zero > 1800);
  CHECK(zero < 2200);
}

TEST_CASE("latency: the same seed repeats the same delays") {
  const auto f = latency(100, 50);
  Env a(2024), b(2024), c(2025);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    Plan pa, pb, pc;
    pa.reset_for(0, 1, t0);
    pb.reset_for(0, 1, t0);
    pc.reset_for(0, 1, t0);
    auto ca = a.at(t0);
    auto cb = b.at(t0);
    auto cc = c.at(t0);
    f->on_data(nullptr, ca, pa);
    f->on_data(nullptr, cb, pb);
    f->on_data(nullptr, cc, pc);
    CHECK(pa.pieces[0].release == pb.pieces[0].release);
    if (pa.pieces[0].release != pc.pieces[0].release) differs = true;
  }
  CHECK(differs);
}

// Durations are capped (a day), so time arithmetic cannot wrap.
TEST_CASE("latency: a huge latency never releases before arrival") {
  auto b = build(*find_type("latency"), {{"latency", Value{std::int64_t{10'000'000'000'000}}}});
  if (!b) {
    CHECK(b.error.attribute == "latency");
    return;
  }
  Env env;
  Plan plan;
  plan.reset_for(0, 10, t0);
  auto ctx = env.at(t0);
  b.value->fault->on_data(nullptr, ctx, plan);
  REQUIRE(plan.pieces.size() == 1);
  CHECK(plan.pieces[0].release >= t0);
}

// ---------------------------------------------------------------------------------------------
// Distributions. Every sample below is 100 000 one-byte chunks through latency=100ms,
// jitter=20ms, all arriving at t0, so a chunk's delay is its piece's release - t0. With n = 1e5
// the standard error of a mean is sd/316 (0.06 ms for sd 20 ms), of a standard deviation about
// sd/447 (0.05 ms) when the fourth moment is finite, of a share near 0.68 about 0.0015: the
// tolerances below are 5 to 10 standard errors, except where a heavy tail is noted.

namespace {

constexpr int kSamples = 100'000;

// latency 100 ms, jitter 20 ms, the given distribution (none: the default) and correlation.
std::map<std::string, Value> spread(const std::string& distribution, double correlation = 0) {
  std::map<std::string, Value> attrs{{"latency", I(100)}, {"jitter", I(20)}};
  if (!distribution.empty()) attrs["distribution"] = Word(distribution);
  if (correlation > 0) attrs["correlation"] = Num(correlation);
  return attrs;
}

// The delays (ms) of kSamples successive chunks through one link of latency built from attrs.
std::vector<double> delays_ms(const std::map<std::string, Value>& attrs, std::uint64_t seed = 42) {
  FaultLink link(make_fault("latency", attrs), seed);
  std::vector<double> out;
  out.reserve(kSamples);
  std::size_t malformed = 0;
  for (int i = 0; i < kSamples; ++i) {
    const auto& plan = link.data(static_cast<std::uint64_t>(i), 1, t0);
    if (plan.pieces.size() != 1 || plan.pieces[0].offset != static_cast<std::uint64_t>(i))
      ++malformed;
    out.push_back(static_cast<double>(since(plan.pieces.at(0).release)) / 1e6);
  }
  CHECK(malformed == 0);
  return out;
}

}  // namespace

TEST_CASE("latency: distribution uniform spreads delays evenly over [latency-jitter, +jitter)") {
  const Stats s = stats_of(delays_ms(spread("uniform")));
  CHECK(s.min() >= 80.0);
  CHECK(s.max() < 120.0);
  CHECK(s.mean == near(100.0, 0.003));  // +/- 0.3 ms
  // Flat: quartiles at 90/100/110 (standard error of each about 0.06 ms).
  CHECK(s.quantile(0.25) == near(90.0, 0.006));
  CHECK(s.median() == near(100.0, 0.005));
  CHECK(s.quantile(0.75) == near(110.0, 0.005));
  // A uniform of width 40 ms has standard deviation 40/sqrt(12) = 11.55 ms.
  CHECK(s.sd == near(40.0 / std::sqrt(12.0), 0.02));
  // Reaches both ends (a share of 1e-4 of 40 ms is 4 us).
  CHECK(s.min() < 80.1);
  CHECK(s.max() > 119.9);
}

TEST_CASE("latency: the default distribution is Toxiproxy's uniform +/- jitter, draw for draw") {
  const auto built = build_ok(type("latency"), {{"latency", I(100)}, {"jitter", I(20)}});
  CHECK(built.values.text("distribution") == "uniform");
  CHECK(built.values.number("correlation") == 0.0);
  // Toxiproxy: latency + rand.Int63n(2 * jitter) - jitter, at nanosecond resolution here.
  FaultLink link(built.fault, 77);
  Rng shadow(77);
  for (int i = 0; i < 1000; ++i) {
    const auto expect = ns(100ms) + shadow.range(-ns(20ms), ns(20ms));
    CHECK(since(link.data(0, 1, t0).pieces.at(0).release) == expect);
  }
}

TEST_CASE("latency: distribution normal has mean latency and standard deviation jitter") {
  const Stats s = stats_of(delays_ms(spread("normal")));
  CHECK(s.mean == near(100.0, 0.005));  // +/- 0.5 ms (8 standard errors)
  CHECK(s.sd == near(20.0, 0.02));      // +/- 0.4 ms
  CHECK(s.median() == near(100.0, 0.005));
  // 68.27% within one standard deviation, 95.45% within two.
  CHECK(s.share_within(80.0, 120.0) == near(0.6827, 0.015));
  CHECK(s.share_within(60.0, 140.0) == near(0.9545, 0.005));
  // Not clipped to a band as uniform is: 1 in 1e5 is beyond 4.4 sd (88 ms).
  CHECK(s.min() < 40.0);
  CHECK(s.max() > 160.0);
}

TEST_CASE("latency: distribution pareto has standard deviation jitter and a heavy upper tail") {
  const Stats s = stats_of(delays_ms(spread("pareto")));
  // Pareto of shape 3, standardized: mean 0, sd 1. Its variance is finite (so the mean's standard
  // error is 0.06 ms) but its fourth moment is not, so the sample sd converges slowly and runs
  // low: +/- 10%.
  CHECK(s.mean == near(100.0, 0.005));
  CHECK(s.sd == near(20.0, 0.10));
  // The lower bound: (1 - 1.5) / (sqrt(3)/2) = -0.577 sd, i.e. 100 - 0.577 * 20 = 88.453 ms.
  const double floor_ms = 100.0 - 20.0 * 0.5 / (std::sqrt(3.0) / 2.0);
  CHECK(s.min() >= floor_ms - 1e-6);
  CHECK(s.min() < floor_ms + 0.05);
  // The median is below the mean (x = 2^(1/3): 94.43 ms).
  CHECK(s.median() == near(100.0 + 20.0 * (std::cbrt(2.0) - 1.5) / (std::sqrt(3.0) / 2.0), 0.005));
  // p99.9: x = 1000^(1/3) = 10, 9.81 sd above the latency: 296.3 ms (standard error ~8 ms).
  const double p999 = 100.0 + 20.0 * (10.0 - 1.5) / (std::sqrt(3.0) / 2.0);
  CHECK(s.quantile(0.999) == near(p999, 0.10));
  // Heavy on one side: p99.9 is ~17 times further above the mean than p0.1 is below it.
  CHECK(s.quantile(0.999) - s.mean > 10.0 * (s.mean - s.quantile(0.001)));
}

TEST_CASE("latency: distribution lognormal has mean latency, sd jitter, and is right-skewed") {
  const Stats s = stats_of(delays_ms(spread("lognormal")));
  CHECK(s.mean == near(100.0, 0.005));
  CHECK(s.sd == near(20.0, 0.03));
  CHECK(s.min() > 0.0);
  // sigma^2 = ln(1 + (20/100)^2); the median is exp(mu) = 100 / sqrt(1.04) = 98.06 ms.
  const double median = 100.0 / std::sqrt(1.04);
  CHECK(s.median() == near(median, 0.005));
  CHECK(s.mean - s.median() > 1.0);                                        // 1.94 ms expected
  CHECK(s.quantile(0.999) - s.mean > 1.2 * (s.mean - s.quantile(0.001)));  // 80 vs 47 ms
}

TEST_CASE("latency: distribution lognormal never goes negative even with jitter > latency") {
  const Stats s = stats_of(
      delays_ms({{"latency", I(10)}, {"jitter", I(50)}, {"distribution", Word("lognormal")}}));
  CHECK(s.min() >= 0.0);
  CHECK(s.mean == near(10.0, 0.15));  // a very skewed sample: +/- 1.5 ms
  CHECK(s.median() < 5.0);            // exp(mu) = 10 / sqrt(26) = 1.96 ms
}

TEST_CASE("latency: distribution paretonormal has mean latency and sd jitter") {
  const Stats s = stats_of(delays_ms(spread("paretonormal")));
  // Three quarters of the (standardized) pareto: a heavy tail again, so +/- 10% on the sd.
  CHECK(s.mean == near(100.0, 0.005));
  CHECK(s.sd == near(20.0, 0.10));
  // The normal quarter lowers the floor below pareto's 88.45 ms; the tail stays heavy.
  CHECK(s.min() < 88.0);
  CHECK(s.quantile(0.999) - s.mean > 5.0 * (s.mean - s.quantile(0.001)));
}

TEST_CASE("latency: correlation ties successive delays together and keeps the marginal") {
  SUBCASE("normal, 90%: lag-1 autocorrelation 0.9") {
    const auto xs = delays_ms(spread("normal", 90));
    // AR(1) with rho = 0.9: the estimate's standard error is sqrt((1 - rho^2) / n) = 0.0014.
    CHECK(lag1_autocorrelation(xs) == near(0.9, 0.02));
    const Stats s = stats_of(xs);
    // The effective sample is n (1 - rho) / (1 + rho) = 5 263: mean +/- 1.5 ms, sd +/- 5%.
    CHECK(s.mean == near(100.0, 0.015));
    CHECK(s.sd == near(20.0, 0.05));
  }
  SUBCASE("normal, 0%: independent draws") {
    // The standard error of the estimate is 1/sqrt(n) = 0.0032.
    CHECK(std::abs(lag1_autocorrelation(delays_ms(spread("normal", 0)))) < 0.015);
  }
  SUBCASE("normal, 50%") {
    CHECK(lag1_autocorrelation(delays_ms(spread("normal", 50))) == near(0.5, 0.03));
  }
  SUBCASE("uniform, 90%: the copula keeps it uniform on [80, 120]") {
    const auto xs = delays_ms(spread("uniform", 90));
    // For a Gaussian copula the uniform marginals correlate (6/pi) asin(rho/2) = 0.8915.
    CHECK(lag1_autocorrelation(xs) == near(6.0 / std::numbers::pi * std::asin(0.45), 0.02));
    const Stats s = stats_of(xs);
    CHECK(s.min() >= 80.0);
    CHECK(s.max() <= 120.0);
    CHECK(s.mean == near(100.0, 0.01));
    CHECK(s.sd == near(40.0 / std::sqrt(12.0), 0.05));
  }
  SUBCASE("pareto, 90%: correlated, still bounded below") {
    const auto xs = delays_ms(spread("pareto", 90));
    const double r = lag1_autocorrelation(xs);
    CHECK(r > 0.7);  // ~0.8: a copula's Pearson correlation of skewed marginals is below rho
    CHECK(r < 0.9);
    CHECK(stats_of(xs).min() >= 100.0 - 20.0 * 0.5 / (std::sqrt(3.0) / 2.0) - 1e-6);
  }
}

TEST_CASE("latency: build refuses a lognormal without a mean and an unknown distribution") {
  const auto lognormal0 = build_error(
      "latency", {{"latency", I(0)}, {"jitter", I(20)}, {"distribution", Word("lognormal")}});
  CHECK(lognormal0.attribute == "latency");
  CHECK(lognormal0.message.find("latency") != std::string::npos);

  const auto unknown = build_error(
      "latency", {{"latency", I(100)}, {"jitter", I(20)}, {"distribution", Word("gamma")}});
  CHECK(unknown.attribute == "distribution");
  CHECK(unknown.message.find("distribution") != std::string::npos);
  CHECK(unknown.message.find("paretonormal") != std::string::npos);  // lists the choices

  const auto too_correlated =
      build_error("latency", {{"latency", I(100)}, {"jitter", I(20)}, {"correlation", Num(100.5)}});
  CHECK(too_correlated.attribute == "correlation");

  // Without jitter there is nothing to spread: lognormal with latency 0 is fine then.
  const auto zero = make_fault(
      "latency", {{"latency", I(0)}, {"jitter", I(0)}, {"distribution", Word("lognormal")}});
  FaultLink link(zero);
  CHECK(since(link.data(0, 1, t0).pieces.at(0).release) == 0);
}

TEST_CASE("latency: a shaped distribution delays EOF with the same draws as data") {
  FaultLink link(make_fault("latency", spread("normal")), 5);
  std::set<std::int64_t> distinct;
  for (int i = 0; i < 1000; ++i) {
    const auto d = since(link.eof(t0).end.at);
    CHECK(d > 0);
    distinct.insert(d);
  }
  CHECK(distinct.size() > 990);
}

// A link keeps its state across an update of the same fault: a latency
// without jitter (no state) updated to a shaped jitter must not dereference a
// missing state (it once crashed the data plane). The old case runs in a
// child process, so a regression fails the test instead of crashing it.
TEST_CASE("latency: a state made under jitter 0 serves an update to a shaped jitter") {
  const auto before = latency(100, 0);
  const auto after = make_fault("latency", spread("normal", 50));
  auto kept = before->make_state();  // what the link keeps across the update
  const auto run = [&] {
    Env env;
    Plan plan;
    plan.reset_for(0, 1, t0);
    auto ctx = env.at(t0);
    after->on_data(kept.get(), ctx, plan);
    return plan.pieces.size() == 1 && plan.pieces[0].release > t0;
  };
  if (kept) {
    CHECK(run());
    return;
  }
  std::cout.flush();
  std::fflush(nullptr);  // the child must not print what the parent still buffers
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGSEGV, SIG_DFL);  // a crash just ends the child, not doctest's report
    std::signal(SIGBUS, SIG_DFL);
    _exit(run() ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK_MESSAGE(WIFEXITED(status), "on_data with the kept (null) state crashed");
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}
