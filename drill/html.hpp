// report.html: one self-contained page (inline SVG, no script, no network) a
// person reads without the JSON: the verdict, the hypotheses, and a chart on
// one time axis: the phases as shaded bands, a lane per proxy with its fault
// events, latency percentiles per second with the hypotheses' thresholds as
// dashed lines, and ok / degraded / failed per second.
#pragma once

#include <string>

#include "drill/report.hpp"

namespace brownout::drill {

std::string report_html(const RunRecord& r);

}  // namespace brownout::drill
