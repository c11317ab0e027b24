// bandwidth: caps a direction at `rate` KB/s (1 KB = 1000 bytes), per
// connection (Toxiproxy's) or, with scope = proxy, one budget shared by every
// connection of the proxy (a saturated uplink). Each piece is released when
// the link would have finished sending it; pieces worth more than 100 ms are
// split so the stream flows smoothly instead of in bursts.
#include <algorithm>
#include <array>
#include <mutex>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 2> kAttrs{{
    {"rate", "KB/s", 0, 1, "bytes per second, in thousands (must be positive)", 1'000'000'000'000},
    {"scope", "", 0, 0,
     "connection: each connection gets the rate (Toxiproxy's); proxy: all "
     "connections share it",
     0, AttrKind::choice, "connection|proxy", true},
}};

struct State final : FaultState {
  TimePoint next_free{};
};

// The proxy-wide budget: links on different workers take turns under a lock.
struct Shared final : FaultState {
  std::mutex mutex;
  State state;
};

class Bandwidth final : public Fault {
 public:
  Bandwidth(std::int64_t rate_kbps, bool shared)
      : bytes_per_second_(rate_kbps * 1000), shared_(shared) {}

  std::unique_ptr<FaultState> make_state() const override { return std::make_unique<State>(); }
  std::shared_ptr<FaultState> make_shared_state() const override {
    return shared_ ? std::make_shared<Shared>() : nullptr;
  }

  void on_data(FaultState* base, Context& ctx, Plan& plan) const override {
    if (shared_ && ctx.shared) {
      auto& shared = static_cast<Shared&>(*ctx.shared);
      std::lock_guard lock(shared.mutex);
      schedule(shared.state, ctx, plan);
    } else if (base) {
      schedule(static_cast<State&>(*base), ctx, plan);
    }
  }

  void on_eof(FaultState* base, Context& ctx, Plan& plan) const override {
    if (plan.end.kind == EndKind::none) return;
    if (shared_ && ctx.shared) {
      auto& shared = static_cast<Shared&>(*ctx.shared);
      std::lock_guard lock(shared.mutex);
      plan.end.at = std::max(plan.end.at, shared.state.next_free);
    } else if (base) {
      plan.end.at = std::max(plan.end.at, static_cast<State&>(*base).next_free);
    }
  }

 private:
  void schedule(State& state, Context& ctx, Plan& plan) const {
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

  Duration transmit(std::uint32_t bytes) const {
    return Duration(static_cast<std::int64_t>(bytes) * 1'000'000'000 / bytes_per_second_);
  }

  std::int64_t bytes_per_second_;
  bool shared_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<Bandwidth>(v.get("rate"), v.text("scope") == "proxy"));
}

}  // namespace

extern const FaultType bandwidth_type{"bandwidth", "limits a connection's throughput", kAttrs,
                                      &make};

}  // namespace brownout::faults
