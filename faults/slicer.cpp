// slicer: splits each chunk into pieces of about `average_size` bytes (±
// `size_variation`), sent `delay` microseconds apart: the dribble a parser
// that assumes whole messages per read does not survive.
#include <algorithm>
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 3> kAttrs{{
    {"average_size", "bytes", 0, 1, "mean size of a piece (must be positive)", 1 << 30},
    {"size_variation", "bytes", 0, 0, "random spread of a piece's size; below average_size",
     1 << 30},
    {"delay", "us", 0, 0, "pause between pieces", AttrSpec::kDayMs * 1000},
}};

struct State final : FaultState {
  TimePoint next_free{};
};

class Slicer final : public Fault {
 public:
  Slicer(std::int64_t average, std::int64_t variation, Duration delay)
      : average_(average), variation_(variation), delay_(delay) {}

  std::unique_ptr<FaultState> make_state() const override { return std::make_unique<State>(); }

  void on_data(FaultState* base, Context& ctx, Plan& plan) const override {
    auto& state = static_cast<State&>(*base);
    auto& out = ctx.scratch;
    out.clear();
    for (const auto& piece : plan.pieces) {
      TimePoint t = std::max(piece.release, state.next_free);
      std::uint32_t done = 0;
      while (done < piece.size) {
        const std::int64_t want = average_ + ctx.rng.range(-variation_, variation_ + 1);
        const auto n = static_cast<std::uint32_t>(
            std::clamp<std::int64_t>(want, 1, static_cast<std::int64_t>(piece.size - done)));
        out.push_back(Piece{piece.offset + done, n, t});
        done += n;
        t += delay_;
      }
      state.next_free = t;
    }
    plan.pieces.swap(out);
  }

 private:
  std::int64_t average_;
  std::int64_t variation_;
  Duration delay_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  const auto average = v.get("average_size");
  const auto variation = v.get("size_variation");
  if (variation >= average) {
    return Result<std::shared_ptr<const Fault>>::fail(
        "attribute size_variation must be smaller than average_size (" + std::to_string(variation) +
            " >= " + std::to_string(average) + ")",
        "size_variation");
  }
  return Result<std::shared_ptr<const Fault>>::ok(
      std::make_shared<Slicer>(average, variation, micros(v.get("delay"))));
}

}  // namespace

extern const FaultType slicer_type{"slicer", "splits data into small pieces sent apart", kAttrs,
                                   &make};

}  // namespace brownout::faults
