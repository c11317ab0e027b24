// latency: each chunk goes out `latency` ms (± a uniform `jitter`) after it
// arrived. The wait counts from the chunk's own arrival, so latency is
// pipelined: a stream keeps its throughput, each byte is merely late.
#include <algorithm>
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 2> kAttrs{{
    {"latency", "ms", 0, 0, "delay added to every chunk"},
    {"jitter", "ms", 0, 0, "uniform random spread around the delay, +/- this much"},
}};

class Latency final : public Fault {
 public:
  Latency(Duration latency, std::int64_t jitter_ns) : latency_(latency), jitter_ns_(jitter_ns) {}

  void on_data(FaultState*, Context& ctx, Plan& plan) const override {
    const Duration delay = draw(ctx);
    for (auto& piece : plan.pieces) piece.release += delay;
    if (plan.end.kind != EndKind::none) plan.end.at += delay;
  }

  void on_eof(FaultState*, Context& ctx, Plan& plan) const override {
    if (plan.end.kind != EndKind::none) plan.end.at += draw(ctx);
  }

 private:
  Duration draw(Context& ctx) const {
    if (jitter_ns_ == 0) return latency_;
    const auto offset = Duration(ctx.rng.range(-jitter_ns_, jitter_ns_));
    return std::max(Duration::zero(), latency_ + offset);
  }

  Duration latency_;
  std::int64_t jitter_ns_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  const auto jitter = std::chrono::duration_cast<Duration>(millis(v.get("jitter"))).count();
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<Latency>(millis(v.get("latency")), jitter));
}

}  // namespace

extern const FaultType latency_type{"latency", "delays every chunk by a fixed time plus jitter",
                                    kAttrs, &make};

}  // namespace brownout::faults
