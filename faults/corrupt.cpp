// corrupt: flips one random bit in a `percentage` of the direction's bytes,
// spread evenly at random (gaps between corrupted bytes are geometric, so
// the cost is per corrupted byte, not per byte). For checksum and parser
// robustness drills; it never acts unless asked for by name.
#include <array>
#include <cmath>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 1> kAttrs{{
    {"percentage", "%", 0, 0, "share of bytes that get one bit flipped", 100, AttrKind::number},
}};

struct State final : FaultState {
  std::uint64_t next = 0;  // stream offset of the next byte to corrupt
  bool drawn = false;
};

class Corrupt final : public Fault {
 public:
  explicit Corrupt(double q) : q_(q) {}

  std::unique_ptr<FaultState> make_state() const override { return std::make_unique<State>(); }

  void on_data(FaultState* base, Context& ctx, Plan& plan) const override {
    if (q_ <= 0) return;
    auto& s = static_cast<State&>(*base);
    for (const auto& piece : plan.pieces) {
      if (!s.drawn || s.next < piece.offset) {
        s.next = piece.offset + gap(ctx.rng);
        s.drawn = true;
      }
      while (s.next < piece.offset + piece.size) {
        plan.flips.push_back(Flip{s.next, static_cast<std::uint8_t>(1u << ctx.rng.range(0, 8))});
        s.next += 1 + gap(ctx.rng);
      }
    }
  }

 private:
  // Bytes left alone before the next corrupted one.
  std::uint64_t gap(Rng& rng) const {
    if (q_ >= 1) return 0;
    const double g = std::floor(std::log(1.0 - rng.unit()) / std::log(1.0 - q_));
    return g > 1e18 ? std::uint64_t{1} << 60 : static_cast<std::uint64_t>(g);
  }

  double q_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<Corrupt>(v.number("percentage") / 100));
}

}  // namespace

extern const FaultType corrupt_type{"corrupt", "flips bits in a share of the bytes", kAttrs, &make};

}  // namespace brownout::faults
