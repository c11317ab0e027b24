// What a `prometheus` probe reads, without the network: a series selector
// over a scraped /metrics page (the text exposition format), or the answer
// of a Prometheus server's /api/v1/query. Pure functions, unit-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace brownout::drill::prom {

struct Matcher {
  enum class Op : unsigned char { eq, ne, re, nre };
  std::string label;
  Op op = Op::eq;
  std::string value;
};

// `name{label="v",other!="w",code=~"5.."}`; the name may be left out when a
// matcher is given ({job="api"}).
struct Selector {
  std::string name;
  std::vector<Matcher> matchers;
};

// The selector, or why it is not one (`error` says).
std::optional<Selector> parse_selector(std::string_view text, std::string& error);

// The sum of the samples on a /metrics page that the selector matches;
// nothing when none does.
std::optional<double> scrape(std::string_view page, const Selector& selector);

// The value of an /api/v1/query answer: a scalar, or the sum of the series of
// an instant vector; nothing when the vector is empty. `error` says why not,
// for an answer that is no query result at all.
std::optional<double> query_value(std::string_view json, std::string& error);

// True when the URL is a Prometheus server's query endpoint (…/api/v1/query).
bool is_query_url(std::string_view url);

// Percent-encodes a query-string value.
std::string url_encode(std::string_view s);

}  // namespace brownout::drill::prom
