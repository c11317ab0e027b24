// reset_peer: on the first chunk (or the end) of the direction, drop it, wait
// `timeout` ms and abort the connection with a TCP RST to both peers.
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 1> kAttrs{{
    {"timeout", "ms", 0, 0, "wait after the first data before resetting"},
}};

struct State final : FaultState {
  bool triggered = false;
};

class ResetPeer final : public Fault {
 public:
  explicit ResetPeer(Duration timeout) : timeout_(timeout) {}

  std::unique_ptr<FaultState> make_state() const override { return std::make_unique<State>(); }

  void on_data(FaultState* base, Context& ctx, Plan& plan) const override { fire(base, ctx, plan); }
  void on_eof(FaultState* base, Context& ctx, Plan& plan) const override { fire(base, ctx, plan); }
  const char* end_event() const override { return "reset"; }

 private:
  void fire(FaultState* base, Context& ctx, Plan& plan) const {
    auto& state = static_cast<State&>(*base);
    plan.pieces.clear();
    if (state.triggered) {
      plan.end = End{};  // the reset already scheduled stands
      return;
    }
    state.triggered = true;
    plan.end = End{EndKind::reset, ctx.now + timeout_};
  }

  Duration timeout_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<ResetPeer>(millis(v.get("timeout"))));
}

}  // namespace

extern const FaultType reset_peer_type{"reset_peer", "resets the connection after the first data",
                                       kAttrs, &make};

}  // namespace brownout::faults
