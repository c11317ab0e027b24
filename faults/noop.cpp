// noop: passes everything through. Toxiproxy lets clients create it; it is
// handy to check a chain's wiring.
#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

class Noop final : public Fault {
 public:
  void on_data(FaultState*, Context&, Plan&) const override {}
};

Result<std::shared_ptr<const Fault>> make(const Values&) {
  return Result<std::shared_ptr<const Fault>>::ok(std::make_shared<Noop>());
}

}  // namespace

extern const FaultType noop_type{"noop", "passes data through unchanged", {}, &make};

}  // namespace brownout::faults
