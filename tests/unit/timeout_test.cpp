// Unit tests for faults/timeout.cpp. Fake clock, no sleeps.
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

TEST_CASE("timeout: attaching arms a close at now + timeout") {
  const auto f = timeout(400);
  CHECK(f->make_state() == nullptr);
  Env env;
  Plan plan;
  plan.reset_empty();
  auto ctx = env.at(t0 + 1s);
  f->on_attach(nullptr, ctx, plan);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::close);
  CHECK(since(plan.end.at) == ns(1400ms));
}

TEST_CASE("timeout: drops every piece and closes `timeout` after the chunk") {
  const auto f = timeout(400);
  Env env;
  Plan plan;
  plan.pieces = {Piece{0, 100, t0}, Piece{100, 50, t0 + 1ms}};
  auto ctx = env.at(t0 + 2ms);
  f->on_data(nullptr, ctx, plan);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::close);
  CHECK(since(plan.end.at) == ns(402ms));
}

TEST_CASE("timeout: each later chunk moves the close") {
  // Writes every 200 ms with timeout 400: the close lands 400 ms after the last.
  const auto f = timeout(400);
  Env env;
  Plan plan;
  for (int i = 0; i < 5; ++i) {
    const TimePoint now = t0 + i * 200ms;
    plan.reset_for(static_cast<std::uint64_t>(i) * 10, 10, now);
    auto ctx = env.at(now);
    f->on_data(nullptr, ctx, plan);
    CHECK(plan.pieces.empty());
    CHECK(plan.end.kind == EndKind::close);
    CHECK(since(plan.end.at) == ns(400ms + i * 200ms));
  }
}

TEST_CASE("timeout: EOF with timeout > 0 closes now") {
  const auto f = timeout(400);
  Env env;
  Plan plan;
  plan.reset_for_eof(t0 + 3s);
  auto ctx = env.at(t0 + 3s);
  f->on_eof(nullptr, ctx, plan);
  CHECK(plan.end.kind == EndKind::close);
  CHECK(since(plan.end.at) == ns(3s));
}

TEST_CASE("timeout: 0 drops data, never arms a close, and lets EOF pass as fin") {
  const auto f = timeout(0);
  Env env;
  Plan plan;
  plan.reset_empty();
  auto attach = env.at(t0);
  f->on_attach(nullptr, attach, plan);
  CHECK(plan.end.kind == EndKind::none);

  plan.reset_for(0, 1000, t0 + 1ms);
  auto data = env.at(t0 + 1ms);
  f->on_data(nullptr, data, plan);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::none);

  plan.reset_for_eof(t0 + 2ms);
  auto eof = env.at(t0 + 2ms);
  f->on_eof(nullptr, eof, plan);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::fin);
  CHECK(since(plan.end.at) == ns(2ms));
}

TEST_CASE("timeout: removing it ends the link") {
  CHECK(timeout(400)->ends_link_on_removal());
  CHECK(timeout(0)->ends_link_on_removal());
}

// Durations are capped (a day), so time arithmetic cannot wrap.
TEST_CASE("timeout: a huge timeout still arms a close in the future") {
  auto b = build(*find_type("timeout"), {{"timeout", Value{std::int64_t{10'000'000'000'000}}}});
  if (!b) {
    CHECK(b.error.attribute == "timeout");
    return;
  }
  Env env;
  Plan plan;
  plan.reset_for(0, 10, t0);
  auto ctx = env.at(t0);
  b.value->fault->on_data(nullptr, ctx, plan);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::close);
  CHECK(plan.end.at > t0);
}
