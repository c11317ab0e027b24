// Brownout's controls that every fault type takes beside Toxiproxy's
// toxicity: which clients it hits (CIDR blocks) and when it acts (after,
// for, count, flap). The API, profiles and the CLI fill one of these; the
// registry checks it and writes it into the fault's instance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "faults/chain.hpp"

namespace brownout::control {

struct FaultControls {
  std::optional<std::vector<std::string>> clients;
  std::optional<std::int64_t> after_ms;
  std::optional<std::int64_t> for_ms;
  std::optional<std::int64_t> count;
  std::optional<std::pair<std::int64_t, std::int64_t>> flap;  // on, off (ms)

  bool empty() const { return !clients && !after_ms && !for_ms && !count && !flap; }
  bool operator==(const FaultControls&) const = default;
};

// Checks `c` and writes it into `out`, over what `out` already holds (an
// update changes only what it names). Returns why it is refused, if it is.
std::optional<std::string> resolve_controls(const FaultControls& c, faults::FaultInstance& out);

// The controls an instance runs with, for listings and saved profiles.
FaultControls controls_of(const faults::FaultInstance& f);

}  // namespace brownout::control
