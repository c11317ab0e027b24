// Profiles: TOML scenarios (proxies, their faults, and a timeline of phases)
// loaded with toml++ and validated whole before anything runs. Every error
// names file:line:column and what was expected; all errors of a load are
// reported, not only the first. The format is documented in docs/profiles.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/controls.hpp"
#include "faults/attributes.hpp"
#include "faults/http.hpp"

namespace brownout::control {

struct SourcePos {
  std::string file;
  std::uint32_t line = 0;  // 1-based; 0 when unknown
  std::uint32_t column = 0;
};

struct ProfileError {
  SourcePos where;
  std::string message;
  // "file:line:column: message" (file:message when the position is unknown).
  std::string text() const;
};

struct ProfileFault {
  std::string name;  // default TYPE_STREAM, as Toxiproxy names toxics
  std::string type;
  std::string stream = "downstream";
  double toxicity = 1.0;
  // Attributes the profile gives, converted to the attribute's declared unit.
  std::map<std::string, faults::Value> attributes;
  // HTTP faults (http_* types): the attributes as a tree, and the
  // per-request probability.
  std::optional<faults::http::Tree> http;
  double probability = 1.0;  // per request (HTTP), per chunk (stream faults)
  FaultControls controls;    // clients, after, for, count, flap
  bool timed = false;        // named by a phase: on only during the phases that name it
  SourcePos where;
};

struct ProfileProxy {
  std::string name;
  std::string listen;
  std::string upstream;
  std::string protocol = "tcp";
  bool header_faults = false;  // http: x-brownout-fault-* headers pick faults
  bool pass_tls = false;       // postgres: forward SSLRequest instead of answering 'N'
  bool enabled = true;
  std::vector<ProfileFault> faults;
  SourcePos where;
};

// A value moving linearly from `from` (phase start) to `to` (phase end).
struct Ramp {
  double from = 0;
  double to = 0;
  bool whole = true;  // an integer attribute: steps are rounded
  bool operator==(const Ramp&) const = default;
};

struct PhaseFault {
  std::string proxy;
  std::string fault;
  std::optional<double> toxicity;
  std::optional<Ramp> toxicity_ramp;
  std::optional<double> probability;  // HTTP faults
  std::optional<Ramp> probability_ramp;
  std::map<std::string, faults::Value> values;  // fixed for the phase, in declared units
  std::map<std::string, Ramp> ramps;            // in declared units
  bool operator==(const PhaseFault&) const = default;
};

struct Phase {
  std::string name;
  std::int64_t start_ms = 0;  // offset from the timeline's start, resolved
  std::int64_t duration_ms = 0;
  std::vector<PhaseFault> faults;
  std::int64_t end_ms() const { return start_ms + duration_ms; }
  bool operator==(const Phase& o) const {
    return name == o.name && start_ms == o.start_ms && duration_ms == o.duration_ms &&
           faults == o.faults;
  }
};

struct Profile {
  std::string file;  // the main file, as given
  std::vector<ProfileProxy> proxies;
  std::vector<Phase> phases;
  bool repeat = false;
  std::vector<std::string> files;  // every file read: the main one, then includes

  const ProfileProxy* proxy(std::string_view name) const;
  const ProfileFault* fault(std::string_view proxy, std::string_view fault) const;
  std::int64_t timeline_ms() const { return phases.empty() ? 0 : phases.back().end_ms(); }
};

// Returns a file's text, or nullopt when it cannot be read.
using FileReader = std::function<std::optional<std::string>(const std::string& path)>;
FileReader disk_reader();
// A reader over texts already in memory (a profile sent over the API).
FileReader memory_reader(std::map<std::string, std::string> files);

struct LoadResult {
  std::optional<Profile> profile;  // set only when there is no error
  std::vector<ProfileError> errors;
  std::map<std::string, std::string> sources;  // path -> text of every file read

  explicit operator bool() const { return profile.has_value(); }
  std::string error_text() const;  // one error per line
};

// Loads `path` and its includes through `read`, and validates everything.
LoadResult load_profile(const std::string& path, const FileReader& read = disk_reader());

// Several --profile files, merged into one: their proxies together (a name
// may appear in one file only); at most one of them may have phases.
LoadResult load_profiles(const std::vector<std::string>& paths,
                         const FileReader& read = disk_reader());

// A profile as TOML text (for `profile import`): proxies and their faults,
// attribute values with units.
std::string to_toml(const Profile& profile);

// Converts Toxiproxy JSON (a config array, or GET /proxies' object) into a
// profile. Errors carry no position.
LoadResult import_toxiproxy_json(std::string_view json_text, const std::string& name);

}  // namespace brownout::control
