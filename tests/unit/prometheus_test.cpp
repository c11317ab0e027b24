// The prometheus probe's readers: series selectors over a scraped page, and
// the answers of a Prometheus server's /api/v1/query.
#include "drill/prometheus.hpp"

#include <doctest/doctest.h>

using namespace brownout::drill::prom;

namespace {
constexpr const char* kPage = R"(# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="GET",code="200"} 1027 1395066363000
http_requests_total{method="POST",code="500"} 3
http_requests_total{method="GET",code="503"} 4.5
queue_depth 12
queue_depth_max{} +Inf
weird{path="a \"quoted\" one, with a comma"} 2
malformed{code="200" 7
)";

std::optional<double> scraped(const char* selector) {
  std::string error;
  auto s = parse_selector(selector, error);
  REQUIRE_MESSAGE(s, error);
  return scrape(kPage, *s);
}
}  // namespace

TEST_CASE("prometheus: a selector sums the samples it matches") {
  CHECK(scraped("http_requests_total") == doctest::Approx(1034.5));
  CHECK(scraped("http_requests_total{code=\"500\"}") == doctest::Approx(3));
  CHECK(scraped("http_requests_total{code=~\"5..\"}") == doctest::Approx(7.5));
  CHECK(scraped("http_requests_total{code!~\"5..\", method=\"GET\"}") == doctest::Approx(1027));
  CHECK(scraped("http_requests_total{code!=\"200\",}") == doctest::Approx(7.5));
  CHECK(scraped("{__name__=\"queue_depth\"}") == doctest::Approx(12));
  CHECK(scraped("weird{path=\"a \\\"quoted\\\" one, with a comma\"}") == doctest::Approx(2));
  CHECK(*scraped("queue_depth_max") > 1e300);
  // A regex matches the whole value, as in Prometheus.
  CHECK_FALSE(scraped("http_requests_total{code=~\"5\"}"));
  // Nothing matches: no value (the probe calls that no-data), not zero.
  CHECK_FALSE(scraped("absent_total"));
  CHECK_FALSE(scraped("malformed"));
}

TEST_CASE("prometheus: a bad selector is refused with the reason") {
  std::string error;
  CHECK_FALSE(parse_selector("", error));
  CHECK(error.find("metric name") != std::string::npos);
  CHECK_FALSE(parse_selector("up{job=api}", error));
  CHECK(error.find("quoted") != std::string::npos);
  CHECK_FALSE(parse_selector("up{job=~\"(\"}", error));
  CHECK(error.find("regular expression") != std::string::npos);
  CHECK_FALSE(parse_selector("rate(up[5m])", error));
  CHECK(error.find("unexpected") != std::string::npos);
}

TEST_CASE("prometheus: a query answer gives a scalar, or the sum of a vector") {
  std::string error;
  CHECK(query_value(R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"code":"500"},"value":[1700000000.1,"0.25"]},
      {"metric":{"code":"503"},"value":[1700000000.1,"0.5"]}]}})",
                    error) == doctest::Approx(0.75));
  CHECK(query_value(R"({"status":"success","data":{"resultType":"scalar","result":[1,"42"]}})",
                    error) == doctest::Approx(42));
  CHECK_FALSE(
      query_value(R"({"status":"success","data":{"resultType":"vector","result":[]}})", error));
  CHECK_FALSE(
      query_value(R"({"status":"error","errorType":"bad_data","error":"parse error"})", error));
  CHECK(error == "parse error");
  CHECK_FALSE(
      query_value(R"({"status":"success","data":{"resultType":"matrix","result":[]}})", error));
  CHECK(error.find("matrix") != std::string::npos);
  CHECK_FALSE(query_value("<html>", error));
}

TEST_CASE("prometheus: query endpoints and URL encoding") {
  CHECK(is_query_url("http://127.0.0.1:9090/api/v1/query"));
  CHECK(is_query_url("http://127.0.0.1:9090/api/v1/query?timeout=2s"));
  CHECK_FALSE(is_query_url("http://127.0.0.1:9090/metrics"));
  CHECK_FALSE(is_query_url("http://127.0.0.1:9090/api/v1/query_range"));
  CHECK(url_encode("sum(rate(x{code=~\"5..\"}[1m]))") ==
        "sum%28rate%28x%7Bcode%3D~%225..%22%7D%5B1m%5D%29%29");
}
