// limit_data: lets at most `bytes` bytes through per connection in this
// direction, cuts the piece that crosses the limit, then closes the
// connection. The count survives updates: raising the limit lets more through.
#include <algorithm>
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 1> kAttrs{{
    {"bytes", "bytes", 0, 0, "bytes allowed through before the connection is closed",
     std::int64_t{1} << 62},
}};

struct State final : FaultState {
  std::uint64_t passed = 0;
};

class LimitData final : public Fault {
 public:
  explicit LimitData(std::uint64_t limit) : limit_(limit) {}

  std::unique_ptr<FaultState> make_state() const override { return std::make_unique<State>(); }

  void on_data(FaultState* base, Context&, Plan& plan) const override {
    auto& state = static_cast<State&>(*base);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < plan.pieces.size(); ++i) {
      Piece piece = plan.pieces[i];
      if (state.passed >= limit_) {
        plan.end = End{EndKind::close, piece.release};
        break;
      }
      const auto room = limit_ - state.passed;
      if (piece.size > room) piece.size = static_cast<std::uint32_t>(room);
      state.passed += piece.size;
      plan.pieces[kept++] = piece;
      if (state.passed >= limit_) {
        plan.end = End{EndKind::close, piece.release};
        break;
      }
    }
    plan.pieces.resize(kept);
  }

  const char* end_event() const override { return "cut"; }

 private:
  std::uint64_t limit_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<LimitData>(static_cast<std::uint64_t>(v.get("bytes"))));
}

}  // namespace

extern const FaultType limit_data_type{"limit_data", "closes the connection after N bytes", kAttrs,
                                       &make};

}  // namespace brownout::faults
