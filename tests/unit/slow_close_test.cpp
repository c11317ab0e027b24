// Unit tests for faults/slow_close.cpp. Fake clock, no sleeps.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "fault_fixture.hpp"
#include "faults/registry.hpp"

using namespace brownout::test;

namespace {

const TimePoint t0 = TimePoint{} + 60s;
const auto since = since_from(t0);

}  // namespace

TEST_CASE("slow_close: data passes untouched") {
  const auto f = slow_close(500);
  CHECK(f->make_state() == nullptr);
  Env env;
  Plan plan;
  plan.pieces = {Piece{10, 20, t0 + 1ms}, Piece{30, 5, t0 + 2ms}};
  auto ctx = env.at(t0);
  f->on_data(nullptr, ctx, plan);
  REQUIRE(plan.pieces.size() == 2);
  CHECK(plan.pieces[0].offset == 10);
  CHECK(plan.pieces[0].size == 20);
  CHECK(since(plan.pieces[0].release) == ns(1ms));
  CHECK(plan.pieces[1].offset == 30);
  CHECK(plan.pieces[1].size == 5);
  CHECK(since(plan.pieces[1].release) == ns(2ms));
  CHECK(plan.end.kind == EndKind::none);
}

TEST_CASE("slow_close: an end made by an earlier fault during data is not delayed") {
  const auto f = slow_close(500);
  Env env;
  Plan plan;
  plan.reset_for(0, 10, t0);
  plan.end = End{EndKind::close, t0 + 3ms};
  auto ctx = env.at(t0);
  f->on_data(nullptr, ctx, plan);
  CHECK(plan.end.kind == EndKind::close);
  CHECK(since(plan.end.at) == ns(3ms));
}

TEST_CASE("slow_close: the fin is delayed by `delay`") {
  const auto f = slow_close(500);
  Env env;
  Plan plan;
  plan.reset_for_eof(t0 + 2s);
  auto ctx = env.at(t0 + 2s);
  f->on_eof(nullptr, ctx, plan);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::fin);
  CHECK(since(plan.end.at) == ns(2500ms));
}

TEST_CASE("slow_close: the delay counts from the fin's time, which earlier faults may have moved") {
  const auto f = slow_close(100);
  Env env;
  Plan plan;
  plan.reset_for_eof(t0);
  plan.end.at = t0 + 40ms;  // e.g. latency ahead of it
  auto ctx = env.at(t0);
  f->on_eof(nullptr, ctx, plan);
  CHECK(since(plan.end.at) == ns(140ms));
}

TEST_CASE("slow_close: 0 leaves the fin where it was") {
  const auto f = slow_close(0);
  Env env;
  Plan plan;
  plan.reset_for_eof(t0 + 5ms);
  auto ctx = env.at(t0 + 5ms);
  f->on_eof(nullptr, ctx, plan);
  CHECK(plan.end.kind == EndKind::fin);
  CHECK(since(plan.end.at) == ns(5ms));
}

TEST_CASE("slow_close: a close or reset from an earlier fault is not a fin and is not delayed") {
  const auto f = slow_close(500);
  Env env;
  for (const EndKind kind : {EndKind::close, EndKind::reset}) {
    Plan plan;
    plan.reset_for_eof(t0);
    plan.end = End{kind, t0 + 1ms};
    auto ctx = env.at(t0);
    f->on_eof(nullptr, ctx, plan);
    CHECK(plan.end.kind == kind);
    CHECK(since(plan.end.at) == ns(1ms));
  }
  Plan none;
  none.reset_empty();
  auto ctx = env.at(t0);
  f->on_eof(nullptr, ctx, none);
  CHECK(none.end.kind == EndKind::none);
}
