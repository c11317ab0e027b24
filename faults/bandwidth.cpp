// bandwidth: caps a direction at `rate` KB/s (1 KB = 1000 bytes) per
// connection. Each piece is released when the link would have finished
// sending it; pieces worth more than 100 ms are split so the stream flows
// smoothly instead of in bursts.
#include <algorithm>
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 1> kAttrs{{
    {"rate", "KB/s", 0, 1, "bytes per second, in thousands (must be positive)", 1'000'000'000'000},
}};

struct State final : FaultState {
  TimePoint next_free{};
};

class Bandwidth final : public Fault {
 public:
  explicit Bandwidth(std::int64_t rate_kbps) : bytes_per_second_(rate_kbps * 1000) {}

  std::unique_ptr<FaultState> make_state() const override { return std::make_unique<State>(); }

  void on_data(FaultState* base, Context& ctx, Plan& plan) const override {
    auto& state = static_cast<State&>(*base);
    // A slice is at most 100 ms of transmission.
    const auto max_slice =
        static_cast<std::uint32_t>(std::clamp<std::int64_t>(bytes_per_second_ / 10, 1, 1 << 30));
    auto& out = ctx.scratch;
    out.clear();
    for (const auto& piece : plan.pieces) {
      TimePoint t = std::max(piece.release, state.next_free);
      std::uint32_t done = 0;
      while (done < piece.size) {
        const std::uint32_t n = std::min(max_slice, piece.size - done);
        t += transmit(n);
        out.push_back(Piece{piece.offset + done, n, t});
        done += n;
      }
      state.next_free = t;
    }
    plan.pieces.swap(out);
    if (plan.end.kind != EndKind::none) plan.end.at = std::max(plan.end.at, state.next_free);
  }

  void on_eof(FaultState* base, Context&, Plan& plan) const override {
    auto& state = static_cast<State&>(*base);
    if (plan.end.kind != EndKind::none) plan.end.at = std::max(plan.end.at, state.next_free);
  }

 private:
  Duration transmit(std::uint32_t bytes) const {
    return Duration(static_cast<std::int64_t>(bytes) * 1'000'000'000 / bytes_per_second_);
  }

  std::int64_t bytes_per_second_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  return Result<std::shared_ptr<const Fault>>::ok(std::make_shared<Bandwidth>(v.get("rate")));
}

}  // namespace

extern const FaultType bandwidth_type{"bandwidth", "limits a connection's throughput", kAttrs,
                                      &make};

}  // namespace brownout::faults
