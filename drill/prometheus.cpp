#include "drill/prometheus.hpp"

#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>

namespace brownout::drill::prom {

namespace json = boost::json;

namespace {

bool name_char(char c, bool first) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) || c == '_' || c == ':' || (!first && std::isdigit(u));
}

void skip_space(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

std::string read_name(std::string_view s, std::size_t& i) {
  const std::size_t start = i;
  while (i < s.size() && name_char(s[i], i == start)) ++i;
  return std::string(s.substr(start, i - start));
}

// A double-quoted string with \" \\ \n escapes; false when unterminated.
bool read_quoted(std::string_view s, std::size_t& i, std::string& out) {
  if (i >= s.size() || s[i] != '"') return false;
  for (++i; i < s.size(); ++i) {
    if (s[i] == '"') {
      ++i;
      return true;
    }
    if (s[i] == '\\' && i + 1 < s.size()) {
      ++i;
      out += s[i] == 'n' ? '\n' : s[i];
    } else {
      out += s[i];
    }
  }
  return false;
}

// `{a="x",b="y"}` into labels (for the page) or matchers (for a selector).
bool read_labels(std::string_view s, std::size_t& i, std::map<std::string, std::string>* labels,
                 std::vector<Matcher>* matchers, std::string& error) {
  ++i;  // '{'
  for (;;) {
    skip_space(s, i);
    if (i < s.size() && s[i] == '}') {
      ++i;
      return true;
    }
    const std::string label = read_name(s, i);
    if (label.empty()) {
      error = "a label name was expected at " + std::to_string(i + 1);
      return false;
    }
    skip_space(s, i);
    Matcher m;
    m.label = label;
    if (s.substr(i, 2) == "!=") {
      m.op = Matcher::Op::ne;
      i += 2;
    } else if (s.substr(i, 2) == "=~") {
      m.op = Matcher::Op::re;
      i += 2;
    } else if (s.substr(i, 2) == "!~") {
      m.op = Matcher::Op::nre;
      i += 2;
    } else if (s.substr(i, 1) == "=") {
      ++i;
    } else {
      error = "'=', '!=', '=~' or '!~' was expected after " + label;
      return false;
    }
    if (!matchers && m.op != Matcher::Op::eq) {
      error = "a sample's labels only use '='";
      return false;
    }
    skip_space(s, i);
    if (!read_quoted(s, i, m.value)) {
      error = "a quoted value was expected for label " + label;
      return false;
    }
    if (matchers) {
      if (m.op == Matcher::Op::re || m.op == Matcher::Op::nre) {
        try {
          std::regex check(m.value);
        } catch (const std::regex_error&) {
          error = "label " + label + ": \"" + m.value + "\" is not a valid regular expression";
          return false;
        }
      }
      matchers->push_back(std::move(m));
    } else {
      (*labels)[label] = std::move(m.value);
    }
    skip_space(s, i);
    if (i < s.size() && s[i] == ',') ++i;
  }
}

bool matches(const Selector& sel, const std::string& name,
             const std::map<std::string, std::string>& labels) {
  if (!sel.name.empty() && sel.name != name) return false;
  for (const auto& m : sel.matchers) {
    const std::string& v = m.label == "__name__"   ? name
                           : labels.count(m.label) ? labels.at(m.label)
                                                   : std::string();
    switch (m.op) {
      case Matcher::Op::eq:
        if (v != m.value) return false;
        break;
      case Matcher::Op::ne:
        if (v == m.value) return false;
        break;
      case Matcher::Op::re:
        if (!std::regex_match(v, std::regex(m.value))) return false;
        break;
      case Matcher::Op::nre:
        if (std::regex_match(v, std::regex(m.value))) return false;
        break;
    }
  }
  return true;
}

std::optional<double> number(std::string_view text) {
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  const std::string s(text);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

}  // namespace

std::optional<Selector> parse_selector(std::string_view text, std::string& error) {
  Selector sel;
  std::size_t i = 0;
  skip_space(text, i);
  sel.name = read_name(text, i);
  skip_space(text, i);
  if (i < text.size() && text[i] == '{' && !read_labels(text, i, nullptr, &sel.matchers, error))
    return std::nullopt;
  skip_space(text, i);
  if (i != text.size()) {
    error = "unexpected '" + std::string(text.substr(i, 1)) + "' at " + std::to_string(i + 1) +
            " (a selector such as http_requests_total{code=~\"5..\"})";
    return std::nullopt;
  }
  if (sel.name.empty() && sel.matchers.empty()) {
    error = "a metric name or a {label=\"value\"} matcher is needed";
    return std::nullopt;
  }
  return sel;
}

std::optional<double> scrape(std::string_view page, const Selector& selector) {
  std::optional<double> sum;
  std::size_t start = 0;
  while (start < page.size()) {
    std::size_t end = page.find('\n', start);
    if (end == std::string_view::npos) end = page.size();
    const std::string_view line = page.substr(start, end - start);
    start = end + 1;
    std::size_t i = 0;
    skip_space(line, i);
    if (i >= line.size() || line[i] == '#') continue;
    const std::string name = read_name(line, i);
    if (name.empty()) continue;
    std::map<std::string, std::string> labels;
    std::string ignored;
    if (i < line.size() && line[i] == '{' && !read_labels(line, i, &labels, nullptr, ignored))
      continue;  // a malformed line is skipped, as Prometheus would refuse it
    skip_space(line, i);
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    const auto value = number(line.substr(i, j - i));
    if (!value || !matches(selector, name, labels)) continue;
    sum = sum.value_or(0) + *value;
  }
  return sum;
}

std::optional<double> query_value(std::string_view text, std::string& error) {
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  const auto* o = v.if_object();
  if (ec || !o) {
    error = "the answer is not JSON";
    return std::nullopt;
  }
  const auto* status = o->if_contains("status");
  if (!status || !status->is_string() || status->get_string() != "success") {
    const auto* e = o->if_contains("error");
    error = e && e->is_string() ? std::string(e->get_string()) : "the query did not succeed";
    return std::nullopt;
  }
  const auto* data = o->if_contains("data");
  const auto* d = data ? data->if_object() : nullptr;
  const auto* type = d ? d->if_contains("resultType") : nullptr;
  const auto* result = d ? d->if_contains("result") : nullptr;
  if (!type || !type->is_string() || !result) {
    error = "the answer has no data.resultType and data.result";
    return std::nullopt;
  }
  const auto value_of = [&](const json::value& pair) -> std::optional<double> {
    const auto* a = pair.if_array();
    if (!a || a->size() != 2 || !(*a)[1].is_string()) return std::nullopt;
    return number((*a)[1].get_string());
  };
  if (type->get_string() == "scalar") {
    if (auto n = value_of(*result)) return n;
    error = "a scalar answer without a value";
    return std::nullopt;
  }
  if (type->get_string() != "vector" || !result->is_array()) {
    error = "the query gave a " + std::string(type->get_string()) +
            ", not an instant vector or a scalar";
    return std::nullopt;
  }
  std::optional<double> sum;
  for (const auto& series : result->get_array()) {
    const auto* s = series.if_object();
    const auto* value = s ? s->if_contains("value") : nullptr;
    if (!value) continue;
    if (auto n = value_of(*value)) sum = sum.value_or(0) + *n;
  }
  return sum;
}

bool is_query_url(std::string_view url) {
  const auto q = url.find('?');
  const std::string_view path = url.substr(0, q);
  constexpr std::string_view suffix = "/api/v1/query";
  return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

}  // namespace brownout::drill::prom
