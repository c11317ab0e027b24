// A small, fast, seedable random source. Each link owns one (8 bytes), seeded
// from the server seed and the link id, so a run with --seed repeats its
// decisions and unit tests are deterministic.
#pragma once

#include <cstdint>

namespace brownout::faults {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : state_(seed) {}

  static Rng for_link(std::uint64_t server_seed, std::uint64_t link_id) {
    Rng mix(server_seed ^ (link_id * 0x9E3779B97F4A7C15ull));
    return Rng(mix.next());
  }

  // splitmix64: passes BigCrush, one multiply-xorshift round per draw.
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [lo, hi); returns lo when the range is empty.
  std::int64_t range(std::int64_t lo, std::int64_t hi) {
    if (hi <= lo) return lo;
    const auto span = static_cast<std::uint64_t>(hi - lo);
    return lo + static_cast<std::int64_t>(next() % span);
  }

  // True with probability p (p <= 0 never, p >= 1 always).
  bool chance(double p) {
    if (p >= 1.0) return true;
    if (p <= 0.0) return false;
    return unit() < p;
  }

 private:
  std::uint64_t state_;
};

}  // namespace brownout::faults
