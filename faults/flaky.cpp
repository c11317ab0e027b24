// flaky: each connection is cut after a random lifetime, drawn when the
// fault attaches to it: a load balancer or NAT table dropping connections,
// or a server recycling them. mean_lifetime with distribution fixed (exactly
// that), uniform (0 to twice the mean) or exponential (memoryless, as
// independent failures are); mode reset (RST) or close (FIN).
#include <algorithm>
#include <array>
#include <cmath>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 3> kAttrs{{
    {"mean_lifetime", "ms", 0, 1, "average time a connection lives (must be positive)"},
    {"distribution", "", 0, 0, "how lifetimes spread: exponential, uniform (0..2x mean) or fixed",
     0, AttrKind::choice, "exponential|uniform|fixed"},
    {"mode", "", 0, 0, "how a connection is cut: reset (RST) or close (FIN)", 0, AttrKind::choice,
     "reset|close"},
}};

enum class Spread : std::uint8_t { exponential, uniform, fixed };

class Flaky final : public Fault {
 public:
  Flaky(Duration mean, Spread spread, bool reset) : mean_(mean), spread_(spread), reset_(reset) {}

  void on_attach(FaultState*, Context& ctx, Plan& plan) const override {
    const TimePoint at = ctx.now + lifetime(ctx.rng);
    if (plan.end.kind == EndKind::none || at < plan.end.at)
      plan.end = End{reset_ ? EndKind::reset : EndKind::close, at};
  }
  void on_data(FaultState*, Context&, Plan&) const override {}
  const char* end_event() const override { return "cut"; }

 private:
  Duration lifetime(Rng& rng) const {
    const auto mean = static_cast<double>(mean_.count());
    double ns = mean;
    if (spread_ == Spread::uniform) ns = 2.0 * mean * rng.unit();
    if (spread_ == Spread::exponential) ns = -mean * std::log(1.0 - rng.unit());
    return Duration(static_cast<Duration::rep>(std::min(ns, 8.64e13)));
  }

  Duration mean_;
  Spread spread_;
  bool reset_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  const auto d = v.text("distribution");
  const Spread spread = d == "fixed"     ? Spread::fixed
                        : d == "uniform" ? Spread::uniform
                                         : Spread::exponential;
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<Flaky>(millis(v.get("mean_lifetime")), spread, v.text("mode") != "close"));
}

}  // namespace

extern const FaultType flaky_type{"flaky", "cuts each connection after a random lifetime", kAttrs,
                                  &make};

}  // namespace brownout::faults
