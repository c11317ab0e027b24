// A direction's fault chain: the configured faults (immutable, shared by every
// link of a proxy) and the per-link runner that keeps each fault's state and
// toxicity draw, and runs chunks and EOF through the chain in order.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "faults/cidr.hpp"
#include "faults/fault.hpp"
#include "faults/schedule.hpp"

namespace brownout::faults {

namespace http {
struct Fault;
}
namespace db {
struct Fault;
}

enum class Stream : std::uint8_t { upstream, downstream };

// One configured fault. An update makes a new instance with the same id, so a
// link keeps the fault's state (bytes counted, token bucket) across updates.
struct FaultInstance {
  std::uint64_t id = 0;
  std::string name;
  std::string type;
  std::string stream_text;  // as the user sent it (Toxiproxy echoes it back)
  Stream stream = Stream::downstream;
  double toxicity = 1.0;
  std::size_t type_index = 0;  // position in all_types(), for per-type counters
  Values values;
  std::shared_ptr<const Fault> fault;       // a byte-stream fault, or
  std::shared_ptr<const http::Fault> http;  // an HTTP fault (protocol = http proxies)
  std::shared_ptr<const db::Fault> db;      // a database fault (postgres, redis proxies)

  // Brownout's controls, for every type.
  double probability = 1.0;   // per chunk (per connection for connection-level faults)
  std::vector<Cidr> clients;  // empty: every client
  Schedule schedule;
  TimePoint added{};  // the schedule counts from here
  // Kept across updates (an update copies the instance):
  std::shared_ptr<FaultState> shared;  // the type's proxy-wide state
  std::shared_ptr<std::atomic<std::uint64_t>> fired =
      std::make_shared<std::atomic<std::uint64_t>>(0);  // links (or connections) acted on

  bool connection_level() const { return fault && fault->connection_level(); }
  // Counts one more action, unless `count` is used up.
  bool fire() const {
    if (schedule.count <= 0) {
      fired->fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    auto n = fired->load(std::memory_order_relaxed);
    while (n < static_cast<std::uint64_t>(schedule.count))
      if (fired->compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
    return false;
  }
  // Times it acted: links or refused connections (stream and connection-level
  // faults), requests (HTTP faults).
  std::uint64_t acted() const;
  bool used_up() const {
    return schedule.count > 0 && acted() >= static_cast<std::uint64_t>(schedule.count);
  }
};

using Chain = std::vector<std::shared_ptr<const FaultInstance>>;

struct ChainSet {
  Chain upstream;    // client -> server bytes
  Chain downstream;  // server -> client bytes
  Chain http;        // message faults (HTTP, database), applied per request in this order
  Chain connection;  // connection-level faults, asked in order when a client connects
  // What a link's faults were holding back goes out at once when the chain
  // changes (Toxiproxy's behaviour, and what removing a fault should do).
  // A timeline ramp step clears it: held bytes keep their release times.
  bool flush_pending = true;
  const Chain& of(Stream s) const { return s == Stream::upstream ? upstream : downstream; }
};

class ChainRunner {
 public:
  bool empty() const { return slots_.empty(); }

  // The link's client, for faults scoped to some clients.
  void set_client(const IpAddress& client) { client_ = client; }

  // Moves to a new chain. Kept faults keep their state; new and updated faults
  // draw toxicity and are attached (which may set plan.end). Returns false
  // when a removed fault ends the link. `picked`, when given, receives the
  // faults that won their draw (they now act on this link).
  bool rebind(const Chain& chain, Context& ctx, Plan& plan,
              std::vector<const FaultInstance*>* picked = nullptr);

  void on_data(Context& ctx, Plan& plan);
  void on_eof(Context& ctx, Plan& plan);

  // The fault with this id in the current chain, or nullptr.
  const FaultInstance* find(std::uint64_t id) const;

 private:
  struct Slot {
    std::shared_ptr<const FaultInstance> instance;
    std::unique_ptr<FaultState> state;
    bool picked = false;
  };
  std::vector<Slot> slots_;
  IpAddress client_;
};

}  // namespace brownout::faults
