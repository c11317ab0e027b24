#include "faults/schedule.hpp"

#include <chrono>

namespace brownout::faults {

namespace {
Duration ms(std::int64_t v) {
  return std::chrono::milliseconds(v);
}
}  // namespace

bool expired_at(const Schedule& s, Duration elapsed) {
  return s.for_ms > 0 && elapsed >= ms(s.after_ms + s.for_ms);
}

bool active_at(const Schedule& s, Duration elapsed) {
  if (elapsed < ms(s.after_ms) || expired_at(s, elapsed)) return false;
  if (!s.flapping()) return true;
  const auto cycle = ms(s.flap_on_ms + s.flap_off_ms);
  return (elapsed - ms(s.after_ms)) % cycle < ms(s.flap_on_ms);
}

std::optional<Duration> next_change(const Schedule& s, Duration elapsed) {
  std::optional<Duration> out;
  const auto consider = [&](Duration t) {
    if (t > elapsed && (!out || t < *out)) out = t;
  };
  if (expired_at(s, elapsed)) return std::nullopt;
  consider(ms(s.after_ms));
  if (s.for_ms > 0) consider(ms(s.after_ms + s.for_ms));
  if (s.flapping() && elapsed >= ms(s.after_ms)) {
    const auto cycle = ms(s.flap_on_ms + s.flap_off_ms);
    const auto start = ms(s.after_ms) + ((elapsed - ms(s.after_ms)) / cycle) * cycle;
    consider(start + ms(s.flap_on_ms));
    consider(start + cycle);
  }
  return out;
}

}  // namespace brownout::faults
