// Unit tests for faults/blackhole.cpp.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>

#include "fault_fixture.hpp"
#include "faults/registry.hpp"

using namespace brownout::test;

namespace {

const TimePoint t0 = TimePoint{} + 42s;

}  // namespace

TEST_CASE("blackhole: a chunk vanishes and the direction does not end") {
  FaultLink link(make_fault("blackhole", {}));
  auto& plan = link.data(0, 1000, t0);
  CHECK(plan.pieces.empty());
  CHECK(plan.end.kind == EndKind::none);
  CHECK(plan.flips.empty());
}

TEST_CASE("blackhole: several pieces and an earlier fault's end vanish too") {
  FaultLink link(make_fault("blackhole", {}));
  link.plan.pieces = {Piece{0, 10, t0}, Piece{10, 10, t0 + 5ms}};
  link.plan.end = End{EndKind::close, t0 + 10ms, 3};
  auto ctx = link.at(t0);
  link.fault->on_data(link.state.get(), ctx, link.plan);
  CHECK(link.plan.pieces.empty());
  CHECK(link.plan.end.kind == EndKind::none);
  CHECK(link.plan.end.fault_id == 0);
}

TEST_CASE("blackhole: EOF vanishes: no FIN ever goes out") {
  FaultLink link(make_fault("blackhole", {}));
  auto& eof = link.eof(t0);
  CHECK(eof.end.kind == EndKind::none);
  CHECK(eof.pieces.empty());
  // Whatever an earlier fault made of it.
  link.plan.reset_for_eof(t0);
  link.plan.end.kind = EndKind::reset;
  auto ctx = link.at(t0);
  link.fault->on_eof(link.state.get(), ctx, link.plan);
  CHECK(link.plan.end.kind == EndKind::none);
}

TEST_CASE("blackhole: ends the links it swallowed when removed; withholds data; stateless") {
  const auto f = make_fault("blackhole", {});
  CHECK(f->ends_link_on_removal());
  CHECK(f->withholds_data());
  CHECK_FALSE(f->connection_level());
  CHECK(f->make_state() == nullptr);
  CHECK(f->make_shared_state() == nullptr);
  // No attributes; unknown ones are ignored (as Toxiproxy does).
  CHECK(type("blackhole").attributes.empty());
  CHECK(build(type("blackhole"), {{"whatever", I(1)}}));
  // Attaching does nothing to the plan.
  Env env;
  const Plan plan = attach(*f, nullptr, env, t0);
  CHECK(plan.end.kind == EndKind::none);
  CHECK(plan.pieces.empty());
}
