// Unit tests for drill/spec.cpp (the drill's sections of a profile) and for
// classify() in drill/probe.cpp (how one answer is judged).
#include "drill/spec.hpp"

#include <doctest/doctest.h>

#include "drill/probe.hpp"

using namespace brownout::drill;

namespace {

const std::vector<std::string> kPhases = {"slow", "down"};

SpecResult load(const std::string& text) {
  return load_spec("d.toml", text, kPhases);
}

bool has(const SpecResult& r, std::uint32_t line, const std::string& fragment) {
  for (const auto& e : r.errors)
    if (e.where.line == line && e.message.find(fragment) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("spec: thresholds") {
  std::string why;
  auto t = parse_threshold("<800ms", true, why);
  REQUIRE(t);
  CHECK(t->op == Threshold::Op::lt);
  CHECK(t->value == 800);
  CHECK(t->holds(799));
  CHECK_FALSE(t->holds(800));
  t = parse_threshold(">= 99%", false, why);
  REQUIRE(t);
  CHECK(t->value == doctest::Approx(0.99));
  t = parse_threshold("<=2s", true, why);
  REQUIRE(t);
  CHECK(t->value == 2000);
  CHECK_FALSE(parse_threshold("fast", false, why));
  CHECK(why.find("starts with") != std::string::npos);
  CHECK_FALSE(parse_threshold("<lots", false, why));
  CHECK_FALSE(parse_threshold("<3parsecs", true, why));
}

TEST_CASE("spec: a complete drill") {
  const auto r = load(R"(
[drill]
title = "checkout"
reports = "out"
inconclusive = "fail"

[[probe]]
name = "checkout"
kind = "http"
method = "POST"
url = "http://127.0.0.1:8080/checkout"
headers = { "Content-Type" = "application/json" }
body = '{"sku":"A1"}'
every = "100ms"
timeout = "2s"
max_in_flight = 5
expect = { status = "200-299", body_regex = "order" }
degraded = { status = "202;503", header = "Retry-After" }

[[probe]]
name = "redis"
kind = "tcp"
address = "127.0.0.1:6379"
send = "PING\r\n"
expect = { recv_regex = "PONG" }

[steady_state]
probes = ["checkout"]
before = "10s"
after = "20s"
success_rate = ">=0.99"
latency_p95 = "<300ms"

[[hypothesis]]
name = "serves while slow"
probe = "checkout"
during = ["slow", "down"]
skip = "3s"
success_rate = ">=0.95"
latency_p99 = "<800ms"
min_samples = 100

[[hypothesis]]
name = "recovers"
probe = "checkout"
after = "down"
recovery = "<=10s"
stable_for = "5s"
severity = "warn"

[[guard]]
probe = "redis"
when = "success_rate<0.5"
over = "10s"
delay = "5s"
)");
  INFO(r.errors.size());
  REQUIRE(r.spec);
  const auto& s = *r.spec;
  CHECK(s.title == "checkout");
  CHECK(s.inconclusive_as == Exit::fail);
  REQUIRE(s.probes.size() == 2);
  const auto& c = s.probes[0];
  CHECK(c.method == "POST");
  CHECK(c.every == 100);
  CHECK(c.timeout == 2000);
  CHECK(c.max_in_flight == 5);
  CHECK(c.headers.at("Content-Type") == "application/json");
  CHECK(c.expect.status == std::vector<std::pair<int, int>>{{200, 299}});
  CHECK(c.degraded.given);
  CHECK(c.degraded.status == std::vector<std::pair<int, int>>{{202, 202}, {503, 503}});
  CHECK(c.degraded.header == "Retry-After");
  CHECK(s.probes[1].send == "PING\r\n");
  REQUIRE(s.steady);
  CHECK(s.steady->before == 10'000);
  CHECK(s.steady->checks.size() == 2);
  REQUIRE(s.hypotheses.size() == 2);
  CHECK(s.hypotheses[0].during == std::vector<std::string>{"slow", "down"});
  CHECK(s.hypotheses[0].skip == 3000);
  CHECK(s.hypotheses[0].min_samples == 100);
  CHECK(s.hypotheses[1].recovery->value == 10'000);
  CHECK(s.hypotheses[1].warn_only);
  REQUIRE(s.guards.size() == 1);
  CHECK(s.guards[0].when.metric == Metric::success_rate);
  CHECK(s.guards[0].when.threshold.value == 0.5);
  CHECK(s.guards[0].delay == 5000);
}

TEST_CASE("spec: every mistake is reported where it is") {
  const auto r = load(R"(
[[probe]]
name = "web"
kind = "udp"
url = "https://x"
every = "1ms"
expect = { status = "abc" }
colour = "red"

[[hypothesis]]
name = "h"
probe = "webb"
during = "slwo"
success_rate = "high"

[[guard]]
probe = "web"
when = "mood<3"
)");
  CHECK_FALSE(r.spec);
  // Line 1 is the empty line after R"(.
  CHECK(has(r, 4, "'kind' must be \"http\", \"tcp\""));
  CHECK(has(r, 5, "http://"));
  CHECK(has(r, 6, "at least 10ms"));
  CHECK(has(r, 7, "'status'"));
  CHECK(has(r, 8, "unknown probe key 'colour'"));
  CHECK(has(r, 12, "no [[probe]] is named 'webb'"));
  CHECK(has(r, 13, "no phase"));
  CHECK(has(r, 14, "'success_rate'"));
  CHECK(has(r, 18, "'when'"));
}

TEST_CASE("spec: a drill with nothing to judge is refused") {
  const auto r = load(R"(
[[probe]]
name = "web"
kind = "http"
url = "http://127.0.0.1:1/"
)");
  CHECK_FALSE(r.spec);
  CHECK(has(r, 1, "nothing to judge"));
  CHECK(r.errors.size() == 1);
}

TEST_CASE("classify: ok, degraded fallback, failed with its class") {
  Probe p;
  p.kind = "http";
  p.expect.status = {{200, 299}};
  p.expect.body_regex = "order_id";
  p.expect.latency = 500;
  p.degraded.given = true;
  p.degraded.status = {{202, 202}, {503, 503}};
  p.degraded.header = "Retry-After";
  Sample s;
  classify(p, Answer{200, {}, "{\"order_id\":1}", 20, {}}, s);
  CHECK(s.outcome == Outcome::ok);
  s = {};
  classify(p, Answer{200, {}, "{}", 20, {}}, s);
  CHECK(s.outcome == Outcome::failed);
  CHECK(s.failure == "body");
  s = {};
  classify(p, Answer{503, {{"retry-after", "2"}}, "", 20, {}}, s);
  CHECK(s.outcome == Outcome::degraded);
  s = {};
  classify(p, Answer{503, {}, "", 20, {}}, s);  // no Retry-After: not an acceptable fallback
  CHECK(s.outcome == Outcome::failed);
  CHECK(s.failure == "status");
  s = {};
  classify(p, Answer{200, {}, "order_id", 900, {}}, s);
  CHECK(s.outcome == Outcome::failed);
  CHECK(s.failure == "slow");
  Probe any;
  any.kind = "http";
  s = {};
  classify(any, Answer{204, {}, "", 1, {}}, s);
  CHECK(s.outcome == Outcome::ok);  // no status given: any 2xx
  s = {};
  classify(any, Answer{500, {}, "", 1, {}}, s);
  CHECK(s.outcome == Outcome::failed);
}

TEST_CASE("spec: exec and prometheus probes") {
  auto r = load(R"(
[[probe]]
name = "cache"
kind = "exec"
command = ["redis-cli", "-p", "6379", "PING"]
expect = { exit_code = "0", body_regex = "PONG" }
degraded = { exit_code = "2-3" }

[[probe]]
name = "shell"
kind = "exec"
command = "test -f /tmp/ready"

[[probe]]
name = "errors"
kind = "prometheus"
url = "http://127.0.0.1:9100/metrics"
query = 'http_requests_total{code=~"5.."}'
expect = { value = "<10" }

[[probe]]
name = "rate"
kind = "prometheus"
url = "http://127.0.0.1:9090/api/v1/query"
query = 'sum(rate(http_requests_total{code=~"5.."}[30s]))'
expect = { value = "<= 0.5" }

[[hypothesis]]
name = "few errors"
probe = "errors"
during = "slow"
success_rate = ">=0.9"
)");
  REQUIRE_MESSAGE(r.spec, (r.errors.empty() ? "" : r.errors.front().text()));
  const auto* cache = r.spec->probe("cache");
  CHECK(cache->command == std::vector<std::string>{"redis-cli", "-p", "6379", "PING"});
  CHECK(cache->expect.status == std::vector<std::pair<int, int>>{{0, 0}});
  CHECK(cache->degraded.status == std::vector<std::pair<int, int>>{{2, 3}});
  CHECK(r.spec->probe("shell")->command ==
        std::vector<std::string>{"/bin/sh", "-c", "test -f /tmp/ready"});
  const auto* errors = r.spec->probe("errors");
  REQUIRE(errors->selector);
  CHECK(errors->selector->name == "http_requests_total");
  CHECK(errors->expect.value->holds(9.5));
  CHECK_FALSE(errors->expect.value->holds(10));
  CHECK_FALSE(r.spec->probe("rate")->selector);  // PromQL goes to the server as it is
  CHECK(r.spec->probe("rate")->expect.value->holds(0.5));

  auto bad = load(R"(
[[probe]]
name = "x"
kind = "exec"

[[probe]]
name = "y"
kind = "prometheus"
url = "http://127.0.0.1:9100/metrics"
query = 'up{job=api}'

[[probe]]
name = "z"
kind = "prometheus"
url = "http://127.0.0.1:9100/metrics"
query = "up"
expect = { value = "lots" }
)");
  CHECK_FALSE(bad.spec);
  CHECK(has(bad, 2, "needs a 'command'"));
  CHECK(has(bad, 10, "quoted value"));
  CHECK(has(bad, 6, "needs expect = { value"));
  CHECK(has(bad, 17, "'value'"));
}

TEST_CASE("classify: exec exit codes and prometheus values") {
  Probe exec;
  exec.kind = "exec";
  exec.expect.body_regex = "PONG";
  exec.degraded.given = true;
  exec.degraded.status = {{3, 3}};
  Sample s;
  classify(exec, Answer{0, {}, "PONG\n", 3, {}}, s);
  CHECK(s.outcome == Outcome::ok);  // no exit_code given: 0
  s = {};
  classify(exec, Answer{1, {}, "Could not connect", 3, {}}, s);
  CHECK(s.outcome == Outcome::failed);
  CHECK(s.failure == "status");
  CHECK(s.status == 1);
  s = {};
  classify(exec, Answer{3, {}, "", 3, {}}, s);
  CHECK(s.outcome == Outcome::degraded);

  Probe prom;
  prom.kind = "prometheus";
  std::string why;
  prom.expect.value = parse_threshold("<5", false, why);
  prom.degraded.given = true;
  prom.degraded.value = parse_threshold("<20", false, why);
  s = {};
  classify(prom, Answer{200, {}, "", 2, 1.5}, s);
  CHECK(s.outcome == Outcome::ok);
  CHECK(s.value == doctest::Approx(1.5));
  s = {};
  classify(prom, Answer{200, {}, "", 2, 12.0}, s);
  CHECK(s.outcome == Outcome::degraded);
  s = {};
  classify(prom, Answer{200, {}, "", 2, 50.0}, s);
  CHECK(s.failure == "value");
  s = {};
  classify(prom, Answer{200, {}, "", 2, std::nullopt}, s);
  CHECK(s.failure == "no-data");
  s = {};
  classify(prom, Answer{500, {}, "", 2, std::nullopt}, s);
  CHECK(s.failure == "status");
}

TEST_CASE("probe: trace ids are W3C-shaped, per request, and the same for the same seed") {
  const auto a = trace_id(42, "home", 7);
  CHECK(a.size() == 32);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a == trace_id(42, "home", 7));
  CHECK(a != trace_id(42, "home", 8));
  CHECK(a != trace_id(43, "home", 7));
  CHECK(a != trace_id(42, "cart", 7));
}
