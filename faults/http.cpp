// HTTP-aware faults: settings parsed and validated once from a neutral tree,
// a matcher over what the codec saw of a request, the counters a proxy's
// links share (first, every, quota), and the per-request decision the codec
// executes. No I/O: time and randomness come from the caller.
#include "faults/http.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

#include "faults/tree_read.hpp"
#include "faults/units.hpp"

namespace brownout::faults::http {

const Tree* Tree::find(std::string_view key) const {
  const auto* map = std::get_if<TreeMap>(&v);
  if (!map) return nullptr;
  const auto it = map->find(key);
  return it == map->end() ? nullptr : &it->second;
}

namespace detail {

constexpr std::string_view kFaultHeaderPrefix = "x-brownout-fault-";
constexpr std::int64_t kNoMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kDayMs = AttrSpec::kDayMs;

// ---- text helpers -----------------------------------------------------------

char lower_char(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower_char(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower_char(x) == lower_char(y);
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string join(std::span<const std::string_view> a, std::span<const std::string_view> b = {}) {
  std::string out;
  for (auto part : {a, b})
    for (auto name : part) {
      if (!out.empty()) out += ", ";
      out += name;
    }
  return out;
}

bool contains(std::span<const std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A search that a pathological pattern cannot turn into an exception on the
// data path: libstdc++ throws on runaway backtracking; that is a non-match.
bool search(const std::regex& re, std::string_view text) {
  try {
    return std::regex_search(text.begin(), text.end(), re);
  } catch (const std::regex_error&) {
    return false;
  }
}

bool full_match(const std::regex& re, std::string_view text) {
  try {
    return std::regex_match(text.begin(), text.end(), re);
  } catch (const std::regex_error&) {
    return false;
  }
}

// ---- the type table ---------------------------------------------------------

constexpr std::string_view kAbortAttrs[] = {"status", "headers", "body", "content_type"};
constexpr std::string_view kDelayAttrs[] = {"delay", "jitter", "where"};
constexpr std::string_view kDropAttrs[] = {"mode", "timeout"};
constexpr std::string_view kResetAttrs[] = {"after_bytes"};
constexpr std::string_view kTruncateAttrs[] = {"bytes"};
constexpr std::string_view kDribbleAttrs[] = {"size", "delay"};
constexpr std::string_view kStatusAttrs[] = {"status", "body"};
constexpr std::string_view kCommonAttrs[] = {"match", "first", "every",
                                             "quota", "ramp",  "max_active"};
constexpr std::string_view kRampKeys[] = {"from", "to", "over"};
constexpr std::string_view kMatchKeys[] = {"method",  "path",         "path_prefix",  "path_regex",
                                           "headers", "header_regex", "body_contains"};
constexpr std::string_view kQuotaKeys[] = {"requests", "window"};

const std::array<TypeInfo, 8> kTypes{{
    {"http_abort", Kind::abort,
     "answers the request itself (status, headers, body) without reaching the upstream",
     kAbortAttrs},
    {"http_delay", Kind::delay, "delays the request before forwarding it, or the response",
     kDelayAttrs},
    {"http_drop_response", Kind::drop_response,
     "forwards the request, then closes, resets or hangs instead of answering", kDropAttrs},
    {"http_reset", Kind::reset,
     "resets the connection before forwarding, or after N bytes of the response body", kResetAttrs},
    {"http_truncate", Kind::truncate, "sends the first N bytes of the response body, then closes",
     kTruncateAttrs},
    {"http_dribble", Kind::dribble, "sends the response body in small pieces, a delay apart",
     kDribbleAttrs},
    {"http_status", Kind::status, "replaces the upstream's response status (and body)",
     kStatusAttrs},
    {"http_garbage", Kind::garbage, "answers with bytes that are not HTTP, then closes", {}},
}};

// ---- reading a tree ---------------------------------------------------------

using Err = std::optional<Error>;

Error error(std::string message, std::string_view attribute) {
  return Error{std::move(message), std::string(attribute)};
}

std::string describe(const Tree& t) {
  struct {
    std::string operator()(std::nullptr_t) const { return "null"; }
    std::string operator()(bool) const { return "a boolean"; }
    std::string operator()(std::int64_t) const { return "an integer"; }
    std::string operator()(double) const { return "a number"; }
    std::string operator()(const std::string&) const { return "a string"; }
    std::string operator()(const TreeList&) const { return "a list"; }
    std::string operator()(const TreeMap&) const { return "a map"; }
  } visitor;
  return std::visit(visitor, t.v);
}

// A given, non-null entry; null counts as absent, as JSON clients send it.
const Tree* given(const TreeMap& map, std::string_view key) {
  const auto it = map.find(key);
  if (it == map.end() || std::holds_alternative<std::nullptr_t>(it->second.v)) return nullptr;
  return &it->second;
}

Err check_keys(const TreeMap& map, std::span<const std::string_view> known,
               std::span<const std::string_view> also, std::string_view what,
               std::string_view owner, std::string_view attribute) {
  for (const auto& [key, value] : map) {
    if (contains(known, key) || contains(also, key)) continue;
    return error("unknown " + std::string(what) + " '" + key + "'" + std::string(owner) +
                     " (expected: " + join(known, also) + ")",
                 attribute.empty() ? std::string_view(key) : attribute);
  }
  return std::nullopt;
}

std::optional<std::int64_t> as_integer(const Tree& t) {
  if (const auto* i = std::get_if<std::int64_t>(&t.v)) return *i;
  if (const auto* d = std::get_if<double>(&t.v);
      d && std::isfinite(*d) && std::floor(*d) == *d && std::fabs(*d) < 9.0e18)
    return static_cast<std::int64_t>(*d);
  return std::nullopt;
}

Err check_range(std::int64_t value, std::string_view shown, std::string_view attribute,
                std::int64_t min, std::int64_t max, std::string_view unit) {
  if (value >= min && value <= max) return std::nullopt;
  const std::string suffix = unit.empty() ? "" : " " + std::string(unit);
  std::string bounds =
      max == kNoMax ? ">= " + std::to_string(min) + suffix
                    : "between " + std::to_string(min) + " and " + std::to_string(max) + suffix;
  return error(
      "attribute " + std::string(shown) + " must be " + bounds + ", got " + std::to_string(value),
      attribute);
}

Err read_int(const Tree& t, std::string_view shown, std::string_view attribute, std::int64_t min,
             std::int64_t max, std::int64_t& out) {
  const auto value = as_integer(t);
  if (!value)
    return error("attribute " + std::string(shown) + " must be an integer, got " + describe(t),
                 attribute);
  if (auto e = check_range(*value, shown, attribute, min, max, "")) return e;
  out = *value;
  return std::nullopt;
}

// Toxiproxy's JSON sends integers in the unit; profiles write "300ms", "1KiB".
Err read_quantity(const Tree& t, std::string_view shown, std::string_view attribute,
                  std::string_view unit, std::int64_t min, std::int64_t max, std::int64_t& out) {
  std::optional<std::int64_t> value = as_integer(t);
  if (const auto* text = std::get_if<std::string>(&t.v)) {
    auto parsed = parse_quantity(*text, unit);
    if (!parsed)
      return error("attribute " + std::string(shown) + ": " + parsed.error.message, attribute);
    value = *parsed.value;
  }
  if (!value)
    return error("attribute " + std::string(shown) + " must be an integer (" + std::string(unit) +
                     ") or a string with a unit, got " + describe(t),
                 attribute);
  if (auto e = check_range(*value, shown, attribute, min, max, unit)) return e;
  out = *value;
  return std::nullopt;
}

Err read_string(const Tree& t, std::string_view shown, std::string_view attribute,
                std::string& out) {
  const auto* s = std::get_if<std::string>(&t.v);
  if (!s)
    return error("attribute " + std::string(shown) + " must be a string, got " + describe(t),
                 attribute);
  out = *s;
  return std::nullopt;
}

Err read_nonempty(const Tree& t, std::string_view shown, std::string_view attribute,
                  std::string& out) {
  if (auto e = read_string(t, shown, attribute, out)) return e;
  if (out.empty())
    return error("attribute " + std::string(shown) + " must not be empty", attribute);
  return std::nullopt;
}

Err read_string_map(const Tree& t, std::string_view shown, std::string_view attribute,
                    std::vector<std::pair<std::string, std::string>>& out) {
  const auto* map = std::get_if<TreeMap>(&t.v);
  if (!map)
    return error("attribute " + std::string(shown) + " must be a map, got " + describe(t),
                 attribute);
  for (const auto& [key, value] : *map) {
    std::string text;
    if (auto e = read_string(value, std::string(shown) + "." + key, attribute, text)) return e;
    out.emplace_back(key, std::move(text));
  }
  return std::nullopt;
}

Err read_status(const Tree& t, std::string_view attribute, int& out) {
  std::int64_t value = 0;
  if (auto e = read_int(t, attribute, attribute, 100, 599, value)) return e;
  out = static_cast<int>(value);
  return std::nullopt;
}

// Header names are tokens (RFC 9110); values must not smuggle a line break
// into the answer the codec writes.
bool is_token(std::string_view s) {
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != std::string_view::npos;
  });
}

Err check_header(std::string_view name, std::string_view value, std::string_view shown,
                 std::string_view attribute) {
  if (!is_token(name))
    return error("attribute " + std::string(shown) + ": '" + std::string(name) +
                     "' is not a valid header name",
                 attribute);
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    return error("attribute " + std::string(shown) + "." + std::string(name) +
                     " must not contain CR, LF or NUL",
                 attribute);
  return std::nullopt;
}

std::optional<std::regex> compile(const std::string& pattern, std::string& why) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    why = e.what();
    return std::nullopt;
  }
}

// A shell-style glob as an ECMAScript pattern: * any run, ? one char,
// [...] a class ([!...] negated). Empty when a class is not closed.
std::optional<std::string> glob_to_regex(std::string_view glob) {
  static constexpr std::string_view kSpecial = "\\^$.|?*+()[]{}";
  std::string out;
  for (std::size_t i = 0; i < glob.size(); ++i) {
    const char c = glob[i];
    if (c == '*') {
      out += ".*";
    } else if (c == '?') {
      out += '.';
    } else if (c == '[') {
      std::size_t j = i + 1;
      std::string cls = "[";
      if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) {
        cls += '^';
        ++j;
      }
      // A ']' first in the class is a member, as in shells.
      if (j < glob.size() && glob[j] == ']') {
        cls += "\\]";
        ++j;
      }
      for (; j < glob.size() && glob[j] != ']'; ++j) {
        if (glob[j] == '\\' || glob[j] == '[') cls += '\\';
        cls += glob[j];
      }
      if (j >= glob.size()) return std::nullopt;
      out += cls + ']';
      i = j;
    } else {
      if (kSpecial.find(c) != std::string_view::npos) out += '\\';
      out += c;
    }
  }
  return out;
}

Err parse_match(const Tree& t, Match& m) {
  constexpr std::string_view kAttr = "match";
  const auto* map = std::get_if<TreeMap>(&t.v);
  if (!map) return error("attribute match must be a map, got " + describe(t), kAttr);
  if (auto e = check_keys(*map, kMatchKeys, {}, "match key", "", kAttr)) return e;

  if (const auto* v = given(*map, "method")) {
    if (auto e = read_nonempty(*v, "match.method", kAttr, m.method)) return e;
    if (!is_token(m.method))
      return error("attribute match.method: '" + m.method + "' is not an HTTP method", kAttr);
  }

  int path_keys = 0;
  for (auto key : {"path", "path_prefix", "path_regex"}) path_keys += given(*map, key) ? 1 : 0;
  if (path_keys > 1)
    return error("match takes at most one of path, path_prefix, path_regex", kAttr);
  if (const auto* v = given(*map, "path")) {
    if (auto e = read_nonempty(*v, "match.path", kAttr, m.path)) return e;
    m.path_mode = PathMode::exact;
    if (m.path.find_first_of("*?[") != std::string::npos) {
      m.path_mode = PathMode::glob;
      const auto pattern = glob_to_regex(m.path);
      std::string why;
      if (pattern) m.path_regex = compile(*pattern, why);
      if (!m.path_regex)
        return error(
            "attribute match.path: '" + m.path + "' is not a valid glob (a [ is not closed)",
            kAttr);
    }
  } else if (const auto* v = given(*map, "path_prefix")) {
    if (auto e = read_nonempty(*v, "match.path_prefix", kAttr, m.path)) return e;
    m.path_mode = PathMode::prefix;
  } else if (const auto* v = given(*map, "path_regex")) {
    if (auto e = read_nonempty(*v, "match.path_regex", kAttr, m.path)) return e;
    m.path_mode = PathMode::regex;
    std::string why;
    m.path_regex = compile(m.path, why);
    if (!m.path_regex)
      return error("attribute match.path_regex: '" + m.path +
                       "' is not a valid regular expression (ECMAScript): " + why,
                   kAttr);
  }

  if (const auto* v = given(*map, "headers")) {
    std::vector<std::pair<std::string, std::string>> rules;
    if (auto e = read_string_map(*v, "match.headers", kAttr, rules)) return e;
    for (auto& [name, value] : rules) {
      if (auto e = check_header(name, value, "match.headers", kAttr)) return e;
      HeaderRule rule;
      rule.name = name;
      if (value != "*") rule.equals = value;
      m.headers.push_back(std::move(rule));
    }
  }
  if (const auto* v = given(*map, "header_regex")) {
    std::vector<std::pair<std::string, std::string>> rules;
    if (auto e = read_string_map(*v, "match.header_regex", kAttr, rules)) return e;
    for (auto& [name, value] : rules) {
      if (!is_token(name))
        return error("attribute match.header_regex: '" + name + "' is not a valid header name",
                     kAttr);
      HeaderRule rule;
      rule.name = name;
      rule.regex_text = value;
      std::string why;
      rule.regex = compile(value, why);
      if (!rule.regex)
        return error("attribute match.header_regex." + name + ": '" + value +
                         "' is not a valid regular expression (ECMAScript): " + why,
                     kAttr);
      m.headers.push_back(std::move(rule));
    }
  }
  if (const auto* v = given(*map, "body_contains")) {
    if (auto e = read_nonempty(*v, "match.body_contains", kAttr, m.body_contains)) return e;
    if (m.body_contains.size() > kMaxMatchBody)
      return error("attribute match.body_contains is longer than the " +
                       std::to_string(kMaxMatchBody) + " bytes of body a matcher sees",
                   kAttr);
  }
  return std::nullopt;
}

Err parse_quota(const Tree& t, Quota& q) {
  constexpr std::string_view kAttr = "quota";
  const auto* map = std::get_if<TreeMap>(&t.v);
  if (!map) return error("attribute quota must be a map, got " + describe(t), kAttr);
  if (auto e = check_keys(*map, kQuotaKeys, {}, "quota key", "", kAttr)) return e;
  const auto* requests = given(*map, "requests");
  const auto* window = given(*map, "window");
  if (!requests) return error("attribute quota.requests is required", kAttr);
  if (!window) return error("attribute quota.window is required", kAttr);
  if (auto e = read_int(*requests, "quota.requests", kAttr, 1, kNoMax, q.requests)) return e;
  return read_quantity(*window, "quota.window", kAttr, "ms", 1, kDayMs, q.window_ms);
}

Err read_probability(const Tree& t, std::string_view shown, double& out) {
  double v = 0;
  if (const auto* d = std::get_if<double>(&t.v))
    v = *d;
  else if (const auto* i = std::get_if<std::int64_t>(&t.v))
    v = static_cast<double>(*i);
  else
    return error("attribute " + std::string(shown) + " must be a number, got " + describe(t),
                 "ramp");
  if (!std::isfinite(v) || v < 0.0 || v > 1.0)
    return error("attribute " + std::string(shown) + " must be between 0 and 1", "ramp");
  out = v;
  return std::nullopt;
}

Err parse_ramp(const Tree& t, ProbabilityRamp& r) {
  constexpr std::string_view kAttr = "ramp";
  const auto* map = std::get_if<TreeMap>(&t.v);
  if (!map) return error("attribute ramp must be a map, got " + describe(t), kAttr);
  if (auto e = check_keys(*map, kRampKeys, {}, "ramp key", "", kAttr)) return e;
  const auto* from = given(*map, "from");
  const auto* to = given(*map, "to");
  const auto* over = given(*map, "over");
  if (!from || !to || !over) return error("attribute ramp needs from, to and over", kAttr);
  if (auto e = read_probability(*from, "ramp.from", r.from)) return e;
  if (auto e = read_probability(*to, "ramp.to", r.to)) return e;
  return read_quantity(*over, "ramp.over", kAttr, "ms", 1, kDayMs, r.over_ms);
}

// A simple, predictable test: what looks like a JSON object or array is served as JSON.
bool looks_like_json(std::string_view body) {
  body = trim(body);
  return !body.empty() && (body.front() == '{' || body.front() == '[');
}

bool has_header(const Headers& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const Header& h) { return iequals(h.name, name); });
}

Err parse_kind(const TreeMap& a, Settings& s) {
  switch (s.kind) {
    case Kind::abort: {
      s.status = s.quota ? 429 : 503;
      if (const auto* v = given(a, "status"))
        if (auto e = read_status(*v, "status", s.status)) return e;
      if (const auto* v = given(a, "headers")) {
        std::vector<std::pair<std::string, std::string>> items;
        if (auto e = read_string_map(*v, "headers", "headers", items)) return e;
        for (auto& [name, value] : items) {
          if (auto e = check_header(name, value, "headers", "headers")) return e;
          // The codec frames the answer from its body; a user's framing would lie.
          if (iequals(name, "content-length") || iequals(name, "transfer-encoding"))
            return error("attribute headers: " + name + " is set by brownout from the body",
                         "headers");
          s.headers.push_back(Header{name, value});
        }
      }
      std::string body = default_body(s.status);
      if (const auto* v = given(a, "body"))
        if (auto e = read_string(*v, "body", "body", body)) return e;
      s.content_type = looks_like_json(body) ? "application/json" : "text/plain; charset=utf-8";
      if (const auto* v = given(a, "content_type")) {
        if (auto e = read_nonempty(*v, "content_type", "content_type", s.content_type)) return e;
        if (auto e = check_header("Content-Type", s.content_type, "content_type", "content_type"))
          return e;
      }
      s.body = std::move(body);
      return std::nullopt;
    }
    case Kind::delay: {
      if (const auto* v = given(a, "delay"))
        if (auto e = read_quantity(*v, "delay", "delay", "ms", 0, kDayMs, s.delay_ms)) return e;
      if (const auto* v = given(a, "jitter"))
        if (auto e = read_quantity(*v, "jitter", "jitter", "ms", 0, kDayMs, s.jitter_ms)) return e;
      if (const auto* v = given(a, "where")) {
        std::string where;
        if (auto e = read_string(*v, "where", "where", where)) return e;
        if (where == "request") {
          s.where = Where::request;
        } else if (where == "response") {
          s.where = Where::response;
        } else {
          return error("attribute where must be one of request, response, got '" + where + "'",
                       "where");
        }
      }
      return std::nullopt;
    }
    case Kind::drop_response: {
      if (const auto* v = given(a, "mode")) {
        std::string mode;
        if (auto e = read_string(*v, "mode", "mode", mode)) return e;
        if (mode == "close") {
          s.mode = DropMode::close;
        } else if (mode == "reset") {
          s.mode = DropMode::reset;
        } else if (mode == "hang") {
          s.mode = DropMode::hang;
        } else {
          return error("attribute mode must be one of close, reset, hang, got '" + mode + "'",
                       "mode");
        }
      }
      if (const auto* v = given(a, "timeout"))
        if (auto e = read_quantity(*v, "timeout", "timeout", "ms", 0, kDayMs, s.timeout_ms))
          return e;
      return std::nullopt;
    }
    case Kind::reset: {
      if (const auto* v = given(a, "after_bytes")) {
        std::int64_t n = 0;
        if (auto e = read_quantity(*v, "after_bytes", "after_bytes", "bytes", 0, kNoMax, n))
          return e;
        s.after_bytes = n;
      }
      return std::nullopt;
    }
    case Kind::truncate: {
      if (const auto* v = given(a, "bytes"))
        if (auto e = read_quantity(*v, "bytes", "bytes", "bytes", 0, kNoMax, s.bytes)) return e;
      return std::nullopt;
    }
    case Kind::dribble: {
      s.size = 1;
      s.delay_ms = 100;
      if (const auto* v = given(a, "size"))
        if (auto e = read_quantity(*v, "size", "size", "bytes", 1, kNoMax, s.size)) return e;
      if (const auto* v = given(a, "delay"))
        if (auto e = read_quantity(*v, "delay", "delay", "ms", 0, kDayMs, s.delay_ms)) return e;
      return std::nullopt;
    }
    case Kind::status: {
      const auto* v = given(a, "status");
      if (!v) return error("attribute status is required (100..599)", "status");
      if (auto e = read_status(*v, "status", s.status)) return e;
      if (const auto* b = given(a, "body")) {
        std::string body;
        if (auto e = read_string(*b, "body", "body", body)) return e;
        s.body = std::move(body);
      }
      return std::nullopt;
    }
    case Kind::garbage:
      return std::nullopt;
  }
  return std::nullopt;
}

// Retry-After is whole seconds; rounding up lands a client that honours it in
// the next window rather than just before its end.
std::string retry_after_seconds(std::int64_t ms) {
  return std::to_string(std::max<std::int64_t>(1, (ms + 999) / 1000));
}

Duration draw_delay(std::int64_t delay_ms, std::int64_t jitter_ms, Rng& rng) {
  const Duration base = millis(delay_ms);
  if (jitter_ms == 0) return base;
  const auto jitter = std::chrono::duration_cast<Duration>(millis(jitter_ms)).count();
  const Duration offset(rng.range(-jitter, jitter + 1));
  return std::max(Duration::zero(), base + offset);
}

Tree tree_of(std::int64_t i) {
  return Tree{i};
}
Tree tree_of(std::string s) {
  return Tree{std::move(s)};
}

Tree match_tree(const Match& m) {
  TreeMap out;
  if (!m.method.empty()) out["method"] = tree_of(m.method);
  switch (m.path_mode) {
    case PathMode::any:
      break;
    case PathMode::exact:
    case PathMode::glob:
      out["path"] = tree_of(m.path);
      break;
    case PathMode::prefix:
      out["path_prefix"] = tree_of(m.path);
      break;
    case PathMode::regex:
      out["path_regex"] = tree_of(m.path);
      break;
  }
  TreeMap headers, header_regex;
  for (const auto& rule : m.headers) {
    if (rule.regex)
      header_regex[rule.name] = tree_of(rule.regex_text);
    else
      headers[rule.name] = tree_of(rule.equals.value_or("*"));
  }
  if (!headers.empty()) out["headers"] = Tree{std::move(headers)};
  if (!header_regex.empty()) out["header_regex"] = Tree{std::move(header_regex)};
  if (!m.body_contains.empty()) out["body_contains"] = tree_of(m.body_contains);
  return Tree{std::move(out)};
}

bool match_is_empty(const Match& m) {
  return m.method.empty() && m.path_mode == PathMode::any && m.headers.empty() &&
         m.body_contains.empty();
}

std::string_view drop_mode_name(DropMode mode) {
  switch (mode) {
    case DropMode::close:
      return "close";
    case DropMode::reset:
      return "reset";
    case DropMode::hang:
      return "hang";
  }
  return "close";
}

// ---- header-controlled faults ----------------------------------------------

Err header_status(std::string_view name, std::string_view value, int& out) {
  const std::string text(value);
  char* end = nullptr;
  const long n = text.empty() ? 0 : std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || n < 100 || n > 599)
    return error("header " + std::string(name) + ": '" + text +
                     "' is not a status (an integer between 100 and 599)",
                 name);
  out = static_cast<int>(n);
  return std::nullopt;
}

Err header_quantity(std::string_view name, std::string_view value, std::string_view unit,
                    std::int64_t max, std::int64_t& out) {
  auto parsed = parse_quantity(value, unit);
  if (!parsed) return error("header " + std::string(name) + ": " + parsed.error.message, name);
  if (*parsed.value < 0 || *parsed.value > max)
    return error("header " + std::string(name) + ": '" + std::string(value) +
                     "' is out of range (0 to " + std::to_string(max) + " " + std::string(unit) +
                     ")",
                 name);
  out = *parsed.value;
  return std::nullopt;
}

constexpr std::string_view kHeaderFaults[] = {"abort", "delay",    "response-delay", "drop",
                                              "reset", "truncate", "status",         "garbage"};

}  // namespace detail
using namespace detail;

// ---- public API -------------------------------------------------------------

std::span<const TypeInfo> types() {
  return kTypes;
}

const TypeInfo* find_type(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name) return &t;
  return nullptr;
}

Result<Settings> parse_settings(const TypeInfo& type, const Tree& attributes, double probability) {
  using R = Result<Settings>;
  const auto fail = [](Error e) { return R{std::nullopt, std::move(e)}; };
  if (!std::isfinite(probability) || probability < 0.0 || probability > 1.0) {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%g", probability);
    return R::fail("probability must be between 0 and 1, got " + std::string(shown), "probability");
  }
  static const TreeMap kEmpty;
  const TreeMap* attrs = &kEmpty;
  if (const auto* map = std::get_if<TreeMap>(&attributes.v)) {
    attrs = map;
  } else if (!std::holds_alternative<std::nullptr_t>(attributes.v)) {
    return R::fail("attributes of " + std::string(type.name) + " must be a map, got " +
                   describe(attributes));
  }
  if (auto e = check_keys(*attrs, type.attributes, kCommonAttrs, "attribute",
                          " for " + std::string(type.name), ""))
    return fail(*e);

  Settings s;
  s.kind = type.kind;
  s.probability = probability;
  if (const auto* v = given(*attrs, "match"))
    if (auto e = parse_match(*v, s.match)) return fail(*e);
  if (const auto* v = given(*attrs, "first"))
    if (auto e = read_int(*v, "first", "first", 0, kNoMax, s.first)) return fail(*e);
  if (const auto* v = given(*attrs, "every"))
    if (auto e = read_int(*v, "every", "every", 0, kNoMax, s.every)) return fail(*e);
  if (const auto* v = given(*attrs, "max_active"))
    if (auto e = read_int(*v, "max_active", "max_active", 0, kNoMax, s.max_active)) return fail(*e);
  if (const auto* v = given(*attrs, "quota")) {
    Quota q;
    if (auto e = parse_quota(*v, q)) return fail(*e);
    s.quota = q;
  }
  if (const auto* v = given(*attrs, "ramp")) {
    ProbabilityRamp r;
    if (auto e = parse_ramp(*v, r)) return fail(*e);
    s.ramp = r;
  }
  if (auto e = parse_kind(*attrs, s)) return fail(*e);
  return R::ok(std::move(s));
}

Tree to_tree(const Settings& s) {
  TreeMap out;
  switch (s.kind) {
    case Kind::abort: {
      out["status"] = tree_of(s.status);
      TreeMap headers;
      for (const auto& h : s.headers) headers[h.name] = tree_of(h.value);
      out["headers"] = Tree{std::move(headers)};
      out["body"] = tree_of(s.body.value_or(default_body(s.status)));
      out["content_type"] = tree_of(s.content_type);
      break;
    }
    case Kind::delay:
      out["delay"] = tree_of(s.delay_ms);
      out["jitter"] = tree_of(s.jitter_ms);
      out["where"] = tree_of(s.where == Where::request ? "request" : "response");
      break;
    case Kind::drop_response:
      out["mode"] = tree_of(std::string(drop_mode_name(s.mode)));
      out["timeout"] = tree_of(s.timeout_ms);
      break;
    case Kind::reset:
      if (s.after_bytes) out["after_bytes"] = tree_of(*s.after_bytes);
      break;
    case Kind::truncate:
      out["bytes"] = tree_of(s.bytes);
      break;
    case Kind::dribble:
      out["size"] = tree_of(s.size);
      out["delay"] = tree_of(s.delay_ms);
      break;
    case Kind::status:
      out["status"] = tree_of(s.status);
      if (s.body) out["body"] = tree_of(*s.body);
      break;
    case Kind::garbage:
      break;
  }
  if (!match_is_empty(s.match)) out["match"] = match_tree(s.match);
  if (s.first > 0) out["first"] = tree_of(s.first);
  if (s.every > 0) out["every"] = tree_of(s.every);
  if (s.max_active > 0) out["max_active"] = tree_of(s.max_active);
  if (s.ramp) {
    TreeMap ramp;
    ramp["from"] = Tree{s.ramp->from};
    ramp["to"] = Tree{s.ramp->to};
    ramp["over"] = tree_of(s.ramp->over_ms);
    out["ramp"] = Tree{std::move(ramp)};
  }
  if (s.quota) {
    TreeMap quota;
    quota["requests"] = tree_of(s.quota->requests);
    quota["window"] = tree_of(s.quota->window_ms);
    out["quota"] = Tree{std::move(quota)};
  }
  return Tree{std::move(out)};
}

bool Match::matches(const Request& r) const {
  if (!method.empty() && !iequals(method, r.method)) return false;
  if (path_mode != PathMode::any) {
    const std::string_view target = r.target;
    const std::string_view bare = target.substr(0, target.find('?'));
    switch (path_mode) {
      case PathMode::any:
        break;
      case PathMode::exact:
        if (bare != path) return false;
        break;
      case PathMode::prefix:
        if (!bare.starts_with(path)) return false;
        break;
      case PathMode::glob:
        if (!path_regex || !full_match(*path_regex, bare)) return false;
        break;
      case PathMode::regex:
        if (!path_regex || !search(*path_regex, target)) return false;
        break;
    }
  }
  for (const auto& rule : headers) {
    if (!r.headers) return false;
    const bool held = std::any_of(r.headers->begin(), r.headers->end(), [&](const Header& h) {
      if (!iequals(h.name, rule.name)) return false;
      if (rule.regex) return search(*rule.regex, h.value);
      return !rule.equals || h.value == *rule.equals;
    });
    if (!held) return false;
  }
  if (!body_contains.empty() && r.body.find(body_contains) == std::string_view::npos) return false;
  return true;
}

bool Shared::admit(const Settings& s, TimePoint now, std::int64_t& retry_after_ms) {
  retry_after_ms = 0;
  const std::lock_guard lock(mutex_);
  ++matched_;
  bool fires = true;
  if (s.first > 0 && matched_ > s.first) fires = false;
  if (s.every > 0 && matched_ % s.every != 0) fires = false;
  if (s.quota) {
    // Every matching request counts against the window, fired or not, as a
    // gateway counts every call it sees.
    const Duration window = millis(s.quota->window_ms);
    if (!window_started_) {
      window_started_ = true;
      window_start_ = now;
      window_count_ = 0;
    } else if (now >= window_start_ + window) {
      window_start_ += window * ((now - window_start_) / window);
      window_count_ = 0;
    }
    ++window_count_;
    if (window_count_ <= s.quota->requests) {
      fires = false;
    } else {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(window_start_ + window - now);
      retry_after_ms = std::max<std::int64_t>(1, left.count());
    }
  }
  return fires;
}

Decision decide(std::span<const Fault* const> faults, const Request& request, Rng& rng,
                TimePoint now) {
  Decision d;
  for (const Fault* fault : faults) {
    if (!fault) continue;
    const Settings& s = fault->settings;
    if (!s.match.matches(request)) continue;
    std::int64_t retry_after_ms = 0;
    if (fault->shared && !fault->shared->admit(s, now, retry_after_ms)) continue;
    // Drawn only for faults that got this far, so a seeded run repeats.
    double p = s.probability;
    if (s.ramp) {
      const double done =
          std::clamp(std::chrono::duration<double, std::milli>(now - fault->added).count() /
                         static_cast<double>(s.ramp->over_ms),
                     0.0, 1.0);
      p = s.ramp->from + (s.ramp->to - s.ramp->from) * done;
    }
    if (!rng.chance(p)) continue;
    if (s.max_active > 0) {
      if (!fault->shared || !fault->shared->try_acquire(s.max_active)) continue;
      d.slots.push_back(std::make_shared<ActiveSlot>(fault->shared));
    }
    d.fired.push_back(fault->name);
    if (fault->shared) fault->shared->acted.fetch_add(1, std::memory_order_relaxed);
    switch (s.kind) {
      case Kind::abort:
        d.abort = true;
        d.status = s.status;
        d.headers = s.headers;
        d.body = s.body.value_or(default_body(s.status));
        d.content_type =
            s.content_type.empty()
                ? (looks_like_json(d.body) ? "application/json" : "text/plain; charset=utf-8")
                : s.content_type;
        if (s.quota && !has_header(d.headers, "retry-after"))
          d.headers.push_back(Header{"Retry-After", retry_after_seconds(retry_after_ms)});
        return d;
      case Kind::garbage:
        d.garbage = true;
        return d;
      case Kind::reset:
        if (!s.after_bytes) {
          d.reset_before = true;
          return d;
        }
        d.reset_after_bytes =
            std::min(d.reset_after_bytes.value_or(*s.after_bytes), *s.after_bytes);
        break;
      case Kind::delay:
        (s.where == Where::request ? d.request_delay : d.response_delay) +=
            draw_delay(s.delay_ms, s.jitter_ms, rng);
        break;
      case Kind::drop_response:
        d.drop = s.mode;
        d.drop_timeout = millis(s.timeout_ms);
        break;
      case Kind::truncate:
        d.truncate_bytes = std::min(d.truncate_bytes.value_or(s.bytes), s.bytes);
        break;
      case Kind::dribble:
        d.dribble_size = s.size;
        d.dribble_delay = millis(s.delay_ms);
        break;
      case Kind::status:
        d.replace_status = s.status;
        if (s.body) d.replace_body = *s.body;
        break;
    }
  }
  return d;
}

Result<Decision> from_headers(const Headers& headers) {
  using R = Result<Decision>;
  const auto fail = [](Error e) { return R{std::nullopt, std::move(e)}; };
  Decision d;
  for (const auto& h : headers) {
    if (!istarts_with(h.name, kFaultHeaderPrefix)) continue;
    const std::string name = lower(h.name);
    const std::string fault = name.substr(kFaultHeaderPrefix.size());
    const std::string_view value = trim(h.value);
    if (fault == "abort") {
      if (auto e = header_status(name, value, d.status)) return fail(*e);
      d.abort = true;
      d.body = default_body(d.status);
      d.content_type = "application/json";
    } else if (fault == "delay" || fault == "response-delay") {
      std::int64_t ms = 0;
      if (auto e = header_quantity(name, value, "ms", kDayMs, ms)) return fail(*e);
      (fault == "delay" ? d.request_delay : d.response_delay) += millis(ms);
    } else if (fault == "drop") {
      if (iequals(value, "close")) {
        d.drop = DropMode::close;
      } else if (iequals(value, "reset")) {
        d.drop = DropMode::reset;
      } else if (iequals(value, "hang")) {
        d.drop = DropMode::hang;
      } else {
        return fail(error(
            "header " + name + ": '" + std::string(value) + "' is not one of close, reset, hang",
            name));
      }
    } else if (fault == "reset") {
      if (iequals(value, "before")) {
        d.reset_before = true;
      } else {
        std::int64_t n = 0;
        if (header_quantity(name, value, "bytes", kNoMax, n))
          return fail(error("header " + name + ": '" + std::string(value) +
                                "' is neither 'before' nor a byte count",
                            name));
        d.reset_after_bytes = n;
      }
    } else if (fault == "truncate") {
      std::int64_t n = 0;
      if (auto e = header_quantity(name, value, "bytes", kNoMax, n)) return fail(*e);
      d.truncate_bytes = n;
    } else if (fault == "status") {
      int status = 0;
      if (auto e = header_status(name, value, status)) return fail(*e);
      d.replace_status = status;
    } else if (fault == "garbage") {
      d.garbage = true;
    } else {
      std::string known;
      for (auto k : kHeaderFaults)
        known += (known.empty() ? "" : ", ") + std::string(kFaultHeaderPrefix) + std::string(k);
      return fail(error("unknown fault header " + name + " (expected: " + known + ")", name));
    }
    d.fired.push_back("header:" + fault);
  }
  return R::ok(std::move(d));
}

std::string trace_id(std::string_view tp) {
  const auto hex = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
  };
  while (!tp.empty() && (tp.front() == ' ' || tp.front() == '\t')) tp.remove_prefix(1);
  while (!tp.empty() && (tp.back() == ' ' || tp.back() == '\t')) tp.remove_suffix(1);
  // Version 00 is exactly 55 characters; later versions may add fields after a dash.
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return {};
  if (tp.size() > 55 && (tp.substr(0, 2) == "00" || tp[55] != '-')) return {};
  const auto version = tp.substr(0, 2), trace = tp.substr(3, 32), span = tp.substr(36, 16);
  if (!hex(version) || lower(version) == "ff" || !hex(trace) || !hex(span) ||
      !hex(tp.substr(53, 2)))
    return {};
  std::string id = lower(trace);
  if (id.find_first_not_of('0') == std::string::npos) return {};
  return id;
}

bool strip_fault_headers(Headers& headers) {
  return std::erase_if(
             headers, [](const Header& h) { return istarts_with(h.name, kFaultHeaderPrefix); }) > 0;
}

std::string_view reason(int status) {
  struct Phrase {
    int status;
    std::string_view text;
  };
  static constexpr Phrase kPhrases[] = {
      {100, "Continue"},
      {101, "Switching Protocols"},
      {102, "Processing"},
      {103, "Early Hints"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {203, "Non-Authoritative Information"},
      {204, "No Content"},
      {205, "Reset Content"},
      {206, "Partial Content"},
      {300, "Multiple Choices"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {402, "Payment Required"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {407, "Proxy Authentication Required"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {410, "Gone"},
      {411, "Length Required"},
      {412, "Precondition Failed"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {415, "Unsupported Media Type"},
      {416, "Range Not Satisfiable"},
      {417, "Expectation Failed"},
      {418, "I'm a teapot"},
      {421, "Misdirected Request"},
      {422, "Unprocessable Content"},
      {423, "Locked"},
      {424, "Failed Dependency"},
      {425, "Too Early"},
      {426, "Upgrade Required"},
      {428, "Precondition Required"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {451, "Unavailable For Legal Reasons"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"},
      {506, "Variant Also Negotiates"},
      {507, "Insufficient Storage"},
      {508, "Loop Detected"},
      {510, "Not Extended"},
      {511, "Network Authentication Required"},
  };
  for (const auto& p : kPhrases)
    if (p.status == status) return p.text;
  return "Unknown";
}

std::string default_body(int status) {
  // Reason phrases hold no characters that JSON would need escaped ("I'm a
  // teapot" has only an apostrophe).
  return "{\"error\":\"" + std::string(reason(status)) + "\",\"status\":" + std::to_string(status) +
         ",\"injected_by\":\"brownout\"}";
}

}  // namespace brownout::faults::http
