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
  Values values;
  std::shared_ptr<const Fault> fault;
};

using Chain = std::vector<std::shared_ptr<const FaultInstance>>;

struct ChainSet {
  Chain upstream;    // client -> server bytes
  Chain downstream;  // server -> client bytes
  const Chain& of(Stream s) const { return s == Stream::upstream ? upstream : downstream; }
};

class ChainRunner {
 public:
  bool empty() const { return slots_.empty(); }

  // Moves to a new chain. Kept faults keep their state; new and updated faults
  // draw toxicity and are attached (which may set plan.end). Returns false
  // when a removed fault ends the link.
  bool rebind(const Chain& chain, Context& ctx, Plan& plan);

  void on_data(Context& ctx, Plan& plan);
  void on_eof(Context& ctx, Plan& plan);

 private:
  struct Slot {
    std::shared_ptr<const FaultInstance> instance;
    std::unique_ptr<FaultState> state;
    bool picked = false;
  };
  std::vector<Slot> slots_;
};

}  // namespace brownout::faults
