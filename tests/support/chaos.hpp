// Helpers for the network-chaos integration tests: an in-process brownout
// with its event log wired (as `brownout serve` does), the API's views a user
// checks (/metrics lines, /events, toxic listings), and client-side probes
// (a source address, whether a socket shows data, EOF, a reset or silence).
#pragma once

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/api.hpp"
#include "control/events.hpp"
#include "control/registry.hpp"
#include "proxy/engine.hpp"
#include "support/harness.hpp"
#include "support/net.hpp"

namespace brownout::test {

class ChaosHarness : public Harness {
 public:
  ChaosHarness()
      : Harness(proxy::EngineOptions{2, 42, 4 << 20, nullptr},
                std::make_shared<control::EventLog>()) {}

  // The names of the proxy's toxics, from GET /proxies/NAME/toxics.
  std::vector<std::string> toxic_names(const std::string& proxy) {
    auto r = call("GET", "/proxies/" + proxy + "/toxics");
    REQUIRE_MESSAGE(r.status == 200, r.body);
    std::vector<std::string> out;
    const auto list = r.json();
    for (const auto& t : list.as_array()) out.emplace_back(t.as_object().at("name").as_string());
    return out;
  }

  // Events from GET /events with this action (and fault, when given).
  int events(const std::string& action, const std::string& fault = {}) {
    auto r = call("GET", "/events");
    REQUIRE_MESSAGE(r.status == 200, r.body);
    int n = 0;
    const auto body = r.json();
    for (const auto& e : body.as_object().at("events").as_array()) {
      const auto& o = e.as_object();
      if (o.at("action").as_string() != action) continue;
      if (!fault.empty() && (!o.contains("fault") || o.at("fault").as_string() != fault)) continue;
      ++n;
    }
    return n;
  }

  // The value of one /metrics series, given as its name and labels exactly as
  // printed (`name{labels}`), or nothing when it is not there.
  std::optional<std::int64_t> metric(const std::string& series) {
    auto r = call("GET", "/metrics");
    REQUIRE(r.status == 200);
    const std::string key = series + " ";
    for (std::size_t at = 0; at < r.body.size();) {
      const auto end = r.body.find('\n', at);
      const auto line = r.body.substr(at, end == std::string::npos ? end : end - at);
      if (line.rfind(key, 0) == 0) return std::stoll(line.substr(key.size()));
      if (end == std::string::npos) break;
      at = end + 1;
    }
    return std::nullopt;
  }

  // A figure of a connection-level fault's state (active, queued, refused, hung).
  std::int64_t fault_state(const std::string& proxy, const std::string& fault,
                           const std::string& type, const std::string& figure) {
    const auto v = metric(R"(brownout_fault_state{proxy=")" + proxy + R"(",fault=")" + fault +
                          R"(",type=")" + type + R"(",figure=")" + figure + R"("})");
    REQUIRE_MESSAGE(v.has_value(), "no brownout_fault_state " << figure << " for " << fault);
    return *v;
  }

  control::EventLog& event_log() { return *events_; }

 private:
  // Declared in this order so each outlives what uses it.
  std::shared_ptr<control::EventLog> events_ = std::make_shared<control::EventLog>();
  proxy::Engine engine_{proxy::EngineOptions{2, 42, 4 << 20, events_}};
  control::Registry registry_{engine_, events_.get()};
  control::Api api_{registry_, events_.get()};
};

// Connects to 127.0.0.1:port from the source address `source`.
inline Fd connect_from(const char* source, std::uint16_t port,
                       std::chrono::milliseconds timeout = 5s) {
  return connect_tcp(port, timeout, source);
}

// What a client sees on its socket within a time limit.
enum class Seen { data, eof, reset, error, silence };

inline std::string seen_name(Seen s) {
  switch (s) {
    case Seen::data:
      return "data";
    case Seen::eof:
      return "eof";
    case Seen::reset:
      return "reset";
    case Seen::error:
      return "error";
    case Seen::silence:
      return "silence";
  }
  return "?";
}

// Waits up to `limit` for the socket to become readable; reads what is there
// (into `got`, when given) and says what it was.
inline Seen watch(int fd, std::chrono::milliseconds limit, std::string* got = nullptr) {
  pollfd p{fd, POLLIN, 0};
  const int n = ::poll(&p, 1, static_cast<int>(limit.count()));
  if (n == 0) return Seen::silence;
  if (n < 0) return Seen::error;
  char buf[4096];
  const auto k = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (k > 0) {
    if (got) got->assign(buf, static_cast<std::size_t>(k));
    return Seen::data;
  }
  if (k == 0) return Seen::eof;
  if (errno == ECONNRESET) return Seen::reset;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Seen::silence;
  return Seen::error;
}

// One round trip of `message` through an echo upstream, in ms; `ok` says
// whether exactly the same bytes came back.
inline double round_trip_ms(int fd, const std::string& message, bool* ok = nullptr) {
  const auto t0 = SteadyClock::now();
  const bool sent = send_all(fd, message);
  const bool same = sent && recv_exact(fd, message.size()) == message;
  if (ok) *ok = same;
  return seconds_since(t0) * 1000;
}

}  // namespace brownout::test
