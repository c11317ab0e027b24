// Unit tests for faults/stall.cpp. Fake clock, seeded rng.
//
// The model as the code runs it: each chunk is "sent" and, while lost() says so, "retransmitted"
// (at most 16 losses). With p > 0, lost() advances a Gilbert-Elliott chain once per draw (per
// transmission): the chain enters the bad state with chance p and leaves it with chance r, and a
// transmission is lost while it is bad. So, per transmission, the loss rate is p/(p+r) and a run
// of losses lasts 1/r transmissions on average; per chunk, the first transmission follows a good
// state (the previous chunk got through) and is lost with chance p, and a lost chunk is lost 1/r
// times in a row, for rto + 2 rto + 4 rto + ... (each term capped by max_rto).
#include <doctest/doctest.h>

#include <algorithm>
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

const TimePoint t0 = TimePoint{} + 1000s;
const auto since = since_from(t0);

std::shared_ptr<const Fault> stall(const std::map<std::string, Value>& attrs) {
  return make_fault("stall", attrs);
}

// The delay a run of k losses adds: rto, then doubled per further loss, each capped by max_rto.
Duration backoff(int k, Duration rto, Duration max_rto) {
  Duration total{};
  for (int i = 0; i < k; ++i) {
    total += rto;
    rto = std::min(rto * 2, max_rto);
  }
  return total;
}

// How often each chunk of a long run was lost (the number of retransmissions it waited for),
// read back from its delay: with rto = 1 ms and a max_rto that never caps, k losses add exactly
// 2^k - 1 ms. Chunks arrive 100 s apart (more than 16 losses can add), so none queues.
struct Losses {
  std::vector<int> per_chunk;
  bool exact = true;  // every delay was 2^k - 1 ms for some k in [0, 16]
};

Losses losses_per_chunk(const std::map<std::string, Value>& chain, int chunks, std::uint64_t seed) {
  auto attrs = chain;
  attrs["rto"] = I(1);
  attrs["max_rto"] = I(100'000);
  FaultLink link(stall(attrs), seed);
  Losses out;
  out.per_chunk.reserve(static_cast<std::size_t>(chunks));
  for (int i = 0; i < chunks; ++i) {
    const TimePoint arrival = t0 + i * 100s;
    const auto& plan = link.data(static_cast<std::uint64_t>(i), 1, arrival);
    const Duration delay = plan.pieces.at(0).release - arrival;
    int k = 0;
    while (k <= 16 && backoff(k, 1ms, 100s) != delay) ++k;
    if (k > 16) out.exact = false;
    out.per_chunk.push_back(k);
  }
  return out;
}

}  // namespace

TEST_CASE("stall: Gilbert-Elliott p=1 r=30: bursts of 1/r losses, p/(p+r) of transmissions") {
  // 1e6 chunks: ~10 000 stalled ones. Standard errors: the stalled share 1% relative, the mean
  // burst ~0.9% (a geometric of sd 2.8 over 1e4 bursts). Tolerances 5%.
  constexpr int kChunks = 1'000'000;
  const auto run = losses_per_chunk({{"p", Num(1)}, {"r", Num(30)}}, kChunks, 2024);
  CHECK(run.exact);
  std::int64_t stalled = 0, losses = 0, after_stalled = 0, stalled_after_stalled = 0, once = 0;
  for (std::size_t i = 0; i < run.per_chunk.size(); ++i) {
    const int k = run.per_chunk[i];
    losses += k;
    if (k > 0) ++stalled;
    if (k == 1) ++once;
    if (i > 0 && run.per_chunk[i - 1] > 0) {
      ++after_stalled;
      if (k > 0) ++stalled_after_stalled;
    }
  }
  const double p = 0.01, r = 0.30;
  // Per transmission (chunks + retransmissions): the chain's stationary loss rate p/(p+r).
  CHECK(static_cast<double>(losses) / static_cast<double>(kChunks + losses) ==
        near(p / (p + r), 0.05));
  // A burst of losses (of one chunk) lasts 1/r = 3.33 transmissions; the 16-loss cap trims it
  // to (1 - 0.7^16) / 0.3 = 3.322.
  const double mean_burst = (1.0 - std::pow(1.0 - r, 16)) / r;
  CHECK(static_cast<double>(losses) / static_cast<double>(stalled) == near(mean_burst, 0.05));
  // A burst ends after exactly one loss with chance r.
  CHECK(static_cast<double>(once) / static_cast<double>(stalled) == near(r, 0.05));
  // Per chunk: the chain is good when a chunk is first sent, so a chunk stalls with chance p...
  CHECK(static_cast<double>(stalled) / kChunks == near(p, 0.05));
  // ...also right after a stalled chunk (~100 cases here: a loose bound): stalls of successive
  // chunks are rare, a burst is one chunk's retransmissions.
  CHECK(static_cast<double>(stalled_after_stalled) / static_cast<double>(after_stalled) < 0.02);
}

TEST_CASE("stall: percentage (p = 0) loses chunks independently") {
  // 1e6 chunks at 1%: 10 000 stalled, standard error 1%.
  constexpr int kChunks = 1'000'000;
  const auto run = losses_per_chunk({{"percentage", Num(1)}}, kChunks, 7);
  CHECK(run.exact);
  std::int64_t stalled = 0, twice = 0;
  for (int k : run.per_chunk) {
    if (k > 0) ++stalled;
    if (k > 1) ++twice;
  }
  CHECK(static_cast<double>(stalled) / kChunks == near(0.01, 0.05));
  // A retransmission is lost with the same 1%: ~100 chunks lost twice (a Poisson count).
  CHECK(twice > 50);
  CHECK(twice < 150);
}

TEST_CASE("stall: percentage 1 with the default rto delays ~1% of chunks by >= 200 ms") {
  const auto f = stall({{"percentage", Num(1)}});
  FaultLink link(f, 99);
  constexpr int kChunks = 200'000;  // 2 000 stalled: standard error 2.2%, tolerance 10%
  int stalled = 0;
  bool short_stall = false;
  for (int i = 0; i < kChunks; ++i) {
    const TimePoint arrival = t0 + i * 1000s;
    const auto d =
        link.data(static_cast<std::uint64_t>(i), 100, arrival).pieces.at(0).release - arrival;
    if (d > Duration::zero()) {
      ++stalled;
      if (d < 200ms) short_stall = true;
    }
  }
  CHECK_FALSE(short_stall);
  CHECK(static_cast<double>(stalled) / kChunks == near(0.01, 0.10));
}

TEST_CASE("stall: one loss adds exactly rto, and what follows queues behind it") {
  // p = 100: the chain always turns bad on a chunk's first send; r = 100: always good again on
  // the retransmission. Every chunk is lost exactly once.
  FaultLink link(stall({{"p", Num(100)}, {"r", Num(100)}}));
  CHECK(since(link.data(0, 10, t0).pieces.at(0).release) == ns(200ms));
  CHECK(since(link.data(10, 10, t0 + 1s).pieces.at(0).release) == ns(1200ms));
  // Two chunks arriving together: the second waits for the first, then for its own loss.
  CHECK(since(link.data(20, 10, t0 + 5s).pieces.at(0).release) == ns(5200ms));
  CHECK(since(link.data(30, 10, t0 + 5s).pieces.at(0).release) == ns(5400ms));

  FaultLink fast(stall({{"p", Num(100)}, {"r", Num(100)}, {"rto", I(30)}}));
  CHECK(since(fast.data(0, 10, t0).pieces.at(0).release) == ns(30ms));
}

TEST_CASE("stall: each further loss of a chunk doubles the wait: rto, 2 rto, 4 rto ...") {
  // p = 100, r = 50: the first send is always lost (chance(1) draws nothing); each
  // retransmission stays lost while the rng's unit() >= 0.5. A shadow rng with the same seed
  // predicts how often: so the delay must be exactly backoff(k).
  const std::map<std::string, Value> attrs{{"p", Num(100)}, {"r", Num(50)}};
  const auto f = stall(attrs);
  bool saw_two = false;
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    CAPTURE(seed);
    Rng shadow(seed);
    int k = 1;
    while (k < 16 && !shadow.chance(0.5)) ++k;
    FaultLink link(f, seed);
    const auto delay = since(link.data(0, 1, t0).pieces.at(0).release);
    CHECK(delay == ns(backoff(k, 200ms, 60s)));
    if (k == 2) {
      CHECK(delay == ns(200ms + 400ms));  // rto + 2 rto
      saw_two = true;
    }
  }
  CHECK(saw_two);
}

TEST_CASE("stall: max_rto caps each wait; at most 16 losses per chunk") {
  // percentage 100 loses every transmission: the 16-loss limit ends it.
  SUBCASE("max_rto 1000: 200 + 400 + 800 + 13 x 1000") {
    FaultLink link(stall({{"percentage", Num(100)}, {"max_rto", I(1000)}}));
    CHECK(since(link.data(0, 1, t0).pieces.at(0).release) == ns(14'400ms));
  }
  SUBCASE("defaults: 200 x (2^9 - 1) then 7 x 60 s") {
    FaultLink link(stall({{"percentage", Num(100)}}));
    CHECK(since(link.data(0, 1, t0).pieces.at(0).release) == ns(102'200ms + 7 * 60s));
  }
  SUBCASE("max_rto == rto: no back-off") {
    FaultLink link(stall({{"percentage", Num(100)}, {"rto", I(50)}, {"max_rto", I(50)}}));
    CHECK(since(link.data(0, 1, t0).pieces.at(0).release) == ns(16 * 50ms));
  }
}

TEST_CASE("stall: build refuses a burst that cannot end and max_rto below rto") {
  const auto no_exit = build_error("stall", {{"p", Num(1)}, {"r", Num(0)}});
  CHECK(no_exit.attribute == "r");
  const auto capped = build_error("stall", {{"rto", I(500)}, {"max_rto", I(100)}});
  CHECK(capped.attribute == "max_rto");
  CHECK(capped.message.find("max_rto") != std::string::npos);
  // r = 0 is fine without p (percentage mode), and so is max_rto == rto.
  CHECK(build(type("stall"), {{"p", Num(0)}, {"r", Num(0)}, {"percentage", Num(5)}}));
  CHECK(build(type("stall"), {{"rto", I(100)}, {"max_rto", I(100)}}));
  CHECK_FALSE(build(type("stall"), {{"p", Num(101)}}));
  CHECK_FALSE(build(type("stall"), {{"rto", I(0)}}));
}

TEST_CASE("stall: no byte is dropped or reordered") {
  // Bursty loss (p=5, r=30, rto 10 ms) on 100 000 chunks of varied sizes, 1 ms apart.
  FaultLink link(stall({{"p", Num(5)}, {"r", Num(30)}, {"rto", I(10)}, {"max_rto", I(200)}}), 3);
  std::uint64_t offset = 0;
  TimePoint prev{};
  int bad_shape = 0, reordered = 0, early = 0, delayed = 0;
  for (int i = 0; i < 100'000; ++i) {
    const TimePoint arrival = t0 + i * 1ms;
    const auto size = static_cast<std::uint32_t>(1 + (i * 7919) % 4000);
    const auto& plan = link.data(offset, size, arrival);
    if (plan.pieces.size() != 1 || plan.pieces[0].offset != offset || plan.pieces[0].size != size)
      ++bad_shape;
    if (plan.end.kind != EndKind::none) ++bad_shape;
    const TimePoint release = plan.pieces.at(0).release;
    if (release < prev) ++reordered;
    if (release < arrival) ++early;
    if (release > arrival) ++delayed;
    prev = release;
    offset += size;
  }
  CHECK(bad_shape == 0);
  CHECK(reordered == 0);
  CHECK(early == 0);
  CHECK(delayed > 1000);  // it did act (and queued what followed a stall)
}

TEST_CASE("stall: several pieces in one plan each take their turn, in order") {
  FaultLink link(stall({{"p", Num(100)}, {"r", Num(100)}}));  // one loss per piece
  link.plan.pieces = {Piece{0, 5, t0}, Piece{5, 5, t0 + 10ms}, Piece{10, 5, t0 + 900ms}};
  auto ctx = link.at(t0);
  link.fault->on_data(link.state.get(), ctx, link.plan);
  check_contiguous(link.plan, 0, 15);
  REQUIRE(link.plan.pieces.size() == 3);
  CHECK(since(link.plan.pieces[0].release) == ns(200ms));
  CHECK(since(link.plan.pieces[1].release) == ns(400ms));
  CHECK(since(link.plan.pieces[2].release) == ns(1100ms));
}

TEST_CASE("stall: EOF and an earlier fault's end wait for the stalled bytes") {
  FaultLink link(stall({{"p", Num(100)}, {"r", Num(100)}}));
  link.data(0, 10, t0);  // out at 200 ms
  auto& eof = link.eof(t0 + 50ms);
  CHECK(eof.end.kind == EndKind::fin);
  CHECK(since(eof.end.at) == ns(200ms));
  CHECK(since(link.eof(t0 + 1s).end.at) == ns(1s));

  link.plan.reset_for(10, 10, t0 + 2s);
  link.plan.end = End{EndKind::close, t0 + 2s};
  auto ctx = link.at(t0 + 2s);
  link.fault->on_data(link.state.get(), ctx, link.plan);
  CHECK(link.plan.end.kind == EndKind::close);
  CHECK(since(link.plan.end.at) == ns(2200ms));
}

TEST_CASE("stall: nothing set loses nothing") {
  FaultLink link(stall({}));
  for (int i = 0; i < 1000; ++i) {
    const TimePoint arrival = t0 + i * 1ms;
    CHECK(link.data(static_cast<std::uint64_t>(i), 1, arrival).pieces.at(0).release == arrival);
  }
}
