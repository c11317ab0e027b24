// When a fault acts, counted from the moment it was added: `after` delays
// its start, `for` removes it once it has acted that long, `flap` turns it
// on and off in turn (on first), `count` removes it once it has acted that
// many times. Pure functions of elapsed time, so they test without a clock.
#pragma once

#include <cstdint>
#include <optional>

#include "faults/plan.hpp"

namespace brownout::faults {

struct Schedule {
  std::int64_t after_ms = 0;
  std::int64_t for_ms = 0;  // 0: until removed
  std::int64_t count = 0;   // 0: no limit
  std::int64_t flap_on_ms = 0;
  std::int64_t flap_off_ms = 0;  // both > 0 to flap

  bool timed() const { return after_ms > 0 || for_ms > 0 || flapping(); }
  bool flapping() const { return flap_on_ms > 0 && flap_off_ms > 0; }
  bool any() const { return timed() || count > 0; }
  bool operator==(const Schedule&) const = default;
};

// Whether the fault acts `elapsed` after it was added.
bool active_at(const Schedule& s, Duration elapsed);
// Whether its `for` has run out (it is to be removed).
bool expired_at(const Schedule& s, Duration elapsed);
// The next elapsed time after `elapsed` at which either answer changes, or
// nothing when neither ever will.
std::optional<Duration> next_change(const Schedule& s, Duration elapsed);

}  // namespace brownout::faults
