// --seed makes a run repeat its random decisions (Toxiproxy's -seed does not).
#include "support/harness.hpp"

using namespace brownout::test;

namespace {

// Which of 24 sequential connections a toxicity-0.5 latency fault picked.
std::string picks(std::uint64_t seed) {
  Harness h({1, seed, 1 << 20, nullptr});
  Server upstream(echo);
  const auto port = h.proxy("s", upstream.address());
  h.toxic("s", R"({"type":"latency","toxicity":0.5,"attributes":{"latency":40}})");
  std::string out;
  for (int i = 0; i < 24; ++i) {
    Fd c = connect_tcp(port);
    const auto t0 = SteadyClock::now();
    send_all(c.get(), "x");
    recv_exact(c.get(), 1);
    out.push_back(seconds_since(t0) >= 0.035 ? '1' : '0');
  }
  return out;
}

}  // namespace

TEST_CASE("the same seed picks the same connections; another seed picks others") {
  const auto a = picks(7);
  CAPTURE(a);
  CHECK(a.find('1') != std::string::npos);
  CHECK(a.find('0') != std::string::npos);
  CHECK(picks(7) == a);
  CHECK(picks(8) != a);
}
