// The timeline of a profile: which timeline faults are on at a moment and
// with which values (pure, driven by elapsed time so tests need no clock),
// and the runner that applies it to the registry on its own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/profile.hpp"
#include "proxy/events.hpp"

namespace brownout::control {

// A timeline fault as it should be at one moment.
struct FaultSetting {
  std::string proxy;
  std::string fault;
  double toxicity = 1.0;
  std::optional<double> probability;            // per request (HTTP) or per chunk
  std::map<std::string, faults::Value> values;  // only those the phase sets or ramps
  bool operator==(const FaultSetting&) const = default;
};

struct TimelinePoint {
  int phase = -1;  // index into Profile::phases; -1 before, in a gap or after
  std::int64_t phase_left_ms = 0;
  bool finished = false;  // past the last phase (never with repeat)
  std::vector<FaultSetting> active;
};

// The state at `elapsed_ms` since the timeline started.
TimelinePoint timeline_at(const Profile& profile, std::int64_t elapsed_ms);

// The next moment after `elapsed_ms` at which the state may change: a phase
// boundary, or the next ramp step (steps are at most one second apart).
// Returns nullopt when nothing will change any more.
std::optional<std::int64_t> next_change(const Profile& profile, std::int64_t elapsed_ms);

class Registry;

// What GET /timeline reports.
struct TimelineStatus {
  std::string state = "none";  // none, running, finished, stopped
  std::string profile;
  bool repeat = false;
  int phase = -1;
  std::int64_t elapsed_ms = 0;
  std::int64_t phase_left_ms = 0;
  std::int64_t total_ms = 0;
  std::vector<Phase> phases;
  std::vector<FaultSetting> active;
};

// Runs one profile's timeline against the registry on its own thread: at
// each change it adds, updates or removes the timeline faults (as actor
// "timeline", so the events say who did it).
class Timeline {
 public:
  Timeline(Registry& registry, proxy::EventSink* events) : registry_(registry), events_(events) {}
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Stops the running timeline (removing its faults) and starts this one.
  // A profile without phases just stops the running one.
  void start(const Profile& profile);
  // Stops and removes the faults it turned on; the state becomes "stopped".
  // `by` names who stopped it in the fault_removed events (a lease, say).
  void stop(const std::string& by = "timeline");
  // True when `profile` has the same timeline as the one loaded (a reload
  // that changes no phase keeps the timeline going).
  bool same(const Profile& profile) const;
  TimelineStatus status() const;

 private:
  void run(std::stop_token stop);
  void apply(const TimelinePoint& point);  // under nothing: talks to the registry
  void clear_applied(const std::string& by = "timeline");
  void emit(const std::string& action, const std::string& detail);

  Registry& registry_;
  proxy::EventSink* events_;
  mutable std::mutex mutex_;  // guards the fields below
  std::condition_variable_any wake_;
  std::optional<Profile> profile_;
  std::chrono::steady_clock::time_point started_;
  std::string state_ = "none";
  std::int64_t stopped_at_ms_ = 0;
  TimelinePoint point_;
  // Timeline faults currently in the registry, "proxy/fault" -> setting.
  std::map<std::string, FaultSetting> applied_;
  std::map<std::string, std::uint64_t> applied_ids_;  // the registry's instance of each
  std::jthread thread_;
};

}  // namespace brownout::control
