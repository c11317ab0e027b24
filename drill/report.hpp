// A drill's reports: the terminal summary, report.json (schema
// "brownout.drill/1"), junit.xml (one test case per hypothesis), and the raw
// samples and events as NDJSON. Deterministic: the same run gives the same
// bytes (times come from the run, never from the clock here).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "drill/model.hpp"

namespace brownout::drill {

struct RunRecord {
  std::string title;
  std::string profile;       // path
  std::string profile_text;  // the main file, embedded so a run can be replayed
  std::string replay_of;     // the report this run replayed, if it did
  std::uint64_t seed = 0;
  std::string started;  // ISO 8601 UTC
  Ms duration = 0;
  std::string status;  // PASS, FAIL, INCONCLUSIVE, NOT_STEADY, ABORTED
  Exit exit = Exit::pass;
  std::string aborted_by;  // a guard, or "signal"
  std::uint64_t requests_sent = 0;
  std::vector<Window> windows;
  std::vector<HypothesisResult> results;
  std::vector<Sample> samples;
  std::vector<FaultEvent> events;
  std::vector<FaultImpact> impact;
};

// Text safe inside XML and HTML, in elements and attribute values.
std::string escape_markup(const std::string& s);

std::string report_json(const RunRecord& r);
std::string junit_xml(const RunRecord& r);
std::string samples_ndjson(const RunRecord& r);
std::string events_ndjson(const RunRecord& r);
// One line per hypothesis, then the verdict line.
void print_summary(std::ostream& out, const RunRecord& r, const std::string& reports_dir);

}  // namespace brownout::drill
