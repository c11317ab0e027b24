// stall: packet loss as a TCP connection feels it. Nothing is lost or
// reordered; a "lost" chunk is late by a retransmission timeout, doubled for
// each further loss of the same chunk (as TCP's RTO backs off), and what
// follows it waits behind it. Losses come in bursts from a Gilbert-Elliott
// chain that steps once per transmission, as netem's steps once per packet
// (p: chance in percent of going from the good state to the bad one, r: of
// coming back; a transmission is lost while the chain is bad, so the loss
// rate per transmission is p/(p+r) and a burst is 100/r transmissions on
// average: mostly one chunk sent again and again, its wait doubling each
// time, as a TCP connection in a loss burst backs off), or, with p = 0,
// independently with `percentage` per transmission.
#include <algorithm>
#include <array>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 5> kAttrs{{
    {"p", "%", 0, 0, "Gilbert-Elliott: chance per transmission of entering a loss burst", 100,
     AttrKind::number},
    {"r", "%", 100, 0, "Gilbert-Elliott: chance per transmission of leaving a loss burst", 100,
     AttrKind::number},
    {"percentage", "%", 0, 0, "independent loss per transmission (when p is 0)", 100,
     AttrKind::number},
    {"rto", "ms", 200, 1, "delay of a first loss; each further loss doubles it"},
    {"max_rto", "ms", 60'000, 1, "the longest a single retransmission waits"},
}};

struct State final : FaultState {
  bool bad = false;  // the Gilbert-Elliott state
  TimePoint next_free{};
};

class Stall final : public Fault {
 public:
  Stall(double p, double r, double percentage, Duration rto, Duration max_rto)
      : p_(p), r_(r), percentage_(percentage), rto_(rto), max_rto_(max_rto) {}

  std::unique_ptr<FaultState> make_state() const override { return std::make_unique<State>(); }

  void on_data(FaultState* base, Context& ctx, Plan& plan) const override {
    auto& s = static_cast<State&>(*base);
    for (auto& piece : plan.pieces) {
      Duration delay{};
      Duration rto = rto_;
      // Each loss is one more retransmission of this chunk (at most 16).
      for (int k = 0; k < 16 && lost(s, ctx.rng); ++k) {
        delay += rto;
        rto = std::min(rto * 2, max_rto_);
      }
      piece.release = std::max(piece.release, s.next_free) + delay;
      s.next_free = piece.release;
    }
    if (plan.end.kind != EndKind::none) plan.end.at = std::max(plan.end.at, s.next_free);
  }

  void on_eof(FaultState* base, Context&, Plan& plan) const override {
    auto& s = static_cast<State&>(*base);
    if (plan.end.kind != EndKind::none) plan.end.at = std::max(plan.end.at, s.next_free);
  }

 private:
  bool lost(State& s, Rng& rng) const {
    if (p_ <= 0) return rng.chance(percentage_);
    s.bad = s.bad ? !rng.chance(r_) : rng.chance(p_);
    return s.bad;
  }

  double p_, r_, percentage_;
  Duration rto_, max_rto_;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  using R = Result<std::shared_ptr<const Fault>>;
  if (v.number("p") > 0 && v.number("r") <= 0)
    return R::fail("attribute r must be > 0 when p is set (a loss burst must be able to end)", "r");
  if (v.get("max_rto") < v.get("rto"))
    return R::fail("attribute max_rto must be >= rto", "max_rto");
  return R::ok(std::make_shared<Stall>(v.number("p") / 100, v.number("r") / 100,
                                       v.number("percentage") / 100, millis(v.get("rto")),
                                       millis(v.get("max_rto"))));
}

}  // namespace

extern const FaultType stall_type{
    "stall", "TCP-like loss: bursts of retransmission delays, no byte lost", kAttrs, &make};

}  // namespace brownout::faults
