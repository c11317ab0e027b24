// A direction's fault chain: the configured faults (immutable, shared by every
// link of a proxy) and the per-link runner that keeps each fault's state and
// toxicity draw, and runs chunks and EOF through the chain in order.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "faults/fault.hpp"

namespace brownout::faults {

namespace http {
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
};

using Chain = std::vector<std::shared_ptr<const FaultInstance>>;

struct ChainSet {
  Chain upstream;    // client -> server bytes
  Chain downstream;  // server -> client bytes
  Chain http;        // HTTP faults, applied per request in this order
  // What a link's faults were holding back goes out at once when the chain
  // changes (Toxiproxy's behaviour, and what removing a fault should do).
  // A timeline ramp step clears it: held bytes keep their release times.
  bool flush_pending = true;
  const Chain& of(Stream s) const { return s == Stream::upstream ? upstream : downstream; }
};

class ChainRunner {
 public:
  bool empty() const { return slots_.empty(); }

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
};

}  // namespace brownout::faults
