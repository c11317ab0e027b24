// Unit tests for faults/accept_rate.cpp: a token bucket of new connections, on a fake clock.
#include <doctest/doctest.h>

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

const TimePoint t0 = TimePoint{} + 77s;

// One accept_rate fault with its shared state (the bucket), as a proxy holds them.
struct Bucket {
  explicit Bucket(std::map<std::string, Value> attrs)
      : fault(make_fault("accept_rate", attrs)), shared(fault->make_shared_state()) {
    REQUIRE(shared != nullptr);
  }
  Admission admit(TimePoint now) const { return fault->admit(shared.get(), now, nullptr); }
  Admission retry(const Admission& previous, TimePoint now) const {
    return fault->admit(shared.get(), now, &previous);
  }
  std::int64_t gauge(const std::string& name) const {
    return gauges_of(*fault, shared.get())[name];
  }

  std::shared_ptr<const Fault> fault;
  std::shared_ptr<FaultState> shared;
};

Bucket reject(std::int64_t rate, std::int64_t burst = 0) {
  return Bucket({{"rate", I(rate)}, {"burst", I(burst)}, {"mode", Word("reject")}});
}
Bucket delay(std::int64_t rate, std::int64_t burst = 0) {
  return Bucket({{"rate", I(rate)}, {"burst", I(burst)}, {"mode", Word("delay")}});
}

// A duration as a fractional count of nanoseconds from a double division can round by a
// nanosecond or so: `until` is checked within a microsecond.
bool near_time(TimePoint got, TimePoint want) {
  return got - want < 1us && want - got < 1us;
}

}  // namespace

TEST_CASE("accept_rate: is a connection-level fault; accepts hold no slot") {
  const auto b = reject(10);
  CHECK(b.fault->connection_level());
  CHECK(b.fault->make_state() == nullptr);
  const auto a = b.admit(t0);
  CHECK(a.kind == Admission::accept);
  CHECK_FALSE(a.holds_slot);
}

TEST_CASE("accept_rate: rate 10: a burst of 10 at once, the 11th refused, a token per 100 ms") {
  const auto b = reject(10);  // burst 0: one second's worth, 10
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(b.admit(t0).kind == Admission::accept);
  }
  CHECK(b.admit(t0).kind == Admission::refuse_close);
  CHECK(b.gauge("refused") == 1);
  // 99 ms later the next token is not there yet; at 100 ms it is, and only one.
  CHECK(b.admit(t0 + 99ms).kind == Admission::refuse_close);
  CHECK(b.admit(t0 + 100ms).kind == Admission::accept);
  CHECK(b.admit(t0 + 100ms).kind == Admission::refuse_close);
  CHECK(b.gauge("refused") == 3);
  CHECK(b.gauge("delayed") == 0);
  // After a quiet spell the bucket is full again, but never holds more than the burst.
  for (int i = 0; i < 10; ++i) CHECK(b.admit(t0 + 60s).kind == Admission::accept);
  CHECK(b.admit(t0 + 60s).kind == Admission::refuse_close);
}

TEST_CASE("accept_rate: burst sets the bucket's size") {
  const auto b = reject(10, 3);
  for (int i = 0; i < 3; ++i) CHECK(b.admit(t0).kind == Admission::accept);
  CHECK(b.admit(t0).kind == Admission::refuse_close);
  CHECK(b.admit(t0 + 100ms).kind == Admission::accept);
}

TEST_CASE("accept_rate: over 10 s of arrivals every ms, about burst + rate x 10 get in") {
  const auto b = reject(10);
  int accepted = 0;
  for (int i = 0; i <= 10'000; ++i)
    if (b.admit(t0 + i * 1ms).kind == Admission::accept) ++accepted;
  // 10 at once, then one per 100 ms over [0, 10 s]: 110 (one fewer if the 1e4 additions of
  // 0.01 token round just below a whole token at the end).
  CHECK(accepted >= 109);
  CHECK(accepted <= 110);
  CHECK(b.gauge("refused") == 10'001 - accepted);
}

TEST_CASE("accept_rate: delay: the excess waits until its token is due, then gets in") {
  const auto b = delay(10);
  for (int i = 0; i < 10; ++i) CHECK(b.admit(t0).kind == Admission::accept);
  const auto eleventh = b.admit(t0);
  REQUIRE(eleventh.kind == Admission::wait);
  CHECK(near_time(eleventh.until, t0 + 100ms));
  CHECK(b.gauge("delayed") == 1);
  CHECK(b.gauge("refused") == 0);
  // Asking again early: the same wait. At (or after) its time: in.
  const auto early = b.retry(eleventh, t0 + 50ms);
  CHECK(early.kind == Admission::wait);
  CHECK(early.until == eleventh.until);
  CHECK(b.retry(eleventh, eleventh.until).kind == Admission::accept);
  CHECK(b.retry(eleventh, eleventh.until + 1s).kind == Admission::accept);
}

// Delay mode reserves tokens by going into debt; the debt must not be taken
// for an unfilled bucket (it once was, refilling the bucket for the next arrival).
TEST_CASE("accept_rate: delay: successive excess arrivals queue behind each other") {
  const auto b = delay(10);
  for (int i = 0; i < 10; ++i) CHECK(b.admit(t0).kind == Admission::accept);
  for (int k = 1; k <= 5; ++k) {
    CAPTURE(k);
    const auto a = b.admit(t0);
    REQUIRE(a.kind == Admission::wait);
    CHECK(near_time(a.until, t0 + k * 100ms));
  }
  CHECK(b.gauge("delayed") == 5);
  // The debt is paid off over time: 600 ms after t0 the bucket is back at 1 token (10 + 6 - 15).
  CHECK(b.admit(t0 + 600ms).kind == Admission::accept);
  const auto next = b.admit(t0 + 600ms);
  REQUIRE(next.kind == Admission::wait);
  CHECK(near_time(next.until, t0 + 700ms));
}

TEST_CASE("accept_rate: build refuses a rate of 0 and unknown modes") {
  CHECK(build_error("accept_rate", {{"rate", I(0)}}).attribute == "rate");
  CHECK(build_error("accept_rate", {}).attribute == "rate");  // required
  CHECK(build_error("accept_rate", {{"rate", I(1)}, {"mode", Word("queue")}}).attribute == "mode");
  CHECK(build_error("accept_rate", {{"rate", I(1)}, {"burst", I(-1)}}).attribute == "burst");
}
