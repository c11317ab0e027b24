// Profiles and their timelines over real loopback sockets: a short timeline
// switches latency and bandwidth on and off when its phases say, a ramp moves
// the latency step by step, stopping removes the faults at once, and
// re-applying a profile keeps the live connections of unchanged proxies.
#include "control/timeline.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "control/api.hpp"
#include "control/events.hpp"
#include "control/profile.hpp"
#include "support/harness.hpp"

using namespace brownout;
using namespace brownout::test;

namespace {

// An engine, a registry and a timeline, as `brownout serve` wires them.
struct Rig {
  control::EventLog events;
  proxy::Engine engine{proxy::EngineOptions{2, 42, 4 << 20, nullptr}};
  control::Registry registry{engine};
  control::Timeline timeline{registry, &events};

  // Loads `text` as the profile `name` and applies it; requires success.
  control::ApplyResult apply(const std::string& name, const std::string& text) {
    auto outcome = try_apply(name, text);
    if (auto* e = std::get_if<control::ApiError>(&outcome)) FAIL("apply refused: " << e->message);
    return std::get<control::ApplyResult>(outcome);
  }

  control::Outcome<control::ApplyResult> try_apply(const std::string& name,
                                                   const std::string& text) {
    auto loaded = control::load_profile(name, control::memory_reader({{name, text}}));
    REQUIRE_MESSAGE(loaded, loaded.error_text());
    return control::apply_profile(registry, timeline, *loaded.profile);
  }

  // The names of a proxy's faults, upstream first.
  std::vector<std::string> fault_names(const std::string& proxy) const {
    auto r = registry.toxics(proxy);
    REQUIRE(std::holds_alternative<std::vector<control::ToxicView>>(r));
    std::vector<std::string> out;
    for (const auto& t : std::get<std::vector<control::ToxicView>>(r)) out.push_back(t->name);
    return out;
  }

  // The timeline's start, phase starts and end, as "action subject" joined
  // by "; " (the subject is the detail up to its first comma).
  std::string timeline_events() const {
    std::string out;
    for (const auto& s : events.since(0)) {
      const auto& e = s.event;
      if (e.action != "phase_started" && e.action.rfind("timeline_", 0) != 0) continue;
      out += (out.empty() ? "" : "; ") + e.action + " " + e.detail.substr(0, e.detail.find(','));
    }
    return out;
  }
};

std::uint16_t port_of(const std::string& address) {
  return static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

std::uint16_t listen_port(const control::ApplyResult& r, const std::string& proxy) {
  for (const auto& p : r.proxies)
    if (p.name == proxy) return port_of(p.listen);
  FAIL("proxy " << proxy << " not in the apply result");
  return 0;
}

// Round-trip time of a 1-byte ping through an echo upstream, in ms.
double rtt_ms(int fd) {
  const auto t0 = SteadyClock::now();
  REQUIRE(send_all(fd, "x", 1));
  REQUIRE(recv_exact(fd, 1) == "x");
  return seconds_since(t0) * 1000;
}

std::vector<double> rtts(int fd, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(rtt_ms(fd));
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double min_of(const std::vector<double>& v) {
  return *std::min_element(v.begin(), v.end());
}

// Sends `bytes` through the echo upstream on `fd` and reads them back;
// returns the seconds it took. The bytes must come back intact.
double echo_bulk_seconds(int fd, std::size_t bytes, char seed) {
  std::string data(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i)
    data[i] = static_cast<char>(seed + static_cast<char>(i % 251));
  const auto t0 = SteadyClock::now();
  bool sent = false;
  std::thread writer([&] { sent = send_all(fd, data); });
  const std::string got = recv_exact(fd, bytes);
  const double took = seconds_since(t0);
  writer.join();
  CHECK(sent);
  CHECK(got.size() == bytes);
  const bool intact = got == data;
  CHECK(intact);
  return took;
}

// Milliseconds since `t0`.
double ms_since(SteadyClock::time_point t0) {
  return seconds_since(t0) * 1000;
}

void sleep_until_ms(SteadyClock::time_point t0, int ms) {
  std::this_thread::sleep_until(t0 + std::chrono::milliseconds(ms));
}

// name|listen|upstream|enabled|fault@address... for every proxy: equal
// snapshots mean nothing changed, down to the fault instances.
std::vector<std::string> snapshot(const control::Registry& registry) {
  std::vector<std::string> out;
  for (const auto& p : registry.list()) {
    std::string s = p.name + "|" + p.listen + "|" + p.upstream + "|" + (p.enabled ? "on" : "off");
    for (const auto& t : p.toxics)
      s += "|" + t->name + "#" + std::to_string(t->id) + "@" +
           std::to_string(reinterpret_cast<std::uintptr_t>(t.get()));
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST_CASE("timeline: latency and bandwidth follow the phases over real sockets") {
  Server upstream(echo);
  Rig rig;
  const std::string text = R"(
[[proxy]]
name = "svc"
listen = "127.0.0.1:0"
upstream = ")" + upstream.address() +
                           R"("

[[proxy.fault]]
name = "base"          # always on
type = "latency"
stream = "upstream"
latency = "1ms"

[[proxy.fault]]
name = "slow"
type = "latency"
latency = "150ms"

[[proxy.fault]]
name = "throttle"
type = "bandwidth"
rate = "64KB/s"

[[phase]]
name = "calm"
duration = "1.5s"

[[phase]]
name = "slow"
duration = "1.5s"
[[phase.fault]]
fault = "slow"

[[phase]]
name = "throttled"
duration = "2s"
[[phase.fault]]
fault = "throttle"
)";
  const auto result = rig.apply("phases.toml", text);
  const auto t0 = SteadyClock::now();
  CHECK(result.created == std::vector<std::string>{"svc"});
  const auto port = listen_port(result, "svc");
  CHECK(rig.timeline.status().state == "running");
  CHECK(rig.timeline.status().total_ms == 5000);

  Fd c = connect_tcp(port);
  REQUIRE(c);
  constexpr std::size_t kBulk = 64 * 1024;

  // calm: [0, 1500) ms.
  sleep_until_ms(t0, 300);
  CHECK(rig.timeline.status().phase == 0);
  CHECK(rig.fault_names("svc") == std::vector<std::string>{"base"});
  const auto calm = rtts(c.get(), 5);
  const double calm_bulk = echo_bulk_seconds(c.get(), kBulk, 'a');
  const double calm_done = ms_since(t0);
  MESSAGE("calm: median RTT " << median(calm) << " ms, 64 KiB echo in " << calm_bulk
                              << " s, done at " << calm_done << " ms");
  CHECK(median(calm) < 50.0);
  CHECK(calm_bulk < 0.3);
  CHECK(calm_done < 1400.0);

  // slow: [1500, 3000) ms, 150 ms on every reply.
  sleep_until_ms(t0, 1800);
  CHECK(rig.timeline.status().phase == 1);
  CHECK(rig.fault_names("svc") == std::vector<std::string>{"base", "slow"});
  const auto slow = rtts(c.get(), 4);
  const double slow_done = ms_since(t0);
  MESSAGE("slow: min RTT " << min_of(slow) << " ms, median " << median(slow) << " ms, done at "
                           << slow_done << " ms");
  CHECK(min_of(slow) >= 140.0);
  CHECK(median(slow) <= 300.0);
  CHECK(slow_done < 2900.0);

  // throttled: [3000, 5000) ms, replies at 64 KB/s: 64 KiB take about 1 s.
  sleep_until_ms(t0, 3300);
  CHECK(rig.timeline.status().phase == 2);
  CHECK(rig.fault_names("svc") == std::vector<std::string>{"base", "throttle"});
  const double throttled_bulk = echo_bulk_seconds(c.get(), kBulk, 'b');
  const double throttled_done = ms_since(t0);
  MESSAGE("throttled: 64 KiB echo in " << throttled_bulk << " s, done at " << throttled_done
                                       << " ms");
  CHECK(throttled_bulk >= 0.6);
  CHECK(throttled_bulk <= 2.0);
  CHECK(throttled_done < 4900.0);

  // After the last phase: finished, only the always-on fault is left.
  REQUIRE(eventually([&] { return rig.timeline.status().state == "finished"; }, 3s));
  const double finished_at = ms_since(t0);
  const auto status = rig.timeline.status();
  CHECK(status.phase == -1);
  CHECK(status.active.empty());
  CHECK(status.elapsed_ms == 5000);
  CHECK(finished_at >= 4950.0);
  CHECK(rig.fault_names("svc") == std::vector<std::string>{"base"});
  const auto after = rtts(c.get(), 5);
  const double after_bulk = echo_bulk_seconds(c.get(), kBulk, 'c');
  MESSAGE("finished at " << finished_at << " ms; after: median RTT " << median(after)
                         << " ms, 64 KiB echo in " << after_bulk << " s");
  CHECK(median(after) < 50.0);
  CHECK(after_bulk < 0.3);
  // A fresh connection is as fast.
  Fd fresh = connect_tcp(port);
  REQUIRE(fresh);
  CHECK(median(rtts(fresh.get(), 3)) < 50.0);

  // Every phase change was an event, in order.
  const auto events = rig.timeline_events();
  CHECK(events ==
        "timeline_started phases.toml; phase_started calm; phase_started slow; "
        "phase_started throttled; timeline_finished phases.toml");
}

TEST_CASE("timeline: a latency ramp rises step by step across its phase") {
  Server upstream(echo);
  Rig rig;
  // Three steps of one second: 0 ms, 200 ms, 400 ms.
  const std::string text = R"(
[[proxy]]
name = "ramped"
listen = "127.0.0.1:0"
upstream = ")" + upstream.address() +
                           R"("

[[proxy.fault]]
name = "lag"
type = "latency"
latency = "0ms"

[[phase]]
name = "rising"
duration = "3s"
[[phase.fault]]
fault = "lag"
latency = { from = "0ms", to = "400ms" }
)";
  const auto result = rig.apply("ramp.toml", text);
  const auto t0 = SteadyClock::now();
  const auto port = listen_port(result, "ramped");
  Fd c = connect_tcp(port);
  REQUIRE(c);

  auto step_value = [&] {
    const auto s = rig.timeline.status();
    if (s.active.size() != 1) return std::int64_t{-1};
    auto it = s.active[0].values.find("latency");
    return it == s.active[0].values.end() || !std::holds_alternative<std::int64_t>(it->second)
               ? std::int64_t{-1}
               : std::get<std::int64_t>(it->second);
  };

  std::vector<double> samples;  // the median RTT in each step
  for (const int at : {300, 1300, 2300}) {
    sleep_until_ms(t0, at);
    CAPTURE(at);
    CHECK(rig.timeline.status().phase == 0);
    const auto value = step_value();
    const auto v = rtts(c.get(), at == 2300 ? 1 : 2);
    samples.push_back(median(v));
    MESSAGE("ramp at " << at << " ms: step value " << value << " ms, RTT " << median(v)
                       << " ms, done at " << ms_since(t0) << " ms");
  }
  CHECK(samples[0] < 100.0);
  CHECK(samples[1] >= 150.0);
  CHECK(samples[1] <= 320.0);
  CHECK(samples[2] >= 380.0);
  CHECK(samples[2] <= 560.0);
  CHECK(samples[0] < samples[1]);
  CHECK(samples[1] < samples[2]);
  CHECK(samples[2] - samples[0] >= 150.0);

  REQUIRE(eventually([&] { return rig.timeline.status().state == "finished"; }, 3s));
  CHECK(rig.fault_names("ramped").empty());
  CHECK(median(rtts(c.get(), 3)) < 50.0);
}

TEST_CASE("timeline: stop removes its faults at once, mid-phase") {
  Server upstream(echo);
  Rig rig;
  const std::string text = R"(
[[proxy]]
name = "stoppable"
listen = "127.0.0.1:0"
upstream = ")" + upstream.address() +
                           R"("

[[proxy.fault]]
name = "base"
type = "latency"
stream = "upstream"
latency = "1ms"

[[proxy.fault]]
name = "slow"
type = "latency"
latency = "200ms"

[[phase]]
name = "slow"
duration = "20s"
[[phase.fault]]
fault = "slow"
)";
  const auto result = rig.apply("stop.toml", text);
  const auto port = listen_port(result, "stoppable");
  REQUIRE(eventually(
      [&] {
        return rig.fault_names("stoppable") == std::vector<std::string>{"base", "slow"};
      },
      2s));
  Fd c = connect_tcp(port);
  REQUIRE(c);
  const auto slow = rtts(c.get(), 2);
  CHECK(min_of(slow) >= 190.0);

  const auto t0 = SteadyClock::now();
  rig.timeline.stop();
  const double stop_ms = ms_since(t0);
  // Synchronous: the fault is gone when stop returns.
  CHECK(rig.fault_names("stoppable") == std::vector<std::string>{"base"});
  const auto status = rig.timeline.status();
  CHECK(status.state == "stopped");
  CHECK(status.phase == -1);
  CHECK(status.active.empty());
  CHECK(status.elapsed_ms >= 300);
  CHECK(status.elapsed_ms < 20000);
  const auto fast = rtts(c.get(), 5);
  MESSAGE("stop: slow RTT " << min_of(slow) << " ms; stop() took " << stop_ms << " ms; RTT after "
                            << median(fast) << " ms");
  CHECK(stop_ms < 500.0);
  CHECK(median(fast) < 50.0);

  // Nothing comes back later, the clock stays stopped, and stopping again is harmless.
  std::this_thread::sleep_for(300ms);
  rig.timeline.stop();
  CHECK(rig.fault_names("stoppable") == std::vector<std::string>{"base"});
  CHECK(rig.timeline.status().state == "stopped");
  CHECK(rig.timeline.status().elapsed_ms == status.elapsed_ms);
  CHECK(median(rtts(c.get(), 3)) < 50.0);
}

TEST_CASE("timeline: re-applying keeps the live connections of unchanged proxies") {
  Server upstream_a(echo);
  Server upstream_b(echo);
  Rig rig;
  auto proxy_toml = [](const std::string& name, const std::string& listen,
                       const std::string& upstream) {
    return "[[proxy]]\nname = \"" + name + "\"\nlisten = \"" + listen + "\"\nupstream = \"" +
           upstream + "\"\n";
  };
  const std::string keep = proxy_toml("keep", "127.0.0.1:0", upstream_a.address());

  const auto first = rig.apply("live.toml", keep);
  CHECK(first.created == std::vector<std::string>{"keep"});
  const auto keep_port = listen_port(first, "keep");
  Fd c = connect_tcp(keep_port);
  REQUIRE(c);
  CHECK(echo_bulk_seconds(c.get(), 100000, 'k') < 2.0);
  CHECK(median(rtts(c.get(), 3)) < 50.0);

  // Same name and listen, a fault added; another proxy added, with a
  // timeline fault on for a long phase.
  const std::string second_text = keep +
                                  "[[proxy.fault]]\nname = \"lag\"\ntype = \"latency\"\n"
                                  "latency = \"60ms\"\n" +
                                  proxy_toml("added", "127.0.0.1:0", upstream_b.address()) +
                                  "[[proxy.fault]]\nname = \"hold\"\ntype = \"latency\"\n"
                                  "latency = \"5ms\"\n"
                                  "[[phase]]\nname = \"long\"\nduration = \"60s\"\n"
                                  "[[phase.fault]]\nfault = \"hold\"\n";
  const auto second = rig.apply("live.toml", second_text);
  CHECK(second.kept == std::vector<std::string>{"keep"});
  CHECK(second.created == std::vector<std::string>{"added"});
  CHECK(second.restarted.empty());
  CHECK(second.removed.empty());
  CHECK(listen_port(second, "keep") == keep_port);

  // The open connection still works, intact, and sees the new fault.
  CHECK(echo_bulk_seconds(c.get(), 100000, 'm') < 5.0);
  const auto lagged = rtts(c.get(), 3);
  MESSAGE("kept connection after re-apply: RTT " << median(lagged) << " ms");
  CHECK(min_of(lagged) >= 55.0);
  CHECK(median(lagged) <= 250.0);
  CHECK(upstream_a.accepted() == 1);

  // The new proxy listens.
  Fd n = connect_tcp(listen_port(second, "added"));
  REQUIRE(n);
  REQUIRE(send_all(n.get(), "new proxy"));
  CHECK(recv_exact(n.get(), 9) == "new proxy");
  CHECK(eventually([&] { return upstream_b.accepted() == 1; }, 2s));
  REQUIRE(
      eventually([&] { return rig.fault_names("added") == std::vector<std::string>{"hold"}; }, 2s));

  // A listen address held by a foreign socket: refused, nothing changes,
  // not even the proxies and faults that would have been changed first.
  std::uint16_t taken = 0;
  Fd foreign = listen_tcp(taken);
  const auto before = snapshot(rig.registry);
  const auto fds_before = open_fds();
  const auto timeline_before = rig.timeline.status();
  REQUIRE(timeline_before.state == "running");
  const std::string third_text =
      proxy_toml("keep", "127.0.0.1:0", upstream_b.address()) +
      proxy_toml("fourth", "127.0.0.1:0", upstream_b.address()) +
      proxy_toml("third", "127.0.0.1:" + std::to_string(taken), upstream_a.address()) +
      "[[proxy.fault]]\nname = \"slow\"\ntype = \"latency\"\n"
      "latency = \"1s\"\n" +
      "[[phase]]\nname = \"p\"\nduration = \"5s\"\n"
      "[[phase.fault]]\nfault = \"slow\"\n";
  auto refused = rig.try_apply("live.toml", third_text);
  REQUIRE(std::holds_alternative<control::ApiError>(refused));
  const auto& error = std::get<control::ApiError>(refused);
  MESSAGE("refused: " << error.message);
  CHECK(error.message.find("third") != std::string::npos);
  CHECK(snapshot(rig.registry) == before);
  // The running timeline goes on: not stopped, not restarted, not replaced.
  const auto timeline_after = rig.timeline.status();
  CHECK(timeline_after.state == "running");
  CHECK(timeline_after.elapsed_ms >= timeline_before.elapsed_ms);
  REQUIRE(timeline_after.phases.size() == 1);
  CHECK(timeline_after.phases[0].name == "long");
  CHECK(rig.registry.list().size() == 2);
  // "fourth" was bound before "third" failed: its listener is closed again.
  CHECK(eventually([&] { return open_fds() == fds_before; }, 2s));

  // Still the same connection through the same faults, and the same listener.
  CHECK(echo_bulk_seconds(c.get(), 50000, 'z') < 5.0);
  CHECK(min_of(rtts(c.get(), 2)) >= 55.0);
  Fd again = connect_tcp(keep_port);
  REQUIRE(again);
  REQUIRE(send_all(again.get(), "still"));
  CHECK(recv_exact(again.get(), 5) == "still");
  CHECK(eventually([&] { return upstream_a.accepted() == 2; }, 2s));
}

TEST_CASE("timeline: replacing a timeline never removes a fault the new profile declares") {
  Server upstream(echo);
  Rig rig;
  const std::string head = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:0"
upstream = ")" + upstream.address() +
                           R"("
)";
  // First the fault is the timeline's, on for a long phase.
  rig.apply("x.toml", head + R"(
[[proxy.fault]]
name = "slow"
type = "latency"
latency = "200ms"

[[phase]]
name = "slow"
duration = "60s"
[[phase.fault]]
fault = "slow"
)");
  REQUIRE(
      eventually([&] { return rig.fault_names("db") == std::vector<std::string>{"slow"}; }, 2s));
  // Then the same file declares it always on, with another value: stopping the
  // old timeline must not take the new fault with it.
  const auto result = rig.apply("x.toml", head + R"(
[[proxy.fault]]
name = "slow"
type = "latency"
latency = "100ms"
)");
  CHECK(rig.fault_names("db") == std::vector<std::string>{"slow"});
  Fd c = connect_tcp(listen_port(result, "db"));
  REQUIRE(c);
  const auto r = rtts(c.get(), 3);
  CHECK(min_of(r) >= 95.0);
  CHECK(median(r) < 180.0);
}
