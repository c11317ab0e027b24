// timeout: every byte of the direction is dropped. With timeout > 0 the
// connection is closed once `timeout` ms pass without a chunk arriving (the
// timer starts when the fault is attached and restarts with each chunk);
// with 0 the data vanishes and the connection stays open.
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 1> kAttrs{{
    {"timeout", "ms", 0, 0, "close after this long without data; 0 holds forever"},
}};

class Timeout final : public Fault {
 public:
  explicit Timeout(Duration timeout) : timeout_(timeout) {}

  void on_attach(FaultState*, Context& ctx, Plan& plan) const override { arm(ctx, plan); }

  void on_data(FaultState*, Context& ctx, Plan& plan) const override {
    plan.pieces.clear();
    arm(ctx, plan);
  }

  void on_eof(FaultState*, Context& ctx, Plan& plan) const override {
    if (timeout_ > Duration::zero()) plan.end = End{EndKind::close, ctx.now};
  }

  // The bytes dropped so far left the stream corrupt: carrying on without
  // them would hand the peer garbage, so removing the fault ends the link.
  bool ends_link_on_removal() const override { return true; }
  const char* end_event() const override { return "timed_out"; }
  bool withholds_data() const override { return true; }

 private:
  void arm(Context& ctx, Plan& plan) const {
    if (timeout_ > Duration::zero()) plan.end = End{EndKind::close, ctx.now + timeout_};
  }

  Duration timeout_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<Timeout>(millis(v.get("timeout"))));
}

}  // namespace

extern const FaultType timeout_type{"timeout", "drops data, closing after a quiet period", kAttrs,
                                    &make};

}  // namespace brownout::faults
