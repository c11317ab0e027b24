// `brownout serve`: the data-plane engine, the registry, the control API
// and the startup configuration, wired together.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/registry.hpp"

namespace brownout::control {

struct ServerOptions {
  std::string host = "localhost";
  unsigned port = 8474;
  std::string config;                 // Toxiproxy JSON proxy list
  std::optional<std::uint64_t> seed;  // absent: random, and logged so a run can be repeated
  unsigned workers = 0;               // 0: one per two cores (at least one)
  std::size_t max_inflight = 4 << 20;
  std::string events;                 // JSON lines of fault events: a file, "-" for stdout, "" none
  std::vector<std::string> profiles;  // TOML profiles, merged; reloaded on SIGHUP
};

// Sets up spdlog: level (trace..off) and format ("text" or "json" lines).
// Returns an error text for a bad level or format.
std::string configure_logging(const std::string& level, const std::string& format);

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Binds the API and loads the config; an error text when either fails.
  std::string start();
  const std::string& api_address() const { return api_address_; }
  std::uint64_t seed() const;

  void run(bool handle_signals);  // blocks until stop() or a signal; SIGHUP reloads
  void stop();
  // Loads the --profile files again and applies them; on any error the
  // running state is kept and the errors are returned.
  std::string reload();

  Registry& registry();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string api_address_;
};

}  // namespace brownout::control
