// blackhole: the direction's bytes vanish and so does its end (a FIN never
// arrives), while the connection stays open: a silent partition, where only
// the client's own timeout can save it.
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

class Blackhole final : public Fault {
 public:
  void on_data(FaultState*, Context&, Plan& plan) const override {
    plan.pieces.clear();
    plan.end = End{};
  }
  void on_eof(FaultState*, Context&, Plan& plan) const override { plan.end = End{}; }

  // The bytes that vanished left the stream corrupt: healing the partition
  // ends the links it swallowed bytes of, as removing timeout does.
  bool ends_link_on_removal() const override { return true; }
  bool withholds_data() const override { return true; }
};

Result<std::shared_ptr<const Fault>> make(const Values&) {
  return Result<std::shared_ptr<const Fault>>::ok(std::make_shared<Blackhole>());
}

}  // namespace

extern const FaultType blackhole_type{
    "blackhole",
    "swallows the direction's bytes and its end; the connection stays open",
    {},
    &make};

}  // namespace brownout::faults
