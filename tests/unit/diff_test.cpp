// Unit tests for drill/diff.cpp: when is a second run significantly worse?
#include "drill/diff.hpp"

#include <doctest/doctest.h>

using namespace brownout::drill;

namespace {

// A report with one hypothesis: its verdict, samples, success rate (>=0.95),
// p95 latency (<800ms) and recovery.
std::string report(const char* verdict, int samples, double success, double p95, double recovery_ms,
                   const char* status = "PASS") {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                R"({"schema":"brownout.drill/1","status":"%s","hypotheses":[
    {"name":"checkout","verdict":"%s","samples":%d,"checks":[
      {"metric":"success_rate","threshold":">=0.95","observed":%g,"met":true},
      {"metric":"latency_p95","threshold":"<800ms","observed":%g,"met":true}],
     "recovery_ms":%g}]})",
                status, verdict, samples, success, p95, recovery_ms);
  return buf;
}

const DiffRow* row(const DiffResult& d, const std::string& what) {
  for (const auto& r : d.rows)
    if (r.what == what) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("diff: the same run is no regression") {
  const auto a = report("PASS", 200, 0.99, 300, 2000);
  const auto d = diff_reports(a, a);
  CHECK(d.error.empty());
  CHECK_FALSE(d.regressed);
  CHECK(d.rows.empty());
}

TEST_CASE("diff: a verdict from PASS to FAIL is a regression") {
  const auto d = diff_reports(report("PASS", 200, 0.99, 300, 2000),
                              report("FAIL", 200, 0.99, 300, 2000, "FAIL"));
  CHECK(d.regressed);
  REQUIRE(row(d, "verdict"));
  CHECK(row(d, "verdict")->worse);
  REQUIRE(row(d, "status"));
  CHECK(row(d, "status")->worse);
  // The other way is better, not worse.
  const auto back = diff_reports(report("FAIL", 200, 0.99, 300, 2000, "FAIL"),
                                 report("PASS", 200, 0.99, 300, 2000));
  CHECK_FALSE(back.regressed);
  CHECK(row(back, "verdict")->better);
}

TEST_CASE("diff: a rate change counts only beyond chance") {
  // 0.99 -> 0.97 over 50 samples each: 1 failure against 1.5, chance.
  auto d = diff_reports(report("PASS", 50, 0.99, 300, 2000), report("PASS", 50, 0.97, 300, 2000));
  CHECK_FALSE(d.regressed);
  REQUIRE(row(d, "success_rate"));
  CHECK_FALSE(row(d, "success_rate")->worse);
  // The same rates over 5000 samples each: significant.
  d = diff_reports(report("PASS", 5000, 0.99, 300, 2000), report("PASS", 5000, 0.97, 300, 2000));
  CHECK(d.regressed);
  CHECK(row(d, "success_rate")->worse);
  CHECK(row(d, "success_rate")->change.find("z=") != std::string::npos);
  // Higher success is better.
  d = diff_reports(report("PASS", 5000, 0.90, 300, 2000), report("PASS", 5000, 0.99, 300, 2000));
  CHECK_FALSE(d.regressed);
  CHECK(row(d, "success_rate")->better);
  // Below the tolerance even when significant: 0.999 -> 0.995 over 100k.
  d = diff_reports(report("PASS", 100000, 0.999, 300, 2000),
                   report("PASS", 100000, 0.995, 300, 2000));
  CHECK_FALSE(d.regressed);
}

TEST_CASE("diff: latency and recovery worse by more than 20% and a floor") {
  auto d = diff_reports(report("PASS", 200, 0.99, 300, 2000), report("PASS", 200, 0.99, 400, 2000));
  CHECK(d.regressed);
  CHECK(row(d, "latency_p95")->worse);
  // +10%: within tolerance.
  d = diff_reports(report("PASS", 200, 0.99, 300, 2000), report("PASS", 200, 0.99, 330, 2000));
  CHECK_FALSE(d.regressed);
  // +100% of 2 ms is 2 ms: below the floor.
  d = diff_reports(report("PASS", 200, 0.99, 2, 2000), report("PASS", 200, 0.99, 4, 2000));
  CHECK_FALSE(d.regressed);
  // Faster is better.
  d = diff_reports(report("PASS", 200, 0.99, 400, 2000), report("PASS", 200, 0.99, 200, 2000));
  CHECK(row(d, "latency_p95")->better);
  // Recovery 2 s -> 6 s is worse; 2 s -> 2.3 s is not.
  d = diff_reports(report("PASS", 200, 0.99, 300, 2000), report("PASS", 200, 0.99, 300, 6000));
  CHECK(d.regressed);
  CHECK(row(d, "recovery")->worse);
  d = diff_reports(report("PASS", 200, 0.99, 300, 2000), report("PASS", 200, 0.99, 300, 2300));
  CHECK_FALSE(d.regressed);
}

TEST_CASE("diff: what is not a drill report is refused; hypotheses in one run are noted") {
  CHECK(diff_reports("{}", report("PASS", 1, 1, 1, 1)).error.find("A:") == 0);
  CHECK(diff_reports(report("PASS", 1, 1, 1, 1), "nope").error.find("B:") == 0);
  auto b = report("PASS", 200, 0.99, 300, 2000);
  b.replace(b.find("\"checkout\""), 10, "\"checkout2\"");
  const auto d = diff_reports(report("PASS", 200, 0.99, 300, 2000), b);
  CHECK_FALSE(d.regressed);
  REQUIRE(d.notes.size() == 2);
  CHECK(d.notes[0] == "only in A: checkout");
  CHECK(d.notes[1] == "only in B: checkout2");
  const auto text = format_diff(d, "a.json", "b.json");
  CHECK(text.find("no significant regression") != std::string::npos);
}
