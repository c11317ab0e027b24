// The data plane's face to the control plane: an Engine owns the worker
// threads (one io_context each); a Proxy is one listener and its live links.
// No Asio here, so the control plane's translation units stay light.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "faults/attributes.hpp"
#include "faults/chain.hpp"
#include "proxy/events.hpp"

namespace brownout::proxy {

struct EngineOptions {
  unsigned workers = 0;                // 0: one per two cores (at least one)
  std::uint64_t seed = 0;              // seeds every link's random source
  std::size_t max_inflight = 4 << 20;  // bytes a faulted direction may hold
  std::shared_ptr<EventSink> events;   // optional
};

inline constexpr std::size_t kMaxFaultTypes = 32;

enum class Protocol { tcp, http, postgres, redis, mysql };
// "tcp", "http", "postgres", "redis", "mysql"; nullopt for anything else.
std::optional<Protocol> protocol_from(std::string_view name);

struct ProxyCounters {
  std::uint64_t accepted = 0;
  std::uint64_t active = 0;
  std::uint64_t upstream_failures = 0;
  std::uint64_t bytes_upstream = 0;    // client -> server
  std::uint64_t bytes_downstream = 0;  // server -> client
  std::uint64_t refused = 0;
  std::uint64_t http_requests = 0;             // requests an HTTP proxy read
  std::uint64_t http_malformed = 0;            // answered 400 by the proxy
  std::uint64_t http_faulted = 0;              // requests an HTTP fault acted on
  std::array<std::uint64_t, 6> http_status{};  // responses sent, by class: [1] 1xx .. [5] 5xx
  // Connections each fault type was applied to (won its toxicity draw), by
  // faults::type_index, and links each type ended (reset, cut, timed out).
  std::array<std::uint64_t, kMaxFaultTypes> fault_applied{};
  std::array<std::uint64_t, kMaxFaultTypes> fault_ended{};
};

class Proxy {
 public:
  virtual ~Proxy() = default;

  // Binds the listener. Returns the bound address ("127.0.0.1:37295") or an
  // error text in the form Toxiproxy clients see ("listen tcp ...: bind: ...").
  virtual faults::Result<std::string> listen(const std::string& address) = 0;

  // Closes the listener and every open connection (plain close).
  virtual void close() = 0;

  // Where new connections go; open ones keep their upstream.
  virtual void set_upstream(const std::string& upstream) = 0;

  // HTTP proxies frame requests and apply the HTTP faults; header_faults
  // lets a request ask for a fault with x-brownout-fault-* headers.
  // PostgreSQL and Redis proxies frame statements and commands and apply the
  // database faults; pass_tls forwards a PostgreSQL SSLRequest instead of
  // answering 'N'. New connections see the change.
  virtual void set_protocol(Protocol protocol, bool header_faults, bool pass_tls) = 0;

  // Publishes a new fault chain; every open connection picks it up.
  virtual void set_faults(std::shared_ptr<const faults::ChainSet> faults) = 0;

  virtual ProxyCounters counters() const = 0;
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  std::shared_ptr<Proxy> make_proxy(const std::string& name);
  unsigned workers() const;
  std::uint64_t seed() const;

  // Stops every worker; open connections are dropped.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace brownout::proxy
