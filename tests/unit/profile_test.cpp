// Unit tests for control/profile.cpp: loading TOML profiles through an in-memory
// reader (no disk), every validation error with its file:line:column, includes,
// merging several files, to_toml and the Toxiproxy JSON import. The last tests
// load every ready-made profile under profiles/ from disk.
#include "control/profile.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

using brownout::control::disk_reader;
using brownout::control::import_toxiproxy_json;
using brownout::control::load_profile;
using brownout::control::load_profiles;
using brownout::control::LoadResult;
using brownout::control::memory_reader;
using brownout::control::Phase;
using brownout::control::PhaseFault;
using brownout::control::Profile;
using brownout::control::ProfileError;
using brownout::control::ProfileFault;
using brownout::control::ProfileProxy;
using brownout::control::Ramp;
using brownout::control::to_toml;
using brownout::faults::Value;

namespace {

// Texts are written as R"(\n...)" so that line 1 is the line after the opening quote.
std::string text(std::string_view s) {
  if (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return std::string(s);
}

LoadResult load_files(std::map<std::string, std::string> files, const std::string& main) {
  for (auto& [path, body] : files) body = text(body);
  return load_profile(main, memory_reader(std::move(files)));
}

LoadResult load_text(std::string_view body) {
  return load_files({{"p.toml", std::string(body)}}, "p.toml");
}

Profile good(std::string_view body) {
  const auto r = load_text(body);
  INFO(r.error_text());
  REQUIRE(r.profile.has_value());
  CHECK(r.errors.empty());
  return *r.profile;
}

struct Where {
  std::string file;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

// The position of `needle` in line `line` of `body` (as given to load_*): 1-based column.
Where at(std::string_view body, std::uint32_t line, std::string_view needle,
         std::string file = "p.toml") {
  const std::string t = text(body);
  std::size_t begin = 0;
  for (std::uint32_t l = 1; l < line; ++l) {
    begin = t.find('\n', begin);
    REQUIRE_MESSAGE(begin != std::string::npos, "the text has no line ", line);
    ++begin;
  }
  const std::size_t end = std::min(t.find('\n', begin), t.size());
  const std::string_view row = std::string_view(t).substr(begin, end - begin);
  const std::size_t col = row.find(needle);
  REQUIRE_MESSAGE(col != std::string_view::npos, "'", needle, "' is not on line ", line, ": ", row);
  return Where{std::move(file), line, static_cast<std::uint32_t>(col + 1)};
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// `value` as a TOML string, basic or literal.
bool quoted(std::string_view toml, const std::string& value) {
  return contains(toml, "\"" + value + "\"") || contains(toml, "'" + value + "'");
}

// Checks that `r` failed with an error at `w` whose message has every fragment.
void has_error(const LoadResult& r, const Where& w,
               std::initializer_list<std::string_view> fragments) {
  INFO("errors:\n", r.error_text());
  INFO("expected an error at ", w.file, ":", w.line, ":", w.column);
  CHECK_FALSE(r.profile.has_value());
  const ProfileError* found = nullptr;
  for (const auto& e : r.errors)
    if (e.where.file == w.file && e.where.line == w.line && e.where.column == w.column) found = &e;
  if (!found) {
    // Report a near miss (right line, other column) as precisely as possible.
    for (const auto& e : r.errors)
      if (e.where.file == w.file && e.where.line == w.line) found = &e;
    REQUIRE_MESSAGE(found != nullptr, "no error on that line");
    CHECK(found->where.column == w.column);
  }
  for (auto fragment : fragments) {
    CAPTURE(fragment);
    CHECK_MESSAGE(contains(found->message, fragment), found->message);
  }
  // text() is file:line:column: message.
  CHECK(found->text() == found->where.file + ":" + std::to_string(found->where.line) + ":" +
                             std::to_string(found->where.column) + ": " + found->message);
}

// Checks that `r` failed with exactly this one error.
void only_error(const LoadResult& r, const Where& w,
                std::initializer_list<std::string_view> fragments) {
  INFO("errors:\n", r.error_text());
  CHECK(r.errors.size() == 1);
  has_error(r, w, fragments);
}

// "name=value ..." of attributes, for readable comparisons.
std::string show(const std::map<std::string, Value>& attributes) {
  std::string out;
  for (const auto& [k, v] : attributes) {
    out += k + "=";
    if (const auto* i = std::get_if<std::int64_t>(&v))
      out += std::to_string(*i);
    else
      out += "(not an integer)";
    out += " ";
  }
  return out;
}

std::int64_t attr(const ProfileFault& f, const std::string& name) {
  CAPTURE(f.name);
  CAPTURE(name);
  const auto it = f.attributes.find(name);
  REQUIRE(it != f.attributes.end());
  REQUIRE(std::holds_alternative<std::int64_t>(it->second));
  return std::get<std::int64_t>(it->second);
}

const ProfileFault& fault_of(const Profile& p, std::string_view proxy, std::string_view fault) {
  const ProfileFault* f = p.fault(proxy, fault);
  INFO("fault ", fault, " of proxy ", proxy);
  REQUIRE(f != nullptr);
  return *f;
}

const ProfileProxy& proxy_of(const Profile& p, std::string_view name) {
  const ProfileProxy* px = p.proxy(name);
  INFO("proxy ", name);
  REQUIRE(px != nullptr);
  return *px;
}

// A proxy the error tests put faults under.
constexpr std::string_view kDb = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
)";

}  // namespace

// ---------------------------------------------------------------------------
// Good profiles

TEST_CASE("profile: proxies with their defaults") {
  const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[[proxy]]
name = "cache"
listen = "127.0.0.1:0"
upstream = "localhost:6379"
protocol = "tcp"
enabled = false
)");
  CHECK(p.file == "p.toml");
  CHECK(p.files == std::vector<std::string>{"p.toml"});
  REQUIRE(p.proxies.size() == 2);
  CHECK(p.proxies[0].name == "db");  // in the order the file gives them
  CHECK(p.proxies[1].name == "cache");

  const auto& db = proxy_of(p, "db");
  CHECK(db.listen == "127.0.0.1:15432");
  CHECK(db.upstream == "127.0.0.1:5432");
  CHECK(db.protocol == "tcp");
  CHECK(db.enabled);
  CHECK(db.faults.empty());
  CHECK(db.where.file == "p.toml");
  CHECK(db.where.line == 1);

  const auto& cache = proxy_of(p, "cache");
  CHECK(cache.listen == "127.0.0.1:0");
  CHECK(cache.upstream == "localhost:6379");
  CHECK_FALSE(cache.enabled);

  CHECK(p.proxy("nope") == nullptr);
  CHECK(p.phases.empty());
  CHECK_FALSE(p.repeat);
  CHECK(p.timeline_ms() == 0);
}

TEST_CASE("profile: faults with units and defaults") {
  const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[[proxy.fault]]
type = "latency"
latency = "250ms"
jitter = 5

[[proxy.fault]]
name = "thin"
type = "bandwidth"
stream = "upstream"
toxicity = 0.25
rate = "512KiB/s"

[[proxy.fault]]
type = "limit_data"
bytes = "1MiB"

[[proxy.fault]]
type = "slicer"
stream = "upstream"
average_size = "1KiB"
size_variation = 100
delay = "2ms"

[[proxy.fault]]
type = "timeout"
timeout = "1.5s"

[[proxy.fault]]
type = "noop"
)");
  const auto& db = proxy_of(p, "db");
  REQUIRE(db.faults.size() == 6);

  const auto& lat = db.faults[0];
  CHECK(lat.name == "latency_downstream");  // TYPE_STREAM, as Toxiproxy
  CHECK(lat.type == "latency");
  CHECK(lat.stream == "downstream");
  CHECK(lat.toxicity == 1.0);
  CHECK(attr(lat, "latency") == 250);
  CHECK(attr(lat, "jitter") == 5);  // a bare integer is in the attribute's unit
  CHECK_FALSE(lat.timed);
  CHECK(lat.where.file == "p.toml");
  CHECK(lat.where.line == 6);

  const auto& thin = db.faults[1];
  CHECK(thin.name == "thin");
  CHECK(thin.stream == "upstream");
  CHECK(thin.toxicity == doctest::Approx(0.25));
  CHECK(attr(thin, "rate") == 524);  // KB/s, rounded

  CHECK(db.faults[2].name == "limit_data_downstream");
  CHECK(attr(db.faults[2], "bytes") == 1048576);

  CHECK(db.faults[3].name == "slicer_upstream");
  CHECK(attr(db.faults[3], "average_size") == 1024);
  CHECK(attr(db.faults[3], "size_variation") == 100);
  CHECK(attr(db.faults[3], "delay") == 2000);  // slicer's delay is in µs

  CHECK(attr(db.faults[4], "timeout") == 1500);

  CHECK(db.faults[5].name == "noop_downstream");
  CHECK(db.faults[5].attributes.empty());

  CHECK(p.fault("db", "thin") == &db.faults[1]);
  CHECK(p.fault("db", "nope") == nullptr);
  CHECK(p.fault("nope", "thin") == nullptr);
}

TEST_CASE("profile: the same type on both streams gets two default names") {
  const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latency"
latency = "10ms"
[[proxy.fault]]
type = "latency"
stream = "upstream"
latency = "20ms"
)");
  CHECK(attr(fault_of(p, "db", "latency_downstream"), "latency") == 10);
  CHECK(attr(fault_of(p, "db", "latency_upstream"), "latency") == 20);
}

TEST_CASE("profile: phases after the previous one and at an explicit start") {
  const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[[proxy.fault]]
name = "base_latency"
type = "latency"
latency = "20ms"

[[proxy.fault]]
name = "slow"
type = "latency"
latency = "200ms"

[[proxy.fault]]
name = "dead"
type = "timeout"
timeout = "5s"

[timeline]
repeat = true

[[phase]]
name = "steady"
duration = "30s"

[[phase]]
name = "slowing"
start = "after previous"
duration = "1m"
[[phase.fault]]
fault = "slow"
latency = { from = "0ms", to = "800ms" }
jitter = "10ms"

[[phase]]
name = "outage"
start = "2m"
duration = "20s"
[[phase.fault]]
fault = "dead"
toxicity = 0.5

[[phase]]
name = "after_gap"
duration = "1.5s"
[[phase.fault]]
proxy = "db"
fault = "slow"
toxicity = { from = 0.0, to = 1.0 }
latency = { from = 100, to = 50 }
)");
  CHECK(p.repeat);
  REQUIRE(p.phases.size() == 4);

  CHECK(p.phases[0].name == "steady");
  CHECK(p.phases[0].start_ms == 0);
  CHECK(p.phases[0].duration_ms == 30000);
  CHECK(p.phases[0].faults.empty());

  const Phase& slowing = p.phases[1];
  CHECK(slowing.name == "slowing");
  CHECK(slowing.start_ms == 30000);
  CHECK(slowing.duration_ms == 60000);
  CHECK(slowing.end_ms() == 90000);
  REQUIRE(slowing.faults.size() == 1);
  const PhaseFault& ramp = slowing.faults[0];
  CHECK(ramp.proxy == "db");  // resolved though the phase does not say it
  CHECK(ramp.fault == "slow");
  CHECK_FALSE(ramp.toxicity.has_value());
  CHECK_FALSE(ramp.toxicity_ramp.has_value());
  CHECK(ramp.ramps == std::map<std::string, Ramp>{{"latency", Ramp{0, 800}}});
  CHECK(ramp.values == std::map<std::string, Value>{{"jitter", std::int64_t{10}}});

  const Phase& outage = p.phases[2];
  CHECK(outage.start_ms == 120000);
  CHECK(outage.duration_ms == 20000);
  REQUIRE(outage.faults.size() == 1);
  CHECK(outage.faults[0].proxy == "db");
  CHECK(outage.faults[0].fault == "dead");
  REQUIRE(outage.faults[0].toxicity.has_value());
  CHECK(*outage.faults[0].toxicity == doctest::Approx(0.5));
  CHECK(outage.faults[0].values.empty());
  CHECK(outage.faults[0].ramps.empty());

  const Phase& after_gap = p.phases[3];
  CHECK(after_gap.start_ms == 140000);  // after the previous one, not after the gap
  CHECK(after_gap.duration_ms == 1500);
  REQUIRE(after_gap.faults.size() == 1);
  REQUIRE(after_gap.faults[0].toxicity_ramp.has_value());
  CHECK(after_gap.faults[0].toxicity_ramp->from == doctest::Approx(0.0));
  CHECK(after_gap.faults[0].toxicity_ramp->to == doctest::Approx(1.0));
  CHECK_FALSE(after_gap.faults[0].toxicity.has_value());
  CHECK(after_gap.faults[0].ramps == std::map<std::string, Ramp>{{"latency", Ramp{100, 50}}});

  CHECK(p.timeline_ms() == 141500);

  // Faults that a phase names are timeline faults; the others are always on.
  CHECK_FALSE(fault_of(p, "db", "base_latency").timed);
  CHECK(fault_of(p, "db", "slow").timed);
  CHECK(fault_of(p, "db", "dead").timed);
  // The fault keeps its own values; the phase's are separate.
  CHECK(attr(fault_of(p, "db", "slow"), "latency") == 200);
}

TEST_CASE("profile: ramps convert to the attribute's declared unit") {
  const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "pieces"
type = "slicer"
average_size = 64
[[proxy.fault]]
name = "thin"
type = "bandwidth"
rate = "1MB/s"

[[phase]]
name = "ramping"
duration = "10s"
[[phase.fault]]
fault = "pieces"
delay = { from = "1ms", to = "2ms" }
[[phase.fault]]
fault = "thin"
rate = { from = "1MB/s", to = "100KB/s" }
)");
  REQUIRE(p.phases.size() == 1);
  REQUIRE(p.phases[0].faults.size() == 2);
  CHECK(p.phases[0].faults[0].ramps == std::map<std::string, Ramp>{{"delay", Ramp{1000, 2000}}});
  CHECK(p.phases[0].faults[1].ramps == std::map<std::string, Ramp>{{"rate", Ramp{1000, 100}}});
}

TEST_CASE("profile: a phase picks a fault by proxy when two proxies have one of that name") {
  const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "slow"
type = "latency"

[[proxy]]
name = "cache"
listen = "127.0.0.1:16379"
upstream = "127.0.0.1:6379"
[[proxy.fault]]
name = "slow"
type = "latency"

[[phase]]
name = "cache_slow"
duration = "5s"
[[phase.fault]]
proxy = "cache"
fault = "slow"
latency = "100ms"
)");
  REQUIRE(p.phases.size() == 1);
  REQUIRE(p.phases[0].faults.size() == 1);
  CHECK(p.phases[0].faults[0].proxy == "cache");
  CHECK(p.phases[0].faults[0].values ==
        std::map<std::string, Value>{{"latency", std::int64_t{100}}});
  CHECK(fault_of(p, "cache", "slow").timed);
  CHECK_FALSE(fault_of(p, "db", "slow").timed);
}

TEST_CASE("profile: listen addresses on other hosts or port 0 do not overlap") {
  const Profile p = good(R"(
[[proxy]]
name = "a"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "b"
listen = "127.0.0.2:15432"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "c"
listen = "127.0.0.1:15433"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "d"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "e"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:5432"
)");
  CHECK(p.proxies.size() == 5);
}

TEST_CASE("profile: sources holds the text of every file read") {
  const std::string main = text(R"(
include = ["base.toml"]
)");
  const std::string base = text(kDb);
  const auto r =
      load_profile("main.toml", memory_reader({{"main.toml", main}, {"base.toml", base}}));
  INFO(r.error_text());
  REQUIRE(r);
  CHECK(r.sources == std::map<std::string, std::string>{{"main.toml", main}, {"base.toml", base}});
  CHECK(r.profile->files == std::vector<std::string>{"main.toml", "base.toml"});
}

// ---------------------------------------------------------------------------
// Includes

TEST_CASE("profile: an including file extends included proxies by name") {
  const auto r = load_files({{"main.toml", R"(
include = ["base.toml"]

[[proxy]]
name = "db"
upstream = "127.0.0.1:5433"

[[proxy.fault]]
name = "slow"
type = "latency"
latency = "200ms"

[[proxy]]
name = "extra"
listen = "127.0.0.1:17000"
upstream = "127.0.0.1:7000"

[[phase]]
name = "slow_db"
duration = "10s"
[[phase.fault]]
fault = "slow"

[[phase]]
name = "slow_cache"
duration = "10s"
[[phase.fault]]
fault = "cache_lag"
)"},
                             {"base.toml", R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[[proxy.fault]]
name = "base_latency"
type = "latency"
latency = "20ms"

[[proxy]]
name = "cache"
listen = "127.0.0.1:16379"
upstream = "127.0.0.1:6379"
protocol = "tcp"

[[proxy.fault]]
name = "cache_lag"
type = "latency"
latency = "5ms"
)"}},
                            "main.toml");
  INFO(r.error_text());
  REQUIRE(r.profile.has_value());
  const Profile& p = *r.profile;
  CHECK(p.file == "main.toml");
  CHECK(p.files == std::vector<std::string>{"main.toml", "base.toml"});
  CHECK(p.proxies.size() == 3);

  const auto& db = proxy_of(p, "db");
  CHECK(db.listen == "127.0.0.1:15432");   // kept from base.toml
  CHECK(db.upstream == "127.0.0.1:5433");  // replaced
  REQUIRE(db.faults.size() == 2);
  CHECK(db.faults[0].name == "base_latency");  // included faults first, then added ones
  CHECK(db.faults[0].where.file == "base.toml");
  CHECK_FALSE(db.faults[0].timed);
  CHECK(db.faults[1].name == "slow");
  CHECK(db.faults[1].where.file == "main.toml");
  CHECK(db.faults[1].timed);

  const auto& cache = proxy_of(p, "cache");
  CHECK(cache.listen == "127.0.0.1:16379");
  CHECK(cache.where.file == "base.toml");
  // A fault of an included file can be a timeline fault of the including one.
  CHECK(fault_of(p, "cache", "cache_lag").timed);

  CHECK(proxy_of(p, "extra").upstream == "127.0.0.1:7000");
  REQUIRE(p.phases.size() == 2);
  CHECK(p.phases[1].faults.at(0).proxy == "cache");
}

TEST_CASE("profile: include paths are relative to the including file") {
  const auto r = load_files({{"scenarios/main.toml", R"(
include = ["shared/base.toml"]
[[proxy]]
name = "db"
[[proxy.fault]]
type = "noop"
)"},
                             {"scenarios/shared/base.toml", R"(
include = ["ports.toml"]
[[proxy]]
name = "db"
upstream = "127.0.0.1:5432"
)"},
                             {"scenarios/shared/ports.toml", R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:1"
)"}},
                            "scenarios/main.toml");
  INFO(r.error_text());
  REQUIRE(r.profile.has_value());
  const Profile& p = *r.profile;
  REQUIRE(p.files.size() == 3);
  CHECK(p.files[0] == "scenarios/main.toml");
  CHECK(std::count(p.files.begin(), p.files.end(), "scenarios/shared/base.toml") == 1);
  CHECK(std::count(p.files.begin(), p.files.end(), "scenarios/shared/ports.toml") == 1);
  const auto& db = proxy_of(p, "db");
  CHECK(db.listen == "127.0.0.1:15432");
  CHECK(db.upstream == "127.0.0.1:5432");  // the nearer file wins
  CHECK(db.faults.size() == 1);
}

TEST_CASE("profile: a file included twice along different paths is no cycle") {
  const auto r = load_files({{"main.toml", R"(
include = ["a.toml", "b.toml"]
)"},
                             {"a.toml", R"(
include = ["common.toml"]
[[proxy]]
name = "a"
listen = "127.0.0.1:17001"
upstream = "127.0.0.1:7001"
)"},
                             {"b.toml", R"(
include = ["common.toml"]
[[proxy]]
name = "b"
listen = "127.0.0.1:17002"
upstream = "127.0.0.1:7002"
)"},
                             {"common.toml", R"(
[[proxy]]
name = "common"
listen = "127.0.0.1:17000"
upstream = "127.0.0.1:7000"
[[proxy.fault]]
name = "lag"
type = "latency"
latency = "5ms"
)"}},
                            "main.toml");
  INFO(r.error_text());
  REQUIRE(r.profile.has_value());
  CHECK(r.profile->proxies.size() == 3);
  // The shared file's proxy arrives once, with its fault once.
  CHECK(proxy_of(*r.profile, "common").faults.size() == 1);
}

// ---------------------------------------------------------------------------
// Errors, each with its position

TEST_CASE("profile: error text is file:line:column: message") {
  const ProfileError e{{"profiles/bad.toml", 7, 11}, "unknown attribute 'latncy'"};
  CHECK(e.text() == "profiles/bad.toml:7:11: unknown attribute 'latncy'");
  const ProfileError unknown{{"x.json", 0, 0}, "not JSON"};
  const std::string t = unknown.text();
  CHECK(t.rfind("x.json:", 0) == 0);
  CHECK(contains(t, "not JSON"));
  CHECK_FALSE(contains(t, ":0"));
}

TEST_CASE("profile: a TOML syntax error has toml++'s position") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen =
upstream = "127.0.0.1:5432"
)";
  const auto r = load_text(body);
  REQUIRE(r.errors.size() == 1);
  CHECK_FALSE(r.profile.has_value());
  CHECK(r.errors[0].where.file == "p.toml");
  CHECK(r.errors[0].where.line == 3);
  CHECK(r.errors[0].where.column == 9);  // where toml++ saw the newline
  CHECK(r.errors[0].text().rfind("p.toml:3:9: ", 0) == 0);
  CHECK_FALSE(r.errors[0].message.empty());
}

TEST_CASE("profile: a file that cannot be read is an error naming it") {
  const auto r = load_profile("nope.toml", memory_reader({}));
  CHECK_FALSE(r.profile.has_value());
  REQUIRE(r.errors.size() == 1);
  CHECK(contains(r.errors[0].text(), "nope.toml"));
}

TEST_CASE("profile: unknown top-level key") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[timelime]
repeat = true
)";
  only_error(load_text(body), at(body, 6, "timelime"), {"timelime"});
}

TEST_CASE("profile: unknown key in a proxy") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
enabeld = false
)";
  only_error(load_text(body), at(body, 5, "enabeld"), {"enabeld"});
}

TEST_CASE("profile: unknown fault attribute, with a suggestion") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latency"
latncy = "20ms"
)";
  only_error(load_text(body), at(body, 7, "latncy"),
             {"'latncy'", "latency", "jitter", "expected", "did you mean 'latency'"});
}

TEST_CASE("profile: unknown attribute in a phase fault") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "slow"
type = "latency"
[[phase]]
name = "p"
duration = "1s"
[[phase.fault]]
fault = "slow"
jiter = "5ms"
)";
  only_error(load_text(body), at(body, 13, "jiter"), {"'jiter'", "did you mean 'jitter'"});
}

TEST_CASE("profile: a value of the wrong type") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = 5
upstream = "127.0.0.1:5432"
)";
  // Only the type error: the key is there, so it is not also "missing".
  only_error(load_text(body), at(body, 3, "5"), {"listen", "string", "integer"});
}

TEST_CASE("profile: wrong types elsewhere") {
  constexpr std::string_view body = R"(
include = "base.toml"
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
enabled = "yes"
[[proxy.fault]]
type = "latency"
toxicity = "half"
latency = true
[timeline]
repeat = 1
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK(r.errors.size() == 5);
  has_error(r, at(body, 1, "\"base.toml\""), {"include", "array", "string"});
  has_error(r, at(body, 6, "\"yes\""), {"enabled", "string"});
  has_error(r, at(body, 9, "\"half\""), {"toxicity", "string"});
  has_error(r, at(body, 10, "true"), {"latency", "boolean"});
  has_error(r, at(body, 12, "1"), {"repeat", "integer"});
}

TEST_CASE("profile: a value with an unknown unit") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latency"
latency = "250 parsecs"
)";
  only_error(load_text(body), at(body, 7, "\"250 parsecs\""), {"latency", "250 parsecs", "ms"});
}

TEST_CASE("profile: a value that is not whole in the attribute's unit") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latency"
latency = "1.5ms"
[[proxy.fault]]
type = "limit_data"
bytes = "1.5B"
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK(r.errors.size() == 2);
  has_error(r, at(body, 7, "\"1.5ms\""), {"latency", "1.5ms", "whole"});
  has_error(r, at(body, 10, "\"1.5B\""), {"bytes", "1.5B", "whole"});
}

TEST_CASE("profile: values the fault type refuses") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "bandwidth"
rate = 0
[[proxy.fault]]
type = "latency"
latency = "-5ms"
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK(r.errors.size() == 2);
  has_error(r, at(body, 7, "0"), {"rate"});
  has_error(r, at(body, 10, "\"-5ms\""), {"latency"});
}

TEST_CASE("profile: missing required keys point at the table") {
  SUBCASE("proxy name") {
    constexpr std::string_view body = R"(
[[proxy]]
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
)";
    only_error(load_text(body), at(body, 1, "[[proxy]]"), {"name"});
  }
  SUBCASE("proxy listen") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
upstream = "127.0.0.1:5432"
)";
    only_error(load_text(body), at(body, 1, "[[proxy]]"), {"listen"});
  }
  SUBCASE("proxy upstream, in the second proxy") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

  [[proxy]]
  name = "cache"
  listen = "127.0.0.1:16379"
)";
    only_error(load_text(body), at(body, 6, "[[proxy]]"), {"upstream"});
  }
  SUBCASE("fault type") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
  [[proxy.fault]]
  name = "slow"
  latency = "5ms"
)";
    only_error(load_text(body), at(body, 5, "[[proxy.fault]]"), {"type"});
  }
  SUBCASE("phase name") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[phase]]
duration = "5s"
)";
    only_error(load_text(body), at(body, 5, "[[phase]]"), {"name"});
  }
  SUBCASE("phase duration") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[phase]]
name = "p"
)";
    only_error(load_text(body), at(body, 5, "[[phase]]"), {"duration"});
  }
  SUBCASE("phase fault") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "slow"
type = "latency"
[[phase]]
name = "p"
duration = "5s"
[[phase.fault]]
latency = "5ms"
)";
    only_error(load_text(body), at(body, 11, "[[phase.fault]]"), {"fault"});
  }
}

TEST_CASE("profile: unknown fault type") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latencee"
latency = "5ms"
)";
  only_error(load_text(body), at(body, 6, "\"latencee\""), {"latencee"});
}

TEST_CASE("profile: invalid stream") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latency"
stream = "sideways"
)";
  only_error(load_text(body), at(body, 7, "\"sideways\""), {"sideways", "upstream", "downstream"});
}

TEST_CASE("profile: toxicity outside [0, 1]") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latency"
toxicity = 1.5
[[proxy.fault]]
type = "timeout"
toxicity = -0.1
[[proxy.fault]]
name = "ok"
type = "noop"
[[phase]]
name = "p"
duration = "5s"
[[phase.fault]]
fault = "ok"
toxicity = 2.0
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK(r.errors.size() == 3);
  has_error(r, at(body, 7, "1.5"), {"toxicity"});
  has_error(r, at(body, 10, "-0.1"), {"toxicity"});
  has_error(r, at(body, 19, "2.0"), {"toxicity"});
}

TEST_CASE("profile: duplicate proxy names in one file") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "db"
listen = "127.0.0.1:15433"
upstream = "127.0.0.1:5432"
)";
  only_error(load_text(body), at(body, 6, "\"db\""), {"db"});
}

TEST_CASE("profile: duplicate fault names in a proxy, and duplicate phase names") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latency"
[[proxy.fault]]
type = "latency"
[[phase]]
name = "p"
duration = "5s"
[[phase]]
name = "p"
duration = "5s"
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK(r.errors.size() == 2);
  // The second fault's name is its default, so the error points at its table.
  has_error(r, at(body, 7, "[[proxy.fault]]"), {"latency_downstream"});
  has_error(r, at(body, 13, "\"p\""), {"'p'"});
}

TEST_CASE("profile: overlapping listen addresses") {
  SUBCASE("the same address") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "db2"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5433"
)";
    only_error(load_text(body), at(body, 7, "\"127.0.0.1:15432\""), {"127.0.0.1:15432", "db"});
  }
  SUBCASE("every interface and one of them") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "all"
listen = "0.0.0.0:15432"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "local"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5433"
)";
    only_error(load_text(body), at(body, 7, "\"127.0.0.1:15432\""), {"15432", "all"});
  }
  SUBCASE("one interface, then IPv6's every address") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "local"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "all"
listen = "[::]:15432"
upstream = "127.0.0.1:5433"
)";
    only_error(load_text(body), at(body, 7, "\"[::]:15432\""), {"15432", "local"});
  }
}

TEST_CASE("profile: a bad listen or upstream address") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1"
upstream = "127.0.0.1:5432"
[[proxy]]
name = "db2"
listen = "127.0.0.1:15433"
upstream = "nowhere"
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK(r.errors.size() == 2);
  has_error(r, at(body, 3, "\"127.0.0.1\""), {"listen"});
  has_error(r, at(body, 8, "\"nowhere\""), {"upstream"});
}

TEST_CASE("profile: a phase naming a fault that no proxy declares") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "slow"
type = "latency"
[[phase]]
name = "outage"
duration = "20s"
[[phase.fault]]
fault = "dead"
)";
  only_error(load_text(body), at(body, 12, "\"dead\""), {"'outage'", "'dead'"});
}

TEST_CASE("profile: a phase naming a proxy that does not exist or lacks the fault") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "slow"
type = "latency"
[[phase]]
name = "p"
duration = "20s"
[[phase.fault]]
proxy = "cache"
fault = "slow"
)";
  only_error(load_text(body), at(body, 12, "\"cache\""), {"cache"});
}

TEST_CASE("profile: an ambiguous fault name needs its proxy") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "slow"
type = "latency"
[[proxy]]
name = "cache"
listen = "127.0.0.1:16379"
upstream = "127.0.0.1:6379"
[[proxy.fault]]
name = "slow"
type = "latency"
[[phase]]
name = "p"
duration = "20s"
[[phase.fault]]
fault = "slow"
)";
  only_error(load_text(body), at(body, 19, "\"slow\""), {"slow", "db", "cache", "proxy"});
}

TEST_CASE("profile: phases may not overlap and are listed in time order") {
  SUBCASE("an explicit start inside the previous phase") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[phase]]
name = "first"
duration = "60s"
[[phase]]
name = "second"
start = "30s"
duration = "60s"
)";
    only_error(load_text(body), at(body, 10, "\"30s\""), {"second", "first"});
  }
  SUBCASE("listed out of order") {
    constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[phase]]
name = "late"
start = "2m"
duration = "10s"
[[phase]]
name = "early"
start = "1m"
duration = "10s"
)";
    only_error(load_text(body), at(body, 11, "\"1m\""), {"early"});
  }
  SUBCASE("touching phases are fine") {
    const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[phase]]
name = "first"
duration = "60s"
[[phase]]
name = "second"
start = "1m"
duration = "60s"
)");
    REQUIRE(p.phases.size() == 2);
    CHECK(p.phases[1].start_ms == 60000);
  }
}

TEST_CASE("profile: a phase's duration must be positive") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[phase]]
name = "instant"
duration = "0s"
[[phase]]
name = "bad_start"
start = "soon"
duration = "5s"
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK(r.errors.size() == 2);
  has_error(r, at(body, 7, "\"0s\""), {"duration"});
  has_error(r, at(body, 10, "\"soon\""), {"start", "soon", "after previous"});
}

TEST_CASE("profile: a ramp needs from and to, and nothing else") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "slow"
type = "latency"
[[phase]]
name = "p"
duration = "5s"
[[phase.fault]]
fault = "slow"
latency = { from = "0ms" }
jitter = { from = "0ms", to = "5ms", by = "1ms" }
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK(r.errors.size() == 2);
  has_error(r, at(body, 13, "{"), {"to"});
  has_error(r, at(body, 14, "by"), {"by"});
}

TEST_CASE("profile: both ends of a ramp must be values the fault accepts") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "thin"
type = "bandwidth"
rate = "1MB/s"
[[phase]]
name = "choke"
duration = "10s"
[[phase.fault]]
fault = "thin"
rate = { from = "1MB/s", to = 0 }
)";
  only_error(load_text(body), at(body, 14, "{"), {"rate"});
}

TEST_CASE("profile: a phase may name a fault once") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
name = "slow"
type = "latency"
[[phase]]
name = "p"
duration = "10s"
[[phase.fault]]
fault = "slow"
latency = "10ms"
[[phase.fault]]
fault = "slow"
latency = "20ms"
)";
  only_error(load_text(body), at(body, 14, "[[phase.fault]]"), {"slow", "twice"});
}

TEST_CASE("profile: unsupported protocol") {
  constexpr std::string_view body = R"(
[[proxy]]
name = "web"
listen = "127.0.0.1:18080"
upstream = "127.0.0.1:8080"
protocol = "mongodb"
)";
  only_error(load_text(body), at(body, 5, "\"mongodb\""), {"mongodb", "tcp", "http", "mysql"});

  constexpr std::string_view udp = R"(
[[proxy]]
name = "dns"
listen = "127.0.0.1:15353"
upstream = "127.0.0.1:53"
protocol = "udp"
)";
  only_error(load_text(udp), at(udp, 5, "\"udp\""), {"udp", "tcp"});
}

TEST_CASE("profile: an include cycle") {
  const std::map<std::string, std::string> files{{"a.toml", text(R"(
include = ["b.toml"]
)")},
                                                 {"b.toml", text(R"(
include = ["c.toml"]
)")},
                                                 {"c.toml", text(R"(
include = ["other.toml", "a.toml"]
)")},
                                                 {"other.toml", text(kDb)}};
  const auto cyc = load_profile("a.toml", memory_reader(files));
  INFO(cyc.error_text());
  REQUIRE(cyc.errors.size() == 1);
  CHECK_FALSE(cyc.profile.has_value());
  has_error(cyc, at(files.at("c.toml"), 1, "\"a.toml\"", "c.toml"), {"cycle", "a.toml"});

  const std::string self = "include = [\"s.toml\"]\n";
  const auto r = load_profile("s.toml", memory_reader({{"s.toml", self}}));
  INFO(r.error_text());
  REQUIRE(r.errors.size() == 1);
  has_error(r, at(self, 1, "\"s.toml\"", "s.toml"), {"cycle"});
}

TEST_CASE("profile: a missing include file") {
  constexpr std::string_view body = R"(
include = ["base.toml", "nope.toml"]
)";
  const auto r =
      load_files({{"p.toml", std::string(body)}, {"base.toml", std::string(kDb)}}, "p.toml");
  only_error(r, at(body, 1, "\"nope.toml\""), {"nope.toml"});
}

TEST_CASE("profile: an included file may not have phases") {
  constexpr std::string_view base = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[[phase]]
name = "p"
duration = "5s"
)";
  const auto r = load_files(
      {{"p.toml", "include = [\"base.toml\"]\n"}, {"base.toml", std::string(base)}}, "p.toml");
  only_error(r, at(base, 6, "phase", "base.toml"), {"phase"});  // the key, inside [[ ]]
}

TEST_CASE("profile: an included proxy may be extended, not redeclared within one file") {
  constexpr std::string_view body = R"(
include = ["base.toml"]
[[proxy]]
name = "db"
upstream = "127.0.0.1:5433"
[[proxy]]
name = "db"
listen = "127.0.0.1:15439"
)";
  const auto r =
      load_files({{"p.toml", std::string(body)}, {"base.toml", std::string(kDb)}}, "p.toml");
  only_error(r, at(body, 6, "\"db\""), {"db"});
}

TEST_CASE("profile: errors of an included file name that file") {
  constexpr std::string_view base = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "latency"
latency = "5 parsecs"
)";
  constexpr std::string_view main = R"(
include = ["base.toml"]
colour = "red"
)";
  const auto r =
      load_files({{"p.toml", std::string(main)}, {"base.toml", std::string(base)}}, "p.toml");
  INFO(r.error_text());
  CHECK(r.errors.size() == 2);
  has_error(r, at(base, 7, "\"5 parsecs\"", "base.toml"), {"parsecs"});
  has_error(r, at(main, 2, "colour"), {"colour"});
}

TEST_CASE("profile: every error of a file is reported at once") {
  constexpr std::string_view body = R"(
mode = "chaos"

[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[[proxy.fault]]
name = "slow"
type = "latency"
latency = "250 parsecs"

[[phase]]
name = "outage"
duration = "20s"
[[phase.fault]]
fault = "dead"
)";
  const auto r = load_text(body);
  INFO(r.error_text());
  CHECK_FALSE(r.profile.has_value());
  CHECK(r.errors.size() == 3);
  has_error(r, at(body, 1, "mode"), {"mode"});
  has_error(r, at(body, 11, "\"250 parsecs\""), {"parsecs"});
  has_error(r, at(body, 17, "\"dead\""), {"dead"});
  // error_text() has one line per error.
  const std::string all = r.error_text();
  CHECK(std::count(all.begin(), all.end(), '\n') >= 2);
  for (const auto& e : r.errors) CHECK(contains(all, e.text()));
}

// ---------------------------------------------------------------------------
// Several files at once

TEST_CASE("profile: load_profiles merges the proxies of several files") {
  const auto read = memory_reader({{"a.toml", text(kDb)}, {"b.toml", text(R"(
[[proxy]]
name = "cache"
listen = "127.0.0.1:16379"
upstream = "127.0.0.1:6379"
[[proxy.fault]]
name = "lag"
type = "latency"
[[phase]]
name = "p"
duration = "5s"
[[phase.fault]]
fault = "lag"
)")}});
  const auto r = load_profiles({"a.toml", "b.toml"}, read);
  INFO(r.error_text());
  REQUIRE(r.profile.has_value());
  CHECK(r.profile->proxies.size() == 2);
  CHECK(r.profile->proxy("db") != nullptr);
  CHECK(r.profile->proxy("cache") != nullptr);
  REQUIRE(r.profile->phases.size() == 1);
  CHECK(fault_of(*r.profile, "cache", "lag").timed);
  CHECK(std::count(r.profile->files.begin(), r.profile->files.end(), "a.toml") == 1);
  CHECK(std::count(r.profile->files.begin(), r.profile->files.end(), "b.toml") == 1);
}

TEST_CASE("profile: load_profiles refuses a proxy in two files and two timelines") {
  // Another address than kDb's, so that only the duplicate name is wrong.
  constexpr std::string_view with_phase = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15439"
upstream = "127.0.0.1:5432"
[[phase]]
name = "p"
duration = "5s"
)";
  constexpr std::string_view other_phase = R"(
[[proxy]]
name = "cache"
listen = "127.0.0.1:16379"
upstream = "127.0.0.1:6379"
[[phase]]
name = "q"
duration = "5s"
)";
  SUBCASE("the same proxy") {
    const auto r = load_profiles(
        {"a.toml", "b.toml"}, memory_reader({{"a.toml", text(kDb)}, {"b.toml", text(with_phase)}}));
    INFO(r.error_text());
    CHECK_FALSE(r.profile.has_value());
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].where.file == "b.toml");
    CHECK(contains(r.errors[0].message, "db"));
  }
  SUBCASE("two files with phases") {
    const auto r =
        load_profiles({"a.toml", "b.toml"},
                      memory_reader({{"a.toml", text(with_phase)}, {"b.toml", text(other_phase)}}));
    INFO(r.error_text());
    CHECK_FALSE(r.profile.has_value());
    REQUIRE(r.errors.size() == 1);
    CHECK(contains(r.errors[0].text(), "b.toml"));
  }
}

// ---------------------------------------------------------------------------
// to_toml and the Toxiproxy import

TEST_CASE("profile: to_toml writes values with units and loads back the same") {
  const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
enabled = false
[[proxy.fault]]
type = "latency"
latency = "250ms"
jitter = "1.5s"
[[proxy.fault]]
name = "thin"
type = "bandwidth"
stream = "upstream"
toxicity = 0.25
rate = 1000
[[proxy.fault]]
name = "cut"
type = "limit_data"
bytes = "64KiB"
[[proxy]]
name = "cache"
listen = "127.0.0.1:16379"
upstream = "127.0.0.1:6379"
)");
  const std::string out = to_toml(p);
  INFO(out);
  CHECK(quoted(out, "250ms"));
  CHECK(quoted(out, "1.5s"));
  CHECK(quoted(out, "64KiB"));
  CHECK(quoted(out, "1MB/s"));

  const auto back = load_profile("back.toml", memory_reader({{"back.toml", out}}));
  INFO(back.error_text());
  REQUIRE(back.profile.has_value());
  const Profile& q = *back.profile;
  REQUIRE(q.proxies.size() == p.proxies.size());
  for (std::size_t i = 0; i < p.proxies.size(); ++i) {
    const auto& a = p.proxies[i];
    const auto& b = q.proxies[i];
    CAPTURE(a.name);
    CHECK(a.name == b.name);
    CHECK(a.listen == b.listen);
    CHECK(a.upstream == b.upstream);
    CHECK(a.protocol == b.protocol);
    CHECK(a.enabled == b.enabled);
    REQUIRE(a.faults.size() == b.faults.size());
    for (std::size_t j = 0; j < a.faults.size(); ++j) {
      CAPTURE(a.faults[j].name);
      CHECK(a.faults[j].name == b.faults[j].name);
      CHECK(a.faults[j].type == b.faults[j].type);
      CHECK(a.faults[j].stream == b.faults[j].stream);
      CHECK(a.faults[j].toxicity == doctest::Approx(b.faults[j].toxicity));
      CHECK(a.faults[j].attributes == b.faults[j].attributes);
    }
  }
}

TEST_CASE("profile: to_toml keeps values that have no short form exactly") {
  const Profile p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
[[proxy.fault]]
type = "limit_data"
bytes = 1234567
[[proxy.fault]]
type = "latency"
latency = 1234567
jitter = 1001
[[proxy.fault]]
type = "bandwidth"
rate = 1234567
[[proxy.fault]]
type = "slicer"
average_size = 1000001
delay = 7654321
)");
  const std::string out = to_toml(p);
  INFO(out);
  const auto back = load_profile("back.toml", memory_reader({{"back.toml", out}}));
  INFO(back.error_text());
  REQUIRE(back.profile.has_value());
  const auto& a = proxy_of(p, "db").faults;
  const auto& b = proxy_of(*back.profile, "db").faults;
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].name);
    CHECK(show(a[i].attributes) == show(b[i].attributes));
  }
}

TEST_CASE("profile: import a Toxiproxy config array") {
  const auto r = import_toxiproxy_json(R"([
    {"name": "web_clean", "listen": "127.0.0.1:26080", "upstream": "127.0.0.1:26000"},
    {"name": "web_off", "listen": "127.0.0.1:26081", "upstream": "127.0.0.1:26000",
     "enabled": false}
  ])",
                                       "toxiproxy.json");
  INFO(r.error_text());
  REQUIRE(r.profile.has_value());
  const Profile& p = *r.profile;
  REQUIRE(p.proxies.size() == 2);
  CHECK(p.proxies[0].name == "web_clean");
  CHECK(p.proxies[0].listen == "127.0.0.1:26080");
  CHECK(p.proxies[0].upstream == "127.0.0.1:26000");
  CHECK(p.proxies[0].enabled);
  CHECK(p.proxies[0].faults.empty());
  CHECK(p.proxies[1].name == "web_off");
  CHECK_FALSE(p.proxies[1].enabled);
}

TEST_CASE("profile: import GET /proxies with its toxics, then to_toml loads") {
  const auto r = import_toxiproxy_json(R"({
    "redis": {"name": "redis", "listen": "127.0.0.1:16379", "upstream": "127.0.0.1:6379",
              "enabled": true,
              "toxics": [
                {"name": "lag", "type": "latency", "stream": "downstream", "toxicity": 1,
                 "attributes": {"latency": 100, "jitter": 10}},
                {"name": "thin_up", "type": "bandwidth", "stream": "upstream", "toxicity": 0.5,
                 "attributes": {"rate": 512}}
              ]}
  })",
                                       "proxies.json");
  INFO(r.error_text());
  REQUIRE(r.profile.has_value());
  const Profile& p = *r.profile;
  const auto& lag = fault_of(p, "redis", "lag");
  CHECK(lag.type == "latency");
  CHECK(lag.stream == "downstream");
  CHECK(lag.toxicity == doctest::Approx(1.0));
  CHECK(attr(lag, "latency") == 100);
  CHECK(attr(lag, "jitter") == 10);
  const auto& thin = fault_of(p, "redis", "thin_up");
  CHECK(thin.stream == "upstream");
  CHECK(thin.toxicity == doctest::Approx(0.5));
  CHECK(attr(thin, "rate") == 512);

  const std::string out = to_toml(p);
  INFO(out);
  CHECK(quoted(out, "100ms"));
  const auto back = load_profile("mine.toml", memory_reader({{"mine.toml", out}}));
  INFO(back.error_text());
  REQUIRE(back.profile.has_value());
  CHECK(attr(fault_of(*back.profile, "redis", "lag"), "latency") == 100);
  CHECK(attr(fault_of(*back.profile, "redis", "thin_up"), "rate") == 512);
}

TEST_CASE("profile: import refuses what is not a Toxiproxy config") {
  for (const char* json : {"not json", "42", R"([{"listen": "127.0.0.1:1"}])"}) {
    CAPTURE(json);
    const auto r = import_toxiproxy_json(json, "bad.json");
    CHECK_FALSE(r.profile.has_value());
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors[0].where.line == 0);
  }
}

// ---------------------------------------------------------------------------
// The ready-made profiles

TEST_CASE("profile: every ready-made profile in profiles/ loads") {
  const std::filesystem::path dir = std::filesystem::path(BROWNOUT_SOURCE_DIR) / "profiles";
  REQUIRE(std::filesystem::is_directory(dir));
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".toml")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE_MESSAGE(!files.empty(), "no *.toml file in ", dir.string());
  for (const auto& file : files) {
    CAPTURE(file.string());
    const auto r = load_profile(file.string(), disk_reader());
    CHECK_MESSAGE(r.errors.empty(), r.error_text());
    CHECK(r.profile.has_value());
  }
}

TEST_CASE("profile: the scenario profiles have a header, phases and loopback listeners") {
  const std::filesystem::path dir = std::filesystem::path(BROWNOUT_SOURCE_DIR) / "profiles";
  for (const char* name : {"postgres-brownout.toml", "redis-flaky.toml", "mysql-latency.toml",
                           "payment-gateway-outage.toml", "black-friday.toml"}) {
    CAPTURE(name);
    const auto r = load_profile((dir / name).string(), disk_reader());
    INFO(r.error_text());
    REQUIRE(r.profile.has_value());
    const Profile& p = *r.profile;
    CHECK_FALSE(p.phases.empty());
    REQUIRE(r.sources.count(p.file) == 1);
    CHECK(r.sources.at(p.file).rfind("# ", 0) == 0);  // starts with a comment header
    for (const auto& px : p.proxies) {
      CAPTURE(px.name);
      CHECK(px.listen.rfind("127.0.0.1:", 0) == 0);
      CHECK((px.protocol == "tcp" || px.protocol == "http" || px.protocol == "postgres" ||
             px.protocol == "redis" || px.protocol == "mysql"));
    }
    // The database profiles show the database faults.
    if (std::string_view(name) == "postgres-brownout.toml")
      CHECK(p.fault("postgres", "serialization") != nullptr);
    if (std::string_view(name) == "mysql-latency.toml")
      CHECK(p.fault("mysql", "deadlocks") != nullptr);
    if (std::string_view(name) == "redis-flaky.toml") CHECK(p.fault("redis", "loading") != nullptr);
    // Every phase that names a fault turns something on.
    for (const auto& phase : p.phases)
      for (const auto& pf : phase.faults) CHECK(p.fault(pf.proxy, pf.fault) != nullptr);
  }
}

TEST_CASE("profile: word and percentage attributes, and every fault's controls") {
  const auto p = good(R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[[proxy.fault]]
name = "pool"
type = "connection_limit"
max_connections = 10
mode = "queue"
queue_timeout = "2s"
clients = ["10.0.0.0/8", "127.0.0.2"]
after = "30s"
for = "2m"
count = 100
flap = { on = "5s", off = "10s" }
probability = 0.5

[[proxy.fault]]
name = "lossy"
type = "stall"
p = 1
r = "30%"
percentage = 0.5
)");
  REQUIRE(p.proxies.size() == 1);
  const auto& pool = p.proxies[0].faults.at(0);
  CHECK(std::get<std::string>(pool.attributes.at("mode")) == "queue");
  CHECK(std::get<std::int64_t>(pool.attributes.at("queue_timeout")) == 2000);
  REQUIRE(pool.controls.clients.has_value());
  CHECK(*pool.controls.clients == std::vector<std::string>{"10.0.0.0/8", "127.0.0.2"});
  CHECK(pool.controls.after_ms == 30000);
  CHECK(pool.controls.for_ms == 120000);
  CHECK(pool.controls.count == 100);
  CHECK(pool.controls.flap == std::pair<std::int64_t, std::int64_t>{5000, 10000});
  CHECK(pool.probability == 0.5);
  const auto& lossy = p.proxies[0].faults.at(1);
  CHECK(std::get<double>(lossy.attributes.at("p")) == 1.0);
  CHECK(std::get<double>(lossy.attributes.at("r")) == 30.0);
  CHECK(std::get<double>(lossy.attributes.at("percentage")) == 0.5);

  // to_toml writes them back so that they load the same.
  const auto again = good(to_toml(p));
  const auto& pool2 = again.proxies[0].faults.at(0);
  CHECK(pool2.attributes == pool.attributes);
  CHECK(pool2.controls == pool.controls);
  CHECK(pool2.probability == 0.5);
  CHECK(again.proxies[0].faults.at(1).attributes == lossy.attributes);
}

TEST_CASE("profile: bad words, percentages and controls are refused where they are") {
  const auto body = R"(
[[proxy]]
name = "db"
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"

[[proxy.fault]]
type = "connection_limit"
mode = "drop"
clients = ["10.0.0.0/33"]
flap = { on = "5s" }
count = -1

[[proxy.fault]]
type = "corrupt"
percentage = "lots"
)";
  const auto r = load_text(body);
  has_error(r, at(body, 8, "\"drop\""), {"mode", "reject", "queue"});
  has_error(r, at(body, 9, "\"10.0.0.0/33\""), {"prefix"});
  has_error(r, at(body, 10, "{"), {"flap", "on", "off"});
  has_error(r, at(body, 11, "-1"), {"count"});
  has_error(r, at(body, 15, "\"lots\""), {"percentage", "number"});
}

TEST_CASE("profile: phases set words, ramp percentages and a stream fault's probability") {
  const auto p = good(R"(
[[proxy]]
name = "cache"
listen = "127.0.0.1:16379"
upstream = "127.0.0.1:6379"

[[proxy.fault]]
name = "lossy"
type = "stall"

[[proxy.fault]]
name = "pool"
type = "connection_limit"
max_connections = 5

[[phase]]
name = "worse"
duration = "10s"
[[phase.fault]]
fault = "lossy"
percentage = { from = 0.5, to = 5 }
probability = { from = 0.1, to = 1.0 }
[[phase.fault]]
fault = "pool"
mode = "queue"
)");
  REQUIRE(p.phases.size() == 1);
  const auto& lossy = p.phases[0].faults.at(0);
  CHECK(lossy.ramps.at("percentage") == Ramp{0.5, 5, false});
  REQUIRE(lossy.probability_ramp.has_value());
  CHECK(lossy.probability_ramp->to == 1.0);
  const auto& pool = p.phases[0].faults.at(1);
  CHECK(std::get<std::string>(pool.values.at("mode")) == "queue");

  const auto bad = R"(
[[proxy]]
name = "cache"
listen = "127.0.0.1:16379"
upstream = "127.0.0.1:6379"

[[proxy.fault]]
name = "pool"
type = "connection_limit"

[[phase]]
name = "worse"
duration = "10s"
[[phase.fault]]
fault = "pool"
mode = "sometimes"
)";
  const auto r = load_text(bad);
  has_error(r, at(bad, 15, "\"sometimes\""), {"phase 'worse'", "mode"});
}
