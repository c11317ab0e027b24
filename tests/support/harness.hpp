// An in-process brownout: the real engine, registry and API (called
// directly, without HTTP), for integration tests over loopback sockets.
#pragma once

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <string>

#include "control/api.hpp"
#include "control/events.hpp"
#include "control/registry.hpp"
#include "proxy/engine.hpp"
#include "support/net.hpp"

namespace brownout::test {

struct Reply {
  int status = 0;
  std::string body;
  boost::json::value json() const { return boost::json::parse(body); }
};

class Harness {
 public:
  explicit Harness(proxy::EngineOptions options = {2, 42, 4 << 20, nullptr})
      : Harness(std::move(options), nullptr) {}

  Reply call(const std::string& method, const std::string& path, const std::string& body = "") {
    auto r = api_.handle(control::ApiRequest{method, path, body, "brownout-tests"});
    return Reply{r.status, r.body};
  }

  // Creates a proxy on a free loopback port; returns that port.
  std::uint16_t proxy(const std::string& name, const std::string& upstream) {
    auto r = call(
        "POST", "/proxies",
        R"({"name":")" + name + R"(","listen":"127.0.0.1:0","upstream":")" + upstream + R"("})");
    REQUIRE_MESSAGE(r.status == 201, r.body);
    const std::string listen(r.json().at("listen").as_string());
    return static_cast<std::uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1)));
  }

  // Adds a toxic through the API; returns its JSON as the API shows it.
  boost::json::object toxic(const std::string& proxy, const std::string& json) {
    auto r = call("POST", "/proxies/" + proxy + "/toxics", json);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    return r.json().as_object();
  }

  control::Registry& registry() { return registry_; }

 protected:
  // With `events`, the event log is wired to the engine, the registry and
  // the API, as `brownout serve` wires it.
  Harness(proxy::EngineOptions options, std::shared_ptr<control::EventLog> events)
      : events_(std::move(events)),
        engine_(with_events(std::move(options), events_)),
        registry_(engine_, events_.get()),
        api_(registry_, events_.get()) {}

  std::shared_ptr<control::EventLog> events_;

 private:
  static proxy::EngineOptions with_events(proxy::EngineOptions o,
                                          std::shared_ptr<control::EventLog> events) {
    if (events) o.events = std::move(events);
    return o;
  }

  proxy::Engine engine_;
  control::Registry registry_;
  control::Api api_;
};

// Polls `pred` every 10 ms for at most `limit`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  const auto deadline = SteadyClock::now() + limit;
  while (SteadyClock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

}  // namespace brownout::test
