// Database-aware faults: what happens to one PostgreSQL statement or one Redis
// command, decided from its text, kind, prepared name, command name and key.
// Pure logic, standard library only: the codecs in proxy/ frame the wire
// protocol and carry out the decision; control/ turns JSON and TOML into the
// Tree that parse_settings reads (the same tree the HTTP faults use).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "faults/fault.hpp"
#include "faults/http.hpp"
#include "faults/rng.hpp"

namespace brownout::faults::db {

using http::Tree;
using http::TreeList;
using http::TreeMap;

enum class Protocol { postgres, redis, mysql };
std::string_view protocol_name(Protocol p);

enum class Kind {
  pg_error,
  pg_delay,
  pg_terminate,
  pg_refuse,
  redis_error,
  redis_delay,
  redis_drop,
  redis_empty,
  mysql_error,
  mysql_delay,
};

// The statement kinds a PostgreSQL matcher names.
enum class StatementKind { select, insert, update, del, begin, commit, other };
std::string_view kind_name(StatementKind k);
// The kind of a SQL text from its first keyword (comments, blanks and opening
// parentheses skipped): WITH, VALUES and TABLE read as select, START
// TRANSACTION as begin, END as commit.
StatementKind classify(std::string_view sql);

// What a matcher sees of one request.
struct Statement {
  // PostgreSQL
  std::string_view sql;
  std::string_view prepared;  // the named prepared statement it runs, if any
  // Redis
  std::string_view command;  // as sent (any case)
  std::string_view key;      // its first argument, when it has one
};

// Every given condition must hold.
struct Match {
  std::vector<StatementKind> kinds;  // empty: any
  std::string statement;             // regex, case-insensitive, searched in the SQL
  std::optional<std::regex> statement_regex;
  std::string prepared;               // empty: any
  std::vector<std::string> commands;  // upper case; empty: any
  std::string key;                    // glob (* ? [...]); empty: any
  std::optional<std::regex> key_regex;

  bool matches(const Statement& s) const;
};

struct Settings {
  Kind kind = Kind::pg_error;
  Match match;
  double probability = 1.0;  // per statement or command (per connection for pg_refuse)
  std::int64_t first = 0;    // > 0: only the first N matching requests (proxy-wide)
  std::int64_t every = 0;    // > 0: only every K-th matching request (proxy-wide)
  // pg_error, pg_refuse
  std::string error;     // the preset named, if any
  std::string sqlstate;  // five characters
  std::string severity;  // ERROR or FATAL
  std::string message;
  // mysql_error: the error number (sqlstate and message above)
  std::int64_t code = 0;
  // redis_error: the error line without its '-' ("BUSY Redis is busy ...")
  std::string reply;
  // pg_delay, redis_delay
  std::int64_t delay_ms = 0;
  std::int64_t jitter_ms = 0;
  // pg_terminate: fatal | cut; redis_drop: close | hang
  std::string mode;
  std::int64_t after_rows = 0;  // pg_terminate cut
  std::int64_t timeout_ms = 0;  // redis_drop hang: 0 hangs for good
};

struct TypeInfo {
  std::string_view name;
  Kind kind;
  Protocol protocol;
  std::string_view summary;
  std::span<const std::string_view> attributes;  // besides match, first, every
};
std::span<const TypeInfo> types();
const TypeInfo* find_type(std::string_view name);

// Parses `attributes` (a map) for `type`, with `probability` from the toxic's
// top level. Unknown attributes, presets and values are refused with the
// expected ones named.
Result<Settings> parse_settings(const TypeInfo& type, const Tree& attributes, double probability);

// The attributes back as a tree (GET shows what was configured, defaults filled).
Tree to_tree(const Settings& s);

// Counters shared by every link of a proxy.
class Shared {
 public:
  // Counts a matching request; true when first/every let it through.
  bool admit(const Settings& s);
  std::atomic<std::uint64_t> acted{0};  // requests (connections for pg_refuse) acted on

 private:
  std::mutex mutex_;
  std::int64_t matched_ = 0;
};

struct Fault {
  std::string name;
  Settings settings;
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
};
using FaultRef = std::shared_ptr<const Fault>;

// What a codec does with one request.
struct Decision {
  Duration delay{0};            // hold the request this long before going on
  FaultRef action;              // error, terminate, drop, empty (null: none)
  std::vector<FaultRef> fired;  // every fault that acted, delays included
  bool any() const { return !fired.empty(); }
};

// Runs the request through the faults in order: delays add up; the first
// fault with an action (error, terminate, drop, empty) that fires ends it.
// Faults of the other protocol and pg_refuse are skipped.
Decision decide(std::span<const FaultRef> faults, Protocol protocol, const Statement& statement,
                Rng& rng);

Protocol protocol_of(Kind k);

// At startup: the first pg_refuse (postgres) or mysql_error with code 1040
// (mysql) that fires, or null.
FaultRef refuse(std::span<const FaultRef> faults, Rng& rng);

}  // namespace brownout::faults::db
