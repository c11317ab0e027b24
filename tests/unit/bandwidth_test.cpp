// Unit tests for faults/bandwidth.cpp. Fake clock, no sleeps.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fault_fixture.hpp"
#include "faults/registry.hpp"

using namespace brownout::test;

namespace {

const TimePoint t0 = TimePoint{} + 100s;
const auto since = since_from(t0);

// One link's direction through a single bandwidth fault.
using Link = LinkTo<bandwidth>;

}  // namespace

TEST_CASE("bandwidth: has per-link state") {
  const auto f = bandwidth(100);
  CHECK(f->make_state() != nullptr);
}

TEST_CASE("bandwidth: a small chunk is released after size / rate") {
  Link link(100);  // 100 000 bytes/s
  auto& plan = link.data(0, 1000, t0);
  REQUIRE(plan.pieces.size() == 1);
  CHECK(plan.pieces[0].offset == 0);
  CHECK(plan.pieces[0].size == 1000);
  CHECK(since(plan.pieces[0].release) == ns(10ms));
  CHECK(plan.end.kind == EndKind::none);
}

TEST_CASE("bandwidth: 50 000 bytes at 100 KB/s take 0.5 s, in 100 ms slices") {
  Link link(100);
  auto& plan = link.data(7, 50000, t0);
  REQUIRE(plan.pieces.size() == 5);
  check_contiguous(plan, 7, 50000);
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(plan.pieces[i].size == 10000);  // 100 ms worth at 100 KB/s
    CHECK(plan.pieces[i].offset == 7 + i * 10000);
    CHECK(since(plan.pieces[i].release) == ns(100ms) * static_cast<std::int64_t>(i + 1));
  }
}

TEST_CASE("bandwidth: N bytes at R KB/s finish at arrival + N / (R * 1000) s") {
  struct Case {
    std::int64_t rate;
    std::uint32_t bytes;
    std::int64_t expect_ns;
  };
  for (const Case& c : {Case{1, 1000, 1'000'000'000}, Case{1, 250, 250'000'000},
                        Case{10, 65536, 6'553'600'000}, Case{1000, 1'000'000, 1'000'000'000},
                        Case{64, 1, 15'625}, Case{100000, 4'000'000, 40'000'000}}) {
    CAPTURE(c.rate);
    CAPTURE(c.bytes);
    Link link(c.rate);
    const TimePoint arrival = t0 + 3ms;
    auto& plan = link.data(0, c.bytes, arrival);
    REQUIRE_FALSE(plan.pieces.empty());
    check_contiguous(plan, 0, c.bytes);
    CHECK(ns(plan.pieces.back().release - arrival) == c.expect_ns);
  }
}

TEST_CASE("bandwidth: a rate that does not divide evenly stays within a nanosecond per slice") {
  Link link(3);  // 3000 bytes/s: 300-byte slices of exactly 100 ms
  auto& plan = link.data(0, 1000, t0);
  REQUIRE(plan.pieces.size() == 4);
  check_contiguous(plan, 0, 1000);
  CHECK(plan.pieces[0].size == 300);
  CHECK(plan.pieces[3].size == 100);
  CHECK(since(plan.pieces[0].release) == ns(100ms));
  CHECK(since(plan.pieces[2].release) == ns(300ms));
  // 1000 / 3000 s = 333 333 333.3 ns.
  CHECK(since(plan.pieces[3].release) >= 333'333'332);
  CHECK(since(plan.pieces[3].release) <= 333'333'334);
}

TEST_CASE("bandwidth: no slice is worth more than 100 ms") {
  for (const std::int64_t rate : {1, 7, 100, 12345}) {
    CAPTURE(rate);
    Link link(rate);
    const std::uint32_t bytes = static_cast<std::uint32_t>(rate * 1000 * 2 + 17);  // ~2 s worth
    auto& plan = link.data(0, bytes, t0);
    check_contiguous(plan, 0, bytes);
    TimePoint prev = t0;
    for (const auto& p : plan.pieces) {
      CHECK(p.size <= static_cast<std::uint32_t>(rate * 100));
      CHECK(ns(p.release - prev) <= ns(100ms));
      CHECK(p.release > prev);
      prev = p.release;
    }
    CHECK(plan.pieces.size() == 21);
  }
}

TEST_CASE("bandwidth: consecutive chunks queue behind each other") {
  Link link(100);
  auto& first = link.data(0, 10000, t0);
  REQUIRE(first.pieces.size() == 1);
  CHECK(since(first.pieces[0].release) == ns(100ms));

  // Arrives while the first is still "on the wire": starts at 100 ms.
  auto& second = link.data(10000, 5000, t0 + 10ms);
  REQUIRE(second.pieces.size() == 1);
  CHECK(second.pieces[0].offset == 10000);
  CHECK(since(second.pieces[0].release) == ns(150ms));

  auto& third = link.data(15000, 1000, t0 + 20ms);
  REQUIRE(third.pieces.size() == 1);
  CHECK(since(third.pieces[0].release) == ns(160ms));
}

TEST_CASE("bandwidth: many chunks arriving at once add up to size / rate") {
  Link link(10);  // 10 000 bytes/s
  TimePoint last{};
  for (int i = 0; i < 1000; ++i) {
    auto& plan = link.data(static_cast<std::uint64_t>(i) * 100, 100, t0);
    REQUIRE(plan.pieces.size() == 1);
    last = plan.pieces[0].release;
  }
  CHECK(since(last) == ns(10s));
}

TEST_CASE("bandwidth: an idle gap resets the schedule (no burst credit, no debt)") {
  Link link(100);
  CHECK(since(link.data(0, 10000, t0).pieces.at(0).release) == ns(100ms));
  // Idle until 1 s: the next chunk starts from its own arrival.
  auto& later = link.data(10000, 1000, t0 + 1s);
  REQUIRE(later.pieces.size() == 1);
  CHECK(since(later.pieces[0].release) == ns(1010ms));
  // Arriving exactly when the link frees up also starts from arrival.
  auto& exact = link.data(11000, 1000, t0 + 1010ms);
  CHECK(since(exact.pieces.at(0).release) == ns(1020ms));
}

TEST_CASE("bandwidth: a piece released later by an earlier fault starts from its release") {
  Link link(100);
  link.plan.pieces = {Piece{0, 1000, t0 + 200ms}};
  Context ctx{t0, link.rng, link.scratch};
  link.fault->on_data(link.state.get(), ctx, link.plan);
  REQUIRE(link.plan.pieces.size() == 1);
  CHECK(since(link.plan.pieces[0].release) == ns(210ms));
}

TEST_CASE("bandwidth: several input pieces are each sliced and serialized") {
  Link link(1);  // 1000 bytes/s, 100-byte slices
  link.plan.pieces = {Piece{0, 150, t0}, Piece{150, 50, t0}};
  Context ctx{t0, link.rng, link.scratch};
  link.fault->on_data(link.state.get(), ctx, link.plan);
  REQUIRE(link.plan.pieces.size() == 3);
  check_contiguous(link.plan, 0, 200);
  CHECK(link.plan.pieces[0].size == 100);
  CHECK(link.plan.pieces[1].size == 50);
  CHECK(link.plan.pieces[2].size == 50);
  CHECK(since(link.plan.pieces[0].release) == ns(100ms));
  CHECK(since(link.plan.pieces[1].release) == ns(150ms));
  CHECK(since(link.plan.pieces[2].release) == ns(200ms));
}

TEST_CASE("bandwidth: state is per link") {
  Link a(100), b(100);
  CHECK(since(a.data(0, 10000, t0).pieces.at(0).release) == ns(100ms));
  CHECK(since(b.data(0, 10000, t0).pieces.at(0).release) == ns(100ms));
}

TEST_CASE("bandwidth: EOF waits for the data still being sent") {
  Link link(100);
  link.data(0, 20000, t0);  // busy until 200 ms
  auto& eof = link.eof(t0 + 50ms);
  CHECK(eof.end.kind == EndKind::fin);
  CHECK(since(eof.end.at) == ns(200ms));
  // After the link went idle, EOF goes out at its own time.
  auto& late = link.eof(t0 + 1s);
  CHECK(since(late.end.at) == ns(1s));
}

TEST_CASE("bandwidth: an end set by an earlier fault waits for the cut data") {
  Link link(100);
  link.plan.reset_for(0, 5000, t0);
  link.plan.end = End{EndKind::close, t0};
  Context ctx{t0, link.rng, link.scratch};
  link.fault->on_data(link.state.get(), ctx, link.plan);
  CHECK(link.plan.end.kind == EndKind::close);
  CHECK(since(link.plan.end.at) == ns(50ms));
}

TEST_CASE("bandwidth: an empty plan stays empty") {
  Link link(100);
  link.plan.reset_empty();
  Context ctx{t0, link.rng, link.scratch};
  link.fault->on_data(link.state.get(), ctx, link.plan);
  CHECK(link.plan.pieces.empty());
  CHECK(link.plan.end.kind == EndKind::none);
}

// A rate so large that bytes per second would overflow is refused, naming rate.
TEST_CASE("bandwidth: a huge rate neither overflows nor divides by zero") {
  for (const std::int64_t rate : {std::int64_t{1} << 61, std::int64_t{10'000'000'000'000'000}}) {
    CAPTURE(rate);
    auto b = build(*find_type("bandwidth"), {{"rate", Value{rate}}});
    if (!b) {
      CHECK(b.error.attribute == "rate");
      continue;
    }
    auto state = b.value->fault->make_state();
    Rng rng(1);
    std::vector<Piece> scratch;
    Plan plan;
    plan.reset_for(0, 1000, t0);
    Context ctx{t0, rng, scratch};
    b.value->fault->on_data(state.get(), ctx, plan);
    REQUIRE(plan.pieces.size() == 1);
    CHECK(plan.pieces[0].size == 1000);
    CHECK(since(plan.pieces[0].release) >= 0);
    CHECK(since(plan.pieces[0].release) <= 1);
  }
}

// ---------------------------------------------------------------------------------------------
// scope = proxy: one budget shared by every link of the proxy (Context::shared).

namespace {

std::shared_ptr<const Fault> bandwidth_scoped(std::int64_t rate_kbps, const std::string& scope) {
  return make_fault("bandwidth", {{"rate", I(rate_kbps)}, {"scope", Word(scope)}});
}

// What two links offering the same load got: bytes released by `by`, and each one's last release.
struct Split {
  std::uint64_t bytes_by[2] = {0, 0};
  TimePoint last[2] = {};
  bool contiguous = true;
};

// Two links through `f` take turns sending a 1000-byte chunk every 5 ms (200 KB/s each) for
// 10 s; `shared` (or nullptr) is the Context's shared state for both.
Split offer_alternately(const std::shared_ptr<const Fault>& f, FaultState* shared, TimePoint by) {
  FaultLink links[2] = {FaultLink(f, 1), FaultLink(f, 2)};
  Split out;
  for (int k = 0; k < 2; ++k) links[k].shared = shared;
  std::uint64_t offset[2] = {0, 0};
  for (int i = 0; i < 2000; ++i) {
    const TimePoint arrival = t0 + i * 5ms;
    for (int k = 0; k < 2; ++k) {
      const auto& plan = links[k].data(offset[k], 1000, arrival);
      std::uint64_t next = offset[k];
      for (const auto& p : plan.pieces) {
        if (p.offset != next || p.release < arrival) out.contiguous = false;
        next += p.size;
        if (p.release <= by) out.bytes_by[k] += p.size;
        out.last[k] = std::max(out.last[k], p.release);
      }
      if (next != offset[k] + 1000) out.contiguous = false;
      offset[k] = next;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("bandwidth: scope proxy shares one rate among the links of the proxy") {
  const auto f = bandwidth_scoped(100, "proxy");  // 100 000 bytes/s for everyone
  const auto shared = f->make_shared_state();
  REQUIRE(shared != nullptr);
  // 2 x 2000 x 1000 bytes = 4 MB offered at 400 KB/s; the proxy sends 100 KB/s.
  const Split s = offer_alternately(f, shared.get(), t0 + 20s);
  CHECK(s.contiguous);
  const TimePoint last = std::max(s.last[0], s.last[1]);
  const double seconds = static_cast<double>(since(last)) / 1e9;
  CHECK(4'000'000.0 / seconds == near(100'000.0, 0.01));
  // Taking turns, each link got half: ~1 MB of the 2 MB sent in the first 20 s.
  CHECK(s.bytes_by[0] + s.bytes_by[1] == near(2'000'000.0, 0.01));
  CHECK(static_cast<double>(s.bytes_by[0]) == near(1'000'000.0, 0.02));
  CHECK(static_cast<double>(s.bytes_by[1]) == near(1'000'000.0, 0.02));
  CHECK(since(s.last[0]) == near(since(s.last[1]), 0.01));
}

TEST_CASE("bandwidth: scope connection gives each link the full rate") {
  const auto f = bandwidth_scoped(100, "connection");
  CHECK(f->make_shared_state() == nullptr);
  const Split s = offer_alternately(f, nullptr, t0 + 20s);
  CHECK(s.contiguous);
  // Each link's 2 MB at 100 KB/s take 20 s: together twice the rate.
  for (int k = 0; k < 2; ++k) {
    CAPTURE(k);
    CHECK(since(s.last[k]) == ns(20s));
    CHECK(s.bytes_by[k] == 2'000'000);
  }
}

TEST_CASE("bandwidth: scope proxy: a link alone gets the whole budget, others queue behind it") {
  const auto f = bandwidth_scoped(100, "proxy");
  const auto shared = f->make_shared_state();
  FaultLink a(f, 1), b(f, 2);
  a.shared = b.shared = shared.get();
  // a alone: 10 000 bytes take 100 ms, as on a link of its own.
  CHECK(since(a.data(0, 10000, t0).pieces.back().release) == ns(100ms));
  // b arrives while a's bytes are on the wire: it waits for them (100 ms + 50 ms).
  CHECK(since(b.data(0, 5000, t0 + 10ms).pieces.back().release) == ns(150ms));
  // b's EOF waits for the proxy's budget too, and a's for b's bytes.
  CHECK(since(b.eof(t0 + 20ms).end.at) == ns(150ms));
  CHECK(since(a.eof(t0 + 20ms).end.at) == ns(150ms));
  // Idle: no credit saved up.
  CHECK(since(a.data(10000, 1000, t0 + 1s).pieces.back().release) == ns(1010ms));
}

TEST_CASE("bandwidth: scope proxy with its own shared state per fault keeps proxies apart") {
  const auto f = bandwidth_scoped(100, "proxy");
  const auto one = f->make_shared_state();
  const auto two = f->make_shared_state();
  FaultLink a(f, 1), b(f, 2);
  a.shared = one.get();
  b.shared = two.get();
  CHECK(since(a.data(0, 10000, t0).pieces.back().release) == ns(100ms));
  CHECK(since(b.data(0, 10000, t0).pieces.back().release) == ns(100ms));
}

// A link keeps its state across an update of the same fault; a state made
// under scope proxy must still limit after an update to scope connection.
TEST_CASE("bandwidth: a state made under scope proxy still limits after an update to connection") {
  const auto before = bandwidth_scoped(100, "proxy");
  const auto after = bandwidth_scoped(100, "connection");
  auto kept = before->make_state();  // what the link keeps across the update
  Env env;
  Plan plan;
  plan.reset_for(0, 10000, t0);
  auto ctx = env.at(t0);
  after->on_data(kept.get(), ctx, plan);
  REQUIRE_FALSE(plan.pieces.empty());
  CHECK(since(plan.pieces.back().release) == ns(100ms));
}
