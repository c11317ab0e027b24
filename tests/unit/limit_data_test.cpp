// Unit tests for faults/limit_data.cpp. Fake clock, no sleeps.
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

using Link = LinkTo<limit_data>;

}  // namespace

TEST_CASE("limit_data: has per-link state and does nothing on attach") {
  Link link(0);
  CHECK(link.state != nullptr);
  CHECK_FALSE(link.fault->ends_link_on_removal());
  link.plan.reset_empty();
  Context ctx{t0, link.rng, link.scratch};
  link.fault->on_attach(link.state.get(), ctx, link.plan);
  CHECK(link.plan.end.kind == EndKind::none);  // bytes 0 does not close at connect
}

TEST_CASE("limit_data: limit 10, chunks 7 then 9 -> 7 then 3 and a close") {
  Link link(10);
  auto& first = link.data(0, 7, t0);
  REQUIRE(first.pieces.size() == 1);
  CHECK(first.pieces[0].offset == 0);
  CHECK(first.pieces[0].size == 7);
  CHECK(since(first.pieces[0].release) == 0);
  CHECK(first.end.kind == EndKind::none);

  auto& second = link.data(7, 9, t0 + 20ms);
  REQUIRE(second.pieces.size() == 1);
  CHECK(second.pieces[0].offset == 7);
  CHECK(second.pieces[0].size == 3);
  CHECK(since(second.pieces[0].release) == ns(20ms));
  CHECK(second.end.kind == EndKind::close);
  CHECK(since(second.end.at) == ns(20ms));
}

TEST_CASE("limit_data: bytes 0 closes on the first chunk, passing nothing") {
  Link link(0);
  auto& plan = link.data(0, 100, t0 + 4ms);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::close);
  CHECK(since(plan.end.at) == ns(4ms));
}

TEST_CASE("limit_data: a chunk that reaches the limit exactly passes whole and closes") {
  Link link(7);
  auto& plan = link.data(0, 7, t0);
  REQUIRE(plan.pieces.size() == 1);
  CHECK(plan.pieces[0].size == 7);
  CHECK(plan.end.kind == EndKind::close);
  CHECK(since(plan.end.at) == 0);
}

TEST_CASE("limit_data: chunks after the limit pass nothing and close") {
  Link link(5);
  link.data(0, 10, t0);
  auto& plan = link.data(10, 10, t0 + 1s);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::close);
  CHECK(since(plan.end.at) == ns(1s));
}

TEST_CASE("limit_data: cuts within a plan of several pieces, closing at the cut piece") {
  Link link(10);
  link.plan.pieces = {Piece{0, 4, t0}, Piece{4, 4, t0 + 1ms}, Piece{8, 4, t0 + 2ms},
                      Piece{12, 4, t0 + 3ms}};
  Context ctx{t0, link.rng, link.scratch};
  link.fault->on_data(link.state.get(), ctx, link.plan);
  REQUIRE(link.plan.pieces.size() == 3);
  CHECK(link.plan.pieces[0].size == 4);
  CHECK(link.plan.pieces[1].size == 4);
  CHECK(link.plan.pieces[2].offset == 8);
  CHECK(link.plan.pieces[2].size == 2);
  CHECK(since(link.plan.pieces[2].release) == ns(2ms));
  CHECK(link.plan.end.kind == EndKind::close);
  CHECK(since(link.plan.end.at) == ns(2ms));
}

TEST_CASE("limit_data: many small chunks add up to the limit") {
  Link link(1000);
  std::uint64_t passed = 0;
  int closes = 0;
  for (int i = 0; i < 300; ++i) {
    auto& plan = link.data(static_cast<std::uint64_t>(i) * 7, 7, t0);
    for (const auto& p : plan.pieces) passed += p.size;
    if (plan.end.kind == EndKind::close) ++closes;
    if (i < 142) CHECK(plan.end.kind == EndKind::none);  // 142 * 7 = 994
  }
  CHECK(passed == 1000);
  CHECK(closes == 300 - 142);
}

TEST_CASE("limit_data: the count is per link") {
  Link a(10), b(10);
  CHECK(a.data(0, 7, t0).pieces.at(0).size == 7);
  auto& plan = b.data(0, 9, t0);
  CHECK(plan.pieces.at(0).size == 9);
  CHECK(plan.end.kind == EndKind::none);
}

TEST_CASE("limit_data: EOF passes as a fin") {
  Link link(10);
  link.plan.reset_for_eof(t0 + 1ms);
  Context ctx{t0 + 1ms, link.rng, link.scratch};
  link.fault->on_eof(link.state.get(), ctx, link.plan);
  CHECK(link.plan.end.kind == EndKind::fin);
  CHECK(since(link.plan.end.at) == ns(1ms));
}
