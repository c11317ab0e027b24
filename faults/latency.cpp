// latency: each chunk goes out `latency` ms (plus a random spread) after it
// arrived. The wait counts from the chunk's own arrival, so latency is
// pipelined: a stream keeps its throughput, each byte is merely late; bytes
// are never reordered (a chunk never leaves before the one ahead of it).
//
// The spread follows `distribution`, as tc-netem names them:
//   uniform      +/- jitter, evenly (Toxiproxy's jitter, the default);
//   normal       jitter is the standard deviation;
//   pareto       a heavy upper tail (Pareto, shape 3), standard deviation jitter;
//   paretonormal a quarter normal, three quarters pareto, as netem mixes them;
//   lognormal    mean `latency`, standard deviation `jitter`, never negative.
// `correlation` (percent) ties each draw to the previous one: the draws come
// from an autoregressive Gaussian (a copula), so each distribution keeps its
// shape while consecutive delays move together.
#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "faults/fault.hpp"

namespace brownout::faults {
namespace {

const std::array<AttrSpec, 4> kAttrs{{
    {"latency", "ms", 0, 0, "delay added to every chunk"},
    {"jitter", "ms", 0, 0, "the random spread (see distribution)"},
    {"distribution", "", 0, 0,
     "shape of the spread: uniform (+/- jitter, Toxiproxy's), normal, "
     "pareto, paretonormal or lognormal (jitter is the standard deviation)",
     0, AttrKind::choice, "uniform|normal|pareto|paretonormal|lognormal", true},
    {"correlation",
     "%",
     0,
     0,
     "how much each draw follows the previous one",
     100,
     AttrKind::number,
     {},
     true},
}};

enum class Shape : std::uint8_t { uniform, normal, pareto, paretonormal, lognormal };

struct State final : FaultState {
  double z1 = 0;  // the previous Gaussian draws (correlation)
  double z2 = 0;
  bool started = false;
};

double gaussian(Rng& rng) {
  // Box-Muller; 1 - unit() keeps the logarithm finite.
  const double u1 = 1.0 - rng.unit();
  const double u2 = rng.unit();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double gauss_cdf(double z) {
  return 0.5 * std::erfc(-z / std::numbers::sqrt2);
}

// Pareto with shape 3 and scale 1 has mean 1.5 and standard deviation
// sqrt(3)/2; standardized so `jitter` is its standard deviation.
double standard_pareto(double u) {
  const double x = std::pow(1.0 - std::min(u, 1.0 - 1e-12), -1.0 / 3.0);
  return (x - 1.5) / (std::sqrt(3.0) / 2.0);
}

class Latency final : public Fault {
 public:
  Latency(Duration latency, Duration jitter, Shape shape, double correlation)
      : latency_(latency), jitter_(jitter), shape_(shape), rho_(correlation) {
    if (shape_ == Shape::lognormal && latency_ > Duration::zero()) {
      const double m = static_cast<double>(latency_.count());
      const double s = static_cast<double>(jitter_.count());
      sigma_ = std::sqrt(std::log(1.0 + (s / m) * (s / m)));
      mu_ = std::log(m) - sigma_ * sigma_ / 2.0;
    }
  }

  std::unique_ptr<FaultState> make_state() const override {
    if (jitter_ == Duration::zero()) return nullptr;
    return std::make_unique<State>();
  }

  void on_data(FaultState* state, Context& ctx, Plan& plan) const override {
    const Duration delay = draw(state, ctx);
    for (auto& piece : plan.pieces) piece.release += delay;
    if (plan.end.kind != EndKind::none) plan.end.at += delay;
  }

  void on_eof(FaultState* state, Context& ctx, Plan& plan) const override {
    if (plan.end.kind != EndKind::none) plan.end.at += draw(state, ctx);
  }

 private:
  // A standard Gaussian, following the previous one by the correlation.
  double next(double& last, bool started, Rng& rng) const {
    const double e = gaussian(rng);
    last = started && rho_ > 0 ? rho_ * last + std::sqrt(1.0 - rho_ * rho_) * e : e;
    return last;
  }

  Duration draw(FaultState* base, Context& ctx) const {
    if (jitter_ == Duration::zero()) return latency_;
    const auto j = static_cast<double>(jitter_.count());
    if (shape_ == Shape::uniform && rho_ == 0) {  // Toxiproxy's draw, exactly
      const auto offset = Duration(ctx.rng.range(-jitter_.count(), jitter_.count()));
      return std::max(Duration::zero(), latency_ + offset);
    }
    State fresh;  // a link that attached before the spread needed state draws uncorrelated
    auto& s = base ? static_cast<State&>(*base) : fresh;
    const bool started = s.started;
    s.started = true;
    const double z = next(s.z1, started, ctx.rng);
    double ns = 0;
    switch (shape_) {
      case Shape::uniform:
        ns = static_cast<double>(latency_.count()) + j * (2.0 * gauss_cdf(z) - 1.0);
        break;
      case Shape::normal:
        ns = static_cast<double>(latency_.count()) + j * z;
        break;
      case Shape::pareto:
        ns = static_cast<double>(latency_.count()) + j * standard_pareto(gauss_cdf(z));
        break;
      case Shape::paretonormal: {
        const double p = standard_pareto(gauss_cdf(next(s.z2, started, ctx.rng)));
        // Weights 1/4 and 3/4, rescaled so jitter stays the standard deviation.
        ns = static_cast<double>(latency_.count()) + j * (0.25 * z + 0.75 * p) / std::sqrt(0.625);
        break;
      }
      case Shape::lognormal:
        ns = latency_ > Duration::zero() ? std::exp(mu_ + sigma_ * z) : 0.0;
        break;
    }
    if (!(ns > 0)) return Duration::zero();
    return Duration(static_cast<Duration::rep>(std::min(ns, 8.64e13)));  // at most a day
  }

  Duration latency_;
  Duration jitter_;
  Shape shape_;
  double rho_;
  double mu_ = 0, sigma_ = 0;
};

Result<std::shared_ptr<const Fault>> make(const Values& v) {
  using R = Result<std::shared_ptr<const Fault>>;
  const auto name = v.text("distribution");
  Shape shape = Shape::uniform;
  if (name == "normal") shape = Shape::normal;
  if (name == "pareto") shape = Shape::pareto;
  if (name == "paretonormal") shape = Shape::paretonormal;
  if (name == "lognormal") shape = Shape::lognormal;
  if (shape == Shape::lognormal && v.get("latency") == 0 && v.get("jitter") > 0)
    return R::fail("a lognormal latency needs latency > 0 (its mean)", "latency");
  return R::ok(std::make_shared<Latency>(millis(v.get("latency")), millis(v.get("jitter")), shape,
                                         v.number("correlation") / 100.0));
}

}  // namespace

extern const FaultType latency_type{
    "latency", "delays every chunk by a fixed time plus a random spread", kAttrs, &make};

}  // namespace brownout::faults
