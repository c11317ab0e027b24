// connection_limit: at most max_connections connections through the proxy at
// once (an exhausted pool or a server at its connection cap). The next one is
// refused (mode reject: closed at once; reset: aborted with RST), held in a
// queue until a connection ends or queue_timeout passes (queue: a saturated
// pool; 0 waits without limit), or accepted and left hanging without ever
// reaching the upstream (hang). Acts on the proxy whatever its stream.
#include <array>
#include <atomic>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 3> kAttrs{{
    {"max_connections", "connections", 0, 0, "connections allowed at once", 10'000'000},
    {"mode", "", 0, 0,
     "what the connection over the limit gets: reject (closed), reset (RST), "
     "queue (waits for a free slot) or hang (open, never served)",
     0, AttrKind::choice, "reject|reset|queue|hang"},
    {"queue_timeout", "ms", 0, 0,
     "queue: how long a connection waits before it is closed; 0 "
     "waits without limit"},
}};

struct Shared final : FaultState {
  std::atomic<std::int64_t> active{0};
  std::atomic<std::int64_t> queued{0};
  std::atomic<std::int64_t> refused{0};
  std::atomic<std::int64_t> hung{0};
};

enum class Mode : std::uint8_t { reject, reset, queue, hang };

class ConnectionLimit final : public ConnectionFault<Shared> {
 public:
  ConnectionLimit(std::int64_t max, Mode mode, Duration timeout)
      : max_(max), mode_(mode), timeout_(timeout) {}

  Admission admit(FaultState* base, TimePoint now, const Admission* retry) const override {
    auto& s = static_cast<Shared&>(*base);
    if (retry) {  // a queued connection asks again
      if (take(s)) {
        s.queued.fetch_sub(1);
        return {Admission::accept, {}, true};
      }
      if (now < retry->until) return *retry;
      s.queued.fetch_sub(1);
      s.refused.fetch_add(1);
      return {Admission::refuse_close};
    }
    // Queued connections go first: a newcomer joins the queue behind them.
    if ((mode_ != Mode::queue || s.queued.load() == 0) && take(s))
      return {Admission::accept, {}, true};
    switch (mode_) {
      case Mode::reject:
        s.refused.fetch_add(1);
        return {Admission::refuse_close};
      case Mode::reset:
        s.refused.fetch_add(1);
        return {Admission::refuse_reset};
      case Mode::hang:
        s.hung.fetch_add(1);
        return {Admission::hang};
      case Mode::queue:
        break;
    }
    s.queued.fetch_add(1);
    return {Admission::wait, timeout_ > Duration::zero() ? now + timeout_ : TimePoint::max()};
  }

  void release(FaultState* base) const override { static_cast<Shared&>(*base).active.fetch_sub(1); }
  void abandon(FaultState* base, const Admission&) const override {
    static_cast<Shared&>(*base).queued.fetch_sub(1);
  }

  void gauges(const FaultState* base, Gauges& out) const override {
    const auto& s = static_cast<const Shared&>(*base);
    out.emplace_back("active", s.active.load());
    out.emplace_back("queued", s.queued.load());
    out.emplace_back("refused", s.refused.load());
    out.emplace_back("hung", s.hung.load());
  }

 private:
  bool take(Shared& s) const {
    auto n = s.active.load();
    while (n < max_)
      if (s.active.compare_exchange_weak(n, n + 1)) return true;
    return false;
  }

  std::int64_t max_;
  Mode mode_;
  Duration timeout_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  const auto m = v.text("mode");
  const Mode mode = m == "reset"   ? Mode::reset
                    : m == "queue" ? Mode::queue
                    : m == "hang"  ? Mode::hang
                                   : Mode::reject;
  return Result<std::shared_ptr<const Fault>>::ok(std::make_shared<ConnectionLimit>(
      v.get("max_connections"), mode, millis(v.get("queue_timeout"))));
}

}  // namespace

extern const FaultType connection_limit_type{
    "connection_limit", "caps concurrent connections: refuse, reset, queue or hang the rest",
    kAttrs, &make};

}  // namespace brownout::faults
