// Unit tests for faults/schedule.cpp: when a fault acts, as pure functions of elapsed time.
#include "faults/schedule.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <optional>

using namespace brownout::faults;
using namespace std::chrono_literals;

namespace {

std::optional<Duration> at(Duration d) {
  return d;
}

}  // namespace

TEST_CASE("schedule: nothing set: always active, never expires, never changes") {
  const Schedule s;
  CHECK_FALSE(s.any());
  CHECK_FALSE(s.timed());
  for (const Duration e : {Duration::zero(), Duration(1ms), Duration(1h), Duration(24h * 365)}) {
    CAPTURE(e.count());
    CHECK(active_at(s, e));
    CHECK_FALSE(expired_at(s, e));
    CHECK(next_change(s, e) == std::nullopt);
  }
}

TEST_CASE("schedule: after delays the start") {
  Schedule s;
  s.after_ms = 1000;
  CHECK(s.timed());
  CHECK_FALSE(active_at(s, 0ms));
  CHECK_FALSE(active_at(s, 999ms));
  CHECK(active_at(s, 1000ms));
  CHECK(active_at(s, 1h));
  CHECK_FALSE(expired_at(s, 1h));
  CHECK(next_change(s, 0ms) == at(1000ms));
  CHECK(next_change(s, 999ms) == at(1000ms));
  CHECK(next_change(s, 1000ms) == std::nullopt);
  CHECK(next_change(s, 5s) == std::nullopt);
}

TEST_CASE("schedule: for removes the fault once it has acted that long") {
  Schedule s;
  s.for_ms = 60'000;
  CHECK(active_at(s, 0ms));
  CHECK(active_at(s, 59'999ms));
  CHECK_FALSE(active_at(s, 60s));
  CHECK_FALSE(expired_at(s, 59'999ms));
  CHECK(expired_at(s, 60s));
  CHECK(expired_at(s, 1h));
  CHECK(next_change(s, 0ms) == at(60s));
  CHECK(next_change(s, 30s) == at(60s));
  CHECK(next_change(s, 60s) == std::nullopt);  // expired: nothing more happens
}

TEST_CASE("schedule: for counts from after") {
  Schedule s;
  s.after_ms = 5000;
  s.for_ms = 10'000;
  CHECK_FALSE(active_at(s, 4s));
  CHECK(active_at(s, 5s));
  CHECK(active_at(s, 14'999ms));
  CHECK_FALSE(active_at(s, 15s));
  CHECK_FALSE(expired_at(s, 14'999ms));
  CHECK(expired_at(s, 15s));
  CHECK(next_change(s, 0ms) == at(5s));
  CHECK(next_change(s, 5s) == at(15s));
  CHECK(next_change(s, 15s) == std::nullopt);
}

TEST_CASE("schedule: flap turns the fault on and off, on first") {
  Schedule s;
  s.flap_on_ms = 5000;
  s.flap_off_ms = 10'000;
  CHECK(s.flapping());
  CHECK(s.timed());
  // On for [0, 5), off for [5, 15), on for [15, 20), ...
  CHECK(active_at(s, 0ms));
  CHECK(active_at(s, 4999ms));
  CHECK_FALSE(active_at(s, 5s));
  CHECK_FALSE(active_at(s, 14'999ms));
  CHECK(active_at(s, 15s));
  CHECK_FALSE(active_at(s, 20s));
  CHECK(active_at(s, 15s * 1000 + 1s));  // still flapping 1000 cycles later
  CHECK_FALSE(expired_at(s, 1h));
  CHECK(next_change(s, 0ms) == at(5s));
  CHECK(next_change(s, 4999ms) == at(5s));
  CHECK(next_change(s, 5s) == at(15s));
  CHECK(next_change(s, 14s) == at(15s));
  CHECK(next_change(s, 15s) == at(20s));
  CHECK(next_change(s, 15s * 1000 + 7s) == at(15s * 1001));
}

TEST_CASE("schedule: flap needs both halves") {
  Schedule s;
  s.flap_on_ms = 5000;
  CHECK_FALSE(s.flapping());
  CHECK(active_at(s, 7s));  // not flapping: always on
  CHECK(next_change(s, 0ms) == std::nullopt);
}

TEST_CASE("schedule: after 1 s, flap 5 s on / 10 s off, for 60 s") {
  Schedule s;
  s.after_ms = 1000;
  s.flap_on_ms = 5000;
  s.flap_off_ms = 10'000;
  s.for_ms = 60'000;
  // Cycles start at 1, 16, 31, 46 s; the fault is removed at 61 s.
  struct Case {
    Duration elapsed;
    bool active;
    bool expired;
    std::optional<Duration> next;
  };
  for (const Case& c : {
           Case{0ms, false, false, at(1s)},
           Case{999ms, false, false, at(1s)},
           Case{1s, true, false, at(6s)},
           Case{5999ms, true, false, at(6s)},
           Case{6s, false, false, at(16s)},
           Case{15'999ms, false, false, at(16s)},
           Case{16s, true, false, at(21s)},
           Case{21s, false, false, at(31s)},
           Case{31s, true, false, at(36s)},
           Case{46s, true, false, at(51s)},
           Case{50'999ms, true, false, at(51s)},
           Case{51s, false, false, at(61s)},  // the next cycle and the end coincide
           Case{60'999ms, false, false, at(61s)},
           Case{61s, false, true, std::nullopt},
           Case{76s, false, true, std::nullopt},
       }) {
    CAPTURE(c.elapsed.count());
    CHECK(active_at(s, c.elapsed) == c.active);
    CHECK(expired_at(s, c.elapsed) == c.expired);
    CHECK(next_change(s, c.elapsed) == c.next);
  }
}

TEST_CASE("schedule: for cutting an on phase short") {
  Schedule s;
  s.flap_on_ms = 5000;
  s.flap_off_ms = 5000;
  s.for_ms = 12'000;
  CHECK(active_at(s, 10s));
  CHECK(next_change(s, 10s) == at(12s));  // before the on phase's own end at 15 s
  CHECK_FALSE(active_at(s, 12s));
  CHECK(expired_at(s, 12s));
}

TEST_CASE("schedule: next_change walks every change, and each one changes something") {
  Schedule s;
  s.after_ms = 250;
  s.flap_on_ms = 300;
  s.flap_off_ms = 700;
  s.for_ms = 5000;
  Duration e = Duration::zero();
  int changes = 0;
  while (auto next = next_change(s, e)) {
    CAPTURE(e.count());
    REQUIRE(*next > e);
    // Nothing changes strictly between e and next...
    CHECK(active_at(s, *next - 1ns) == active_at(s, e));
    CHECK(expired_at(s, *next - 1ns) == expired_at(s, e));
    // ...and something does at next.
    CHECK((active_at(s, *next) != active_at(s, e) || expired_at(s, *next) != expired_at(s, e)));
    e = *next;
    REQUIRE(++changes < 100);
  }
  // Cycles start at 250, 1250, ..., 4250 ms: 5 x (on, off at +300 ms), then the end at 5250 ms.
  CHECK(changes == 11);
  CHECK(e == 5250ms);
  CHECK(expired_at(s, e));
}

TEST_CASE("schedule: count alone is not timed, but is a schedule") {
  Schedule s;
  s.count = 3;
  CHECK(s.any());
  CHECK_FALSE(s.timed());
  CHECK(active_at(s, 1h));
  CHECK(next_change(s, 0ms) == std::nullopt);
}
