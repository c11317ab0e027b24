// HTTP-aware faults: what happens to one request, decided from its method,
// path, headers and a bounded prefix of its body. Pure logic, standard
// library only: the HTTP codec in proxy/ frames messages and executes the
// decision; control/ turns JSON and TOML into a Tree for parse_settings.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "faults/attributes.hpp"
#include "faults/fault.hpp"

namespace brownout::faults::http {

// A neutral value tree (what JSON and TOML both are), so settings are parsed
// and validated once for the API, profiles and the CLI.
struct Tree;
using TreeMap = std::map<std::string, Tree, std::less<>>;
using TreeList = std::vector<Tree>;
struct Tree {
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, TreeList, TreeMap> v =
      nullptr;
  const Tree* find(std::string_view key) const;  // in a map; nullptr otherwise
};

struct Header {
  std::string name;
  std::string value;
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

// What a matcher sees of a request.
struct Request {
  std::string_view method;
  std::string_view target;  // path and query, as sent
  const Headers* headers = nullptr;
  std::string_view body;  // at most kMaxMatchBody bytes, read only when a matcher needs it
};
inline constexpr std::size_t kMaxMatchBody = 64 * 1024;

enum class PathMode { any, exact, prefix, glob, regex };

struct HeaderRule {
  std::string name;                   // case-insensitive
  std::optional<std::string> equals;  // neither equals nor regex: present
  std::string regex_text;
  std::optional<std::regex> regex;
};

// Every given condition must hold. Paths are matched without the query
// string, except a regex, which sees the whole target.
struct Match {
  std::string method;  // empty: any; case-insensitive
  PathMode path_mode = PathMode::any;
  std::string path;
  std::optional<std::regex> path_regex;
  std::vector<HeaderRule> headers;
  std::string body_contains;

  bool needs_body() const { return !body_contains.empty(); }
  bool matches(const Request& r) const;
};

enum class Kind { abort, delay, drop_response, reset, truncate, dribble, status, garbage };
enum class Where { request, response };
enum class DropMode { close, reset, hang };

struct Quota {
  std::int64_t requests = 0;
  std::int64_t window_ms = 0;
};

// Gradual degradation: the probability moves linearly from `from` to `to`
// over `over_ms` from the moment the fault was added, then stays at `to`.
struct ProbabilityRamp {
  double from = 0;
  double to = 1;
  std::int64_t over_ms = 0;
};

// One configured HTTP fault, validated, defaults filled in.
struct Settings {
  Kind kind = Kind::abort;
  Match match;
  double probability = 1.0;             // per request, from the link's seeded generator
  std::int64_t first = 0;               // > 0: only the first N matching requests
  std::int64_t every = 0;               // > 0: only every K-th matching request
  std::int64_t max_active = 0;          // > 0: at most this many requests under the fault at once
  std::optional<Quota> quota;           // fires once the window's quota is spent
  std::optional<ProbabilityRamp> ramp;  // replaces `probability` when set
  // abort, status: the answer. abort's status defaults to 503 (429 with a
  // quota, with Retry-After to the window's end); its body to a JSON error.
  int status = 0;
  Headers headers;
  std::optional<std::string> body;
  std::string content_type;  // of `body`; default application/json when it parses as JSON
  // delay, dribble
  std::int64_t delay_ms = 0;
  std::int64_t jitter_ms = 0;
  Where where = Where::request;
  // drop_response: what the client sees instead of the response; hang with
  // timeout > 0 closes after it.
  DropMode mode = DropMode::close;
  std::int64_t timeout_ms = 0;
  // reset: absent resets before forwarding; N resets after N response body bytes
  std::optional<std::int64_t> after_bytes;
  // truncate: body bytes sent before the connection closes
  std::int64_t bytes = 0;
  // dribble: piece size in bytes, `delay_ms` between pieces
  std::int64_t size = 0;
};

// The HTTP fault types: names, one-line summaries, attribute names.
struct TypeInfo {
  std::string_view name;
  Kind kind;
  std::string_view summary;
  std::span<const std::string_view> attributes;  // besides match, first, every, quota, ramp
};
std::span<const TypeInfo> types();
const TypeInfo* find_type(std::string_view name);

// Parses `attributes` (a map) for `type`, with `probability` from the toxic's
// top level. Integers are milliseconds or bytes (Toxiproxy's JSON); strings
// with units are accepted too ("300ms", "1KiB"), as profiles write them.
// Unknown attributes are refused, naming the expected ones.
Result<Settings> parse_settings(const TypeInfo& type, const Tree& attributes, double probability);

// The attributes back as a tree (GET shows what was configured, defaults filled).
Tree to_tree(const Settings& s);

// Counters shared by every link of a proxy: first/every count matching
// requests across connections, and a quota is the proxy's, as a gateway's is.
class Shared {
 public:
  // Counts a matching request; true when the fault fires for it (before
  // probability). Sets retry_after_ms when a quota refused it.
  bool admit(const Settings& s, TimePoint now, std::int64_t& retry_after_ms);

  // Requests the fault acted on, for metrics (any thread reads it).
  std::atomic<std::uint64_t> acted{0};

  // max_active: a request takes a slot while the fault acts on it.
  bool try_acquire(std::int64_t max) {
    auto n = active_.load(std::memory_order_relaxed);
    while (n < max)
      if (active_.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel)) return true;
    return false;
  }
  void release() { active_.fetch_sub(1, std::memory_order_acq_rel); }
  std::int64_t active() const { return active_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::int64_t matched_ = 0;
  bool window_started_ = false;  // the window opens at the first request seen
  TimePoint window_start_{};
  std::int64_t window_count_ = 0;
  std::atomic<std::int64_t> active_{0};
};

// A max_active slot, given back when the request is over (the Decision
// that holds it is dropped).
struct ActiveSlot {
  std::shared_ptr<Shared> shared;
  explicit ActiveSlot(std::shared_ptr<Shared> s) : shared(std::move(s)) {}
  ~ActiveSlot() {
    if (shared) shared->release();
  }
  ActiveSlot(const ActiveSlot&) = delete;
  ActiveSlot& operator=(const ActiveSlot&) = delete;
};

struct Fault {
  std::string name;
  Settings settings;
  TimePoint added{};  // where a probability ramp starts
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
};

// What the codec does with one request.
struct Decision {
  // Answered by the proxy without reaching the upstream.
  bool abort = false;
  int status = 0;
  Headers headers;
  std::string body;
  std::string content_type;
  bool garbage = false;       // send bytes that are not HTTP, then close
  bool reset_before = false;  // reset the connection instead of forwarding
  Duration request_delay{0};
  Duration response_delay{0};
  // After the upstream answered:
  std::optional<int> replace_status;
  std::optional<std::string> replace_body;
  std::optional<DropMode> drop;
  Duration drop_timeout{0};
  std::optional<std::int64_t> reset_after_bytes;
  std::optional<std::int64_t> truncate_bytes;
  std::int64_t dribble_size = 0;  // > 0: dribble the body
  Duration dribble_delay{0};
  std::vector<std::string> fired;                  // names of the faults that acted
  std::vector<std::shared_ptr<ActiveSlot>> slots;  // max_active slots held for this request

  bool any() const { return !fired.empty(); }
};

// Runs the request through the faults in order. Each matching fault that
// fires adds to the decision; the first that answers or ends the connection
// (abort, garbage, reset before, quota) stops the rest.
Decision decide(std::span<const Fault* const> faults, const Request& request, Rng& rng,
                TimePoint now);

// Header-controlled faults (when the proxy enables them): a request with
// x-brownout-fault-abort: 503, -delay: 300ms, -response-delay: 300ms,
// -drop: close|reset|hang, -reset: before|N, -truncate: N, -status: 502,
// -garbage: 1 gets that fault. Errors in a header answer 400 (the message).
Result<Decision> from_headers(const Headers& headers);
// Removes every x-brownout-fault-* header; true when there was one.
bool strip_fault_headers(Headers& headers);

// The trace id of a W3C `traceparent` header ("00-<32 hex>-<16 hex>-<2 hex>"),
// lower case; empty when the header is malformed or the id is all zeros.
std::string trace_id(std::string_view traceparent);

// The default body of an abort: {"error":"<reason>","status":N,"injected_by":"brownout"}.
std::string default_body(int status);
std::string_view reason(int status);

}  // namespace brownout::faults::http
