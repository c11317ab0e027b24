// Unit tests for drill/judge.cpp: verdicts from made-up samples, windows and
// fault events (no clock, no I/O).
#include "drill/judge.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace brownout::drill;

namespace {

// One sample every `every` ms over [from, to), with outcome chosen by `f(t)`.
template <class F>
void add_samples(std::vector<Sample>& out, const std::string& probe, Ms from, Ms to, Ms every, F f,
                 double latency = 10) {
  for (Ms t = from; t < to; t += every) {
    Sample s;
    s.probe = probe;
    s.seq = out.size();
    s.planned = t;
    s.latency = latency;
    s.outcome = f(t);
    if (s.outcome == Outcome::failed) s.failure = "timeout";
    out.push_back(s);
  }
}

Threshold th(Threshold::Op op, double v, std::string text) {
  return Threshold{op, v, std::move(text)};
}

const std::vector<Window> kWindows = {
    {"before", 0, 10'000, false},
    {"slow", 10'000, 20'000, true},
    {"down", 20'000, 30'000, true},
    {"after", 30'000, 50'000, false},
};

}  // namespace

TEST_CASE("judge: percentile by nearest rank") {
  CHECK(percentile({}, 50) == 0);
  CHECK(percentile({5}, 99) == 5);
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  CHECK(percentile(v, 50) == 50);
  CHECK(percentile(v, 95) == 95);
  CHECK(percentile(v, 99) == 99);
  CHECK(percentile(v, 100) == 100);
  CHECK(percentile({3, 1, 2}, 50) == 2);  // sorts a copy
}

TEST_CASE("judge: a window takes samples planned in [start + skip, end)") {
  std::vector<Sample> s;
  add_samples(s, "p", 0, 50'000, 1000, [](Ms) { return Outcome::ok; });
  add_samples(s, "other", 0, 50'000, 1000, [](Ms) { return Outcome::failed; });
  const std::vector<std::string> slow{"slow"};
  auto got = in_scope(s, "p", kWindows, slow, 0);
  REQUIRE(got.size() == 10);
  CHECK(got.front()->planned == 10'000);  // the start belongs to the phase
  CHECK(got.back()->planned == 19'000);   // the end does not
  CHECK(in_scope(s, "p", kWindows, slow, 3000).size() == 7);
  const std::vector<std::string> faulted{"faulted"};
  CHECK(in_scope(s, "p", kWindows, faulted, 0).size() == 20);
  const std::vector<std::string> steady{"steady"};
  CHECK(in_scope(s, "p", kWindows, steady, 0).size() == 30);
  const std::vector<std::string> all{"all"};
  CHECK(in_scope(s, "p", kWindows, all, 0).size() == 50);
  // Saturated (skipped) samples are not judged.
  s[15].outcome = Outcome::skipped;
  CHECK(in_scope(s, "p", kWindows, slow, 0).size() == 9);
}

TEST_CASE("judge: success rate passes, fails, and is inconclusive on few samples") {
  std::vector<Sample> s;
  // During "slow" every 10th request fails: success 0.9.
  add_samples(s, "checkout", 10'000, 20'000, 100,
              [](Ms t) { return (t / 100) % 10 == 0 ? Outcome::failed : Outcome::ok; });
  Hypothesis h;
  h.name = "serves while slow";
  h.probe = "checkout";
  h.during = {"slow"};
  h.min_samples = 50;
  h.checks = {{Metric::success_rate, th(Threshold::Op::ge, 0.85, ">=0.85")}};
  auto r = judge(h, s, kWindows, {});
  CHECK(r.verdict == Verdict::pass);
  CHECK(r.samples == 100);
  CHECK(r.checks[0].observed == doctest::Approx(0.9));

  h.checks = {{Metric::success_rate, th(Threshold::Op::ge, 0.95, ">=0.95")}};
  r = judge(h, s, kWindows, {});
  CHECK(r.verdict == Verdict::fail);
  CHECK(r.why.find("success_rate 0.9 not >=0.95") != std::string::npos);

  h.min_samples = 101;
  r = judge(h, s, kWindows, {});
  CHECK(r.verdict == Verdict::inconclusive);
  CHECK(r.why.find("100 samples, fewer than 101") != std::string::npos);
}

TEST_CASE("judge: latency percentiles against thresholds") {
  std::vector<Sample> s;
  for (int i = 1; i <= 100; ++i) {
    Sample x;
    x.probe = "p";
    x.planned = 10'000 + i * 10;
    x.latency = i;  // 1..100 ms
    s.push_back(x);
  }
  Hypothesis h;
  h.probe = "p";
  h.during = {"slow"};
  h.checks = {{Metric::latency_p50, th(Threshold::Op::le, 50, "<=50ms")},
              {Metric::latency_p99, th(Threshold::Op::lt, 99, "<99ms")}};
  const auto r = judge(h, s, kWindows, {});
  REQUIRE(r.checks.size() == 2);
  CHECK(r.checks[0].met);
  CHECK_FALSE(r.checks[1].met);  // p99 is 99: not < 99
  CHECK(r.verdict == Verdict::fail);
}

TEST_CASE("judge: recovery counts from the proxy's own clearing and restarts on a flap") {
  std::vector<Sample> s;
  // Failing through "down" and 3 s after; one more failure at 35 s (a flap); fine after.
  add_samples(s, "p", 20'000, 50'000, 500,
              [](Ms t) { return t < 33'000 || t == 35'000 ? Outcome::failed : Outcome::ok; });
  // The proxy removed the faults 200 ms after the planned end.
  const std::vector<FaultEvent> events = {{20'000, "db", "slow", "fault_added"},
                                          {30'200, "db", "slow", "fault_removed"}};
  CHECK(faults_cleared_at(kWindows[2], events) == 30'200);
  // Good from 33 s, a failure at 35 s, good again from 35.5 s for 5 s.
  const auto t = recovery_time(s, "p", 30'200, 5000);
  REQUIRE(t.has_value());
  CHECK(*t == doctest::Approx(35'500 - 30'200));

  Hypothesis h;
  h.probe = "p";
  h.after = "down";
  h.stable_for = 5000;
  h.recovery = th(Threshold::Op::le, 10'000, "<=10s");
  auto r = judge(h, s, kWindows, events);
  CHECK(r.verdict == Verdict::pass);
  REQUIRE(r.recovery_ms.has_value());
  h.recovery = th(Threshold::Op::le, 5000, "<=5s");
  CHECK(judge(h, s, kWindows, events).verdict == Verdict::fail);
  // Never a clean stretch long enough: not recovered.
  h.stable_for = 60'000;
  r = judge(h, s, kWindows, events);
  CHECK(r.verdict == Verdict::fail);
  CHECK(r.why.find("not recovered") != std::string::npos);
  // A phase that never ran: inconclusive.
  h.after = "missing";
  CHECK(judge(h, s, kWindows, events).verdict == Verdict::inconclusive);
}

TEST_CASE("judge: a degraded fallback is not recovered, unless recovered = success") {
  std::vector<Sample> s;
  // Failing until 32 s, then fallbacks (202) until 38 s, then ok.
  add_samples(s, "p", 20'000, 50'000, 500, [](Ms t) {
    return t < 32'000 ? Outcome::failed : t < 38'000 ? Outcome::degraded : Outcome::ok;
  });
  std::int64_t judged = 0;
  auto t = recovery_time(s, "p", 30'000, 5000, false, &judged);
  REQUIRE(t.has_value());
  CHECK(*t == doctest::Approx(8000));  // back to ok at 38 s
  CHECK(judged == 27);                 // 30 s .. 43 s, every 500 ms
  t = recovery_time(s, "p", 30'000, 5000, true);
  REQUIRE(t.has_value());
  CHECK(*t == doctest::Approx(2000));  // a fallback counts from 32 s

  // A recovery-only hypothesis reports the samples it judged.
  Hypothesis h;
  h.probe = "p";
  h.after = "down";
  h.stable_for = 5000;
  h.recovery = th(Threshold::Op::le, 10'000, "<=10s");
  const std::vector<FaultEvent> events = {{30'000, "db", "slow", "fault_removed"}};
  const auto r = judge(h, s, kWindows, events);
  CHECK(r.verdict == Verdict::pass);
  CHECK(r.samples > 0);
}

TEST_CASE("judge: failures are attributed to the faults active when they were planned") {
  std::vector<Sample> s;
  add_samples(s, "p", 0, 30'000, 1000, [](Ms t) {
    return t == 5000 || t == 12'000 || t == 13'000 || t == 25'000 ? Outcome::failed : Outcome::ok;
  });
  const std::vector<FaultEvent> events = {{10'000, "pay", "latency", "fault_added"},
                                          {20'000, "pay", "latency", "fault_removed"},
                                          {20'000, "db", "limit", "fault_added"}};
  std::vector<const Sample*> failed;
  for (const auto& x : s)
    if (x.outcome == Outcome::failed) failed.push_back(&x);
  const auto a = attribute(failed, events);
  REQUIRE(a.size() == 3);
  CHECK(a[0].fault == "pay/latency");
  CHECK(a[0].failures == 2);
  CHECK(((a[1].fault == "" && a[2].fault == "db/limit") ||
         (a[1].fault == "db/limit" && a[2].fault == "")));
  CHECK(a[1].failures == 1);
}

TEST_CASE("judge: a request in flight across a fault change names both faults") {
  const std::vector<FaultEvent> events = {{10'000, "web", "slow", "fault_added"},
                                          {20'000, "web", "slow", "fault_removed"},
                                          {20'005, "web", "dead", "fault_added"},
                                          {22'000, "web", "dead", "fault_removed"}};
  const auto attribution_of = [&](Ms planned, double latency) {
    Sample x;
    x.planned = planned;
    x.latency = latency;
    x.outcome = Outcome::failed;
    const Sample* one[] = {&x};
    std::vector<std::string> names;
    for (const auto& a : attribute(one, events)) names.push_back(a.fault);
    return names;
  };
  // Sent under slow, reset by dead 300 ms later.
  CHECK(attribution_of(19'900, 300) == std::vector<std::string>{"web/dead", "web/slow"});
  // Answered before dead came: slow alone.
  CHECK(attribution_of(19'900, 100) == std::vector<std::string>{"web/slow"});
  // Planned after slow left and before dead came, failed under dead.
  CHECK(attribution_of(20'001, 50) == std::vector<std::string>{"web/dead"});
  // A fault removed while the request was in flight still counts: it was on.
  CHECK(attribution_of(21'900, 500) == std::vector<std::string>{"web/dead"});
  // Nothing on from start to answer.
  CHECK(attribution_of(25'000, 500) == std::vector<std::string>{""});
}

TEST_CASE("judge: the run's exit code") {
  const auto result = [](Verdict v, bool warn = false) {
    HypothesisResult r;
    r.verdict = v;
    r.warn_only = warn;
    return r;
  };
  const auto pass = result(Verdict::pass), fail = result(Verdict::fail),
             unsure = result(Verdict::inconclusive), warn_fail = result(Verdict::fail, true);
  CHECK(overall(std::vector{pass, pass}) == Exit::pass);
  CHECK(overall(std::vector{pass, fail, unsure}) == Exit::fail);
  CHECK(overall(std::vector{pass, unsure}) == Exit::inconclusive);
  CHECK(overall(std::vector{pass, unsure}, Exit::pass) == Exit::pass);
  CHECK(overall(std::vector{pass, warn_fail}) == Exit::pass);  // a warning never fails the run
  CHECK(overall(std::vector<HypothesisResult>{}) == Exit::pass);
  CHECK(static_cast<int>(Exit::not_steady) == 3);
  CHECK(static_cast<int>(Exit::aborted) == 4);
}

TEST_CASE("judge: a traced failure is linked to the faults that acted on that very request") {
  // Two faults on at once; the proxy recorded which one acted on request t1.
  std::vector<FaultEvent> events = {{1000, "pay", "slow", "fault_added"},
                                    {1000, "pay", "err", "fault_added"},
                                    {2100, "pay", "err", "http_fault", std::nullopt, "t1"},
                                    {9000, "pay", "slow", "fault_removed", 40},
                                    {9000, "pay", "err", "fault_removed", 12}};
  std::vector<Sample> s(3);
  for (auto& x : s) x.outcome = Outcome::failed;
  s[0].planned = 2000, s[0].latency = 200, s[0].trace = "t1";  // traced: err alone
  s[1].planned = 3000, s[1].latency = 200, s[1].trace = "t2";  // not seen by the proxy
  s[2].planned = 9500, s[2].latency = 10;                      // nothing on
  std::vector<const Sample*> failed{&s[0], &s[1], &s[2]};
  const auto a = attribute(failed, events);
  REQUIRE(a.size() == 3);
  CHECK(a[0].fault == "pay/err");
  CHECK(a[0].failures == 2);
  CHECK(a[0].exact == 1);
  CHECK(a[1].fault == "");
  CHECK(a[2].fault == "pay/slow");
  CHECK(a[2].failures == 1);
  CHECK(a[2].exact == 0);

  // Per fault: what it acted on, and how many failures surfaced beyond each
  // probe's own failure rate with no fault on.
  std::vector<Sample> all;
  const auto add = [&](const std::string& probe, Ms at, bool failed, std::string trace = {}) {
    Sample x;
    x.probe = probe;
    x.planned = at;
    x.latency = 10;
    x.outcome = failed ? Outcome::failed : Outcome::ok;
    x.trace = std::move(trace);
    all.push_back(x);
  };
  add("web", 500, false), add("web", 9500, false), add("web", 9600, false);  // baseline 0/3
  add("web", 2000, true, "t1");                                              // traced: err alone
  add("web", 3000, true);                                                    // both on
  add("web", 4000, false);                                                   // both on
  add("broken", 500, true), add("broken", 9500, true);  // fails with no fault on too
  add("broken", 5000, true);                            // ... so this one is not the faults'
  const auto im = impact(all, events);
  REQUIRE(im.size() == 2);
  CHECK(im[0].fault == "pay/err");
  CHECK(im[0].acted == 12);
  CHECK(im[0].surfaced == 2);
  CHECK(im[0].exact == 1);
  CHECK(im[1].fault == "pay/slow");
  CHECK(im[1].acted == 40);
  CHECK(im[1].surfaced == 1);
  CHECK(im[1].exact == 0);
}
