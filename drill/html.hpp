// report.html: one self-contained page (inline SVG, no script, no network) a
// person reads without the JSON: the verdict, the hypotheses (a failure with
// the faults that were on), what each fault did, and a chart on one time
// axis: the windows as shaded bands, a lane per proxy with a row per fault
// (its active spans as bars, its events as dots), per probe the latency
// percentiles per second (longer buckets for long runs) with each latency
// check's threshold as a dashed line over its scope (red when not met), and
// ok / degraded / failed / skipped per second with the measured recovery.
// tests/e2e/report_html_test.sh renders it in headless Chromium;
// scripts/drill-screenshot.sh takes its picture (docs/img/drill-report.png).
#pragma once

#include <string>

#include "drill/report.hpp"

namespace brownout::drill {

std::string report_html(const RunRecord& r);

}  // namespace brownout::drill
