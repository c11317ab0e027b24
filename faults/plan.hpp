// The vocabulary every fault speaks: a Plan is what to deliver (pieces of a
// direction's byte stream, each with the earliest time it may go out) and how
// the direction ends. Faults transform plans; the data plane executes them.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace brownout::faults {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// A piece names bytes by their offset in the direction's stream (the count of
// bytes read before them), so a plan never copies or owns bytes.
struct Piece {
  std::uint64_t offset = 0;
  std::uint32_t size = 0;
  TimePoint release{};
};

enum class EndKind : std::uint8_t {
  none,   // no change to how the direction ends
  fin,    // half-close: shut down the destination's write side (normal EOF)
  close,  // close the whole connection (both sockets, FIN)
  reset,  // abort the whole connection with a TCP RST to both peers
};

struct End {
  EndKind kind = EndKind::none;
  TimePoint at{};
  std::uint64_t fault_id = 0;  // the fault that decided this end (0: the peer did)
};

// A byte to alter before it goes out: XOR it with `mask` (corrupt).
struct Flip {
  std::uint64_t offset = 0;
  std::uint8_t mask = 0;
};

struct Plan {
  std::vector<Piece> pieces;
  End end;
  std::vector<Flip> flips;  // stream offsets (as pieces use) of bytes in this chunk

  void reset_for(std::uint64_t offset, std::uint32_t size, TimePoint arrival) {
    pieces.clear();
    pieces.push_back(Piece{offset, size, arrival});
    end = End{};
    flips.clear();
  }
  void reset_for_eof(TimePoint arrival) {
    pieces.clear();
    end = End{EndKind::fin, arrival};
    flips.clear();
  }
  void reset_empty() {
    pieces.clear();
    end = End{};
    flips.clear();
  }
};

}  // namespace brownout::faults
