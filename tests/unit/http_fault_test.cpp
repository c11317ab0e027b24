// Unit tests for faults/http.cpp: settings parsing, the matcher, the shared
// first/every/quota counters, decide() and the header-controlled faults.
// Fake time (TimePoints built here), seeded Rng.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "faults/http.hpp"

using namespace brownout::faults::http;
using brownout::faults::Duration;
using brownout::faults::Error;
using brownout::faults::Result;
using brownout::faults::Rng;
using brownout::faults::TimePoint;
using namespace std::chrono_literals;

namespace {

const TimePoint t0 = TimePoint{} + 1000s;

Tree S(std::string s) {
  return Tree{std::move(s)};
}
Tree N(std::int64_t i) {
  return Tree{i};
}
Tree M(std::initializer_list<std::pair<const std::string, Tree>> items) {
  return Tree{TreeMap(items)};
}

Result<Settings> parse(std::string_view type, const Tree& attrs, double probability = 1.0) {
  const TypeInfo* info = find_type(type);
  REQUIRE_MESSAGE(info != nullptr, "no type " << std::string(type));
  return parse_settings(*info, attrs, probability);
}

Settings parse_ok(std::string_view type, const Tree& attrs, double probability = 1.0) {
  auto r = parse(type, attrs, probability);
  REQUIRE_MESSAGE(r, r.error.message);
  return std::move(*r.value);
}

// The error of a parse that must fail.
Error parse_err(std::string_view type, const Tree& attrs, double probability = 1.0) {
  auto r = parse(type, attrs, probability);
  REQUIRE_MESSAGE(!r, "expected an error for " << std::string(type));
  return r.error;
}

bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A canonical text of a tree (maps are ordered), to compare trees.
std::string dump(const Tree& t) {
  struct {
    std::string operator()(std::nullptr_t) const { return "null"; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return std::to_string(d) + "d"; }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
    std::string operator()(const TreeList& l) const {
      std::string out = "[";
      for (const auto& e : l) out += dump(e) + ",";
      return out + "]";
    }
    std::string operator()(const TreeMap& m) const {
      std::string out = "{";
      for (const auto& [k, v] : m) out += k + ":" + dump(v) + ",";
      return out + "}";
    }
  } visitor;
  return std::visit(visitor, t.v);
}

Match match_of(const Tree& match) {
  return parse_ok("http_garbage", M({{"match", match}})).match;
}

struct Req {
  std::string method = "GET";
  std::string target = "/";
  Headers headers;
  std::string body;
  Request view() const { return Request{method, target, &headers, body}; }
};

bool matches(const Tree& match, const Req& req) {
  return match_of(match).matches(req.view());
}

Fault fault(std::string name, std::string_view type, const Tree& attrs, double p = 1.0) {
  return Fault{std::move(name), parse_ok(type, attrs, p)};
}

Decision run(std::initializer_list<const Fault*> faults, const Req& req, Rng& rng,
             TimePoint now = t0) {
  std::vector<const Fault*> list(faults);
  return decide(list, req.view(), rng, now);
}

std::string header(const Headers& headers, std::string_view name) {
  for (const auto& h : headers)
    if (h.name == name) return h.value;
  return "<absent>";
}

}  // namespace

// ---- types ------------------------------------------------------------------

TEST_CASE("http fault: the type table names every type once") {
  const std::vector<std::string_view> names = {"http_abort",  "http_delay",    "http_drop_response",
                                               "http_reset",  "http_truncate", "http_dribble",
                                               "http_status", "http_garbage"};
  CHECK(types().size() == names.size());
  for (auto name : names) {
    const TypeInfo* t = find_type(name);
    REQUIRE(t != nullptr);
    CHECK(t->name == name);
    CHECK(!t->summary.empty());
  }
  CHECK(find_type("latency") == nullptr);
  CHECK(find_type("http_nope") == nullptr);
  CHECK(find_type("http_abort")->kind == Kind::abort);
  CHECK(find_type("http_garbage")->attributes.empty());
  CHECK(find_type("http_dribble")->attributes.size() == 2);
}

TEST_CASE("http fault: Tree::find looks up map keys only") {
  const Tree t = M({{"a", N(1)}});
  REQUIRE(t.find("a") != nullptr);
  CHECK(std::get<std::int64_t>(t.find("a")->v) == 1);
  CHECK(t.find("b") == nullptr);
  CHECK(N(3).find("a") == nullptr);
}

// ---- parsing ----------------------------------------------------------------

TEST_CASE("http fault: abort defaults to 503 with a JSON body") {
  const auto s = parse_ok("http_abort", Tree{});
  CHECK(s.kind == Kind::abort);
  CHECK(s.status == 503);
  REQUIRE(s.body);
  CHECK(*s.body == R"({"error":"Service Unavailable","status":503,"injected_by":"brownout"})");
  CHECK(s.content_type == "application/json");
  CHECK(s.headers.empty());
  CHECK(s.probability == 1.0);
  CHECK(!s.quota);
}

TEST_CASE("http fault: abort with a quota defaults to 429") {
  const auto s =
      parse_ok("http_abort", M({{"quota", M({{"requests", N(5)}, {"window", S("2s")}})}}));
  CHECK(s.status == 429);
  CHECK(has(*s.body, "Too Many Requests"));
  REQUIRE(s.quota);
  CHECK(s.quota->requests == 5);
  CHECK(s.quota->window_ms == 2000);
  // A given status wins over the quota's default.
  const auto t = parse_ok(
      "http_abort", M({{"status", N(503)}, {"quota", M({{"requests", N(1)}, {"window", N(10)}})}}));
  CHECK(t.status == 503);
}

TEST_CASE("http fault: abort status, headers, body and content type") {
  const auto s = parse_ok("http_abort", M({{"status", N(502)},
                                           {"headers", M({{"X-Why", S("chaos")}})},
                                           {"body", S("upstream gone")}}));
  CHECK(s.status == 502);
  REQUIRE(s.headers.size() == 1);
  CHECK(s.headers[0] == Header{"X-Why", "chaos"});
  CHECK(*s.body == "upstream gone");
  CHECK(s.content_type == "text/plain; charset=utf-8");

  CHECK(parse_ok("http_abort", M({{"body", S("  {\"a\":1}")}})).content_type == "application/json");
  CHECK(parse_ok("http_abort", M({{"body", S("[1,2]")}})).content_type == "application/json");
  CHECK(parse_ok("http_abort", M({{"body", S("<h1>x</h1>")}, {"content_type", S("text/html")}}))
            .content_type == "text/html");
  // An integral double is an integer (JSON numbers may arrive as doubles).
  CHECK(parse_ok("http_abort", M({{"status", Tree{500.0}}})).status == 500);
}

TEST_CASE("http fault: abort refuses bad values, naming the attribute") {
  auto e = parse_err("http_abort", M({{"status", S("503")}}));
  CHECK(e.message == "attribute status must be an integer, got a string");
  CHECK(e.attribute == "status");

  e = parse_err("http_abort", M({{"status", N(600)}}));
  CHECK(e.message == "attribute status must be between 100 and 599, got 600");
  CHECK(e.attribute == "status");
  CHECK(parse_err("http_abort", M({{"status", N(99)}})).attribute == "status");
  CHECK(parse_err("http_abort", M({{"status", Tree{502.5}}})).attribute == "status");
  CHECK(parse_err("http_abort", M({{"status", Tree{true}}})).message ==
        "attribute status must be an integer, got a boolean");

  e = parse_err("http_abort", M({{"headers", S("X-A: b")}}));
  CHECK(e.attribute == "headers");
  CHECK(has(e.message, "must be a map, got a string"));
  e = parse_err("http_abort", M({{"headers", M({{"X-A", N(1)}})}}));
  CHECK(e.attribute == "headers");
  CHECK(e.message == "attribute headers.X-A must be a string, got an integer");
  e = parse_err("http_abort", M({{"headers", M({{"X-A", S("a\r\nX-Evil: 1")}})}}));
  CHECK(e.attribute == "headers");
  CHECK(has(e.message, "CR, LF"));
  CHECK(parse_err("http_abort", M({{"headers", M({{"bad name", S("x")}})}})).attribute ==
        "headers");
  CHECK(parse_err("http_abort", M({{"headers", M({{"Content-Length", S("3")}})}})).attribute ==
        "headers");
  CHECK(parse_err("http_abort", M({{"body", N(1)}})).attribute == "body");
  CHECK(parse_err("http_abort", M({{"content_type", S("")}})).attribute == "content_type");
  CHECK(parse_err("http_abort", S("nope")).message ==
        "attributes of http_abort must be a map, got a string");
}

TEST_CASE("http fault: delay takes integers (ms) and strings with units") {
  auto s = parse_ok("http_delay", Tree{});
  CHECK(s.delay_ms == 0);
  CHECK(s.jitter_ms == 0);
  CHECK(s.where == Where::request);
  s = parse_ok("http_delay", M({{"delay", N(250)}, {"jitter", S("50ms")}}));
  CHECK(s.delay_ms == 250);
  CHECK(s.jitter_ms == 50);
  s = parse_ok("http_delay", M({{"delay", S("1.5s")}, {"where", S("response")}}));
  CHECK(s.delay_ms == 1500);
  CHECK(s.where == Where::response);
  CHECK(parse_ok("http_delay", M({{"delay", S("24h")}})).delay_ms == 86'400'000);
}

TEST_CASE("http fault: delay refuses bad values") {
  auto e = parse_err("http_delay", M({{"delay", N(-1)}}));
  CHECK(e.attribute == "delay");
  CHECK(e.message == "attribute delay must be between 0 and 86400000 ms, got -1");
  e = parse_err("http_delay", M({{"delay", S("25h")}}));
  CHECK(e.attribute == "delay");
  e = parse_err("http_delay", M({{"delay", S("soon")}}));
  CHECK(e.attribute == "delay");
  CHECK(has(e.message, "attribute delay: 'soon' is not a quantity"));
  e = parse_err("http_delay", M({{"delay", S("3 parsecs")}}));
  CHECK(has(e.message, "unknown unit"));
  e = parse_err("http_delay", M({{"delay", Tree{TreeList{}}}}));
  CHECK(e.message == "attribute delay must be an integer (ms) or a string with a unit, got a list");
  e = parse_err("http_delay", M({{"jitter", N(-5)}}));
  CHECK(e.attribute == "jitter");
  e = parse_err("http_delay", M({{"where", S("middle")}}));
  CHECK(e.attribute == "where");
  CHECK(e.message == "attribute where must be one of request, response, got 'middle'");
}

TEST_CASE("http fault: drop_response mode and timeout") {
  auto s = parse_ok("http_drop_response", Tree{});
  CHECK(s.mode == DropMode::close);
  CHECK(s.timeout_ms == 0);
  s = parse_ok("http_drop_response", M({{"mode", S("hang")}, {"timeout", S("5s")}}));
  CHECK(s.mode == DropMode::hang);
  CHECK(s.timeout_ms == 5000);
  CHECK(parse_ok("http_drop_response", M({{"mode", S("reset")}})).mode == DropMode::reset);
  auto e = parse_err("http_drop_response", M({{"mode", S("explode")}}));
  CHECK(e.attribute == "mode");
  CHECK(has(e.message, "close, reset, hang"));
  CHECK(parse_err("http_drop_response", M({{"timeout", N(-1)}})).attribute == "timeout");
}

TEST_CASE("http fault: reset, truncate and dribble sizes") {
  CHECK(!parse_ok("http_reset", Tree{}).after_bytes);
  CHECK(parse_ok("http_reset", M({{"after_bytes", N(0)}})).after_bytes == 0);
  CHECK(parse_ok("http_reset", M({{"after_bytes", S("1KiB")}})).after_bytes == 1024);
  CHECK(parse_err("http_reset", M({{"after_bytes", N(-1)}})).attribute == "after_bytes");

  CHECK(parse_ok("http_truncate", Tree{}).bytes == 0);
  CHECK(parse_ok("http_truncate", M({{"bytes", S("2KiB")}})).bytes == 2048);
  CHECK(parse_err("http_truncate", M({{"bytes", S("1.5B")}})).attribute == "bytes");

  auto s = parse_ok("http_dribble", Tree{});
  CHECK(s.size == 1);
  CHECK(s.delay_ms == 100);
  s = parse_ok("http_dribble", M({{"size", N(16)}, {"delay", S("1s")}}));
  CHECK(s.size == 16);
  CHECK(s.delay_ms == 1000);
  auto e = parse_err("http_dribble", M({{"size", N(0)}}));
  CHECK(e.attribute == "size");
  CHECK(has(e.message, "must be >= 1 bytes, got 0"));
}

TEST_CASE("http fault: status requires a status, body is optional") {
  auto e = parse_err("http_status", Tree{});
  CHECK(e.attribute == "status");
  CHECK(has(e.message, "required"));
  auto s = parse_ok("http_status", M({{"status", N(502)}}));
  CHECK(s.status == 502);
  CHECK(!s.body);
  s = parse_ok("http_status", M({{"status", N(200)}, {"body", S("{}")}}));
  CHECK(s.body == "{}");
  CHECK(parse_err("http_status", M({{"status", N(1000)}})).attribute == "status");
  CHECK(parse_ok("http_garbage", Tree{}).kind == Kind::garbage);
}

TEST_CASE("http fault: unknown attributes are refused, listing the expected ones") {
  auto e = parse_err("http_delay", M({{"latency", N(5)}}));
  CHECK(e.attribute == "latency");
  CHECK(e.message ==
        "unknown attribute 'latency' for http_delay (expected: delay, jitter, where, match, "
        "first, every, quota, ramp, max_active)");
  e = parse_err("http_garbage", M({{"status", N(500)}}));
  CHECK(e.attribute == "status");
  CHECK(has(e.message, "(expected: match, first, every, quota, ramp, max_active)"));
  // Another type's attribute is unknown too.
  CHECK(parse_err("http_status", M({{"status", N(500)}, {"headers", M({})}})).attribute ==
        "headers");

  e = parse_err("http_abort", M({{"match", M({{"verb", S("GET")}})}}));
  CHECK(e.attribute == "match");
  CHECK(e.message ==
        "unknown match key 'verb' (expected: method, path, path_prefix, path_regex, headers, "
        "header_regex, body_contains)");
  e = parse_err("http_abort", M({{"quota", M({{"requests", N(1)}, {"per", S("1s")}})}}));
  CHECK(e.attribute == "quota");
  CHECK(e.message == "unknown quota key 'per' (expected: requests, window)");
}

TEST_CASE("http fault: probability must be in [0, 1]") {
  CHECK(parse_ok("http_abort", Tree{}, 0.0).probability == 0.0);
  CHECK(parse_ok("http_abort", Tree{}, 0.25).probability == 0.25);
  auto e = parse_err("http_abort", Tree{}, 1.5);
  CHECK(e.attribute == "probability");
  CHECK(e.message == "probability must be between 0 and 1, got 1.5");
  CHECK(parse_err("http_abort", Tree{}, -0.1).attribute == "probability");
  CHECK(parse_err("http_abort", Tree{}, std::nan("")).attribute == "probability");
}

TEST_CASE("http fault: first, every and quota are checked") {
  auto s = parse_ok("http_abort", M({{"first", N(3)}, {"every", N(2)}}));
  CHECK(s.first == 3);
  CHECK(s.every == 2);
  CHECK(parse_err("http_abort", M({{"first", N(-1)}})).attribute == "first");
  CHECK(parse_err("http_abort", M({{"every", S("2")}})).message ==
        "attribute every must be an integer, got a string");
  auto e = parse_err("http_abort", M({{"quota", M({{"requests", N(0)}, {"window", N(1000)}})}}));
  CHECK(e.attribute == "quota");
  CHECK(e.message == "attribute quota.requests must be >= 1, got 0");
  e = parse_err("http_abort", M({{"quota", M({{"requests", N(1)}, {"window", N(0)}})}}));
  CHECK(e.attribute == "quota");
  CHECK(has(e.message, "quota.window"));
  CHECK(has(parse_err("http_abort", M({{"quota", M({{"requests", N(1)}})}})).message,
            "quota.window is required"));
  CHECK(has(parse_err("http_abort", M({{"quota", N(20)}})).message, "must be a map"));
  // null counts as absent.
  CHECK(!parse_ok("http_abort", M({{"quota", Tree{}}})).quota);
}

TEST_CASE("http fault: match keys are validated") {
  auto e = parse_err("http_abort", M({{"match", M({{"path", S("/a")}, {"path_prefix", S("/")}})}}));
  CHECK(e.attribute == "match");
  CHECK(has(e.message, "at most one of path, path_prefix, path_regex"));

  e = parse_err("http_abort", M({{"match", M({{"path_regex", S("/users/(")}})}}));
  CHECK(e.attribute == "match");
  CHECK(has(e.message, "match.path_regex"));
  CHECK(has(e.message, "not a valid regular expression"));

  e = parse_err("http_abort", M({{"match", M({{"header_regex", M({{"X-A", S("[")}})}})}}));
  CHECK(e.attribute == "match");
  CHECK(has(e.message, "match.header_regex.X-A"));

  e = parse_err("http_abort", M({{"match", M({{"method", N(1)}})}}));
  CHECK(e.message == "attribute match.method must be a string, got an integer");
  CHECK(has(parse_err("http_abort", M({{"match", M({{"path", S("/[ab")}})}})).message,
            "not a valid glob"));
  CHECK(has(parse_err("http_abort", M({{"match", M({{"headers", M({{"X", N(1)}})}})}})).message,
            "match.headers.X must be a string"));
  CHECK(has(parse_err("http_abort", M({{"match", S("/x")}})).message, "match must be a map"));
  CHECK(parse_err("http_abort", M({{"match", M({{"body_contains", S("")}})}})).attribute ==
        "match");
}

// ---- matching ---------------------------------------------------------------

TEST_CASE("http fault: an empty match matches everything") {
  Req r;
  CHECK(matches(M({}), r));
  CHECK(Match{}.matches(Request{"POST", "/x", nullptr, {}}));
}

TEST_CASE("http fault: method is case-insensitive") {
  Req r;
  r.method = "post";
  CHECK(matches(M({{"method", S("POST")}}), r));
  CHECK(matches(M({{"method", S("post")}}), r));
  CHECK(!matches(M({{"method", S("GET")}}), r));
  CHECK(!matches(M({{"method", S("POS")}}), r));
}

TEST_CASE("http fault: exact, prefix and glob paths ignore the query") {
  Req r;
  r.target = "/v1/charges?limit=10";
  CHECK(matches(M({{"path", S("/v1/charges")}}), r));
  CHECK(!matches(M({{"path", S("/v1/charge")}}), r));
  CHECK(!matches(M({{"path", S("/v1/charges?limit=10")}}), r));
  CHECK(matches(M({{"path_prefix", S("/v1/")}}), r));
  CHECK(!matches(M({{"path_prefix", S("/v2/")}}), r));
  CHECK(!matches(M({{"path_prefix", S("/v1/charges?")}}), r));

  r.target = "/users/42/orders?page=2";
  CHECK(matches(M({{"path", S("/users/*/orders")}}), r));
  CHECK(matches(M({{"path", S("/users/*")}}), r));  // * crosses slashes
  CHECK(!matches(M({{"path", S("/users/*/order")}}), r));
  CHECK(matches(M({{"path", S("/users/4?/orders")}}), r));
  CHECK(!matches(M({{"path", S("/users/?/orders")}}), r));
  CHECK(matches(M({{"path", S("/users/[0-9][0-9]/orders")}}), r));
  CHECK(!matches(M({{"path", S("/users/[!0-9]*")}}), r));
  // Regex metacharacters in a glob are literal.
  r.target = "/a.b+c";
  CHECK(matches(M({{"path", S("/a.b+*")}}), r));
  r.target = "/axb+c";
  CHECK(!matches(M({{"path", S("/a.b+*")}}), r));
}

TEST_CASE("http fault: a path regex searches the whole target, query included") {
  Req r;
  r.target = "/v1/charges?currency=eur";
  CHECK(matches(M({{"path_regex", S("currency=eur")}}), r));
  CHECK(matches(M({{"path_regex", S("^/v1/")}}), r));
  CHECK(matches(M({{"path_regex", S("charges")}}), r));
  CHECK(!matches(M({{"path_regex", S("^/charges")}}), r));
  CHECK(!matches(M({{"path_regex", S("usd$")}}), r));
}

TEST_CASE("http fault: header rules: present, equal, regex, names case-insensitive") {
  Req r;
  r.headers = {{"Host", "api"}, {"X-Tenant", "acme"}, {"x-tenant", "globex"}, {"Accept", "*/*"}};
  CHECK(matches(M({{"headers", M({{"x-tenant", S("*")}})}}), r));
  CHECK(matches(M({{"headers", M({{"X-TENANT", S("globex")}})}}), r));  // any header of that name
  CHECK(matches(M({{"headers", M({{"X-Tenant", S("acme")}})}}), r));
  CHECK(!matches(M({{"headers", M({{"X-Tenant", S("ACME")}})}}), r));  // values exact
  CHECK(!matches(M({{"headers", M({{"X-Missing", S("*")}})}}), r));
  CHECK(matches(M({{"headers", M({{"Host", S("api")}, {"Accept", S("*")}})}}), r));
  CHECK(!matches(M({{"headers", M({{"Host", S("api")}, {"X-Missing", S("*")}})}}), r));
  CHECK(matches(M({{"header_regex", M({{"x-tenant", S("^glo")}})}}), r));
  CHECK(!matches(M({{"header_regex", M({{"x-tenant", S("^ini")}})}}), r));
  CHECK(!matches(M({{"header_regex", M({{"X-Missing", S(".*")}})}}), r));
  // A request the codec gave no headers matches no header rule.
  CHECK(
      !match_of(M({{"headers", M({{"Host", S("*")}})}})).matches(Request{"GET", "/", nullptr, {}}));
}

TEST_CASE("http fault: body_contains looks in the body prefix") {
  Req r;
  r.body = R"({"amount":1000,"currency":"eur"})";
  const Match m = match_of(M({{"body_contains", S("\"currency\":\"eur\"")}}));
  CHECK(m.needs_body());
  CHECK(m.matches(r.view()));
  CHECK(!match_of(M({{"body_contains", S("usd")}})).matches(r.view()));
  CHECK(!match_of(M({{"method", S("GET")}})).needs_body());
}

TEST_CASE("http fault: every condition of a match must hold") {
  const Tree m = M({{"method", S("POST")},
                    {"path_prefix", S("/v1/")},
                    {"headers", M({{"Idempotency-Key", S("*")}})}});
  Req r;
  r.method = "POST";
  r.target = "/v1/charges";
  r.headers = {{"Idempotency-Key", "k1"}};
  CHECK(matches(m, r));
  r.method = "GET";
  CHECK(!matches(m, r));
  r.method = "POST";
  r.target = "/v2/charges";
  CHECK(!matches(m, r));
  r.target = "/v1/charges";
  r.headers.clear();
  CHECK(!matches(m, r));
}

// ---- first / every / quota ----------------------------------------------------

TEST_CASE("http fault: first N fires for the first N matching requests only") {
  const auto s = parse_ok("http_abort", M({{"first", N(3)}}));
  Shared shared;
  std::vector<bool> fired;
  for (int i = 0; i < 6; ++i) {
    std::int64_t retry = -1;
    fired.push_back(shared.admit(s, t0, retry));
    CHECK(retry == 0);
  }
  CHECK(fired == std::vector<bool>{true, true, true, false, false, false});
}

TEST_CASE("http fault: every K fires for every K-th matching request") {
  const auto s = parse_ok("http_abort", M({{"every", N(3)}}));
  Shared shared;
  std::vector<int> fired;
  for (int i = 1; i <= 10; ++i) {
    std::int64_t retry = 0;
    if (shared.admit(s, t0, retry)) fired.push_back(i);
  }
  CHECK(fired == std::vector<int>{3, 6, 9});
}

TEST_CASE("http fault: first and every combine with AND") {
  const auto s = parse_ok("http_abort", M({{"first", N(7)}, {"every", N(2)}}));
  Shared shared;
  std::vector<int> fired;
  for (int i = 1; i <= 12; ++i) {
    std::int64_t retry = 0;
    if (shared.admit(s, t0, retry)) fired.push_back(i);
  }
  CHECK(fired == std::vector<int>{2, 4, 6});
}

TEST_CASE(
    "http fault: a quota of 20 per 2s lets 20 through, then answers 429 until the window ends") {
  Fault f = fault("rate-limit", "http_abort",
                  M({{"quota", M({{"requests", N(20)}, {"window", S("2s")}})}}));
  Rng rng(1);
  Req r;
  // 20 requests, 10 ms apart, starting the window at t0: all pass.
  for (int i = 0; i < 20; ++i) {
    const auto d = run({&f}, r, rng, t0 + i * 10ms);
    CHECK_MESSAGE(!d.any(), "request " << i + 1);
  }
  // The 21st, 200 ms into the window: 429, Retry-After the rest of the window.
  auto d = run({&f}, r, rng, t0 + 200ms);
  CHECK(d.abort);
  CHECK(d.status == 429);
  CHECK(header(d.headers, "Retry-After") == "2");  // 1.8 s rounds up
  CHECK(d.fired == std::vector<std::string>{"rate-limit"});
  CHECK(has(d.body, "Too Many Requests"));
  // 1.5 s in, 0.5 s left: still refused, 1 s (never 0).
  d = run({&f}, r, rng, t0 + 1500ms);
  CHECK(d.abort);
  CHECK(header(d.headers, "Retry-After") == "1");
  d = run({&f}, r, rng, t0 + 1999ms);
  CHECK(header(d.headers, "Retry-After") == "1");
  // The next window: 20 pass again, the 21st is refused.
  for (int i = 0; i < 20; ++i) CHECK(!run({&f}, r, rng, t0 + 2s + i * 1ms).any());
  d = run({&f}, r, rng, t0 + 2100ms);
  CHECK(d.abort);
  CHECK(header(d.headers, "Retry-After") == "2");
  // Windows advance by whole windows: 7.5 s is in the window [6 s, 8 s).
  for (int i = 0; i < 20; ++i) CHECK(!run({&f}, r, rng, t0 + 7500ms).any());
  d = run({&f}, r, rng, t0 + 7500ms);
  CHECK(header(d.headers, "Retry-After") == "1");
}

TEST_CASE("http fault: a quota sets retry_after_ms only when it refuses") {
  const auto s =
      parse_ok("http_abort", M({{"quota", M({{"requests", N(2)}, {"window", N(1000)}})}}));
  Shared shared;
  std::int64_t retry = -1;
  CHECK(!shared.admit(s, t0, retry));
  CHECK(retry == 0);
  CHECK(!shared.admit(s, t0 + 100ms, retry));
  CHECK(shared.admit(s, t0 + 250ms, retry));
  CHECK(retry == 750);
  CHECK(shared.admit(s, t0 + 999ms, retry));
  CHECK(retry == 1);
  CHECK(!shared.admit(s, t0 + 1000ms, retry));
  CHECK(retry == 0);
}

TEST_CASE("http fault: a quota window may start at the clock's epoch") {
  const auto s =
      parse_ok("http_abort", M({{"quota", M({{"requests", N(1)}, {"window", N(100)}})}}));
  Shared shared;
  std::int64_t retry = 0;
  CHECK(!shared.admit(s, TimePoint{}, retry));
  CHECK(shared.admit(s, TimePoint{}, retry));
  CHECK(retry == 100);
}

TEST_CASE("http fault: a Retry-After the user gave is kept") {
  Fault f = fault("rl", "http_abort",
                  M({{"headers", M({{"retry-after", S("30")}})},
                     {"quota", M({{"requests", N(1)}, {"window", N(1000)}})}}));
  Rng rng(1);
  Req r;
  CHECK(!run({&f}, r, rng).any());
  const auto d = run({&f}, r, rng);
  CHECK(d.abort);
  REQUIRE(d.headers.size() == 1);
  CHECK(d.headers[0] == Header{"retry-after", "30"});
}

TEST_CASE("http fault: counters are shared by copies of a fault (one per proxy)") {
  Fault a = fault("f", "http_abort", M({{"first", N(2)}}));
  Fault b = a;  // another link's view of the same proxy's fault
  Rng rng(1);
  Req r;
  CHECK(run({&a}, r, rng).abort);
  CHECK(run({&b}, r, rng).abort);
  CHECK(!run({&a}, r, rng).abort);
  CHECK(!run({&b}, r, rng).abort);
}

TEST_CASE("http fault: only matching requests count towards first/every") {
  Fault f = fault("f", "http_abort", M({{"every", N(2)}, {"match", M({{"method", S("POST")}})}}));
  Rng rng(1);
  Req get, post;
  post.method = "POST";
  CHECK(!run({&f}, post, rng).any());  // 1st POST
  CHECK(!run({&f}, get, rng).any());   // not counted
  CHECK(run({&f}, post, rng).abort);   // 2nd POST
}

// ---- probability ------------------------------------------------------------

TEST_CASE("http fault: probability 0.3 fires for about 30% and repeats with a seed") {
  Fault f = fault("p", "http_abort", Tree{}, 0.3);
  Req r;
  const auto hits = [&](std::uint64_t seed) {
    Rng rng(seed);
    std::vector<bool> out;
    for (int i = 0; i < 10'000; ++i) out.push_back(run({&f}, r, rng).abort);
    return out;
  };
  const auto a = hits(42);
  const auto count = std::count(a.begin(), a.end(), true);
  const double sd = std::sqrt(10'000 * 0.3 * 0.7);  // ~45.8
  CHECK(std::fabs(static_cast<double>(count) - 3000.0) < 3 * sd);
  CHECK(hits(42) == a);
  CHECK(hits(43) != a);
}

TEST_CASE("http fault: probability 0 never fires, 1 always") {
  Fault never = fault("never", "http_abort", Tree{}, 0.0);
  Fault always = fault("always", "http_status", M({{"status", N(500)}}), 1.0);
  Rng rng(9);
  Req r;
  for (int i = 0; i < 100; ++i) {
    const auto d = run({&never, &always}, r, rng);
    CHECK(!d.abort);
    CHECK(d.replace_status == 500);
  }
}

TEST_CASE("http fault: faults that do not match draw nothing, so seeded runs repeat") {
  Fault p = fault("p", "http_abort", Tree{}, 0.5);
  Fault other = fault("other", "http_delay", M({{"match", M({{"method", S("DELETE")}})}}), 0.5);
  Req r;
  Rng a(7), b(7);
  for (int i = 0; i < 200; ++i) CHECK(run({&other, &p}, r, a).abort == run({&p}, r, b).abort);
}

// ---- decide -----------------------------------------------------------------

TEST_CASE("http fault: decide combines a delay and a status") {
  Fault delay = fault("slow", "http_delay", M({{"delay", S("300ms")}}));
  Fault late = fault("late", "http_delay", M({{"delay", N(50)}, {"where", S("response")}}));
  Fault status = fault("bad", "http_status", M({{"status", N(502)}, {"body", S("oops")}}));
  Rng rng(1);
  Req r;
  const auto d = run({&delay, &late, &status}, r, rng);
  CHECK(!d.abort);
  CHECK(d.request_delay == Duration(300ms));
  CHECK(d.response_delay == Duration(50ms));
  CHECK(d.replace_status == 502);
  CHECK(d.replace_body == "oops");
  CHECK(d.fired == std::vector<std::string>{"slow", "late", "bad"});
  CHECK(d.any());
}

TEST_CASE("http fault: two delays add up") {
  Fault a = fault("a", "http_delay", M({{"delay", N(100)}}));
  Fault b = fault("b", "http_delay", M({{"delay", N(20)}}));
  Rng rng(1);
  CHECK(run({&a, &b}, Req{}, rng).request_delay == Duration(120ms));
}

TEST_CASE("http fault: an abort stops the faults after it") {
  Fault delay = fault("slow", "http_delay", M({{"delay", N(100)}}));
  Fault abort =
      fault("down", "http_abort", M({{"status", N(503)}, {"headers", M({{"X-Chaos", S("1")}})}}));
  Fault status = fault("bad", "http_status", M({{"status", N(500)}}));
  Rng rng(1);
  Req r;
  const auto d = run({&delay, &abort, &status}, r, rng);
  CHECK(d.abort);
  CHECK(d.status == 503);
  CHECK(d.body == default_body(503));
  CHECK(d.content_type == "application/json");
  CHECK(d.headers == Headers{{"X-Chaos", "1"}});
  CHECK(d.request_delay == Duration(100ms));  // the answer comes late
  CHECK(!d.replace_status);
  CHECK(d.fired == std::vector<std::string>{"slow", "down"});
  // An abort that does not fire lets the others act.
  Fault skipped = fault("down", "http_abort", M({{"match", M({{"path", S("/health")}})}}));
  const auto e = run({&skipped, &status}, r, rng);
  CHECK(!e.abort);
  CHECK(e.replace_status == 500);
  CHECK(e.fired == std::vector<std::string>{"bad"});
}

TEST_CASE("http fault: garbage and reset-before end the decision") {
  Fault garbage = fault("g", "http_garbage", Tree{});
  Fault reset = fault("r", "http_reset", Tree{});
  Fault status = fault("s", "http_status", M({{"status", N(500)}}));
  Rng rng(1);
  Req r;
  auto d = run({&garbage, &status}, r, rng);
  CHECK(d.garbage);
  CHECK(!d.replace_status);
  CHECK(d.fired == std::vector<std::string>{"g"});
  d = run({&reset, &status}, r, rng);
  CHECK(d.reset_before);
  CHECK(!d.reset_after_bytes);
  CHECK(!d.replace_status);
}

TEST_CASE("http fault: response-side faults fill their fields and let later faults act") {
  Fault drop = fault("drop", "http_drop_response", M({{"mode", S("hang")}, {"timeout", S("3s")}}));
  Fault reset = fault("rst", "http_reset", M({{"after_bytes", N(100)}}));
  Fault truncate = fault("cut", "http_truncate", M({{"bytes", N(10)}}));
  Fault dribble = fault("drip", "http_dribble", M({{"size", N(4)}, {"delay", N(250)}}));
  Rng rng(1);
  const auto d = run({&drop, &reset, &truncate, &dribble}, Req{}, rng);
  CHECK(d.drop == DropMode::hang);
  CHECK(d.drop_timeout == Duration(3s));
  CHECK(d.reset_after_bytes == 100);
  CHECK(d.truncate_bytes == 10);
  CHECK(d.dribble_size == 4);
  CHECK(d.dribble_delay == Duration(250ms));
  CHECK(!d.reset_before);
  CHECK(d.fired == std::vector<std::string>{"drop", "rst", "cut", "drip"});
}

TEST_CASE("http fault: nothing fires for a request no fault matches") {
  Fault f = fault("f", "http_abort", M({{"match", M({{"path_prefix", S("/admin")}})}}));
  Rng rng(1);
  Req r;
  r.target = "/public";
  const auto d = run({&f}, r, rng);
  CHECK(!d.any());
  CHECK(!d.abort);
  CHECK(run({}, r, rng).fired.empty());
}

TEST_CASE("http fault: delay jitter stays within [delay - jitter, delay + jitter], never < 0") {
  Fault f = fault("j", "http_delay", M({{"delay", N(100)}, {"jitter", N(50)}}));
  Fault wide = fault("w", "http_delay", M({{"delay", N(10)}, {"jitter", N(50)}}));
  Rng rng(5);
  Duration lo = Duration::max(), hi = Duration::min();
  for (int i = 0; i < 5000; ++i) {
    const auto d = run({&f}, Req{}, rng).request_delay;
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    CHECK(run({&wide}, Req{}, rng).request_delay >= Duration::zero());
  }
  CHECK(lo >= Duration(50ms));
  CHECK(hi <= Duration(150ms));
  CHECK(lo < Duration(52ms));
  CHECK(hi > Duration(148ms));
}

// ---- header-controlled faults -------------------------------------------------

TEST_CASE("http fault: from_headers reads every fault header, case-insensitively") {
  const Headers h = {{"Host", "api"},
                     {"X-Brownout-Fault-Delay", "300ms"},
                     {"x-brownout-fault-response-delay", "250"},
                     {"x-brownout-fault-drop", "reset"},
                     {"X-BROWNOUT-FAULT-RESET", "128"},
                     {"x-brownout-fault-truncate", "1KiB"},
                     {"x-brownout-fault-status", "502"}};
  auto r = from_headers(h);
  REQUIRE_MESSAGE(r, r.error.message);
  const auto& d = *r.value;
  CHECK(d.request_delay == Duration(300ms));
  CHECK(d.response_delay == Duration(250ms));
  CHECK(d.drop == DropMode::reset);
  CHECK(d.reset_after_bytes == 128);
  CHECK(d.truncate_bytes == 1024);
  CHECK(d.replace_status == 502);
  CHECK(!d.abort);
  CHECK(d.fired == std::vector<std::string>{"header:delay", "header:response-delay", "header:drop",
                                            "header:reset", "header:truncate", "header:status"});
}

TEST_CASE("http fault: from_headers abort, reset before, garbage") {
  auto r = from_headers({{"x-brownout-fault-abort", " 503 "}});
  REQUIRE(r);
  CHECK(r.value->abort);
  CHECK(r.value->status == 503);
  CHECK(r.value->body == default_body(503));
  CHECK(r.value->content_type == "application/json");
  CHECK(r.value->fired == std::vector<std::string>{"header:abort"});

  r = from_headers({{"x-brownout-fault-reset", "before"}});
  REQUIRE(r);
  CHECK(r.value->reset_before);
  r = from_headers({{"x-brownout-fault-garbage", "1"}});
  REQUIRE(r);
  CHECK(r.value->garbage);
  r = from_headers({{"x-brownout-fault-drop", "HANG"}});
  REQUIRE(r);
  CHECK(r.value->drop == DropMode::hang);

  r = from_headers({{"Host", "x"}, {"X-Brownout", "1"}});
  REQUIRE(r);
  CHECK(!r.value->any());
}

TEST_CASE("http fault: from_headers refuses bad values, naming the header") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"x-brownout-fault-abort", "600"},    {"x-brownout-fault-abort", "busy"},
      {"x-brownout-fault-abort", ""},       {"x-brownout-fault-delay", "soon"},
      {"x-brownout-fault-delay", "-5ms"},   {"x-brownout-fault-delay", "48h"},
      {"x-brownout-fault-drop", "explode"}, {"x-brownout-fault-reset", "later"},
      {"x-brownout-fault-truncate", "-1"},  {"x-brownout-fault-status", "2000"},
      {"x-brownout-fault-teleport", "1"},   {"x-brownout-fault-response-delay", "x"}};
  for (const auto& [name, value] : bad) {
    auto r = from_headers({{name, value}});
    CHECK_MESSAGE(!r, name << ": " << value);
    CHECK_MESSAGE(has(r.error.message, name), r.error.message);
    CHECK(r.error.attribute == name);
  }
  auto r = from_headers({{"X-Brownout-Fault-Abort", "abc"}});
  REQUIRE(!r);
  CHECK(r.error.message ==
        "header x-brownout-fault-abort: 'abc' is not a status (an integer between 100 and 599)");
}

TEST_CASE("http fault: strip_fault_headers removes every fault header") {
  Headers h = {{"Host", "api"},
               {"X-Brownout-Fault-Delay", "1s"},
               {"x-brownout-fault-anything", "1"},
               {"X-Brownout-Other", "kept"},
               {"Accept", "*/*"}};
  CHECK(strip_fault_headers(h));
  CHECK(h == Headers{{"Host", "api"}, {"X-Brownout-Other", "kept"}, {"Accept", "*/*"}});
  CHECK(!strip_fault_headers(h));
  Headers none;
  CHECK(!strip_fault_headers(none));
}

// ---- bodies and reasons -----------------------------------------------------

TEST_CASE("http fault: default bodies and reason phrases") {
  CHECK(reason(503) == "Service Unavailable");
  CHECK(reason(429) == "Too Many Requests");
  CHECK(reason(500) == "Internal Server Error");
  CHECK(reason(502) == "Bad Gateway");
  CHECK(reason(504) == "Gateway Timeout");
  CHECK(reason(404) == "Not Found");
  CHECK(reason(299) == "Unknown");
  CHECK(default_body(429) ==
        R"({"error":"Too Many Requests","status":429,"injected_by":"brownout"})");
  CHECK(default_body(599) == R"({"error":"Unknown","status":599,"injected_by":"brownout"})");
}

// ---- to_tree ----------------------------------------------------------------

TEST_CASE("http fault: to_tree shows every attribute with defaults, durations as ms") {
  auto t = to_tree(parse_ok("http_delay", M({{"delay", S("1.5s")}})));
  CHECK(dump(t) == R"({delay:1500,jitter:0,where:"request",})");
  t = to_tree(parse_ok("http_dribble", Tree{}));
  CHECK(dump(t) == "{delay:100,size:1,}");
  t = to_tree(parse_ok("http_drop_response", M({{"mode", S("hang")}})));
  CHECK(dump(t) == R"({mode:"hang",timeout:0,})");
  t = to_tree(parse_ok("http_reset", Tree{}));
  CHECK(dump(t) == "{}");
  t = to_tree(parse_ok("http_abort", Tree{}));
  CHECK(dump(t) == R"({body:")" + default_body(503) +
                       R"(",content_type:"application/json",headers:{},status:503,})");
  t = to_tree(parse_ok("http_abort", M({{"first", N(2)},
                                        {"every", N(0)},
                                        {"quota", M({{"requests", N(20)}, {"window", S("2s")}})},
                                        {"match", M({{"method", S("POST")}})}})));
  CHECK(std::get<std::int64_t>(t.find("first")->v) == 2);
  CHECK(t.find("every") == nullptr);
  CHECK(dump(*t.find("quota")) == "{requests:20,window:2000,}");
  CHECK(dump(*t.find("match")) == R"({method:"POST",})");
  CHECK(std::get<std::int64_t>(t.find("status")->v) == 429);
}

TEST_CASE("http fault: to_tree round-trips through parse_settings for every type") {
  const Tree match = M({{"method", S("POST")},
                        {"path", S("/v1/*/charges")},
                        {"headers", M({{"X-Tenant", S("*")}, {"X-Env", S("staging")}})},
                        {"header_regex", M({{"User-Agent", S("^curl/")}})},
                        {"body_contains", S("eur")}});
  const std::vector<std::pair<std::string_view, Tree>> cases = {
      {"http_abort", M({{"status", N(502)},
                        {"headers", M({{"X-A", S("b")}})},
                        {"body", S("nope")},
                        {"match", match}})},
      {"http_abort", M({{"quota", M({{"requests", N(3)}, {"window", S("1m")}})}})},
      {"http_delay", M({{"delay", S("2s")},
                        {"jitter", N(5)},
                        {"where", S("response")},
                        {"match", M({{"path_prefix", S("/api")}})}})},
      {"http_drop_response", M({{"mode", S("reset")}, {"first", N(4)}})},
      {"http_reset", M({{"after_bytes", S("1KiB")}, {"every", N(3)}})},
      {"http_reset", M({{"match", M({{"path_regex", S("^/x\\?y=")}})}})},
      {"http_truncate", M({{"bytes", N(7)}, {"match", M({{"path", S("/exact")}})}})},
      {"http_dribble", M({{"size", N(2)}, {"delay", S("10ms")}})},
      {"http_status", M({{"status", N(418)}, {"body", S("")}})},
      {"http_status", M({{"status", N(500)}})},
      {"http_garbage", M({{"match", match}})},
  };
  for (const auto& [type, attrs] : cases) {
    const auto first = parse_ok(type, attrs, 0.5);
    const Tree tree = to_tree(first);
    const auto second = parse_ok(type, tree, 0.5);
    CHECK_MESSAGE(dump(to_tree(second)) == dump(tree), std::string(type) << " " << dump(tree));
    CHECK(second.kind == first.kind);
    CHECK(second.status == first.status);
    CHECK(second.body == first.body);
    CHECK(second.content_type == first.content_type);
    CHECK(second.headers == first.headers);
    CHECK(second.delay_ms == first.delay_ms);
    CHECK(second.after_bytes == first.after_bytes);
    CHECK(second.match.path_mode == first.match.path_mode);
    CHECK(second.match.headers.size() == first.match.headers.size());
  }
  // The round-tripped matcher behaves like the original.
  const auto s = parse_ok("http_garbage", to_tree(parse_ok("http_garbage", M({{"match", match}}))));
  Req r;
  r.method = "post";
  r.target = "/v1/acme/charges?x=1";
  r.headers = {{"x-tenant", "acme"}, {"x-env", "staging"}, {"user-agent", "curl/8.0"}};
  r.body = "currency=eur";
  CHECK(s.match.matches(r.view()));
  r.headers[1].value = "prod";
  CHECK(!s.match.matches(r.view()));
}

TEST_CASE("http fault: a probability ramp rises from `from` to `to` over its duration") {
  using namespace brownout::faults;
  const auto* type = http::find_type("http_abort");
  REQUIRE(type != nullptr);
  http::TreeMap ramp{
      {"from", http::Tree{0.0}}, {"to", http::Tree{1.0}}, {"over", http::Tree{std::string("10s")}}};
  http::TreeMap attrs{{"ramp", http::Tree{ramp}}};
  auto s = http::parse_settings(*type, http::Tree{attrs}, 1.0);
  REQUIRE(s);
  REQUIRE(s.value->ramp.has_value());
  CHECK(s.value->ramp->over_ms == 10000);
  http::Fault f;
  f.name = "r";
  f.settings = *s.value;
  f.added = TimePoint{} + std::chrono::seconds(100);
  const http::Fault* list[] = {&f};
  const http::Headers headers;
  const http::Request req{"GET", "/", &headers, {}};
  Rng rng(7);
  auto hits = [&](std::chrono::milliseconds at) {
    int n = 0;
    for (int i = 0; i < 4000; ++i)
      if (http::decide(list, req, rng, f.added + at).any()) ++n;
    return n;
  };
  CHECK(hits(std::chrono::milliseconds(0)) == 0);                          // from = 0
  CHECK(std::abs(hits(std::chrono::milliseconds(2500)) - 1000) < 3 * 28);  // p = 0.25
  CHECK(std::abs(hits(std::chrono::milliseconds(5000)) - 2000) < 3 * 32);  // p = 0.5
  CHECK(hits(std::chrono::milliseconds(20000)) == 4000);                   // stays at to
  // The ramp comes back in to_tree and parses again to the same thing.
  auto again = http::parse_settings(*type, http::to_tree(*s.value), 1.0);
  REQUIRE(again);
  CHECK(again.value->ramp->from == 0.0);
  CHECK(again.value->ramp->to == 1.0);
  CHECK(again.value->ramp->over_ms == 10000);
  // Bad ramps are refused, naming the attribute.
  http::TreeMap bad{
      {"from", http::Tree{0.0}}, {"to", http::Tree{1.5}}, {"over", http::Tree{std::int64_t{1000}}}};
  auto refused =
      http::parse_settings(*type, http::Tree{http::TreeMap{{"ramp", http::Tree{bad}}}}, 1.0);
  CHECK_FALSE(refused);
  CHECK(refused.error.attribute == "ramp");
}

TEST_CASE("http fault: max_active caps how many requests a fault holds at once") {
  using namespace brownout::faults;
  const auto* type = http::find_type("http_delay");
  REQUIRE(type != nullptr);
  http::TreeMap attrs{{"delay", http::Tree{std::int64_t{1000}}},
                      {"max_active", http::Tree{std::int64_t{2}}}};
  auto s = http::parse_settings(*type, http::Tree{attrs}, 1.0);
  REQUIRE(s);
  CHECK(s.value->max_active == 2);
  http::Fault f;
  f.name = "two";
  f.settings = *s.value;
  const http::Fault* list[] = {&f};
  const http::Headers headers;
  const http::Request req{"GET", "/", &headers, {}};
  Rng rng(1);
  const TimePoint now{};
  {
    auto a = http::decide(list, req, rng, now);
    auto b = http::decide(list, req, rng, now);
    auto c = http::decide(list, req, rng, now);  // a third while two are held: passes untouched
    CHECK(a.any());
    CHECK(b.any());
    CHECK_FALSE(c.any());
    CHECK(f.shared->active() == 2);
  }
  // The requests are over: their slots are free again.
  CHECK(f.shared->active() == 0);
  CHECK(http::decide(list, req, rng, now).any());
  CHECK(http::to_tree(*s.value).find("max_active") != nullptr);
}

TEST_CASE("http fault: the trace id of a traceparent header") {
  CHECK(trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") ==
        "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(trace_id(" 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-00 ") ==
        "4bf92f3577b34da6a3ce929d0e0e4736");
  // A later version may carry more fields; version 00 may not.
  CHECK(trace_id("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") ==
        "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").empty());
  CHECK(trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01").empty());
  CHECK(trace_id("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").empty());
  CHECK(trace_id("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01").empty());
  CHECK(trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7").empty());
  CHECK(trace_id("").empty());
}
