// Unit tests for faults/latency.cpp. Fake clock, seeded rng.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
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
