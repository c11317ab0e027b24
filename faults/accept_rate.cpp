// accept_rate: at most `rate` new connections per second through the proxy,
// from a token bucket holding up to `burst` (0: one second's worth). The
// excess is refused (mode reject: closed at once) or delayed until its token
// is due (delay: a server's accept queue draining slowly). Acts on the proxy
// whatever its stream.
#include <algorithm>
#include <array>
#include <mutex>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 3> kAttrs{{
    {"rate", "conn/s", 0, 1, "new connections per second (must be positive)", 10'000'000},
    {"burst", "connections", 0, 0, "connections allowed at once after a quiet spell; 0: rate",
     10'000'000},
    {"mode", "", 0, 0, "what the excess gets: reject (closed at once) or delay (waits its turn)", 0,
     AttrKind::choice, "reject|delay"},
}};

struct Shared final : FaultState {
  std::mutex mutex;
  bool filled = false;  // the first connection fills the bucket
  double tokens = 0;    // below 0 in delay mode: tokens promised to waiting connections
  TimePoint last{};
  std::int64_t refused = 0;
  std::int64_t delayed = 0;
};

class AcceptRate final : public ConnectionFault<Shared> {
 public:
  AcceptRate(double rate, double burst, bool delay) : rate_(rate), burst_(burst), delay_(delay) {}

  Admission admit(FaultState* base, TimePoint now, const Admission* retry) const override {
    auto& s = static_cast<Shared&>(*base);
    if (retry) {  // its token was reserved when it arrived
      if (now < retry->until) return *retry;
      return {};
    }
    std::lock_guard lock(s.mutex);
    if (!s.filled) {
      s.filled = true;
      s.tokens = burst_;
    } else {
      const double elapsed = std::chrono::duration<double>(now - s.last).count();
      s.tokens = std::min(burst_, s.tokens + std::max(0.0, elapsed) * rate_);
    }
    s.last = now;
    if (s.tokens >= 1) {
      s.tokens -= 1;
      return {};
    }
    if (!delay_) {
      ++s.refused;
      return {Admission::refuse_close};
    }
    // Reserve the next token: the bucket goes into debt, later arrivals queue behind.
    const double wait_s = (1.0 - s.tokens) / rate_;
    s.tokens -= 1;
    ++s.delayed;
    return {Admission::wait,
            now + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(wait_s))};
  }

  void gauges(const FaultState* base, Gauges& out) const override {
    auto& s = const_cast<Shared&>(static_cast<const Shared&>(*base));
    std::lock_guard lock(s.mutex);
    out.emplace_back("refused", s.refused);
    out.emplace_back("delayed", s.delayed);
  }

 private:
  double rate_, burst_;
  bool delay_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  const double rate = static_cast<double>(v.get("rate"));
  const double burst = v.get("burst") > 0 ? static_cast<double>(v.get("burst")) : rate;
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<AcceptRate>(rate, std::max(1.0, burst), v.text("mode") == "delay"));
}

}  // namespace

extern const FaultType accept_rate_type{
    "accept_rate", "caps new connections per second: refuse or delay the excess", kAttrs, &make};

}  // namespace brownout::faults
