// slow_close: data passes untouched; when the source ends, passing the end
// on (FIN) is postponed by `delay` ms.
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 1> kAttrs{{
    {"delay", "ms", 0, 0, "how long to hold the connection's end"},
}};

class SlowClose final : public Fault {
 public:
  explicit SlowClose(Duration delay) : delay_(delay) {}
  void on_data(FaultState*, Context&, Plan&) const override {}
  void on_eof(FaultState*, Context&, Plan& plan) const override {
    if (plan.end.kind == EndKind::fin) plan.end.at += delay_;
  }

 private:
  Duration delay_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<SlowClose>(millis(v.get("delay"))));
}

}  // namespace

extern const FaultType slow_close_type{"slow_close", "delays the close of a connection", kAttrs,
                                       &make};

}  // namespace brownout::faults
