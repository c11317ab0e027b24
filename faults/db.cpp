// Database-aware faults: settings read once from a neutral tree, a matcher
// over a statement or command, the proxy-wide first/every counter, and the
// per-request decision a codec carries out. No I/O.
#include "faults/db.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

#include "faults/tree_read.hpp"

namespace brownout::faults::db {

using namespace http::detail;

namespace {

constexpr std::int64_t kDayMs = AttrSpec::kDayMs;

constexpr std::string_view kPgErrorAttrs[] = {"error", "sqlstate", "severity", "message"};
constexpr std::string_view kDelayAttrs[] = {"delay", "jitter"};
constexpr std::string_view kTerminateAttrs[] = {"mode", "after_rows"};
constexpr std::string_view kRefuseAttrs[] = {"sqlstate", "message"};
constexpr std::string_view kRedisErrorAttrs[] = {"error"};
constexpr std::string_view kRedisDropAttrs[] = {"mode", "timeout"};
constexpr std::string_view kMysqlErrorAttrs[] = {"error", "code", "sqlstate", "message"};
constexpr std::string_view kCommonAttrs[] = {"match", "first", "every"};
constexpr std::string_view kPgMatchKeys[] = {"statement", "kind", "prepared"};
constexpr std::string_view kRedisMatchKeys[] = {"command", "key"};

const std::array<TypeInfo, 10> kTypes{{
    {"pg_error", Kind::pg_error, Protocol::postgres,
     "answers a matching statement with an error (SQLSTATE, severity, message)", kPgErrorAttrs},
    {"pg_delay", Kind::pg_delay, Protocol::postgres,
     "holds a matching statement for a while before forwarding it", kDelayAttrs},
    {"pg_terminate", Kind::pg_terminate, Protocol::postgres,
     "ends the session at a matching statement: FATAL 57P01, or a cut after N rows",
     kTerminateAttrs},
    {"pg_refuse", Kind::pg_refuse, Protocol::postgres,
     "refuses new sessions at startup with FATAL 53300 (too many clients)", kRefuseAttrs},
    {"redis_error", Kind::redis_error, Protocol::redis,
     "answers a matching command with an error reply (BUSY, LOADING, READONLY, OOM, ...)",
     kRedisErrorAttrs},
    {"redis_delay", Kind::redis_delay, Protocol::redis,
     "holds a matching command for a while before forwarding it", kDelayAttrs},
    {"redis_drop", Kind::redis_drop, Protocol::redis,
     "runs a matching command, swallows its reply, then closes or hangs", kRedisDropAttrs},
    {"redis_empty",
     Kind::redis_empty,
     Protocol::redis,
     "answers a matching read with a null reply, as if the key were missing",
     {}},
    {"mysql_error", Kind::mysql_error, Protocol::mysql,
     "answers a matching statement with an ERR packet (deadlock, lock wait timeout, ...); "
     "too_many_connections refuses sessions at the handshake",
     kMysqlErrorAttrs},
    {"mysql_delay", Kind::mysql_delay, Protocol::mysql,
     "holds a matching statement for a while before forwarding it", kDelayAttrs},
}};

struct MysqlPreset {
  std::string_view name;
  std::int64_t code;
  std::string_view sqlstate, message;
};
constexpr MysqlPreset kMysqlPresets[] = {
    {"deadlock", 1213, "40001",
     "Deadlock found when trying to get lock; try restarting transaction"},
    {"lock_wait_timeout", 1205, "HY000", "Lock wait timeout exceeded; try restarting transaction"},
    {"too_many_connections", 1040, "08004", "Too many connections"},
    {"read_only", 1290, "HY000",
     "The MySQL server is running with the --read-only option so it cannot execute this "
     "statement"},
    {"server_shutdown", 1053, "08S01", "Server shutdown in progress"},
    {"query_timeout", 3024, "HY000",
     "Query execution was interrupted, maximum statement execution time exceeded"},
};

struct PgPreset {
  std::string_view name, sqlstate, severity, message;
};
constexpr PgPreset kPgPresets[] = {
    {"serialization_failure", "40001", "ERROR",
     "could not serialize access due to concurrent update"},
    {"deadlock_detected", "40P01", "ERROR", "deadlock detected"},
    {"query_canceled", "57014", "ERROR", "canceling statement due to statement timeout"},
    {"lock_not_available", "55P03", "ERROR", "canceling statement due to lock timeout"},
    {"admin_shutdown", "57P01", "FATAL", "terminating connection due to administrator command"},
    {"too_many_connections", "53300", "FATAL", "sorry, too many clients already"},
    {"read_only_sql_transaction", "25006", "ERROR",
     "cannot execute statement in a read-only transaction"},
    {"disk_full", "53100", "ERROR", "could not extend file: No space left on device"},
    {"cannot_connect_now", "57P03", "FATAL", "the database system is shutting down"},
};

constexpr std::string_view kRedisPresets[] = {
    "BUSY", "LOADING", "READONLY", "OOM", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
};

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string names_of(std::span<const std::string_view> names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

// A string or a list of strings.
Err read_words(const Tree& t, std::string_view shown, std::vector<std::string>& out) {
  if (const auto* s = std::get_if<std::string>(&t.v)) {
    // "GET,SET" and "GET SET" read as two words.
    std::string word;
    for (char c : *s + ",") {
      if (c == ',' || c == ' ') {
        if (!word.empty()) out.push_back(word);
        word.clear();
      } else {
        word += c;
      }
    }
  } else if (const auto* l = std::get_if<TreeList>(&t.v)) {
    for (const auto& item : *l) {
      std::string w;
      if (auto e = read_nonempty(item, shown, "match", w)) return e;
      out.push_back(w);
    }
  } else {
    return error("match key " + std::string(shown) +
                     " must be a string or a list of strings, got " + describe(t),
                 "match");
  }
  if (out.empty()) return error("match key " + std::string(shown) + " must not be empty", "match");
  return std::nullopt;
}

constexpr std::string_view kKindNames[] = {"select", "insert", "update", "delete",
                                           "begin",  "commit", "other"};

Err parse_match(const Tree& t, Protocol protocol, Match& m) {
  const auto* map = std::get_if<TreeMap>(&t.v);
  if (!map) return error("attribute match must be a map, got " + describe(t), "match");
  const auto keys = protocol == Protocol::redis ? std::span<const std::string_view>(kRedisMatchKeys)
                                                : std::span<const std::string_view>(kPgMatchKeys);
  if (auto e = check_keys(*map, keys, {}, "match key", "", "match")) return e;
  if (const auto* v = given(*map, "statement")) {
    if (auto e = read_nonempty(*v, "match.statement", "match", m.statement)) return e;
    try {
      m.statement_regex.emplace(m.statement, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& ex) {
      return error("match.statement is not a valid regular expression: " + std::string(ex.what()),
                   "match");
    }
  }
  if (const auto* v = given(*map, "kind")) {
    std::vector<std::string> words;
    if (auto e = read_words(*v, "kind", words)) return e;
    for (const auto& w : words) {
      const auto lw = lower(w);
      const auto it = std::find(std::begin(kKindNames), std::end(kKindNames), lw);
      if (it == std::end(kKindNames))
        return error("match.kind '" + w +
                         "' is not a statement kind (expected: " + names_of(kKindNames) + ")",
                     "match");
      m.kinds.push_back(static_cast<StatementKind>(it - std::begin(kKindNames)));
    }
  }
  if (const auto* v = given(*map, "prepared"))
    if (auto e = read_nonempty(*v, "match.prepared", "match", m.prepared)) return e;
  if (const auto* v = given(*map, "command")) {
    std::vector<std::string> words;
    if (auto e = read_words(*v, "command", words)) return e;
    for (const auto& w : words) m.commands.push_back(upper(w));
  }
  if (const auto* v = given(*map, "key")) {
    if (auto e = read_nonempty(*v, "match.key", "match", m.key)) return e;
    auto re = glob_to_regex(m.key);
    if (!re) return error("match.key '" + m.key + "' has an unclosed [", "match");
    m.key_regex.emplace(*re, std::regex::ECMAScript);
  }
  return std::nullopt;
}

bool valid_sqlstate(std::string_view s) {
  return s.size() == 5 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) ||
                  std::isupper(static_cast<unsigned char>(c));
         });
}

bool one_line(std::string_view s) {
  return s.find_first_of("\r\n") == std::string_view::npos;
}

Err parse_kind(const TreeMap& a, Settings& s) {
  switch (s.kind) {
    case Kind::pg_error:
    case Kind::pg_refuse: {
      if (s.kind == Kind::pg_refuse) {
        s.error = "too_many_connections";
      } else {
        s.error = "serialization_failure";
      }
      if (const auto* v = given(a, "error")) {
        if (auto e = read_nonempty(*v, "error", "error", s.error)) return e;
      }
      const PgPreset* preset = nullptr;
      for (const auto& p : kPgPresets)
        if (p.name == s.error) preset = &p;
      if (!preset) {
        std::string names;
        for (const auto& p : kPgPresets) names += (names.empty() ? "" : ", ") + std::string(p.name);
        return error("unknown error '" + s.error + "' (expected: " + names +
                         "; or give sqlstate and message)",
                     "error");
      }
      s.sqlstate = preset->sqlstate;
      s.severity = preset->severity;
      s.message = preset->message;
      if (s.kind == Kind::pg_refuse) s.severity = "FATAL";
      if (const auto* v = given(a, "sqlstate")) {
        if (auto e = read_string(*v, "sqlstate", "sqlstate", s.sqlstate)) return e;
        s.sqlstate = upper(s.sqlstate);
        if (!valid_sqlstate(s.sqlstate))
          return error(
              "attribute sqlstate must be five digits or capital letters, got '" + s.sqlstate + "'",
              "sqlstate");
      }
      if (const auto* v = given(a, "severity")) {
        if (auto e = read_string(*v, "severity", "severity", s.severity)) return e;
        s.severity = upper(s.severity);
        if (s.severity != "ERROR" && s.severity != "FATAL")
          return error("attribute severity must be ERROR or FATAL, got '" + s.severity + "'",
                       "severity");
      }
      if (const auto* v = given(a, "message")) {
        if (auto e = read_nonempty(*v, "message", "message", s.message)) return e;
        if (s.message.find('\0') != std::string::npos)
          return error("attribute message must not hold a NUL byte", "message");
      }
      return std::nullopt;
    }
    case Kind::mysql_error: {
      s.error = "deadlock";
      if (const auto* v = given(a, "error"))
        if (auto e = read_nonempty(*v, "error", "error", s.error)) return e;
      const MysqlPreset* preset = nullptr;
      for (const auto& p : kMysqlPresets)
        if (p.name == s.error) preset = &p;
      if (!preset) {
        std::string names;
        for (const auto& p : kMysqlPresets)
          names += (names.empty() ? "" : ", ") + std::string(p.name);
        return error("unknown error '" + s.error + "' (expected: " + names +
                         "; or give code, sqlstate and message)",
                     "error");
      }
      s.code = preset->code;
      s.sqlstate = preset->sqlstate;
      s.message = preset->message;
      if (const auto* v = given(a, "code"))
        if (auto e = read_int(*v, "code", "code", 1000, 65535, s.code)) return e;
      if (s.code >= 2000 && s.code < 3000)
        return error("attribute code " + std::to_string(s.code) +
                         " is a client-side error (2000-2999): clients reject it from a server; "
                         "use a connection fault instead",
                     "code");
      if (const auto* v = given(a, "sqlstate")) {
        if (auto e = read_string(*v, "sqlstate", "sqlstate", s.sqlstate)) return e;
        s.sqlstate = upper(s.sqlstate);
        if (!valid_sqlstate(s.sqlstate))
          return error(
              "attribute sqlstate must be five digits or capital letters, got '" + s.sqlstate + "'",
              "sqlstate");
      }
      if (const auto* v = given(a, "message"))
        if (auto e = read_nonempty(*v, "message", "message", s.message)) return e;
      return std::nullopt;
    }
    case Kind::pg_delay:
    case Kind::mysql_delay:
    case Kind::redis_delay:
      if (const auto* v = given(a, "delay"))
        if (auto e = read_quantity(*v, "delay", "delay", "ms", 0, kDayMs, s.delay_ms)) return e;
      if (const auto* v = given(a, "jitter"))
        if (auto e = read_quantity(*v, "jitter", "jitter", "ms", 0, kDayMs, s.jitter_ms)) return e;
      return std::nullopt;
    case Kind::pg_terminate:
      s.mode = "fatal";
      if (const auto* v = given(a, "mode")) {
        if (auto e = read_string(*v, "mode", "mode", s.mode)) return e;
        if (s.mode != "fatal" && s.mode != "cut")
          return error("attribute mode must be fatal or cut, got '" + s.mode + "'", "mode");
      }
      if (const auto* v = given(a, "after_rows"))
        if (auto e = read_int(*v, "after_rows", "after_rows", 0, kNoMaxValue, s.after_rows))
          return e;
      return std::nullopt;
    case Kind::redis_error: {
      std::string err = "BUSY";
      if (const auto* v = given(a, "error"))
        if (auto e = read_nonempty(*v, "error", "error", err)) return e;
      if (!one_line(err)) return error("attribute error must be one line", "error");
      s.error = err;
      const auto word = upper(err);
      if (std::find(std::begin(kRedisPresets), std::end(kRedisPresets), word) ==
              std::end(kRedisPresets) &&
          err.find(' ') == std::string::npos)
        return error("unknown error '" + err + "' (expected: " + names_of(kRedisPresets) +
                         ", or a whole error line such as \"ERR something failed\")",
                     "error");
      return std::nullopt;
    }
    case Kind::redis_drop:
      s.mode = "close";
      if (const auto* v = given(a, "mode")) {
        if (auto e = read_string(*v, "mode", "mode", s.mode)) return e;
        if (s.mode != "close" && s.mode != "hang")
          return error("attribute mode must be close or hang, got '" + s.mode + "'", "mode");
      }
      if (const auto* v = given(a, "timeout"))
        if (auto e = read_quantity(*v, "timeout", "timeout", "ms", 0, kDayMs, s.timeout_ms))
          return e;
      return std::nullopt;
    case Kind::redis_empty:
      if (s.match.commands.empty()) s.match.commands = {"GET"};
      return std::nullopt;
  }
  return std::nullopt;
}

std::string_view skip_noise(std::string_view sql) {
  for (;;) {
    while (!sql.empty() && (std::isspace(static_cast<unsigned char>(sql.front())) ||
                            sql.front() == '(' || sql.front() == ';'))
      sql.remove_prefix(1);
    if (sql.starts_with("--")) {
      const auto nl = sql.find('\n');
      sql = nl == std::string_view::npos ? std::string_view{} : sql.substr(nl + 1);
    } else if (sql.starts_with("/*")) {
      const auto end = sql.find("*/", 2);
      sql = end == std::string_view::npos ? std::string_view{} : sql.substr(end + 2);
    } else {
      return sql;
    }
  }
}

std::string_view first_word(std::string_view s) {
  std::size_t n = 0;
  while (n < s.size() && (std::isalpha(static_cast<unsigned char>(s[n])) || s[n] == '_')) ++n;
  return s.substr(0, n);
}

}  // namespace

std::string_view protocol_name(Protocol p) {
  switch (p) {
    case Protocol::postgres:
      return "postgres";
    case Protocol::redis:
      return "redis";
    case Protocol::mysql:
      return "mysql";
  }
  return "tcp";
}

Protocol protocol_of(Kind k) {
  if (k <= Kind::pg_refuse) return Protocol::postgres;
  if (k <= Kind::redis_empty) return Protocol::redis;
  return Protocol::mysql;
}

std::string_view kind_name(StatementKind k) {
  return kKindNames[static_cast<std::size_t>(k)];
}

StatementKind classify(std::string_view sql) {
  sql = skip_noise(sql);
  const auto w = first_word(sql);
  const auto is = [&](std::string_view k) { return iequals(w, k); };
  if (is("select") || is("with") || is("values") || is("table")) return StatementKind::select;
  if (is("insert")) return StatementKind::insert;
  if (is("update")) return StatementKind::update;
  if (is("delete")) return StatementKind::del;
  if (is("begin")) return StatementKind::begin;
  if (is("start")) {
    const auto rest = skip_noise(sql.substr(w.size()));
    if (iequals(first_word(rest), "transaction")) return StatementKind::begin;
  }
  if (is("commit") || is("end")) return StatementKind::commit;
  return StatementKind::other;
}

bool Match::matches(const Statement& s) const {
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), classify(s.sql)) == kinds.end())
    return false;
  if (statement_regex && !search(*statement_regex, s.sql)) return false;
  if (!prepared.empty() && s.prepared != prepared) return false;
  if (!commands.empty() && std::none_of(commands.begin(), commands.end(),
                                        [&](const auto& c) { return iequals(c, s.command); }))
    return false;
  if (key_regex && !full_match(*key_regex, s.key)) return false;
  return true;
}

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
  if (!std::isfinite(probability) || probability < 0.0 || probability > 1.0)
    return R::fail("probability must be between 0 and 1", "probability");
  static const TreeMap kEmpty;
  const TreeMap* attrs = &kEmpty;
  if (const auto* map = std::get_if<TreeMap>(&attributes.v)) {
    attrs = map;
  } else if (!std::holds_alternative<std::nullptr_t>(attributes.v)) {
    return R::fail("attributes of " + std::string(type.name) + " must be a map, got " +
                   describe(attributes));
  }
  const auto common = type.kind == Kind::pg_refuse
                          ? std::span<const std::string_view>{}
                          : std::span<const std::string_view>(kCommonAttrs);
  if (auto e = check_keys(*attrs, type.attributes, common, "attribute",
                          " for " + std::string(type.name), ""))
    return fail(*e);
  Settings s;
  s.kind = type.kind;
  s.probability = probability;
  if (const auto* v = given(*attrs, "match"))
    if (auto e = parse_match(*v, type.protocol, s.match)) return fail(*e);
  if (const auto* v = given(*attrs, "first"))
    if (auto e = read_int(*v, "first", "first", 0, kNoMaxValue, s.first)) return fail(*e);
  if (const auto* v = given(*attrs, "every"))
    if (auto e = read_int(*v, "every", "every", 0, kNoMaxValue, s.every)) return fail(*e);
  if (auto e = parse_kind(*attrs, s)) return fail(*e);
  return R::ok(std::move(s));
}

Tree to_tree(const Settings& s) {
  TreeMap out;
  const auto str = [](std::string v) { return Tree{std::move(v)}; };
  switch (s.kind) {
    case Kind::pg_error:
      out["error"] = str(s.error);
      out["sqlstate"] = str(s.sqlstate);
      out["severity"] = str(s.severity);
      out["message"] = str(s.message);
      break;
    case Kind::pg_refuse:
      out["sqlstate"] = str(s.sqlstate);
      out["message"] = str(s.message);
      break;
    case Kind::mysql_error:
      out["error"] = str(s.error);
      out["code"] = Tree{s.code};
      out["sqlstate"] = str(s.sqlstate);
      out["message"] = str(s.message);
      break;
    case Kind::pg_delay:
    case Kind::mysql_delay:
    case Kind::redis_delay:
      out["delay"] = Tree{s.delay_ms};
      out["jitter"] = Tree{s.jitter_ms};
      break;
    case Kind::pg_terminate:
      out["mode"] = str(s.mode);
      out["after_rows"] = Tree{s.after_rows};
      break;
    case Kind::redis_error:
      out["error"] = str(s.error);
      break;
    case Kind::redis_drop:
      out["mode"] = str(s.mode);
      out["timeout"] = Tree{s.timeout_ms};
      break;
    case Kind::redis_empty:
      break;
  }
  if (s.kind != Kind::pg_refuse) {
    TreeMap m;
    const auto list = [](const std::vector<std::string>& v) {
      TreeList l;
      for (const auto& x : v) l.push_back(Tree{x});
      return Tree{std::move(l)};
    };
    if (!s.match.statement.empty()) m["statement"] = str(s.match.statement);
    if (!s.match.kinds.empty()) {
      std::vector<std::string> k;
      for (auto x : s.match.kinds) k.emplace_back(kind_name(x));
      m["kind"] = list(k);
    }
    if (!s.match.prepared.empty()) m["prepared"] = str(s.match.prepared);
    if (!s.match.commands.empty()) m["command"] = list(s.match.commands);
    if (!s.match.key.empty()) m["key"] = str(s.match.key);
    if (!m.empty()) out["match"] = Tree{std::move(m)};
    if (s.first) out["first"] = Tree{s.first};
    if (s.every) out["every"] = Tree{s.every};
  }
  return Tree{std::move(out)};
}

bool Shared::admit(const Settings& s) {
  if (s.first <= 0 && s.every <= 0) return true;
  std::lock_guard lock(mutex_);
  ++matched_;
  if (s.first > 0 && matched_ > s.first) return false;
  if (s.every > 0 && matched_ % s.every != 0) return false;
  return true;
}

Decision decide(std::span<const FaultRef> faults, Protocol protocol, const Statement& statement,
                Rng& rng) {
  Decision d;
  for (const auto& f : faults) {
    if (!f) continue;
    if (protocol_of(f->settings.kind) != protocol || f->settings.kind == Kind::pg_refuse) continue;
    if (f->settings.kind == Kind::mysql_error && f->settings.code == 1040) continue;  // handshake
    const Settings& s = f->settings;
    if (!s.match.matches(statement)) continue;
    if (!f->shared->admit(s)) continue;
    if (!rng.chance(s.probability)) continue;
    f->shared->acted.fetch_add(1, std::memory_order_relaxed);
    d.fired.push_back(f);
    if (s.kind == Kind::pg_delay || s.kind == Kind::redis_delay || s.kind == Kind::mysql_delay) {
      d.delay += draw_delay(s.delay_ms, s.jitter_ms, rng);
      continue;
    }
    d.action = f;
    break;
  }
  return d;
}

FaultRef refuse(std::span<const FaultRef> faults, Rng& rng) {
  for (const auto& f : faults) {
    if (!f) continue;
    const bool at_start = f->settings.kind == Kind::pg_refuse ||
                          (f->settings.kind == Kind::mysql_error && f->settings.code == 1040);
    if (!at_start) continue;
    if (!rng.chance(f->settings.probability)) continue;
    f->shared->acted.fetch_add(1, std::memory_order_relaxed);
    return f;
  }
  return nullptr;
}

}  // namespace brownout::faults::db
