// Unit tests for faults/corrupt.cpp. Seeded rng; flips are named by stream offset and must fall
// within the chunk that carries them.
#include <doctest/doctest.h>

#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fault_fixture.hpp"
#include "faults/registry.hpp"

using namespace brownout::test;

namespace {

const TimePoint t0 = TimePoint{} + 10s;

std::shared_ptr<const Fault> corrupt(double percentage) {
  return make_fault("corrupt", {{"percentage", Num(percentage)}});
}

// What corrupt did to a stream sent in chunks.
struct Run {
  std::uint64_t bytes = 0;
  std::vector<Flip> flips;
  int outside_chunk = 0;   // flips naming a byte outside the chunk they came with
  int not_one_bit = 0;     // masks with other than exactly one bit set
  int not_increasing = 0;  // offsets not strictly after the previous flip
  int pieces_changed = 0;  // chunks whose pieces corrupt altered
};

// Sends `chunks` chunks of `size` bytes (arriving 1 ms apart) through one link of `f`.
Run send(const std::shared_ptr<const Fault>& f, int chunks, std::uint32_t size,
         std::uint64_t seed = 1) {
  FaultLink link(f, seed);
  Run run;
  bool first = true;
  std::uint64_t last = 0;
  for (int i = 0; i < chunks; ++i) {
    const std::uint64_t offset = run.bytes;
    const TimePoint arrival = t0 + i * 1ms;
    const auto& plan = link.data(offset, size, arrival);
    if (plan.pieces.size() != 1 || plan.pieces[0].offset != offset || plan.pieces[0].size != size ||
        plan.pieces[0].release != arrival || plan.end.kind != EndKind::none)
      ++run.pieces_changed;
    for (const auto& flip : plan.flips) {
      if (flip.offset < offset || flip.offset >= offset + size) ++run.outside_chunk;
      if (!std::has_single_bit(flip.mask)) ++run.not_one_bit;
      if (!first && flip.offset <= last) ++run.not_increasing;
      first = false;
      last = flip.offset;
      run.flips.push_back(flip);
    }
    run.bytes += size;
  }
  return run;
}

}  // namespace

TEST_CASE("corrupt: percentage 1 flips one bit in ~1% of 10 MB, each within its chunk") {
  // 10 000 000 bytes: 100 000 flips expected, standard deviation sqrt(n q (1-q)) = 315 (0.3%).
  const Run run = send(corrupt(1), 1000, 10'000);
  CHECK(run.bytes == 10'000'000);
  CHECK(static_cast<double>(run.flips.size()) == near(100'000.0, 0.02));
  CHECK(run.outside_chunk == 0);
  CHECK(run.not_one_bit == 0);
  CHECK(run.not_increasing == 0);
  CHECK(run.pieces_changed == 0);
  // Which bit is flipped is uniform: each of 8 is ~12 500 (standard deviation 105): +/- 5%.
  std::array<int, 8> bits{};
  for (const auto& f : run.flips) ++bits[static_cast<std::size_t>(std::countr_zero(f.mask))];
  for (std::size_t b = 0; b < 8; ++b) {
    CAPTURE(b);
    CHECK(static_cast<double>(bits[b]) == near(static_cast<double>(run.flips.size()) / 8.0, 0.05));
  }
  // Spread evenly: gaps between corrupted bytes are geometric with mean 1/q = 100 bytes, so
  // about (1 - q)^100 = 36.6% of gaps are longer than 100 bytes (standard error 0.15%).
  int long_gaps = 0;
  for (std::size_t i = 1; i < run.flips.size(); ++i)
    if (run.flips[i].offset - run.flips[i - 1].offset > 100) ++long_gaps;
  CHECK(static_cast<double>(long_gaps) / static_cast<double>(run.flips.size() - 1) ==
        near(std::pow(0.99, 100), 0.03));
}

TEST_CASE("corrupt: the share holds whatever the chunk size") {
  SUBCASE("one-byte chunks") {
    const Run run = send(corrupt(1), 1'000'000, 1, 2);  // 10 000 expected, sd 99.5: +/- 5%
    CHECK(static_cast<double>(run.flips.size()) == near(10'000.0, 0.05));
    CHECK(run.outside_chunk == 0);
    CHECK(run.not_increasing == 0);
  }
  SUBCASE("64 KB chunks, 25%") {
    const Run run = send(corrupt(25), 16, 65'536, 3);  // 262 144 expected, sd 443: +/- 1%
    CHECK(static_cast<double>(run.flips.size()) == near(0.25 * 16 * 65'536, 0.01));
    CHECK(run.outside_chunk == 0);
    CHECK(run.not_one_bit == 0);
    CHECK(run.not_increasing == 0);
  }
}

TEST_CASE("corrupt: percentage 100 flips every byte, once") {
  const Run run = send(corrupt(100), 50, 1000);
  REQUIRE(run.flips.size() == 50'000);
  for (std::size_t i = 0; i < run.flips.size(); ++i) {
    if (run.flips[i].offset != i) {
      FAIL_CHECK("byte " << i << " missed: flip at " << run.flips[i].offset);
      break;
    }
  }
  CHECK(run.not_one_bit == 0);
  CHECK(run.pieces_changed == 0);
}

TEST_CASE("corrupt: percentage 0 flips nothing") {
  const Run run = send(corrupt(0), 1000, 10'000);
  CHECK(run.flips.empty());
  CHECK(run.pieces_changed == 0);
  CHECK(make_fault("corrupt", {})->make_state() != nullptr);  // the default is 0
  CHECK(send(make_fault("corrupt", {}), 100, 1000).flips.empty());
}

TEST_CASE("corrupt: several pieces in one plan: flips land in the pieces, not in the gaps") {
  // An earlier fault dropped bytes [100, 200): corrupt must not name them.
  FaultLink link(corrupt(50), 11);
  link.plan.pieces = {Piece{0, 100, t0}, Piece{200, 100, t0}};
  auto ctx = link.at(t0);
  link.fault->on_data(link.state.get(), ctx, link.plan);
  CHECK(link.plan.flips.size() > 60);  // ~100 of 200 bytes
  for (const auto& f : link.plan.flips) {
    CAPTURE(f.offset);
    CHECK((f.offset < 100 || (f.offset >= 200 && f.offset < 300)));
  }
}

TEST_CASE("corrupt: the same seed flips the same bytes the same way") {
  const auto f = corrupt(5);
  const Run a = send(f, 100, 1000, 9);
  const Run b = send(f, 100, 1000, 9);
  const Run c = send(f, 100, 1000, 10);
  REQUIRE(a.flips.size() == b.flips.size());
  bool same = true;
  for (std::size_t i = 0; i < a.flips.size(); ++i)
    same = same && a.flips[i].offset == b.flips[i].offset && a.flips[i].mask == b.flips[i].mask;
  CHECK(same);
  bool differs = a.flips.size() != c.flips.size();
  for (std::size_t i = 0; !differs && i < a.flips.size(); ++i)
    differs = a.flips[i].offset != c.flips[i].offset;
  CHECK(differs);
}

TEST_CASE("corrupt: EOF passes unchanged; bad percentages are refused") {
  FaultLink link(corrupt(100));
  auto& eof = link.eof(t0);
  CHECK(eof.end.kind == EndKind::fin);
  CHECK(eof.end.at == t0);
  CHECK(eof.flips.empty());
  CHECK(build_error("corrupt", {{"percentage", Num(100.5)}}).attribute == "percentage");
  CHECK(build_error("corrupt", {{"percentage", Num(-1)}}).attribute == "percentage");
}
