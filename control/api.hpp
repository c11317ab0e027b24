// The REST API, wire-compatible with Toxiproxy's: routes, JSON fields, status
// codes and error bodies. Pure request -> response over the Registry, so the
// HTTP server stays a thin transport and tests can call it directly.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "control/events.hpp"
#include "control/registry.hpp"

namespace brownout::control {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path with optional query
  std::string body;
  std::string user_agent;
};

struct ApiResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class Api {
 public:
  explicit Api(Registry& registry, const EventLog* events = nullptr)
      : registry_(registry), events_(events) {}
  ApiResponse handle(const ApiRequest& request);

 private:
  ApiResponse metrics() const;

  Registry& registry_;
  const EventLog* events_;
};

// Loads a Toxiproxy JSON config (an array of proxies, as POST /populate takes).
// Returns an error text, or empty on success.
std::string load_toxiproxy_config(Registry& registry, const std::string& json_text);

}  // namespace brownout::control
