// `brownout drill diff A B`: compares two runs' report.json and says whether
// the second degraded significantly worse, hypothesis by hypothesis: a
// verdict that went from PASS to FAIL, a rate worse by more than chance
// explains (a two-proportion z-test over the samples of each run), a latency
// or a recovery worse by more than a tolerance. The direction that counts as
// worse is the threshold's own: for ">=0.99" lower is worse, for "<800ms"
// higher is. Pure: JSON text in, rows out.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace brownout::drill {

struct DiffOptions {
  double rate_tolerance = 0.01;     // a rate must move at least this much (and significantly)
  double latency_tolerance = 0.20;  // a latency or recovery must grow by this share ...
  double latency_floor_ms = 5;      // ... and by at least this many ms (recovery: 100x)
  double z = 2.0;                   // significance of a rate change (z-score)
};

struct DiffRow {
  std::string hypothesis;
  std::string what;  // verdict, a metric, recovery
  std::string a, b;  // as printed
  std::string change;
  bool worse = false;  // significantly worse in B
  bool better = false;
};

struct DiffResult {
  std::vector<DiffRow> rows;
  std::vector<std::string> notes;  // hypotheses only in one run, other caveats
  bool regressed = false;
  std::string error;  // set when a file is no drill report
};

DiffResult diff_reports(const std::string& a_json, const std::string& b_json,
                        const DiffOptions& options = {});

// A table for the terminal, then one verdict line.
std::string format_diff(const DiffResult& d, const std::string& a_name, const std::string& b_name);

}  // namespace brownout::drill
