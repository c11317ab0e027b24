// Unit tests for faults/reset_peer.cpp. Fake clock, no sleeps.
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

using Link = LinkTo<reset_peer>;

}  // namespace

TEST_CASE("reset_peer: has per-link state and does not end links on removal") {
  const auto f = reset_peer(100);
  CHECK(f->make_state() != nullptr);
  CHECK_FALSE(f->ends_link_on_removal());
}

TEST_CASE("reset_peer: attaching does nothing (no traffic, no reset)") {
  Link link(100);
  link.plan.reset_empty();
  Context ctx{t0, link.rng, link.scratch};
  link.fault->on_attach(link.state.get(), ctx, link.plan);
  CHECK(link.plan.end.kind == EndKind::none);
  CHECK(link.plan.pieces.empty());
}

TEST_CASE("reset_peer: the first chunk is dropped and a reset is set at now + timeout") {
  Link link(100);
  auto& plan = link.data(0, 64, t0 + 5ms);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::reset);
  CHECK(since(plan.end.at) == ns(105ms));
}

TEST_CASE("reset_peer: later chunks are dropped without moving the reset") {
  Link link(100);
  link.data(0, 64, t0);
  for (int i = 1; i <= 3; ++i) {
    auto& plan = link.data(static_cast<std::uint64_t>(i) * 64, 64, t0 + i * 10ms);
    CHECK(plan.pieces.empty());
    CHECK(plan.end.kind == EndKind::none);  // the scheduled reset stands as it was
  }
  // EOF after the trigger does not add a fin or a second reset either.
  auto& eof = link.eof(t0 + 50ms);
  CHECK(eof.pieces.empty());
  CHECK(eof.end.kind == EndKind::none);
}

TEST_CASE("reset_peer: an EOF before any data triggers the reset") {
  Link link(250);
  auto& eof = link.eof(t0 + 1s);
  CHECK(eof.end.kind == EndKind::reset);
  CHECK(since(eof.end.at) == ns(1250ms));
  auto& after = link.data(0, 10, t0 + 2s);
  CHECK(after.pieces.empty());
  CHECK(after.end.kind == EndKind::none);
}

TEST_CASE("reset_peer: timeout 0 resets at the first chunk's time") {
  Link link(0);
  auto& plan = link.data(0, 1, t0 + 7ms);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::reset);
  CHECK(since(plan.end.at) == ns(7ms));
}

TEST_CASE("reset_peer: the trigger is per link") {
  Link a(100), b(100);
  CHECK(a.data(0, 1, t0).end.kind == EndKind::reset);
  CHECK(a.data(1, 1, t0 + 1ms).end.kind == EndKind::none);
  auto& plan = b.data(0, 1, t0 + 2ms);
  CHECK(plan.end.kind == EndKind::reset);
  CHECK(since(plan.end.at) == ns(102ms));
}
