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
  // Drive this `brownout serve` (http://host:port) instead of running the
  // proxies here: the profile is applied over its API under a lease the
  // drill renews, so a drill that dies leaves no fault behind for long.
  std::string server;
  std::string replay_of;  // set by replay_drill: the report this run replays
};

// Returns the exit code (see Exit in drill/model.hpp and docs/drills.md).
int run_drill(const DrillOptions& options, std::ostream& out, std::ostream& err);

// `brownout drill --replay report.json`: runs the profile text and the seed
// embedded in an earlier run's report again (the main profile file as it was
// then, even if it changed since). `options.profile` is ignored; reports,
// quiet and an explicit seed are kept.
int replay_drill(const std::string& report, DrillOptions options, std::ostream& out,
                 std::ostream& err);

// `brownout drill diff A B`: 0 when B is not significantly worse than A, 1
// when it is, 2 when a file is missing or no drill report.
int diff_drills(const std::string& a, const std::string& b, std::ostream& out, std::ostream& err);

}  // namespace brownout::drill
