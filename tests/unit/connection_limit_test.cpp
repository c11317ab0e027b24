// Unit tests for faults/connection_limit.cpp: admissions against the proxy-wide shared state,
// on a fake clock.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "fault_fixture.hpp"
#include "faults/registry.hpp"

using namespace brownout::test;

namespace {

const TimePoint t0 = TimePoint{} + 60s;

// One connection_limit fault with its shared state, as a proxy holds them.
struct Limit {
  Limit(std::int64_t max, const std::string& mode, std::int64_t queue_timeout_ms = 0)
      : fault(make_fault("connection_limit", {{"max_connections", I(max)},
                                              {"mode", Word(mode)},
                                              {"queue_timeout", I(queue_timeout_ms)}})),
        shared(fault->make_shared_state()) {
    REQUIRE(shared != nullptr);
  }
  Admission admit(TimePoint now) const { return fault->admit(shared.get(), now, nullptr); }
  Admission retry(const Admission& previous, TimePoint now) const {
    return fault->admit(shared.get(), now, &previous);
  }
  void release() const { fault->release(shared.get()); }
  std::int64_t gauge(const std::string& name) const {
    const auto g = gauges_of(*fault, shared.get());
    const auto it = g.find(name);
    REQUIRE_MESSAGE(it != g.end(), "no gauge " << name);
    return it->second;
  }

  std::shared_ptr<const Fault> fault;
  std::shared_ptr<FaultState> shared;
};

}  // namespace

TEST_CASE("connection_limit: is a connection-level fault with proxy-wide state") {
  const Limit limit(2, "reject");
  CHECK(limit.fault->connection_level());
  CHECK(limit.fault->make_state() == nullptr);
  // Its bytes pass untouched (it acts only when a connection arrives).
  FaultLink link(limit.fault);
  auto& plan = link.data(0, 10, t0);
  REQUIRE(plan.pieces.size() == 1);
  CHECK(plan.pieces[0].release == t0);
  CHECK(plan.end.kind == EndKind::none);
}

TEST_CASE("connection_limit: reject: two in, the third is closed, a release lets one more in") {
  const Limit limit(2, "reject");
  for (int i = 0; i < 2; ++i) {
    const auto a = limit.admit(t0);
    CHECK(a.kind == Admission::accept);
    CHECK(a.holds_slot);
  }
  CHECK(limit.gauge("active") == 2);
  const auto third = limit.admit(t0);
  CHECK(third.kind == Admission::refuse_close);
  CHECK_FALSE(third.holds_slot);
  CHECK(limit.gauge("refused") == 1);
  CHECK(limit.gauge("active") == 2);

  limit.release();
  CHECK(limit.gauge("active") == 1);
  const auto fourth = limit.admit(t0 + 1s);
  CHECK(fourth.kind == Admission::accept);
  CHECK(fourth.holds_slot);
  CHECK(limit.admit(t0 + 1s).kind == Admission::refuse_close);
  CHECK(limit.gauge("refused") == 2);
  CHECK(limit.gauge("active") == 2);
  CHECK(limit.gauge("queued") == 0);
  CHECK(limit.gauge("hung") == 0);
}

TEST_CASE("connection_limit: reset refuses with RST, hang keeps the connection hanging") {
  const Limit reset(1, "reset");
  CHECK(reset.admit(t0).kind == Admission::accept);
  CHECK(reset.admit(t0).kind == Admission::refuse_reset);
  CHECK(reset.gauge("refused") == 1);

  const Limit hang(1, "hang");
  CHECK(hang.admit(t0).kind == Admission::accept);
  const auto hung = hang.admit(t0);
  CHECK(hung.kind == Admission::hang);
  CHECK_FALSE(hung.holds_slot);  // a hung connection never takes a slot
  CHECK(hang.gauge("hung") == 1);
  CHECK(hang.gauge("refused") == 0);
  CHECK(hang.gauge("active") == 1);
}

TEST_CASE("connection_limit: max 0 admits nobody") {
  const Limit limit(0, "reject");
  for (int i = 0; i < 5; ++i) CHECK(limit.admit(t0).kind == Admission::refuse_close);
  CHECK(limit.gauge("refused") == 5);
  CHECK(limit.gauge("active") == 0);
}

TEST_CASE("connection_limit: queue: waits for a slot until queue_timeout") {
  const Limit limit(2, "queue", 1000);
  CHECK(limit.admit(t0).kind == Admission::accept);
  CHECK(limit.admit(t0).kind == Admission::accept);

  const auto third = limit.admit(t0 + 100ms);
  CHECK(third.kind == Admission::wait);
  CHECK(third.until == t0 + 1100ms);  // arrival + queue_timeout
  CHECK(limit.gauge("queued") == 1);

  // Asking again before any slot is free: still waiting, same deadline.
  const auto again = limit.retry(third, t0 + 500ms);
  CHECK(again.kind == Admission::wait);
  CHECK(again.until == t0 + 1100ms);
  CHECK(limit.gauge("queued") == 1);

  // A connection ends: the queued one gets its slot.
  limit.release();
  const auto in = limit.retry(again, t0 + 600ms);
  CHECK(in.kind == Admission::accept);
  CHECK(in.holds_slot);
  CHECK(limit.gauge("queued") == 0);
  CHECK(limit.gauge("active") == 2);
  CHECK(limit.gauge("refused") == 0);

  // Another one waits its full second with no slot: closed at the deadline, counted as refused.
  const auto fourth = limit.admit(t0 + 700ms);
  REQUIRE(fourth.kind == Admission::wait);
  CHECK(fourth.until == t0 + 1700ms);
  CHECK(limit.retry(fourth, t0 + 1699ms).kind == Admission::wait);
  const auto late = limit.retry(fourth, t0 + 1700ms);
  CHECK(late.kind == Admission::refuse_close);
  CHECK(limit.gauge("refused") == 1);
  CHECK(limit.gauge("queued") == 0);
  CHECK(limit.gauge("active") == 2);
}

TEST_CASE("connection_limit: queue with queue_timeout 0 waits without limit") {
  const Limit limit(1, "queue", 0);
  CHECK(limit.admit(t0).kind == Admission::accept);
  const auto waiting = limit.admit(t0);
  CHECK(waiting.kind == Admission::wait);
  CHECK(waiting.until == TimePoint::max());
  // An hour later, still waiting.
  CHECK(limit.retry(waiting, t0 + 3600s).kind == Admission::wait);
  limit.release();
  CHECK(limit.retry(waiting, t0 + 3601s).kind == Admission::accept);
}

TEST_CASE("connection_limit: queue: a newcomer queues behind those already waiting") {
  const Limit limit(1, "queue", 0);
  CHECK(limit.admit(t0).kind == Admission::accept);
  const auto first = limit.admit(t0 + 1ms);
  REQUIRE(first.kind == Admission::wait);
  limit.release();  // a slot is free, but `first` has not asked again yet
  const auto newcomer = limit.admit(t0 + 2ms);
  CHECK(newcomer.kind == Admission::wait);  // not served ahead of `first`
  CHECK(limit.gauge("queued") == 2);
  CHECK(limit.gauge("active") == 0);
  // `first` takes the slot; the newcomer keeps waiting.
  CHECK(limit.retry(first, t0 + 10ms).kind == Admission::accept);
  CHECK(limit.retry(newcomer, t0 + 10ms).kind == Admission::wait);
  CHECK(limit.gauge("queued") == 1);
  limit.release();
  CHECK(limit.retry(newcomer, t0 + 20ms).kind == Admission::accept);
  CHECK(limit.gauge("queued") == 0);
  CHECK(limit.gauge("active") == 1);
  // With nobody queued, a newcomer takes a free slot at once.
  limit.release();
  CHECK(limit.admit(t0 + 30ms).kind == Admission::accept);
}

TEST_CASE("connection_limit: a queued connection that leaves is no longer counted as queued") {
  const Limit limit(1, "queue", 0);
  CHECK(limit.admit(t0).kind == Admission::accept);
  const auto gone = limit.admit(t0 + 1ms);
  REQUIRE(gone.kind == Admission::wait);
  CHECK(limit.gauge("queued") == 1);
  limit.fault->abandon(limit.shared.get(), gone);  // the client left while waiting
  CHECK(limit.gauge("queued") == 0);
  CHECK(limit.gauge("refused") == 0);
  // Nobody is queued any more: once the slot frees, a newcomer takes it at once.
  limit.release();
  CHECK(limit.admit(t0 + 2ms).kind == Admission::accept);
}

TEST_CASE("connection_limit: separate shared states are separate proxies") {
  const Limit a(1, "reject");
  const auto other = a.fault->make_shared_state();
  CHECK(a.admit(t0).kind == Admission::accept);
  CHECK(a.fault->admit(other.get(), t0, nullptr).kind == Admission::accept);
  CHECK(a.admit(t0).kind == Admission::refuse_close);
}

TEST_CASE("connection_limit: gauges name active, queued, refused and hung") {
  const Limit limit(3, "queue", 100);
  const auto g = gauges_of(*limit.fault, limit.shared.get());
  CHECK(g.size() == 4);
  CHECK(g.count("active") == 1);
  CHECK(g.count("queued") == 1);
  CHECK(g.count("refused") == 1);
  CHECK(g.count("hung") == 1);
}

TEST_CASE("connection_limit: build refuses unknown modes and negative figures") {
  CHECK(build_error("connection_limit", {{"mode", Word("drop")}}).attribute == "mode");
  CHECK(build_error("connection_limit", {{"max_connections", I(-1)}}).attribute ==
        "max_connections");
  CHECK(build_error("connection_limit", {{"queue_timeout", I(-5)}}).attribute == "queue_timeout");
}
