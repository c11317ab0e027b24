// The REST API, wire-compatible with Toxiproxy's: routes, JSON fields, status
// codes and error bodies. Pure request -> response over the Registry, so the
// HTTP server stays a thin transport and tests can call it directly.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "control/events.hpp"
#include "control/lease.hpp"
#include "control/registry.hpp"
#include "control/timeline.hpp"

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
  explicit Api(Registry& registry, const EventLog* events = nullptr, Timeline* timeline = nullptr);
  ~Api();
  ApiResponse handle(const ApiRequest& request);

 private:
  ApiResponse metrics() const;
  ApiResponse timeline(const std::vector<std::string>& parts, const std::string& method);
  ApiResponse apply(const ApiRequest& request, std::string_view query);
  ApiResponse lease(const std::vector<std::string>& parts, const std::string& method);
  // Takes a released or expired lease's faults away: its timeline stops and
  // its proxies keep running with no fault.
  void release(const std::string& id, const Profile& held, const std::string& why);
  Leases& leases();

  Registry& registry_;
  const EventLog* events_;
  Timeline* timeline_;
  std::mutex leases_mutex_;
  std::unique_ptr<Leases> leases_;  // made on the first lease
};

// Applies a loaded profile: the registry takes its proxies and always-on
// faults, and the timeline starts over. A reload (keep_same_timeline) leaves
// a running timeline alone when the profile did not change it.
Outcome<ApplyResult> apply_profile(Registry& registry, Timeline& timeline, const Profile& profile,
                                   bool keep_same_timeline = false);

// The JSON of GET /timeline.
std::string timeline_json(const TimelineStatus& status);

// Loads a Toxiproxy JSON config (an array of proxies, as POST /populate takes).
// Returns an error text, or empty on success.
std::string load_toxiproxy_config(Registry& registry, const std::string& json_text);

}  // namespace brownout::control
