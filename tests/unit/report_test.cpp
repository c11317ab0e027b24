// Unit tests for drill/report.cpp and drill/html.cpp: the same run gives the
// same bytes (golden files under tests/unit/golden/, written from a made-up
// run with fixed times), the JUnit file has the shape CI readers expect, and
// the HTML page has its bands, lanes and threshold lines.
#include "drill/report.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "drill/html.hpp"
#include "drill/judge.hpp"

using namespace brownout::drill;

namespace {

RunRecord sample_run() {
  RunRecord r;
  r.title = "checkout survives a slow gateway";
  r.profile = "profiles/checkout.toml";
  r.profile_text = "[[proxy]]\nname = \"pay\"\n";
  r.seed = 42;
  r.started = "2026-11-28T04:00:00Z";
  r.duration = 12'000;
  r.status = "FAIL";
  r.exit = Exit::fail;
  r.requests_sent = 6;
  r.windows = {
      {"before", 0, 3000, false}, {"slow", 3000, 8000, true}, {"after", 8000, 12'000, false}};
  const struct {
    Ms at;
    double latency;
    Outcome o;
  } points[] = {{1000, 5, Outcome::ok},       {2000, 6, Outcome::ok},
                {4000, 900, Outcome::failed}, {5000, 450, Outcome::degraded},
                {9000, 7, Outcome::ok},       {10'000, 5, Outcome::ok}};
  std::uint64_t seq = 0;
  for (const auto& p : points) {
    Sample s;
    s.probe = "checkout";
    s.seq = seq++;
    s.planned = p.at;
    s.latency = p.latency;
    s.outcome = p.o;
    if (p.o == Outcome::failed) s.failure = "timeout";
    s.status = p.o == Outcome::failed ? 0 : 200;
    if (p.o == Outcome::failed) s.trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    r.samples.push_back(s);
  }
  r.events = {{3000, "pay", "slow", "fault_added"},
              {4100, "pay", "slow", "http_fault", std::nullopt, "4bf92f3577b34da6a3ce929d0e0e4736"},
              {8005, "pay", "slow", "fault_removed", 3}};
  r.impact = impact(r.samples, r.events);
  HypothesisResult h;
  h.name = "checkout answers while the gateway is slow";
  h.probe = "checkout";
  h.scope = "slow";
  h.verdict = Verdict::fail;
  h.samples = 2;
  h.checks = {{Metric::success_rate, Threshold{Threshold::Op::ge, 0.99, ">=0.99"}, 0.5, false},
              {Metric::latency_p95, Threshold{Threshold::Op::lt, 800, "<800ms"}, 900, false}};
  h.why = "success_rate 0.5 not >=0.99; latency_p95 900.0ms not <800ms";
  h.attribution = {{"pay/slow", 1, 1}};
  r.results.push_back(h);
  HypothesisResult rec;
  rec.name = "checkout recovers";
  rec.probe = "checkout";
  rec.scope = "after slow";
  rec.verdict = Verdict::pass;
  rec.recovery_ms = 995;
  rec.why = "recovered in 995.0ms";
  r.results.push_back(rec);
  return r;
}

// The golden file's text; BROWNOUT_UPDATE_GOLDEN=1 rewrites it from `actual`
// first (after a deliberate change of the format; review the diff).
std::string golden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(BROWNOUT_SOURCE_DIR) + "/tests/unit/golden/" + name;
  if (std::getenv("BROWNOUT_UPDATE_GOLDEN")) std::ofstream(path, std::ios::binary) << actual;
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("report: report.json is byte-identical to its golden file") {
  const auto json = report_json(sample_run());
  CHECK(json == report_json(sample_run()));  // deterministic
  CHECK(json == golden("report.json", json));
}

TEST_CASE("report: junit.xml is byte-identical to its golden file and shaped for CI readers") {
  const auto xml = junit_xml(sample_run());
  CHECK(xml == golden("junit.xml", xml));
  CHECK(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", 0) == 0);
  CHECK(count(xml, "<testcase ") == 2);
  CHECK(count(xml, "<failure ") == 1);
  CHECK(xml.find("message=\"success_rate 0.5 not &gt;=0.99; latency_p95 900.0ms not &lt;800ms\"") !=
        std::string::npos);
  CHECK(xml.find("pay/slow: 1 failed samples") != std::string::npos);
}

TEST_CASE("report: a run aborted by a guard has an error case") {
  auto r = sample_run();
  r.status = "ABORTED";
  r.exit = Exit::aborted;
  r.aborted_by = "guard checkout success_rate <0.5";
  const auto xml = junit_xml(r);
  CHECK(count(xml, "<error ") == 1);
  CHECK(xml.find("name=\"guard guard checkout success_rate &lt;0.5\"") != std::string::npos);
}

TEST_CASE("report: the HTML page has phase bands, a lane per proxy and threshold lines") {
  const auto html = report_html(sample_run());
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // nothing to fetch
  CHECK(count(html, "<g class=\"phase\"") == 3);
  CHECK(html.find("data-name=\"slow\"") != std::string::npos);
  CHECK(count(html, "<g class=\"lane\"") == 1);
  CHECK(html.find("data-proxy=\"pay\"") != std::string::npos);
  CHECK(count(html, "<circle ") == 3);             // one dot per fault event
  CHECK(count(html, "class=\"threshold\"") == 1);  // p95 < 800 ms over "slow"
  CHECK(count(html, "<polyline class=\"p95\"") == 1);
  CHECK(html.find("<tr class=\"FAIL\">") != std::string::npos);
  CHECK(html == report_html(sample_run()));
}
