// Network chaos over real loopback sockets, as a client sees it: latency
// distributions, connection-level faults (connection_limit, accept_rate),
// stream faults (stall, corrupt, blackhole, bandwidth scopes) and the
// controls every fault takes (for, after, count, clients, flap), plus the
// API's refusals of bad controls. Every case name starts with "chaos:".
#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

#include "support/chaos.hpp"

using namespace brownout::test;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double sample_sd(const std::vector<double>& v) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

// One 1-byte round trip that must come back intact, in ms.
double rtt_ms(int fd, char byte = 'x') {
  bool ok = false;
  const double t = round_trip_ms(fd, std::string(1, byte), &ok);
  REQUIRE(ok);
  return t;
}

// The round-trip time of this connection with no fault (a few samples' median).
double baseline_ms(int fd) {
  std::vector<double> v;
  for (int i = 0; i < 15; ++i) v.push_back(rtt_ms(fd, 'b'));
  return median(v);
}

// Clients that each take a slot and are served once.
std::vector<Fd> hold(std::uint16_t port, int n) {
  std::vector<Fd> out;
  for (int i = 0; i < n; ++i) {
    Fd c = connect_tcp(port, 5s);
    REQUIRE(c);
    bool ok = false;
    round_trip_ms(c.get(), "hold" + std::to_string(i), &ok);
    REQUIRE_MESSAGE(ok, "client " << i << " within the limit was not served");
    out.push_back(std::move(c));
  }
  return out;
}

// Whether a client is served: its bytes come back through the echo upstream.
bool served(const Fd& c, const std::string& message = "ping") {
  bool ok = false;
  round_trip_ms(c.get(), message, &ok);
  return ok;
}

// An echo upstream that also keeps what it received.
struct RecordingEcho {
  std::mutex m;
  std::string received;
  Server server{[this](Fd fd) {
    char buf[4096];
    for (;;) {
      const auto k = ::recv(fd.get(), buf, sizeof buf, 0);
      if (k <= 0) break;
      {
        std::lock_guard lock(m);
        received.append(buf, static_cast<std::size_t>(k));
      }
      if (!send_all(fd.get(), buf, static_cast<std::size_t>(k))) break;
    }
  }};
  std::string got() {
    std::lock_guard lock(m);
    return received;
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// 1. Latency distributions

TEST_CASE("chaos: latency with a normal distribution has its mean and standard deviation") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("normal", upstream.address());
  Fd c = connect_tcp(port, 5s);
  REQUIRE(c);
  const double base = baseline_ms(c.get());
  h.toxic("normal", R"({"name":"bell","type":"latency","stream":"downstream",
      "attributes":{"latency":40,"jitter":10,"distribution":"normal"}})");
  std::this_thread::sleep_for(20ms);  // the change is posted to the worker

  std::vector<double> added;
  for (int i = 0; i < 200; ++i)
    added.push_back(rtt_ms(c.get(), static_cast<char>('a' + i % 26)) - base);
  const double m = mean(added);
  const double sd = sample_sd(added);
  const auto outside =
      std::count_if(added.begin(), added.end(), [](double x) { return x < 30.0 || x > 50.0; });
  CAPTURE(m);
  CAPTURE(sd);
  CAPTURE(outside);
  CHECK(m >= 34.0);
  CHECK(m <= 46.0);
  CHECK(sd >= 6.0);
  CHECK(sd <= 15.0);
  // A normal spread leaves about a third of the draws beyond one standard
  // deviation; a uniform +/- 10 ms would leave none.
  CHECK(outside >= 20);
}

TEST_CASE("chaos: latency with a uniform distribution stays within latency +/- jitter") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("uniform", upstream.address());
  Fd c = connect_tcp(port, 5s);
  REQUIRE(c);
  const double base = baseline_ms(c.get());
  h.toxic("uniform", R"({"name":"flat","type":"latency",
      "attributes":{"latency":40,"jitter":10,"distribution":"uniform"}})");
  std::this_thread::sleep_for(20ms);

  std::vector<double> added;
  for (int i = 0; i < 100; ++i) added.push_back(rtt_ms(c.get()) - base);
  const double lo = *std::min_element(added.begin(), added.end());
  const double hi = *std::max_element(added.begin(), added.end());
  const auto near_range =
      std::count_if(added.begin(), added.end(), [](double x) { return x >= 29.5 && x <= 52.0; });
  CAPTURE(lo);
  CAPTURE(hi);
  CAPTURE(mean(added));
  CAPTURE(sample_sd(added));
  CHECK(lo >= 29.5);  // a delay never comes early
  CHECK(hi <= 65.0);  // [30, 50] plus scheduling noise
  CHECK(near_range >= 95);
  // The spread is used: the samples cover the range, evenly (sd 10/sqrt(3)).
  CHECK(lo < 34.0);
  CHECK(hi > 46.0);
  CHECK(mean(added) >= 36.0);
  CHECK(mean(added) <= 44.0);
  CHECK(sample_sd(added) >= 4.0);
  CHECK(sample_sd(added) <= 8.0);
}

// ---------------------------------------------------------------------------
// 2. connection_limit, as clients see it

TEST_CASE("chaos: connection_limit reject closes the connection over the limit") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("cap", upstream.address());
  h.toxic("cap", R"({"name":"two","type":"connection_limit",
      "attributes":{"max_connections":2,"mode":"reject"}})");
  auto held = hold(port, 2);

  Fd third = connect_tcp(port, 5s);
  REQUIRE(third);
  const auto t0 = SteadyClock::now();
  std::string got;
  const Seen seen = watch(third.get(), 2000ms, &got);
  CAPTURE(seen_name(seen));
  CAPTURE(got);
  CHECK(seen == Seen::eof);
  CHECK(seconds_since(t0) < 1.0);

  CHECK(h.fault_state("cap", "two", "connection_limit", "active") == 2);
  CHECK(h.fault_state("cap", "two", "connection_limit", "refused") == 1);
  CHECK(h.metric(
            R"(brownout_fault_acted_total{proxy="cap",fault="two",type="connection_limit"})") == 1);
  CHECK(h.metric(R"(brownout_connections_refused_total{proxy="cap"})") >= 1);
  CHECK(h.events("refused", "two") == 1);

  // The held clients are still served; once one leaves, a newcomer is.
  CHECK(served(held[1]));
  held[0].reset();
  REQUIRE(eventually([&] { return h.fault_state("cap", "two", "connection_limit", "active") == 1; },
                     2s));
  Fd fourth = connect_tcp(port, 5s);
  REQUIRE(fourth);
  CHECK(served(fourth));
  CHECK(h.fault_state("cap", "two", "connection_limit", "refused") == 1);
}

TEST_CASE("chaos: connection_limit reset aborts the connection over the limit") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("capreset", upstream.address());
  h.toxic("capreset", R"({"name":"two","type":"connection_limit",
      "attributes":{"max_connections":2,"mode":"reset"}})");
  auto held = hold(port, 2);

  Fd third = connect_tcp(port, 5s);
  REQUIRE(third);
  const auto t0 = SteadyClock::now();
  const Seen seen = watch(third.get(), 2000ms);
  CAPTURE(seen_name(seen));
  CHECK(seen == Seen::reset);
  CHECK(seconds_since(t0) < 1.0);
  CHECK(h.fault_state("capreset", "two", "connection_limit", "refused") == 1);
  CHECK(h.events("refused_reset", "two") == 1);
  CHECK(served(held[0]));
  CHECK(served(held[1]));
}

TEST_CASE("chaos: connection_limit queue serves a waiting client when a slot frees") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("pool", upstream.address());
  h.toxic("pool", R"({"name":"two","type":"connection_limit",
      "attributes":{"max_connections":2,"mode":"queue","queue_timeout":2000}})");
  auto held = hold(port, 2);

  Fd third = connect_tcp(port, 5s);
  REQUIRE(third);
  REQUIRE(send_all(third.get(), "waiting"));
  const Seen early = watch(third.get(), 500ms);
  CAPTURE(seen_name(early));
  CHECK(early == Seen::silence);  // queued: not answered, not closed
  CHECK(h.fault_state("pool", "two", "connection_limit", "queued") == 1);
  CHECK(h.events("queued", "two") == 1);

  held[0].reset();
  const auto t0 = SteadyClock::now();
  CHECK(recv_exact(third.get(), 7) == "waiting");
  const double waited = seconds_since(t0);
  CAPTURE(waited);
  CHECK(waited < 0.5);
  CHECK(h.fault_state("pool", "two", "connection_limit", "queued") == 0);
  CHECK(h.fault_state("pool", "two", "connection_limit", "refused") == 0);
  CHECK(served(third, "again"));
  CHECK(served(held[1]));
}

TEST_CASE("chaos: connection_limit queue closes a waiting client after queue_timeout") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("shortpool", upstream.address());
  h.toxic("shortpool", R"({"name":"two","type":"connection_limit",
      "attributes":{"max_connections":2,"mode":"queue","queue_timeout":300}})");
  auto held = hold(port, 2);

  const auto t0 = SteadyClock::now();
  Fd third = connect_tcp(port, 5s);
  REQUIRE(third);
  const Seen seen = watch(third.get(), 3000ms);
  const double waited = seconds_since(t0);
  CAPTURE(seen_name(seen));
  CAPTURE(waited);
  CHECK(seen == Seen::eof);
  CHECK(waited >= 0.25);
  CHECK(waited <= 1.5);
  CHECK(h.fault_state("shortpool", "two", "connection_limit", "queued") == 0);
  CHECK(h.fault_state("shortpool", "two", "connection_limit", "refused") == 1);
  CHECK(served(held[0]));
  CHECK(served(held[1]));
}

TEST_CASE("chaos: connection_limit hang keeps the client open and unserved until the proxy goes") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("hangs", upstream.address());
  h.toxic("hangs", R"({"name":"wall","type":"connection_limit",
      "attributes":{"max_connections":2,"mode":"hang"}})");
  auto held = hold(port, 2);
  const int upstream_before = upstream.accepted();

  Fd third = connect_tcp(port, 5s);
  REQUIRE(third);
  REQUIRE(send_all(third.get(), "anyone there?"));
  const Seen first = watch(third.get(), 600ms);
  CAPTURE(seen_name(first));
  CHECK(first == Seen::silence);  // no echo, no EOF, no reset
  // Its writes are still taken: the connection is open.
  CHECK(send_all(third.get(), std::string(10000, 'h')));
  CHECK(watch(third.get(), 100ms) == Seen::silence);
  CHECK(h.fault_state("hangs", "wall", "connection_limit", "hung") == 1);
  CHECK(h.events("hung", "wall") == 1);
  CHECK(upstream.accepted() == upstream_before);  // never connected upstream

  // Removing the fault changes nothing for those served, and lets newcomers in.
  CHECK(h.call("DELETE", "/proxies/hangs/toxics/wall").status == 204);
  std::this_thread::sleep_for(20ms);
  CHECK(served(held[0]));
  CHECK(served(held[1]));
  Fd fourth = connect_tcp(port, 5s);
  REQUIRE(fourth);
  CHECK(served(fourth));

  // Deleting the proxy ends the hung connection.
  CHECK(h.call("DELETE", "/proxies/hangs").status == 204);
  const auto t0 = SteadyClock::now();
  Seen end = Seen::silence;
  for (int i = 0; i < 20 && end == Seen::silence; ++i) end = watch(third.get(), 100ms);
  CAPTURE(seen_name(end));
  CHECK((end == Seen::eof || end == Seen::reset));
  CHECK(seconds_since(t0) < 2.0);
}

// A queued connection whose client leaves is noticed: it is no longer counted
// as queued and a freed slot never goes to a client that is gone.
TEST_CASE("chaos: connection_limit queue forgets a client that gave up waiting") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("patient", upstream.address());
  h.toxic("patient", R"({"name":"two","type":"connection_limit",
      "attributes":{"max_connections":2,"mode":"queue","queue_timeout":5000}})");
  auto held = hold(port, 2);
  const int upstream_before = upstream.accepted();

  Fd quitter = connect_tcp(port, 5s);
  REQUIRE(quitter);
  REQUIRE(eventually(
      [&] { return h.fault_state("patient", "two", "connection_limit", "queued") == 1; }, 2s));
  quitter.reset();  // gives up waiting
  CHECK(eventually(
      [&] { return h.fault_state("patient", "two", "connection_limit", "queued") == 0; }, 1s));

  // A freed slot goes to a client still there, not to the one that left.
  held[0].reset();
  REQUIRE(eventually(
      [&] { return h.fault_state("patient", "two", "connection_limit", "active") <= 1; }, 2s));
  std::this_thread::sleep_for(100ms);
  CHECK(upstream.accepted() == upstream_before);
  CHECK(h.fault_state("patient", "two", "connection_limit", "active") == 1);
}

// Deleting or disabling a proxy ends the connections its queue holds, even
// with no slot and no queue_timeout.
TEST_CASE("chaos: deleting a proxy ends the connections its queue holds") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("closedpool", upstream.address());
  // No slot at all and no deadline: only the proxy going away ends the wait.
  h.toxic("closedpool", R"({"name":"none","type":"connection_limit",
      "attributes":{"max_connections":0,"mode":"queue","queue_timeout":0}})");
  Fd waiting = connect_tcp(port, 5s);
  REQUIRE(waiting);
  REQUIRE(eventually(
      [&] { return h.fault_state("closedpool", "none", "connection_limit", "queued") == 1; }, 2s));
  CHECK(watch(waiting.get(), 200ms) == Seen::silence);

  CHECK(h.call("DELETE", "/proxies/closedpool").status == 204);
  const auto t0 = SteadyClock::now();
  const Seen end = watch(waiting.get(), 2000ms);
  CAPTURE(seen_name(end));
  CHECK((end == Seen::eof || end == Seen::reset));
  CHECK(seconds_since(t0) < 2.0);
}

TEST_CASE("chaos: flaky cuts each connection after its lifetime, with a FIN or a reset") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("flaky", upstream.address());
  h.toxic("flaky", R"({"name":"cut","type":"flaky",
      "attributes":{"mean_lifetime":300,"distribution":"fixed","mode":"close"}})");

  for (const char* mode : {"close", "reset"}) {
    CAPTURE(mode);
    if (std::string(mode) == "reset")
      REQUIRE(h.call("PATCH", "/proxies/flaky/toxics/cut", R"({"attributes":{"mode":"reset"}})")
                  .status == 200);
    const auto t0 = SteadyClock::now();
    Fd c = connect_tcp(port, 5s);
    REQUIRE(c);
    CHECK(served(c));  // alive at first
    const Seen end = watch(c.get(), 2000ms);
    const double lived = seconds_since(t0);
    CAPTURE(seen_name(end));
    CAPTURE(lived);
    CHECK(end == (std::string(mode) == "close" ? Seen::eof : Seen::reset));
    CHECK(lived >= 0.28);
    CHECK(lived <= 1.0);
  }
}

// ---------------------------------------------------------------------------
// 3-5. for, after, count

TEST_CASE("chaos: a fault with `for` expires, is unlisted and stops acting") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("brief", upstream.address());
  Fd c = connect_tcp(port, 5s);
  REQUIRE(c);
  CHECK(rtt_ms(c.get()) < 50);

  const auto t0 = SteadyClock::now();
  const auto added = h.toxic(
      "brief", R"({"name":"second","type":"latency","attributes":{"latency":200},"for":1000})");
  CHECK(added.at("for").to_number<std::int64_t>() == 1000);
  CHECK(h.toxic_names("brief") == std::vector<std::string>{"second"});
  std::this_thread::sleep_for(20ms);
  CHECK(rtt_ms(c.get()) >= 199);

  REQUIRE(eventually([&] { return h.toxic_names("brief").empty(); }, 3s));
  const double gone = seconds_since(t0);
  CAPTURE(gone);
  CHECK(gone >= 0.95);
  CHECK(gone < 3.0);
  std::this_thread::sleep_for(20ms);
  CHECK(rtt_ms(c.get()) < 50);
  CHECK(h.events("fault_expired", "second") == 1);
}

TEST_CASE("chaos: a fault with `after` starts acting only after its delay") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("later", upstream.address());
  Fd c = connect_tcp(port, 5s);
  REQUIRE(c);

  const auto t0 = SteadyClock::now();
  const auto added = h.toxic(
      "later", R"({"name":"soon","type":"latency","attributes":{"latency":200},"after":500})");
  CHECK(added.at("after").to_number<std::int64_t>() == 500);
  CHECK(h.toxic_names("later") == std::vector<std::string>{"soon"});  // listed while waiting
  std::this_thread::sleep_for(20ms);
  const double early = rtt_ms(c.get());
  REQUIRE(seconds_since(t0) < 0.45);  // the sample was taken before `after`
  CHECK(early < 100);

  std::this_thread::sleep_until(t0 + 700ms);
  const double late = rtt_ms(c.get());
  CHECK(late >= 199);
  CHECK(late < 400);
  CHECK(h.events("fault_on", "soon") == 1);
}

TEST_CASE("chaos: a fault with `count` acts on that many connections, then goes") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("counted", upstream.address());
  h.toxic("counted", R"({"name":"twice","type":"reset_peer","stream":"upstream",
      "attributes":{"timeout":0},"count":2})");

  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    Fd c = connect_tcp(port, 5s);
    REQUIRE(c);
    REQUIRE(send_all(c.get(), "x"));
    const Seen seen = watch(c.get(), 2000ms);
    CAPTURE(seen_name(seen));
    CHECK(seen == Seen::reset);
  }
  Fd third = connect_tcp(port, 5s);
  REQUIRE(third);
  CHECK(served(third));

  REQUIRE(eventually([&] { return h.toxic_names("counted").empty(); }, 2s));
  CHECK(h.events("fault_expired", "twice") == 1);
  Fd fourth = connect_tcp(port, 5s);
  REQUIRE(fourth);
  CHECK(served(fourth));
}

// ---------------------------------------------------------------------------
// 6-7. clients, flap

TEST_CASE("chaos: a fault scoped to a client address delays only that client") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("scoped", upstream.address());
  const auto added = h.toxic("scoped", R"({"name":"one_host","type":"latency",
      "attributes":{"latency":200},"clients":["127.0.0.2"]})");
  REQUIRE(added.contains("clients"));
  CHECK(added.at("clients").as_array().size() == 1);
  CHECK(added.at("clients").as_array()[0].as_string() == "127.0.0.2");

  Fd far = connect_from("127.0.0.2", port);
  REQUIRE(far);
  Fd near = connect_from("127.0.0.1", port);
  REQUIRE(near);
  for (int i = 0; i < 3; ++i) {
    CHECK(rtt_ms(far.get()) >= 199);
    CHECK(rtt_ms(near.get()) < 100);
  }
}

TEST_CASE("chaos: a flapping fault turns on and off in turn") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("flapping", upstream.address());
  Fd c = connect_tcp(port, 5s);
  REQUIRE(c);

  const auto t0 = SteadyClock::now();
  h.toxic("flapping", R"({"name":"blink","type":"latency","attributes":{"latency":150},
      "flap":{"on":300,"off":300}})");
  int slow = 0, fast = 0;
  while (seconds_since(t0) < 1.5) {
    const double t = rtt_ms(c.get());
    if (t >= 140) ++slow;
    if (t < 60) ++fast;
    std::this_thread::sleep_for(20ms);
  }
  CAPTURE(slow);
  CAPTURE(fast);
  CHECK(slow >= 2);
  CHECK(fast >= 5);
  CHECK(h.events("fault_off", "blink") >= 2);  // at 300 and 900 ms
  CHECK(h.events("fault_on", "blink") >= 1);   // at 600 ms
  CHECK(h.toxic_names("flapping") == std::vector<std::string>{"blink"});
}

// ---------------------------------------------------------------------------
// 8. accept_rate

TEST_CASE("chaos: accept_rate reject serves about `rate` connections of a burst") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("rated", upstream.address());
  h.toxic("rated",
          R"({"name":"five","type":"accept_rate","attributes":{"rate":5,"mode":"reject"}})");

  std::vector<Fd> clients;
  for (int i = 0; i < 20; ++i) {
    Fd c = connect_tcp(port, 5s);
    REQUIRE(c);
    clients.push_back(std::move(c));
  }
  std::this_thread::sleep_for(300ms);  // every refusal has reached its client
  int refused = 0, ok = 0, other = 0;
  for (auto& c : clients) {
    const Seen seen = watch(c.get(), 0ms);
    if (seen == Seen::eof)
      ++refused;
    else if (seen == Seen::silence && served(c))
      ++ok;
    else
      ++other;
  }
  CAPTURE(ok);
  CAPTURE(refused);
  CHECK(other == 0);
  CHECK(ok >= 4);
  CHECK(ok <= 7);
  CHECK(refused == 20 - ok - other);
  CHECK(h.fault_state("rated", "five", "accept_rate", "refused") == refused);
}

// ---------------------------------------------------------------------------
// 9-11. stall, corrupt, blackhole

TEST_CASE("chaos: stall delays some chunks by the retransmission timeout, loses none") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("lossy", upstream.address());
  Fd c = connect_tcp(port, 10s);
  REQUIRE(c);
  const double base = baseline_ms(c.get());
  // max_rto = rto keeps a run of losses at 100 ms each (bounded test time).
  h.toxic("lossy", R"({"name":"loss","type":"stall",
      "attributes":{"percentage":50,"rto":100,"max_rto":100}})");
  std::this_thread::sleep_for(20ms);

  int slow = 0, fast = 0, between = 0;
  for (int i = 0; i < 50; ++i) {
    const double t = rtt_ms(c.get(), static_cast<char>('A' + i % 50)) - base;  // intact bytes
    if (t >= 99)
      ++slow;
    else if (t < 50)
      ++fast;
    else
      ++between;
  }
  CAPTURE(slow);
  CAPTURE(fast);
  CAPTURE(between);
  CHECK(slow >= 10);  // half the chunks, about
  CHECK(fast >= 10);
  CHECK(between <= 2);  // delays come in whole timeouts
}

TEST_CASE("chaos: corrupt flips exactly one bit in each byte at 100%, none at 0%") {
  Server upstream(echo);
  ChaosHarness h;
  const auto port = h.proxy("noisy", upstream.address());
  h.toxic("noisy", R"({"name":"bits","type":"corrupt","stream":"downstream",
      "attributes":{"percentage":100}})");
  Fd c = connect_tcp(port, 5s);
  REQUIRE(c);

  std::string sent(1000, '\0');
  brownout::faults::Rng rng(5);
  fill_random(rng, sent.data(), sent.size());
  REQUIRE(send_all(c.get(), sent));
  const std::string got = recv_exact(c.get(), sent.size());
  REQUIRE(got.size() == sent.size());
  int one_bit = 0;
  for (std::size_t i = 0; i < sent.size(); ++i)
    if (std::popcount(static_cast<unsigned>(static_cast<unsigned char>(sent[i] ^ got[i]))) == 1)
      ++one_bit;
  CHECK(one_bit == 1000);

  auto r = h.call("PATCH", "/proxies/noisy/toxics/bits", R"({"attributes":{"percentage":0}})");
  CHECK(r.status == 200);
  std::this_thread::sleep_for(20ms);
  REQUIRE(send_all(c.get(), sent));
  CHECK(recv_exact(c.get(), sent.size()) == sent);
}

TEST_CASE("chaos: blackhole downstream lets bytes reach the upstream, returns nothing") {
  RecordingEcho upstream;
  ChaosHarness h;
  const auto port = h.proxy("hole", upstream.server.address());
  h.toxic("hole", R"({"name":"void","type":"blackhole","stream":"downstream"})");
  Fd c = connect_tcp(port, 5s);
  REQUIRE(c);
  REQUIRE(send_all(c.get(), "hello"));
  CHECK(eventually([&] { return upstream.got() == "hello"; }, 2s));
  const Seen seen = watch(c.get(), 500ms);
  CAPTURE(seen_name(seen));
  CHECK(seen == Seen::silence);  // no reply, no EOF: the connection stays open
  REQUIRE(send_all(c.get(), " again"));
  CHECK(eventually([&] { return upstream.got() == "hello again"; }, 2s));
  CHECK(watch(c.get(), 200ms) == Seen::silence);
}

// ---------------------------------------------------------------------------
// 12. bandwidth scopes

TEST_CASE("chaos: bandwidth scope proxy shares one budget, scope connection does not") {
  constexpr std::size_t kBytes = 200'000;
  Server upstream([](Fd fd) {
    send_random(fd.get(), kBytes, 7);
    ::shutdown(fd.get(), SHUT_WR);
    recv_all(fd.get());
  });
  ChaosHarness h;

  // Two clients download 200 KB each through the proxy at once.
  const auto download_two = [&](std::uint16_t port) {
    std::size_t got[2] = {0, 0};
    const auto t0 = SteadyClock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i)
      threads.emplace_back([&, i] {
        Fd c = connect_tcp(port, 10s);
        if (c) got[i] = recv_hash(c.get()).second;
      });
    for (auto& t : threads) t.join();
    const double secs = seconds_since(t0);
    CHECK(got[0] == kBytes);
    CHECK(got[1] == kBytes);
    return secs;
  };

  const auto shared_port = h.proxy("uplink", upstream.address());
  h.toxic("uplink",
          R"({"name":"pipe","type":"bandwidth","attributes":{"rate":200,"scope":"proxy"}})");
  const double shared = download_two(shared_port);
  CAPTURE(shared);
  CHECK(shared >= 1.5);  // 400 KB through one 200 KB/s budget: 2 s
  CHECK(shared <= 3.5);

  const auto each_port = h.proxy("perconn", upstream.address());
  h.toxic("perconn",
          R"({"name":"pipe","type":"bandwidth","attributes":{"rate":200,"scope":"connection"}})");
  const double each = download_two(each_port);
  CAPTURE(each);
  CHECK(each >= 0.8);  // 200 KB each at 200 KB/s each: 1 s
  CHECK(each <= 1.4);
}

// ---------------------------------------------------------------------------
// 13. API validation of the new fields

TEST_CASE("chaos: the API refuses bad modes and controls, naming the field, changing nothing") {
  Server upstream(echo);
  ChaosHarness h;
  h.proxy("strict", upstream.address());
  h.toxic("strict", R"({"name":"keep","type":"latency","attributes":{"latency":10}})");
  const auto before = h.call("GET", "/proxies/strict/toxics");
  REQUIRE(before.status == 200);

  struct Bad {
    const char* body;
    const char* field;
  };
  const Bad adds[] = {
      {R"({"type":"connection_limit","name":"a","attributes":{"max_connections":2,"mode":"drop"}})",
       "mode"},
      {R"({"type":"accept_rate","name":"b","attributes":{"rate":5,"mode":"later"}})", "mode"},
      {R"({"type":"flaky","name":"c","attributes":{"mean_lifetime":100,"mode":"explode"}})",
       "mode"},
      {R"({"type":"latency","name":"d","attributes":{"latency":10,"distribution":"cauchy"}})",
       "distribution"},
      {R"({"type":"bandwidth","name":"e","attributes":{"rate":10,"scope":"galaxy"}})", "scope"},
      {R"({"type":"latency","name":"f","attributes":{"latency":10},"clients":["10.0.0.0/33"]})",
       "clients"},
      {R"({"type":"latency","name":"g","attributes":{"latency":10},"clients":["not-an-ip"]})",
       "clients"},
      {R"({"type":"latency","name":"h","attributes":{"latency":10},"clients":"127.0.0.1"})",
       "clients"},
      {R"({"type":"latency","name":"i","attributes":{"latency":10},"flap":{"on":100}})", "flap"},
      {R"({"type":"latency","name":"j","attributes":{"latency":10},"for":-5})", "for"},
      {R"({"type":"latency","name":"k","attributes":{"latency":10},"after":1.5})", "after"},
      {R"({"type":"latency","name":"l","attributes":{"latency":10},"count":"two"})", "count"},
      {R"({"type":"latency","name":"m","attributes":{"latency":10},"probability":2})",
       "probability"},
      {R"({"type":"connection_limit","name":"n","attributes":{"max_connections":2},"probability":-0.5})",
       "probability"},
  };
  for (const auto& bad : adds) {
    CAPTURE(bad.body);
    const auto r = h.call("POST", "/proxies/strict/toxics", bad.body);
    CAPTURE(r.body);
    CHECK(r.status == 400);
    if (r.status == 400)
      CHECK(std::string(r.json().at("error").as_string()).find(bad.field) != std::string::npos);
  }

  const Bad patches[] = {
      {R"({"for":-1})", "for"},
      {R"({"probability":2})", "probability"},
      {R"({"clients":["300.1.2.3"]})", "clients"},
      {R"({"flap":{"off":100}})", "flap"},
      {R"({"attributes":{"distribution":"cauchy"}})", "distribution"},
  };
  for (const auto& bad : patches) {
    CAPTURE(bad.body);
    const auto r = h.call("PATCH", "/proxies/strict/toxics/keep", bad.body);
    CAPTURE(r.body);
    CHECK(r.status == 400);
    if (r.status == 400)
      CHECK(std::string(r.json().at("error").as_string()).find(bad.field) != std::string::npos);
  }

  const auto after = h.call("GET", "/proxies/strict/toxics");
  CHECK(after.status == 200);
  CHECK(after.body == before.body);
}
