// The data path over real loopback sockets: integrity, half-close, latency,
// bandwidth, backpressure and live fault changes.
#include <algorithm>

#include "support/harness.hpp"

using namespace brownout::test;

namespace {

// Upstream that hashes what it receives and sends its own seeded stream.
struct BulkUpstream {
  explicit BulkUpstream(std::size_t bytes)
      : server([this, bytes](Fd fd) {
          std::thread reader([&] {
            auto [hash, n] = recv_hash(fd.get());
            std::lock_guard lock(m);
            received_hash = hash;
            received = n;
          });
          sent_hash_value = send_random(fd.get(), bytes, 2);
          ::shutdown(fd.get(), SHUT_WR);
          reader.join();
        }) {}
  std::mutex m;
  std::string received_hash;
  std::size_t received = 0;
  std::string sent_hash_value;
  Server server;
};

void bulk_both_ways(Harness& h, const std::string& name, std::size_t bytes,
                    const std::vector<std::string>& toxics) {
  BulkUpstream upstream(bytes);
  const auto port = h.proxy(name, upstream.server.address());
  for (const auto& t : toxics) h.toxic(name, t);

  Fd c = connect_tcp(port, 60s);
  REQUIRE(c);
  std::string got_hash;
  std::size_t got = 0;
  std::thread reader([&] { std::tie(got_hash, got) = recv_hash(c.get()); });
  const std::string sent_hash = send_random(c.get(), bytes, 1);
  ::shutdown(c.get(), SHUT_WR);
  reader.join();

  CHECK(got == bytes);
  CHECK(got_hash == upstream.sent_hash_value);
  REQUIRE(eventually([&] {
    std::lock_guard lock(upstream.m);
    return upstream.received == bytes;
  }));
  std::lock_guard lock(upstream.m);
  CHECK(upstream.received_hash == sent_hash);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Round-trip time of a 1-byte ping through an echo upstream, in ms.
double rtt_ms(int fd) {
  const auto t0 = SteadyClock::now();
  REQUIRE(send_all(fd, "x", 1));
  REQUIRE(recv_exact(fd, 1) == "x");
  return seconds_since(t0) * 1000;
}

}  // namespace

TEST_CASE("64 MiB each way arrive intact with no fault") {
  Harness h;
  bulk_both_ways(h, "plain", 64 << 20, {});
}

TEST_CASE("64 MiB each way arrive intact through latency, slicer and bandwidth") {
  Harness h;
  bulk_both_ways(
      h, "faulted", 64 << 20,
      {R"({"type":"latency","stream":"upstream","attributes":{"latency":5,"jitter":3}})",
       R"({"type":"latency","stream":"downstream","attributes":{"latency":5,"jitter":3}})",
       R"({"type":"slicer","stream":"upstream","attributes":{"average_size":3000,"size_variation":1000}})",
       R"({"type":"slicer","stream":"downstream","attributes":{"average_size":3000,"size_variation":1000}})",
       R"({"type":"bandwidth","stream":"upstream","attributes":{"rate":400000}})",
       R"({"type":"bandwidth","stream":"downstream","attributes":{"rate":400000}})"});
}

TEST_CASE("a client that half-closes still gets the whole reply") {
  Harness h;
  const std::string reply(300000, 'r');
  Server upstream([&](Fd fd) {
    const auto request = recv_all(fd.get());  // until the client's FIN
    send_all(fd.get(), "got " + std::to_string(request.size()) + "\n" + reply);
    ::shutdown(fd.get(), SHUT_WR);
  });
  const auto port = h.proxy("halfclose", upstream.address());

  for (const bool faulted : {false, true}) {
    CAPTURE(faulted);
    if (faulted) h.toxic("halfclose", R"({"type":"latency","attributes":{"latency":20}})");
    Fd c = connect_tcp(port);
    REQUIRE(send_all(c.get(), std::string(5000, 'q')));
    ::shutdown(c.get(), SHUT_WR);
    int err = 0;
    const auto got = recv_all(c.get(), &err);
    CHECK(err == 0);
    CHECK(got == "got 5000\n" + reply);
  }
}

TEST_CASE("latency adds its delay to each round trip and stays pipelined") {
  Harness h;
  Server upstream(echo);
  const auto port = h.proxy("lat", upstream.address());
  Fd c = connect_tcp(port);
  std::vector<double> base;
  for (int i = 0; i < 10; ++i) base.push_back(rtt_ms(c.get()));

  h.toxic("lat", R"({"type":"latency","attributes":{"latency":100}})");
  std::vector<double> slow;
  for (int i = 0; i < 10; ++i) slow.push_back(rtt_ms(c.get()));
  const double added = median(slow) - median(base);
  CHECK(added >= 99.0);
  CHECK(added <= 110.0);
  CHECK(*std::min_element(slow.begin(), slow.end()) >= 99.0);

  // A bulk stream through the same 100 ms is delayed, not throttled: one
  // chunk per 100 ms would take over 10 s for 8 MiB.
  Fd bulk = connect_tcp(port);
  const auto t0 = SteadyClock::now();
  std::thread writer([&] {
    send_random(bulk.get(), 8 << 20, 3);
    ::shutdown(bulk.get(), SHUT_WR);
  });
  auto [hash, n] = recv_hash(bulk.get());
  writer.join();
  CHECK(n == (8u << 20));
  CHECK(seconds_since(t0) < 2.0);
}

TEST_CASE("bandwidth holds its rate within 5%") {
  Harness h;
  const std::size_t bytes = 1'500'000;
  Server upstream([&](Fd fd) {
    send_random(fd.get(), bytes, 9);
    ::shutdown(fd.get(), SHUT_WR);
  });
  const auto port = h.proxy("bw", upstream.address());
  h.toxic("bw", R"({"type":"bandwidth","attributes":{"rate":500}})");  // 500 KB/s
  Fd c = connect_tcp(port);
  const auto t0 = SteadyClock::now();
  auto [hash, n] = recv_hash(c.get());
  const double secs = seconds_since(t0);
  CHECK(n == bytes);
  const double rate = static_cast<double>(n) / secs / 1000.0;
  CAPTURE(rate);
  CHECK(rate >= 475.0);
  CHECK(rate <= 525.0);
}

TEST_CASE("a direction stops reading when its bound is reached") {
  Harness h({2, 1, 1 << 20, nullptr});
  std::atomic<bool> release{false};
  Server upstream([&](Fd fd) {  // never reads until told
    while (!release) std::this_thread::sleep_for(10ms);
    recv_all(fd.get());
  });
  const auto port = h.proxy("bp", upstream.address());
  h.toxic("bp", R"({"type":"latency","stream":"upstream","attributes":{"latency":1}})");
  Fd c = connect_tcp(port);
  ::fcntl(c.get(), F_SETFL, O_NONBLOCK);
  std::vector<char> buf(1 << 20, 'b');
  std::size_t written = 0;
  const auto t0 = SteadyClock::now();
  while (seconds_since(t0) < 2.0) {
    const auto k = ::send(c.get(), buf.data(), buf.size(), MSG_NOSIGNAL);
    if (k > 0)
      written += static_cast<std::size_t>(k);
    else
      std::this_thread::sleep_for(5ms);
  }
  // Kernel socket buffers hold a few MiB; an unbounded proxy would have
  // swallowed gigabytes in two seconds of loopback.
  CAPTURE(written);
  CHECK(written < (40u << 20));
  release = true;
}

TEST_CASE("adding and removing a fault changes an open connection at its next chunk") {
  Harness h;
  Server upstream(echo);
  const auto port = h.proxy("live", upstream.address());
  Fd c = connect_tcp(port);
  CHECK(rtt_ms(c.get()) < 50);
  h.toxic("live", R"({"type":"latency","name":"slow","attributes":{"latency":150}})");
  std::this_thread::sleep_for(20ms);  // the change is posted to the worker
  CHECK(rtt_ms(c.get()) >= 149);
  auto r = h.call("PATCH", "/proxies/live/toxics/slow", R"({"attributes":{"latency":60}})");
  CHECK(r.status == 200);
  std::this_thread::sleep_for(20ms);
  const double mid = rtt_ms(c.get());
  CHECK(mid >= 59);
  CHECK(mid < 140);
  CHECK(h.call("DELETE", "/proxies/live/toxics/slow").status == 204);
  std::this_thread::sleep_for(20ms);
  CHECK(rtt_ms(c.get()) < 50);
}

TEST_CASE("limit_data, timeout and reset_peer end connections as Toxiproxy's do") {
  Harness h;
  Server upstream(echo);
  const auto port = h.proxy("end", upstream.address());

  SUBCASE("limit_data cuts at the limit and closes") {
    h.toxic("end", R"({"type":"limit_data","attributes":{"bytes":10}})");
    Fd c = connect_tcp(port);
    send_all(c.get(), "1234567");
    CHECK(recv_exact(c.get(), 7) == "1234567");
    send_all(c.get(), "abcdefghi");
    int err = 0;
    CHECK(recv_all(c.get(), &err) == "abc");
    CHECK(err == 0);
  }
  SUBCASE("timeout drops data and closes after the quiet period") {
    h.toxic("end", R"({"type":"timeout","attributes":{"timeout":300}})");
    Fd c = connect_tcp(port);
    const auto t0 = SteadyClock::now();
    send_all(c.get(), "hello");
    const auto got = recv_all(c.get());
    const double secs = seconds_since(t0);
    CHECK(got.empty());
    CHECK(secs >= 0.29);
    CHECK(secs < 1.5);
  }
  SUBCASE("reset_peer resets the client") {
    h.toxic("end", R"({"type":"reset_peer","stream":"upstream","attributes":{"timeout":100}})");
    Fd c = connect_tcp(port);
    send_all(c.get(), "hello");
    int err = 0;
    const auto got = recv_all(c.get(), &err);
    CHECK(got.empty());
    CHECK(err == ECONNRESET);
  }
  SUBCASE("slow_close holds the close") {
    h.toxic("end", R"({"type":"slow_close","attributes":{"delay":300}})");
    Fd c = connect_tcp(port);
    send_all(c.get(), "bye");
    ::shutdown(c.get(), SHUT_WR);
    const auto t0 = SteadyClock::now();
    CHECK(recv_all(c.get()) == "bye");
    CHECK(seconds_since(t0) >= 0.29);
  }
}
