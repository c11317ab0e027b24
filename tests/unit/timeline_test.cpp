// Unit tests for control/timeline.cpp: timeline_at and next_change over hand-built
// profiles. Pure functions of elapsed time, so no clock is involved.
#include "control/timeline.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

using brownout::control::FaultSetting;
using brownout::control::next_change;
using brownout::control::Phase;
using brownout::control::PhaseFault;
using brownout::control::Profile;
using brownout::control::ProfileFault;
using brownout::control::ProfileProxy;
using brownout::control::Ramp;
using brownout::control::timeline_at;
using brownout::control::TimelinePoint;

namespace {

ProfileFault fault(std::string name, std::string type, double toxicity, bool timed = true) {
  ProfileFault f;
  f.name = std::move(name);
  f.type = std::move(type);
  f.toxicity = toxicity;
  f.timed = timed;
  return f;
}

ProfileProxy proxy(std::string name, std::string listen, std::vector<ProfileFault> faults) {
  ProfileProxy p;
  p.name = std::move(name);
  p.listen = std::move(listen);
  p.upstream = "127.0.0.1:1";
  p.faults = std::move(faults);
  return p;
}

Phase phase(std::string name, std::int64_t start_ms, std::int64_t duration_ms,
            std::vector<PhaseFault> faults = {}) {
  Phase ph;
  ph.name = std::move(name);
  ph.start_ms = start_ms;
  ph.duration_ms = duration_ms;
  ph.faults = std::move(faults);
  return ph;
}

PhaseFault on(std::string proxy, std::string fault) {
  PhaseFault pf;
  pf.proxy = std::move(proxy);
  pf.fault = std::move(fault);
  return pf;
}

// db: slow (latency, timed), dead (timeout, toxicity 0.8, timed), base (always on).
// cache: flaky (reset_peer, toxicity 0.3, timed).
//
//   steady   [0, 10s)       nothing
//   slowing  [10s, 30s)     db/slow latency ramps 0 -> 800, jitter 10; cache/flaky as declared
//   (gap)    [30s, 40s)
//   outage   [40s, 50s)     db/dead at toxicity 0.5, timeout 5000
Profile sample() {
  Profile p;
  p.file = "t.toml";
  auto base = fault("base", "latency", 1.0, false);
  base.attributes["latency"] = std::int64_t{20};
  auto slow = fault("slow", "latency", 1.0);
  slow.attributes["latency"] = std::int64_t{200};
  p.proxies.push_back(proxy("db", "127.0.0.1:15432", {base, slow, fault("dead", "timeout", 0.8)}));
  p.proxies.push_back(proxy("cache", "127.0.0.1:16379", {fault("flaky", "reset_peer", 0.3)}));

  auto ramp = on("db", "slow");
  ramp.ramps["latency"] = Ramp{0, 800};
  ramp.values["jitter"] = std::int64_t{10};
  auto dead = on("db", "dead");
  dead.toxicity = 0.5;
  dead.values["timeout"] = std::int64_t{5000};
  p.phases = {phase("steady", 0, 10000),
              phase("slowing", 10000, 20000, {ramp, on("cache", "flaky")}),
              phase("outage", 40000, 10000, {dead})};
  return p;
}

const FaultSetting* find(const TimelinePoint& t, const std::string& proxy,
                         const std::string& fault) {
  for (const auto& s : t.active)
    if (s.proxy == proxy && s.fault == fault) return &s;
  return nullptr;
}

const FaultSetting& setting(const TimelinePoint& t, const std::string& proxy,
                            const std::string& fault) {
  const FaultSetting* s = find(t, proxy, fault);
  INFO(proxy, "/", fault, " among ", t.active.size(), " active");
  REQUIRE(s != nullptr);
  return *s;
}

std::int64_t value(const FaultSetting& s, const std::string& name) {
  CAPTURE(name);
  const auto it = s.values.find(name);
  REQUIRE(it != s.values.end());
  REQUIRE(std::holds_alternative<std::int64_t>(it->second));
  return std::get<std::int64_t>(it->second);
}

// The exact value of a ramp from `from` to `to` over [start, start + duration) at `ms`.
double on_line(double from, double to, std::int64_t start, std::int64_t duration, std::int64_t ms) {
  return from + (to - from) * static_cast<double>(ms - start) / static_cast<double>(duration);
}

// Every change point from `from` on, until nullopt or `limit` points.
std::vector<std::int64_t> walk(const Profile& p, std::int64_t from, std::size_t limit) {
  std::vector<std::int64_t> out;
  std::int64_t t = from;
  while (out.size() < limit) {
    const auto next = next_change(p, t);
    if (!next) break;
    REQUIRE_MESSAGE(*next > t, "next_change(", t, ") = ", *next, " is not after it");
    out.push_back(*next);
    t = *next;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// timeline_at

TEST_CASE("timeline: before the first phase nothing is on") {
  Profile p = sample();
  for (auto& ph : p.phases) ph.start_ms += 5000;
  const auto t = timeline_at(p, 0);
  CHECK(t.phase == -1);
  CHECK_FALSE(t.finished);
  CHECK(t.active.empty());
  CHECK(timeline_at(p, 4999).phase == -1);
  CHECK(timeline_at(p, 5000).phase == 0);
}

TEST_CASE("timeline: a phase without faults") {
  const Profile p = sample();
  const auto t = timeline_at(p, 0);
  CHECK(t.phase == 0);
  CHECK(t.phase_left_ms == 10000);
  CHECK_FALSE(t.finished);
  CHECK(t.active.empty());  // always-on faults are not the timeline's
  CHECK(timeline_at(p, 9999).phase == 0);
  CHECK(timeline_at(p, 9999).phase_left_ms == 1);
}

TEST_CASE("timeline: a phase starts at its start, inclusive") {
  const Profile p = sample();
  const auto t = timeline_at(p, 10000);
  CHECK(t.phase == 1);
  CHECK(t.phase_left_ms == 20000);
  CHECK_FALSE(t.finished);
  REQUIRE(t.active.size() == 2);

  const auto& slow = setting(t, "db", "slow");
  CHECK(slow.toxicity == doctest::Approx(1.0));
  CHECK(slow.values == std::map<std::string, brownout::faults::Value>{
                           {"latency", std::int64_t{0}}, {"jitter", std::int64_t{10}}});

  // A fault the phase names without values: the fault's own toxicity, no values.
  const auto& flaky = setting(t, "cache", "flaky");
  CHECK(flaky.toxicity == doctest::Approx(0.3));
  CHECK(flaky.values.empty());

  CHECK(find(t, "db", "base") == nullptr);
  CHECK(find(t, "db", "dead") == nullptr);
}

TEST_CASE("timeline: a ramp moves linearly across its phase") {
  const Profile p = sample();
  const auto at = [&](std::int64_t ms) {
    return value(setting(timeline_at(p, ms), "db", "slow"), "latency");
  };
  CHECK(at(10000) == 0);    // from, at the phase's start
  CHECK(at(29999) == 800);  // to, at its end
  // In between, on the line within one step (a second's worth of the ramp, 40) and rounding.
  for (std::int64_t ms : {12500, 15000, 20000, 25000, 27500}) {
    CAPTURE(ms);
    CHECK(std::abs(static_cast<double>(at(ms)) - on_line(0, 800, 10000, 20000, ms)) <= 41.0);
  }
  // Ascending, never back.
  std::int64_t previous = 0;
  for (std::int64_t ms = 10000; ms < 30000; ms += 250) {
    CAPTURE(ms);
    CHECK(at(ms) >= previous);
    previous = at(ms);
  }
  // The fixed value stays put while the ramp moves.
  CHECK(value(setting(timeline_at(p, 20000), "db", "slow"), "jitter") == 10);
  CHECK(timeline_at(p, 20000).phase_left_ms == 10000);
}

TEST_CASE("timeline: ramp values are rounded to the nearest integer") {
  Profile p;
  p.proxies.push_back(proxy("db", "127.0.0.1:15432", {fault("slow", "latency", 1.0)}));
  auto up = on("db", "slow");
  up.ramps["latency"] = Ramp{0, 2};
  p.phases = {phase("up", 0, 4000, {up})};
  const auto at = [&](std::int64_t ms) {
    return value(setting(timeline_at(p, ms), "db", "slow"), "latency");
  };
  CHECK(at(0) == 0);
  // A quarter to half way the line is at 0.5 to 1 (stepped: 2/3): rounded up, not truncated.
  CHECK(at(1000) == 1);
  CHECK(at(1500) == 1);
  CHECK(at(1999) == 1);
  CHECK(at(3999) == 2);
}

TEST_CASE("timeline: a descending ramp") {
  Profile p;
  p.proxies.push_back(proxy("db", "127.0.0.1:15432", {fault("slow", "latency", 1.0)}));
  auto down = on("db", "slow");
  down.ramps["latency"] = Ramp{800, 0};
  p.phases = {phase("recovering", 60000, 60000, {down})};
  const auto at = [&](std::int64_t ms) {
    return value(setting(timeline_at(p, ms), "db", "slow"), "latency");
  };
  CHECK(at(60000) == 800);
  CHECK(at(119999) == 0);
  for (std::int64_t ms : {75000, 90000, 105000}) {
    CAPTURE(ms);
    CHECK(std::abs(static_cast<double>(at(ms)) - on_line(800, 0, 60000, 60000, ms)) <= 15.0);
  }
}

TEST_CASE("timeline: a phase's toxicity overrides the fault's own") {
  const Profile p = sample();
  const auto t = timeline_at(p, 45000);
  CHECK(t.phase == 2);
  CHECK(t.phase_left_ms == 5000);
  REQUIRE(t.active.size() == 1);
  const auto& dead = setting(t, "db", "dead");
  CHECK(dead.toxicity == doctest::Approx(0.5));  // not the fault's 0.8
  CHECK(dead.values ==
        std::map<std::string, brownout::faults::Value>{{"timeout", std::int64_t{5000}}});
}

TEST_CASE("timeline: a toxicity ramp") {
  Profile p;
  p.proxies.push_back(proxy("pay", "127.0.0.1:18443", {fault("drop", "timeout", 0.9)}));
  auto drop = on("pay", "drop");
  drop.toxicity_ramp = Ramp{0.0, 1.0};
  p.phases = {phase("worsening", 0, 10000, {drop})};
  const auto at = [&](std::int64_t ms) {
    return setting(timeline_at(p, ms), "pay", "drop").toxicity;
  };
  CHECK(at(0) == doctest::Approx(0.0));
  CHECK(at(9999) == doctest::Approx(1.0).epsilon(0.001));
  for (std::int64_t ms : {2500, 5000, 7500}) {
    CAPTURE(ms);
    CHECK(std::abs(at(ms) - on_line(0.0, 1.0, 0, 10000, ms)) <= 0.1 + 1e-9);  // within a step
  }
  CHECK(at(2500) < at(5000));
  CHECK(at(5000) < at(7500));
  CHECK(setting(timeline_at(p, 5000), "pay", "drop").values.empty());

  // Descending, as a recovery writes it.
  p.phases[0].faults[0].toxicity_ramp = Ramp{1.0, 0.0};
  CHECK(at(0) == doctest::Approx(1.0));
  CHECK(std::abs(at(7500) - on_line(1.0, 0.0, 0, 10000, 7500)) <= 0.1 + 1e-9);
  CHECK(at(9999) == doctest::Approx(0.0).epsilon(0.001));
}

TEST_CASE("timeline: a gap between phases has nothing on and is not the end") {
  const Profile p = sample();
  for (std::int64_t ms : {30000, 35000, 39999}) {
    CAPTURE(ms);
    const auto t = timeline_at(p, ms);
    CHECK(t.phase == -1);
    CHECK_FALSE(t.finished);
    CHECK(t.active.empty());
  }
  CHECK(timeline_at(p, 40000).phase == 2);
}

TEST_CASE("timeline: after the last phase it is finished") {
  const Profile p = sample();
  CHECK(timeline_at(p, 49999).phase == 2);
  CHECK_FALSE(timeline_at(p, 49999).finished);
  for (std::int64_t ms : {50000, 50001, 3'600'000}) {
    CAPTURE(ms);
    const auto t = timeline_at(p, ms);
    CHECK(t.phase == -1);
    CHECK(t.finished);
    CHECK(t.active.empty());
  }
}

TEST_CASE("timeline: repeat starts over when the last phase ends") {
  Profile p = sample();
  p.repeat = true;
  REQUIRE(p.timeline_ms() == 50000);

  const auto again = timeline_at(p, 50000);
  CHECK(again.phase == 0);
  CHECK(again.phase_left_ms == 10000);
  CHECK_FALSE(again.finished);

  const auto ramp = timeline_at(p, 70000);  // 20s into the second round
  CHECK(ramp.phase == 1);
  CHECK(std::abs(static_cast<double>(value(setting(ramp, "db", "slow"), "latency")) - 400.0) <=
        41.0);  // the middle of the ramp, within a step

  const auto gap = timeline_at(p, 5 * 50000 + 35000);
  CHECK(gap.phase == -1);
  CHECK_FALSE(gap.finished);

  const auto outage = timeline_at(p, 7 * 50000 + 45000);
  CHECK(outage.phase == 2);
  CHECK(outage.phase_left_ms == 5000);
  CHECK_FALSE(outage.finished);
  CHECK(setting(outage, "db", "dead").toxicity == doctest::Approx(0.5));
}

TEST_CASE("timeline: repeat with a leading gap keeps the gap in every round") {
  Profile p = sample();
  for (auto& ph : p.phases) ph.start_ms += 5000;  // phases at 5s..55s
  p.repeat = true;
  REQUIRE(p.timeline_ms() == 55000);
  CHECK(timeline_at(p, 55000).phase == -1);
  CHECK(timeline_at(p, 60000).phase == 0);
}

TEST_CASE("timeline: a profile without phases has nothing on") {
  Profile p = sample();
  p.phases.clear();
  const auto t = timeline_at(p, 0);
  CHECK(t.phase == -1);
  CHECK(t.active.empty());
  CHECK_FALSE(next_change(p, 0).has_value());
}

// ---------------------------------------------------------------------------
// next_change

TEST_CASE("timeline: next_change goes to the next phase boundary") {
  const Profile p = sample();
  CHECK(next_change(p, 0) == std::optional<std::int64_t>{10000});
  CHECK(next_change(p, 9999) == std::optional<std::int64_t>{10000});
  CHECK(next_change(p, 30000) == std::optional<std::int64_t>{40000});  // over the gap
  CHECK(next_change(p, 35000) == std::optional<std::int64_t>{40000});
  CHECK(next_change(p, 40000) == std::optional<std::int64_t>{50000});  // no ramp: one step
  CHECK(next_change(p, 49999) == std::optional<std::int64_t>{50000});
}

TEST_CASE("timeline: next_change before the first phase is its start") {
  Profile p = sample();
  for (auto& ph : p.phases) ph.start_ms += 5000;
  CHECK(next_change(p, 0) == std::optional<std::int64_t>{5000});
  CHECK(next_change(p, 4999) == std::optional<std::int64_t>{5000});
}

TEST_CASE("timeline: next_change steps through a ramp no more than a second apart") {
  const Profile p = sample();
  const auto first = next_change(p, 10000);
  REQUIRE(first.has_value());
  CHECK(*first > 10000);
  CHECK(*first <= 11000);

  std::int64_t t = 10000;
  int steps = 0;
  while (t < 30000) {
    const auto next = next_change(p, t);
    REQUIRE(next.has_value());
    CAPTURE(t);
    CHECK(*next > t);
    CHECK(*next - t <= 1000);
    CHECK(*next <= 30000);  // the phase's end is not stepped over
    t = *next;
    REQUIRE(++steps <= 20000);
  }
  CHECK(t == 30000);
  CHECK(steps >= 20);
  // From the middle of a step too.
  const auto mid = next_change(p, 12345);
  REQUIRE(mid.has_value());
  CHECK(*mid > 12345);
  CHECK(*mid <= 13345);
}

TEST_CASE("timeline: a toxicity ramp alone also steps") {
  Profile p;
  p.proxies.push_back(proxy("pay", "127.0.0.1:18443", {fault("drop", "timeout", 1.0)}));
  auto drop = on("pay", "drop");
  drop.toxicity_ramp = Ramp{0.0, 1.0};
  p.phases = {phase("worsening", 0, 5000, {drop})};
  const auto points = walk(p, 0, 100);
  REQUIRE_FALSE(points.empty());
  CHECK(points.back() == 5000);
  std::int64_t prev = 0;
  for (auto pt : points) {
    CHECK(pt - prev <= 1000);
    prev = pt;
  }
}

TEST_CASE("timeline: a ramp shorter than a step ends at its phase's end") {
  Profile p;
  p.proxies.push_back(proxy("db", "127.0.0.1:15432", {fault("slow", "latency", 1.0)}));
  auto up = on("db", "slow");
  up.ramps["latency"] = Ramp{0, 100};
  p.phases = {phase("blip", 2000, 500, {up})};
  CHECK(next_change(p, 2000) == std::optional<std::int64_t>{2500});
  CHECK_FALSE(next_change(p, 2500).has_value());
}

TEST_CASE("timeline: nothing changes after the end without repeat") {
  const Profile p = sample();
  CHECK_FALSE(next_change(p, 50000).has_value());
  CHECK_FALSE(next_change(p, 50001).has_value());
  CHECK_FALSE(next_change(p, 10'000'000).has_value());
}

TEST_CASE("timeline: walking the whole timeline visits every boundary and ends") {
  const Profile p = sample();
  const auto points = walk(p, 0, 100000);
  REQUIRE_FALSE(points.empty());
  CHECK(points.back() == 50000);
  for (std::int64_t boundary : {10000, 30000, 40000, 50000}) {
    CAPTURE(boundary);
    CHECK(std::count(points.begin(), points.end(), boundary) == 1);
  }
  // Within the ramp phase, the setting at each point follows the line (within a step).
  for (auto pt : points) {
    if (pt < 10000 || pt >= 30000) continue;
    CAPTURE(pt);
    const auto v = value(setting(timeline_at(p, pt), "db", "slow"), "latency");
    CHECK(std::abs(static_cast<double>(v) - on_line(0, 800, 10000, 20000, pt)) <= 41.0);
  }
}

TEST_CASE("timeline: the state changes only at the moments next_change reports") {
  for (bool repeat : {false, true}) {
    CAPTURE(repeat);
    Profile p = sample();
    p.repeat = repeat;
    // Every millisecond of two rounds: the state equals the state at the last change point.
    std::int64_t last_change = 0;
    TimelinePoint at_change = timeline_at(p, 0);
    std::optional<std::int64_t> next = next_change(p, 0);
    for (std::int64_t ms = 1; ms < 2 * p.timeline_ms(); ++ms) {
      if (next && ms == *next) {
        last_change = ms;
        at_change = timeline_at(p, ms);
        next = next_change(p, ms);
        continue;
      }
      const TimelinePoint now = timeline_at(p, ms);
      if (now.phase != at_change.phase || now.finished != at_change.finished ||
          now.active != at_change.active) {
        FAIL("the state at ", ms, " ms differs from that at ", last_change, " ms, but next_change(",
             last_change, ") did not report a change before it");
      }
    }
  }
}

TEST_CASE("timeline: with repeat there is always a next change") {
  Profile p = sample();
  p.repeat = true;
  CHECK(next_change(p, 49999) == std::optional<std::int64_t>{50000});
  CHECK(next_change(p, 50000) == std::optional<std::int64_t>{60000});
  CHECK(next_change(p, 5 * 50000 + 35000) == std::optional<std::int64_t>{5 * 50000 + 40000});
  const auto in_ramp = next_change(p, 3 * 50000 + 10000);
  REQUIRE(in_ramp.has_value());
  CHECK(*in_ramp > 3 * 50000 + 10000);
  CHECK(*in_ramp <= 3 * 50000 + 11000);
  const auto points = walk(p, 0, 500);
  CHECK(points.size() == 500);  // never ends
}

TEST_CASE("timeline: a percentage ramps in fractions, a word is set as it is") {
  Profile p;
  p.proxies.push_back(proxy("cache", "127.0.0.1:16379", {fault("lossy", "stall", 1.0)}));
  auto worse = on("cache", "lossy");
  worse.ramps["percentage"] = Ramp{0, 1, false};
  worse.values["mode"] = std::string("queue");  // not the stall's, but carried as given
  p.phases = {phase("worse", 0, 4000, {worse})};
  const auto s = setting(timeline_at(p, 3999), "cache", "lossy");
  REQUIRE(std::holds_alternative<double>(s.values.at("percentage")));
  CHECK(std::get<double>(s.values.at("percentage")) == doctest::Approx(1.0));
  const auto early = setting(timeline_at(p, 1500), "cache", "lossy");
  const double mid = std::get<double>(early.values.at("percentage"));
  CHECK(mid > 0.0);  // not rounded down to 0
  CHECK(mid < 1.0);
  CHECK(std::get<std::string>(s.values.at("mode")) == "queue");
}
