// What peers do to a proxy: unreachable upstreams, resets, half-closes and
// garbage must never crash it or leak descriptors.
#include <sys/resource.h>

#include <thread>

#include "support/harness.hpp"

using namespace brownout::test;

TEST_CASE("an unreachable upstream closes the client promptly and others keep working") {
  Harness h;
  std::uint16_t dead_port = 0;
  { Fd l = listen_tcp(dead_port); }  // bound then closed: nothing listens there
  const auto dead = h.proxy("dead", "127.0.0.1:" + std::to_string(dead_port));
  Server upstream(echo);
  const auto live = h.proxy("live", upstream.address());

  for (int i = 0; i < 20; ++i) {
    Fd c = connect_tcp(dead);
    REQUIRE(c);
    const auto t0 = SteadyClock::now();
    int err = 0;
    CHECK(recv_all(c.get(), &err).empty());
    CHECK(seconds_since(t0) < 1.0);
  }
  Fd c = connect_tcp(live);
  send_all(c.get(), "still here");
  CHECK(recv_exact(c.get(), 10) == "still here");
  CHECK(h.registry().counters().front().second.upstream_failures == 20);
}

TEST_CASE("an upstream slow to complete the handshake: the proxy waits for it, then relays") {
  Harness h;
  std::uint16_t port = 0;
  Fd listener = listen_tcp(port);
  ::listen(listener.get(), 0);    // an accept queue of one place
  Fd filler = connect_tcp(port);  // takes it: the next SYN is dropped and retried (~1 s)
  REQUIRE(filler);
  const auto proxy = h.proxy("slow", "127.0.0.1:" + std::to_string(port));
  Fd c = connect_tcp(proxy);
  REQUIRE(c);
  REQUIRE(send_all(c.get(), "ping"));  // waits in the client's socket meanwhile
  std::this_thread::sleep_for(300ms);  // the proxy's connect is still in progress
  Fd first = accept_tcp(listener);     // the filler: a place frees
  REQUIRE(first);
  Fd upstream = accept_tcp(listener, 10s);  // the proxy's, after its SYN is retried
  REQUIRE(upstream);
  CHECK(recv_exact(upstream.get(), 4) == "ping");
  REQUIRE(send_all(upstream.get(), "pong"));
  CHECK(recv_exact(c.get(), 4) == "pong");
  CHECK(h.registry().counters().front().second.upstream_failures == 0);
}

TEST_CASE("thousands of rude peers leave no descriptor behind") {
  Harness h;
  Server upstream([](Fd fd) {
    char buf[4096];
    const auto k = ::recv(fd.get(), buf, sizeof buf, 0);
    if (k > 0 && buf[0] == 'R') {  // the upstream resets
      linger l{1, 0};
      ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
      return;
    }
    if (k > 0) send_all(fd.get(), buf, static_cast<std::size_t>(k));
    recv_all(fd.get());
  });
  const auto port = h.proxy("rude", upstream.address());
  h.toxic("rude",
          R"({"type":"latency","stream":"upstream","toxicity":0.5,"attributes":{"latency":1}})");
  // Warm up: each worker's reactor opens its descriptors on first use.
  for (int i = 0; i < 4; ++i) {
    Fd c = connect_tcp(port, 5s);
    send_all(c.get(), "warm");
    recv_exact(c.get(), 4);
  }
  std::this_thread::sleep_for(100ms);
  const auto baseline = open_fds();

  for (int i = 0; i < 1500; ++i) {
    Fd c = connect_tcp(port, 5s);
    REQUIRE(c);
    switch (i % 5) {
      case 0: {  // client resets right away
        linger l{1, 0};
        ::setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
        break;
      }
      case 1:  // client half-closes without a word
        ::shutdown(c.get(), SHUT_WR);
        recv_all(c.get());
        break;
      case 2: {  // garbage, then gone
        std::string junk(1000, '\0');
        for (auto& ch : junk) ch = static_cast<char>(rand());
        junk[0] = 'G';
        send_all(c.get(), junk);
        break;
      }
      case 3:  // the upstream resets
        send_all(c.get(), "R");
        recv_all(c.get());
        break;
      case 4:  // a polite request
        send_all(c.get(), "ping");
        recv_exact(c.get(), 4);
        break;
    }
  }
  // The test's own sockets are closed; the proxy's two per link must follow.
  const bool settled = eventually([&] { return open_fds() <= baseline + 2; }, 10s);
  const auto after = open_fds();
  CAPTURE(after);
  CAPTURE(baseline);
  CHECK(settled);
  CHECK(eventually([&] { return h.registry().counters().front().second.active == 0; }, 10s));
}

TEST_CASE("disabling a proxy closes its connections and refuses new ones; enabling restores it") {
  Harness h;
  Server upstream(echo);
  const auto port = h.proxy("toggle", upstream.address());
  Fd c = connect_tcp(port);
  send_all(c.get(), "a");
  CHECK(recv_exact(c.get(), 1) == "a");

  CHECK(h.call("POST", "/proxies/toggle", R"({"enabled":false})").status == 200);
  int err = 0;
  CHECK(recv_all(c.get(), &err).empty());
  CHECK_FALSE(connect_tcp(port));

  auto r = h.call("PATCH", "/proxies/toggle", R"({"enabled":true})");
  CHECK(r.status == 200);
  CHECK(r.json().at("listen").as_string() == "127.0.0.1:" + std::to_string(port));
  Fd again = connect_tcp(port);
  REQUIRE(again);
  send_all(again.get(), "b");
  CHECK(recv_exact(again.get(), 1) == "b");
}
