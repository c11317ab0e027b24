// `brownout drill PROFILE`: runs the profile's proxies in this process,
// observes the steady state before any fault, runs the timeline while the
// probes sample the system under test, clears every fault, observes the
// recovery, judges the hypotheses and writes the reports. Every exit path
// clears the faults before the reports are written.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace brownout::drill {

struct DrillOptions {
  std::string profile;
  std::optional<std::string> reports;  // overrides [drill] reports
  std::optional<std::uint64_t> seed;
  bool quiet = false;
};

// Returns the exit code (see Exit in drill/model.hpp and docs/drills.md).
int run_drill(const DrillOptions& options, std::ostream& out, std::ostream& err);

}  // namespace brownout::drill
