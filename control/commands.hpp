// The CLI's client commands (`brownout list`, `fault add`, ...): each talks to
// a running server through the API and prints a table for people or JSON for
// scripts. Exit codes: 0 success, 1 the server refused, 2 usage error, 3 the
// server cannot be reached.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace brownout::control::commands {

enum Exit : int { kOk = 0, kRefused = 1, kUsage = 2, kUnreachable = 3 };

struct Context {
  std::string server = "http://127.0.0.1:8474";
  bool json = false;
  std::ostream& out;
  std::ostream& err;
};

int list(const Context& c);
int inspect(const Context& c, const std::string& proxy);
// protocol: empty (tcp), or tcp, http, postgres, redis.
int create(const Context& c, const std::string& proxy, const std::string& listen,
           const std::string& upstream, const std::string& protocol = {});
// enabled: true / false, or nullopt to toggle.
int set_enabled(const Context& c, const std::string& proxy, std::optional<bool> enabled);
int remove(const Context& c, const std::string& proxy);
int reset(const Context& c);

struct FaultArgs {
  std::string proxy;
  std::string type;   // fault add
  std::string fault;  // fault update / remove: the fault's name
  std::optional<std::string> name;
  std::optional<std::string> stream;  // "up", "down", "upstream", "downstream"
  std::optional<double> toxicity;
  std::vector<std::pair<std::string, std::string>> attributes;  // name -> text with units
  // HTTP faults: --set KEY=VALUE, --header NAME=VALUE, --match KEY=VALUE.
  std::vector<std::string> set, header, match;
  // Every fault: chance per chunk (per request for HTTP), client CIDR blocks,
  // and the schedule (durations with units; flap as ON/OFF, e.g. 5s/10s).
  std::optional<double> probability;
  std::vector<std::string> clients;
  std::optional<std::string> after, for_, flap;
  std::optional<std::int64_t> count;
};
int fault_add(const Context& c, const FaultArgs& a);
int fault_update(const Context& c, const FaultArgs& a);
int fault_remove(const Context& c, const FaultArgs& a);
int fault_types(const Context& c);

// Profiles (docs/profiles.md).
// Validates the files and prints a summary of proxies, faults and timeline.
int profile_check(const Context& c, const std::vector<std::string>& files);
// Prints a Toxiproxy JSON config (or GET /proxies' output) as a TOML profile.
int profile_import(const Context& c, const std::string& file);
// Validates a profile locally, then sends it (with its includes) to the server.
int apply(const Context& c, const std::string& file);
int timeline(const Context& c);
int timeline_stop(const Context& c);

// Every attribute name of every fault type (each becomes a --NAME flag).
std::vector<std::string> attribute_names();

// "latency 300ms±50ms ↓" for a toxic object's JSON text.
std::string fault_summary(const std::string& toxic_json);

}  // namespace brownout::control::commands
