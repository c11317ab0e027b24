// Unit tests for faults/slicer.cpp. Fake clock, seeded rng.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "fault_fixture.hpp"
#include "faults/registry.hpp"

using namespace brownout::test;

namespace {

const TimePoint t0 = TimePoint{} + 60s;
const auto since = since_from(t0);

struct Link : FaultLink {
  Link(std::int64_t average, std::int64_t variation, std::int64_t delay_us, std::uint64_t seed = 1)
      : FaultLink(slicer(average, variation, delay_us), seed) {}
};

}  // namespace

TEST_CASE("slicer: has per-link state and leaves EOF alone") {
  const auto f = slicer(10, 5, 100);
  auto state = f->make_state();
  CHECK(state != nullptr);
  Rng rng(1);
  std::vector<Piece> scratch;
  Context ctx{t0, rng, scratch};
  Plan plan;
  plan.reset_for_eof(t0 + 1ms);
  f->on_eof(state.get(), ctx, plan);
  CHECK(plan.end.kind == EndKind::fin);
  CHECK(since(plan.end.at) == ns(1ms));
}

TEST_CASE("slicer: with no variation, pieces are exactly average_size except the last") {
  Link link(30, 0, 100);
  auto& plan = link.data(500, 100, t0);
  REQUIRE(plan.pieces.size() == 4);
  check_contiguous(plan, 500, 100);
  CHECK(plan.pieces[0].size == 30);
  CHECK(plan.pieces[1].size == 30);
  CHECK(plan.pieces[2].size == 30);
  CHECK(plan.pieces[3].size == 10);
  CHECK(since(plan.pieces[0].release) == 0);
  CHECK(since(plan.pieces[1].release) == ns(100us));
  CHECK(since(plan.pieces[2].release) == ns(200us));
  CHECK(since(plan.pieces[3].release) == ns(300us));
}

TEST_CASE("slicer: pieces cover the chunk, sizes within [avg-var, avg+var], spaced by delay") {
  std::set<std::uint32_t> sizes;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    CAPTURE(seed);
    Link link(10, 5, 250, seed);
    const TimePoint arrival = t0 + 3ms;
    auto& plan = link.data(1000, 100, arrival);
    REQUIRE(plan.pieces.size() >= 7);   // at most 15 bytes each
    REQUIRE(plan.pieces.size() <= 20);  // at least 5 bytes each
    check_contiguous(plan, 1000, 100);
    for (std::size_t i = 0; i < plan.pieces.size(); ++i) {
      const auto& p = plan.pieces[i];
      CHECK(ns(p.release - arrival) == ns(250us) * static_cast<std::int64_t>(i));
      if (i + 1 < plan.pieces.size()) {
        CHECK(p.size >= 5);
        CHECK(p.size <= 15);
        sizes.insert(p.size);
      } else {
        CHECK(p.size <= 15);
      }
    }
  }
  // Every size in [5, 15] shows up: the variation is real and reaches both ends.
  CHECK(sizes.size() == 11);
  CHECK(*sizes.begin() == 5);
  CHECK(*sizes.rbegin() == 15);
}

TEST_CASE("slicer: a chunk smaller than a piece goes out whole at its arrival") {
  Link link(100, 10, 1000);
  auto& plan = link.data(0, 40, t0);
  REQUIRE(plan.pieces.size() == 1);
  CHECK(plan.pieces[0].offset == 0);
  CHECK(plan.pieces[0].size == 40);
  CHECK(since(plan.pieces[0].release) == 0);
}

TEST_CASE("slicer: delay 0 releases every piece at arrival") {
  Link link(1, 0, 0);
  auto& plan = link.data(0, 50, t0 + 9ms);
  REQUIRE(plan.pieces.size() == 50);
  check_contiguous(plan, 0, 50);
  for (const auto& p : plan.pieces) {
    CHECK(p.size == 1);
    CHECK(since(p.release) == ns(9ms));
  }
}

TEST_CASE("slicer: a chunk arriving while the previous is still dribbling queues behind it") {
  Link link(30, 0, 100);
  link.data(0, 100, t0);  // pieces at 0, 100, 200, 300 us: free again at 400 us
  auto& next = link.data(100, 60, t0 + 50us);
  REQUIRE(next.pieces.size() == 2);
  check_contiguous(next, 100, 60);
  CHECK(since(next.pieces[0].release) == ns(400us));
  CHECK(since(next.pieces[1].release) == ns(500us));
}

TEST_CASE("slicer: after an idle gap a chunk starts at its own arrival") {
  Link link(30, 0, 100);
  link.data(0, 100, t0);
  auto& later = link.data(100, 60, t0 + 1s);
  REQUIRE(later.pieces.size() == 2);
  CHECK(since(later.pieces[0].release) == ns(1s));
  CHECK(since(later.pieces[1].release) == ns(1s + 100us));
}

TEST_CASE("slicer: several input pieces are each sliced, respecting their release times") {
  Link link(4, 0, 10);
  link.plan.pieces = {Piece{0, 6, t0}, Piece{6, 4, t0 + 1ms}};
  Context ctx{t0, link.rng, link.scratch};
  link.fault->on_data(link.state.get(), ctx, link.plan);
  REQUIRE(link.plan.pieces.size() == 3);
  check_contiguous(link.plan, 0, 10);
  CHECK(link.plan.pieces[0].size == 4);
  CHECK(link.plan.pieces[1].size == 2);
  CHECK(link.plan.pieces[2].size == 4);
  CHECK(since(link.plan.pieces[0].release) == 0);
  CHECK(since(link.plan.pieces[1].release) == ns(10us));
  CHECK(since(link.plan.pieces[2].release) == ns(1ms));
}

TEST_CASE("slicer: the same seed slices the same way") {
  Link a(10, 5, 0, 77), b(10, 5, 0, 77);
  auto& pa = a.data(0, 1000, t0);
  auto& pb = b.data(0, 1000, t0);
  REQUIRE(pa.pieces.size() == pb.pieces.size());
  for (std::size_t i = 0; i < pa.pieces.size(); ++i) CHECK(pa.pieces[i].size == pb.pieces[i].size);
}
