#include "control/profile.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>

#include "control/toml_util.hpp"
#include "faults/db.hpp"
#include "faults/registry.hpp"
#include "faults/units.hpp"
#include "proxy/address.hpp"

namespace brownout::control {

namespace {

constexpr std::string_view kAfterPrevious = "after previous";

}  // namespace

SourcePos pos_of(const toml::source_region& r, const std::string& fallback_file) {
  SourcePos p;
  p.file = r.path ? *r.path : fallback_file;
  p.line = r.begin.line;
  p.column = r.begin.column;
  return p;
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date or time";
  }
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// "a, b or c".
std::string one_of(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace

std::string unknown_key_message(std::string_view what, std::string_view key,
                                const std::vector<std::string>& expected,
                                std::string_view context) {
  std::string msg = std::string("unknown ") + std::string(what) + " '" + std::string(key) + "'";
  if (!context.empty()) msg += " " + std::string(context);
  if (expected.empty()) return msg + " (this table takes no keys)";
  msg += " (expected " + one_of(expected);
  std::string best;
  std::size_t best_d = 3;
  for (const auto& e : expected) {
    const auto d = edit_distance(key, e);
    if (d < best_d) best_d = d, best = e;
  }
  if (!best.empty()) msg += "; did you mean '" + best + "'?";
  return msg + ")";
}

namespace {

std::string ms_text(std::int64_t ms) {
  return faults::format_quantity(ms, "ms");
}

struct HostPortKey {
  std::string host;
  std::string port;
};

bool wildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

std::string canonical_host(const std::string& host) {
  return host == "localhost" ? "127.0.0.1" : host;
}

bool overlaps(const proxy::HostPort& a, const proxy::HostPort& b) {
  if (a.port != b.port || a.port == "0") return false;
  return wildcard(a.host) || wildcard(b.host) || canonical_host(a.host) == canonical_host(b.host);
}

// What a file declares before the files are merged; positions kept for errors.
struct RawFault {
  ProfileFault fault;
  const faults::FaultType* type = nullptr;
};

struct RawProxy {
  std::string name;
  std::optional<std::string> listen, upstream, protocol;
  std::optional<bool> enabled, header_faults, pass_tls;
  bool listen_given = false, upstream_given = false;  // even when the value was refused
  SourcePos name_where, listen_where;                 // the values, for errors about them
  std::vector<ProfileFault> faults;
  SourcePos where;
  std::string file;
};

struct RawPhase {
  const toml::table* table = nullptr;
  SourcePos where;
};

class Loader {
 public:
  explicit Loader(const FileReader& read) : read_(read) {}

  void load_file(const std::string& path, bool main, std::vector<std::string>& stack);
  LoadResult finish(const std::string& main_file);

  std::vector<ProfileError> errors;
  std::map<std::string, std::string> sources;
  std::vector<std::string> files;
  std::vector<RawProxy> proxies;  // merged
  std::vector<RawPhase> phases;
  std::string phases_file;
  bool repeat = false;

 private:
  void error(SourcePos where, std::string message) {
    errors.push_back({std::move(where), std::move(message)});
  }
  SourcePos pos(const toml::node& n) const { return pos_of(n.source(), file_); }
  SourcePos pos(const toml::key& k) const { return pos_of(k.source(), file_); }

  std::optional<std::string> get_string(const toml::key& k, const toml::node& n) {
    if (auto s = n.value<std::string>()) return *s;
    error(pos(n), "'" + std::string(k.str()) + "' must be a string, got " + type_name(n));
    return std::nullopt;
  }
  std::optional<bool> get_bool(const toml::key& k, const toml::node& n) {
    if (auto b = n.value_exact<bool>()) return *b;
    error(pos(n), "'" + std::string(k.str()) + "' must be true or false, got " + type_name(n));
    return std::nullopt;
  }
  std::optional<double> get_probability(std::string_view key, const toml::node& n) {
    std::optional<double> v;
    if (n.is_floating_point() || n.is_integer()) v = n.value<double>();
    if (!v) {
      error(pos(n),
            "'" + std::string(key) + "' must be a number between 0 and 1, got " + type_name(n));
      return std::nullopt;
    }
    if (!(*v >= 0.0 && *v <= 1.0)) {
      error(pos(n),
            "'" + std::string(key) + "' must be between 0 and 1, got " + fmt::format("{}", *v));
      return std::nullopt;
    }
    return v;
  }
  std::optional<std::int64_t> get_duration(std::string_view key, const toml::node& n) {
    auto s = n.value_exact<std::string>();
    if (!s) {
      error(pos(n), "'" + std::string(key) + "' must be a duration string such as \"30s\", got " +
                        type_name(n));
      return std::nullopt;
    }
    auto ms = faults::parse_quantity(*s, "ms");
    if (!ms) {
      error(pos(n), "'" + std::string(key) + "': " + ms.error.message);
      return std::nullopt;
    }
    return *ms.value;
  }

 public:
  // A value of any attribute: a word for a choice, a number (or "N%") for a
  // number, a quantity for an integer.
  std::optional<faults::Value> get_attribute(const faults::AttrSpec& spec, const toml::node& n) {
    if (spec.kind == faults::AttrKind::choice) {
      if (auto s = n.value_exact<std::string>()) return faults::Value{*s};
      std::string words;
      for (auto w : spec.words()) words += (words.empty() ? "\"" : ", \"") + std::string(w) + "\"";
      error(pos(n), "attribute '" + std::string(spec.name) + "' must be one of " + words +
                        ", got " + type_name(n));
      return std::nullopt;
    }
    if (spec.kind == faults::AttrKind::number) {
      if (n.is_floating_point() || n.is_integer()) return faults::Value{*n.value<double>()};
      if (auto s = n.value_exact<std::string>()) {
        std::string text = *s;
        if (!text.empty() && text.back() == '%') text.pop_back();
        double d = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
        if (!text.empty() && ec == std::errc() && p == text.data() + text.size())
          return faults::Value{d};
      }
      error(pos(n), "attribute '" + std::string(spec.name) + "' must be a number in " +
                        std::string(spec.unit) + " (such as 0.5 or \"0.5%\"), got " + type_name(n));
      return std::nullopt;
    }
    if (auto q = get_quantity(spec, n)) return faults::Value{*q};
    return std::nullopt;
  }

  // Brownout's controls, for every fault type: probability, clients, after,
  // for, count, flap. Returns false when `key` is not one of them.
  bool parse_control(const std::string& key, const toml::node& v, ProfileFault& f) {
    auto& c = f.controls;
    if (key == "probability") {
      if (auto p = get_probability("probability", v)) f.probability = *p;
    } else if (key == "clients") {
      const auto* a = v.as_array();
      if (!a) {
        error(pos(v), "'clients' must be a list of CIDR strings, got " + type_name(v));
        return true;
      }
      c.clients.emplace();
      for (const auto& item : *a) {
        auto s = item.value_exact<std::string>();
        if (!s) {
          error(pos(item),
                "'clients' entries must be strings such as \"10.0.0.0/8\", got " + type_name(item));
          continue;
        }
        if (auto b = faults::parse_cidr(*s); !b) error(pos(item), b.error.message);
        c.clients->push_back(*s);
      }
    } else if (key == "after") {
      if (auto ms = get_duration("after", v)) c.after_ms = *ms;
    } else if (key == "for") {
      if (auto ms = get_duration("for", v)) c.for_ms = *ms;
    } else if (key == "count") {
      if (auto i = v.value_exact<std::int64_t>(); i && *i >= 0)
        c.count = *i;
      else
        error(pos(v), "'count' must be a non-negative integer, got " + type_name(v));
    } else if (key == "flap") {
      const auto* t = v.as_table();
      const toml::node* on = t ? t->get("on") : nullptr;
      const toml::node* off = t ? t->get("off") : nullptr;
      if (!on || !off || t->size() != 2) {
        error(pos(v), "'flap' must be a table { on = \"5s\", off = \"10s\" }");
        return true;
      }
      auto a = get_duration("flap.on", *on);
      auto b = get_duration("flap.off", *off);
      if (a && b) c.flap = std::pair{*a, *b};
    } else {
      return false;
    }
    return true;
  }

  // A value of an attribute declared in `unit`: a string with units or a bare integer.
  std::optional<std::int64_t> get_quantity(const faults::AttrSpec& spec, const toml::node& n) {
    if (auto i = n.value_exact<std::int64_t>()) return *i;
    if (auto s = n.value_exact<std::string>()) {
      auto q = faults::parse_quantity(*s, spec.unit);
      if (q) return *q.value;
      error(pos(n), "attribute '" + std::string(spec.name) + "': " + q.error.message);
      return std::nullopt;
    }
    error(pos(n),
          "attribute '" + std::string(spec.name) + "' must be a string with units (e.g. \"" +
              faults::format_quantity(spec.default_value ? spec.default_value : 1, spec.unit) +
              "\") or an integer in " + std::string(spec.unit) + ", got " + type_name(n));
    return std::nullopt;
  }

 private:
  void parse_proxy(const toml::table& t, std::vector<RawProxy>& out);
  void parse_fault(const toml::table& t, RawProxy& proxy);
  using Validate = std::function<std::optional<faults::Error>(const faults::http::Tree&, double)>;
  void parse_http_fault(const toml::table& t, const Validate& validate, ProfileFault f,
                        RawProxy& proxy);
  void add_fault(ProfileFault f, RawProxy& proxy);
  void merge(std::vector<RawProxy>& into, std::vector<RawProxy>&& from);

  const FileReader& read_;
  std::string file_;                                // the file being parsed, for positions
  std::vector<std::shared_ptr<toml::table>> docs_;  // phases point into these
  friend struct PhaseResolver;
};

void Loader::parse_fault(const toml::table& t, RawProxy& proxy) {
  ProfileFault f;
  f.where = pos(t);
  const faults::FaultType* type = nullptr;
  if (auto* n = t.get("type")) {
    if (auto s = get_string(toml::key("type"), *n)) {
      f.type = *s;
      type = faults::find_type(*s);
      if (!type) {
        if (const auto* http_type = faults::http::find_type(*s)) {
          parse_http_fault(
              t,
              [http_type](const faults::http::Tree& tree,
                          double p) -> std::optional<faults::Error> {
                auto r = faults::http::parse_settings(*http_type, tree, p);
                if (!r) return r.error;
                return std::nullopt;
              },
              std::move(f), proxy);
          return;
        }
        if (const auto* db_type = faults::db::find_type(*s)) {
          parse_http_fault(
              t,
              [db_type](const faults::http::Tree& tree, double p) -> std::optional<faults::Error> {
                auto r = faults::db::parse_settings(*db_type, tree, p);
                if (!r) return r.error;
                return std::nullopt;
              },
              std::move(f), proxy);
          return;
        }
        std::vector<std::string> names;
        for (const auto* ft : faults::all_types()) names.emplace_back(ft->name);
        for (const auto& ht : faults::http::types()) names.emplace_back(ht.name);
        for (const auto& dt : faults::db::types()) names.emplace_back(dt.name);
        error(pos(*n), unknown_key_message("fault type", *s, names));
      }
    }
  } else {
    error(f.where, "fault is missing required key 'type'");
  }
  bool ok = type != nullptr;
  std::map<std::string, SourcePos> attr_pos;
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (key == "type") continue;
    if (key == "name") {
      if (auto s = get_string(k, v)) f.name = *s;
      if (f.name.empty()) error(pos(v), "'name' must not be empty"), ok = false;
    } else if (key == "stream") {
      if (auto s = get_string(k, v)) {
        if (*s != "upstream" && *s != "downstream") {
          error(pos(v), "'stream' must be \"upstream\" or \"downstream\", got \"" + *s + "\"");
          ok = false;
        } else {
          f.stream = *s;
        }
      }
    } else if (key == "toxicity") {
      if (auto p = get_probability("toxicity", v)) f.toxicity = *p;
    } else if (parse_control(key, v, f)) {
      continue;
    } else if (type) {
      const faults::AttrSpec* spec = nullptr;
      for (const auto& a : type->attributes)
        if (a.name == key) spec = &a;
      if (!spec) {
        std::vector<std::string> expected;
        for (const auto& a : type->attributes) expected.emplace_back(a.name);
        for (const char* c : {"name", "stream", "toxicity", "probability", "clients", "after",
                              "for", "count", "flap"})
          expected.emplace_back(c);
        error(pos(k), unknown_key_message("attribute", key, expected,
                                          "for fault type " + std::string(type->name)));
        ok = false;
        continue;
      }
      if (auto q = get_attribute(*spec, v)) {
        f.attributes[key] = *q;
        attr_pos[key] = pos(v);
      } else {
        ok = false;
      }
    }
  }
  if (f.name.empty() && !f.type.empty()) f.name = f.type + "_" + f.stream;
  if (ok) {
    // Ranges and cross-attribute rules are the fault type's own.
    auto built = faults::build(*type, f.attributes);
    if (!built) {
      auto it = attr_pos.find(built.error.attribute);
      error(it != attr_pos.end() ? it->second : f.where, built.error.message);
    }
  }
  add_fault(std::move(f), proxy);
}

void Loader::add_fault(ProfileFault f, RawProxy& proxy) {
  faults::FaultInstance probe;
  if (auto err = resolve_controls(f.controls, probe)) error(f.where, *err);
  for (const auto& other : proxy.faults)
    if (!f.name.empty() && other.name == f.name)
      error(f.where, "proxy '" + proxy.name + "' already has a fault named '" + f.name +
                         "' (declared at line " + std::to_string(other.where.line) + ")");
  proxy.faults.push_back(std::move(f));
}

namespace {

faults::http::Tree to_tree(const toml::node& n) {
  faults::http::Tree t;
  if (auto v = n.value_exact<std::string>()) {
    t.v = *v;
  } else if (auto i = n.value_exact<std::int64_t>()) {
    t.v = *i;
  } else if (auto d = n.value_exact<double>()) {
    t.v = *d;
  } else if (auto b = n.value_exact<bool>()) {
    t.v = *b;
  } else if (const auto* a = n.as_array()) {
    faults::http::TreeList l;
    for (const auto& item : *a) l.push_back(to_tree(item));
    t.v = std::move(l);
  } else if (const auto* tb = n.as_table()) {
    faults::http::TreeMap m;
    for (auto&& [k, v] : *tb) m[std::string(k.str())] = to_tree(v);
    t.v = std::move(m);
  }
  return t;
}

}  // namespace

// An HTTP fault: its attributes (match, headers, quota are tables) go to the
// HTTP fault parser, which names the attribute an error is about.
void Loader::parse_http_fault(const toml::table& t, const Validate& validate, ProfileFault f,
                              RawProxy& proxy) {
  faults::http::TreeMap attrs;
  std::map<std::string, SourcePos> at;
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (key == "type") continue;
    if (key == "name") {
      if (auto s = get_string(k, v)) f.name = *s;
    } else if (key == "stream") {
      if (auto s = get_string(k, v)) f.stream = *s;
    } else if (key == "toxicity") {
      if (auto p = get_probability("toxicity", v)) f.toxicity = *p;
    } else if (parse_control(key, v, f)) {
      continue;
    } else {
      attrs[key] = to_tree(v);
      at[key] = pos(k);
    }
  }
  if (f.name.empty()) f.name = f.type + "_" + f.stream;
  faults::http::Tree tree;
  tree.v = std::move(attrs);
  if (auto err = validate(tree, f.probability)) {
    auto it = at.find(err->attribute);
    error(it != at.end() ? it->second : f.where, err->message);
  }
  f.http = std::move(tree);
  add_fault(std::move(f), proxy);
}

void Loader::parse_proxy(const toml::table& t, std::vector<RawProxy>& out) {
  RawProxy p;
  p.where = pos(t);
  p.file = file_;
  const toml::array* faults_array = nullptr;
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (key == "name") {
      if (auto s = get_string(k, v)) p.name = *s;
      p.name_where = pos(v);
    } else if (key == "listen" || key == "upstream") {
      (key == "listen" ? p.listen_given : p.upstream_given) = true;
      if (key == "listen") p.listen_where = pos(v);
      if (auto s = get_string(k, v)) {
        auto hp = proxy::split_host_port(*s);
        if (!hp) {
          error(pos(v), "'" + key + "' must be host:port, got \"" + *s + "\": " + hp.error.message);
        } else if (key == "upstream" && hp.value->port == "0") {
          error(pos(v), "'upstream' needs a port other than 0, got \"" + *s + "\"");
        } else {
          (key == "listen" ? p.listen : p.upstream) = *s;
        }
      }
    } else if (key == "protocol") {
      if (auto s = get_string(k, v)) {
        if (*s == "tcp" || *s == "http" || *s == "postgres" || *s == "redis" || *s == "mysql") {
          p.protocol = *s;
        } else {
          error(pos(v),
                "unknown protocol '" + *s + "' (expected tcp, http, postgres, redis or mysql)");
        }
      }
    } else if (key == "enabled") {
      if (auto b = get_bool(k, v)) p.enabled = *b;
    } else if (key == "header_faults") {
      if (auto b = get_bool(k, v)) p.header_faults = *b;
    } else if (key == "pass_tls") {
      if (auto b = get_bool(k, v)) p.pass_tls = *b;
    } else if (key == "fault") {
      faults_array = v.as_array();
      if (!faults_array)
        error(pos(v), "'fault' must be an array of tables ([[proxy.fault]]), got " + type_name(v));
    } else {
      error(pos(k), unknown_key_message("proxy key", key,
                                        {"name", "listen", "upstream", "protocol", "enabled",
                                         "header_faults", "pass_tls", "fault"}));
    }
  }
  if (p.name.empty() && !t.get("name")) error(p.where, "proxy is missing required key 'name'");
  if (faults_array) {
    for (auto& item : *faults_array) {
      if (auto* ft = item.as_table())
        parse_fault(*ft, p);
      else
        error(pos(item), "each [[proxy.fault]] must be a table, got " + type_name(item));
    }
  }
  for (const auto& other : out)
    if (!p.name.empty() && other.name == p.name)
      error(p.name_where, "proxy '" + p.name + "' is declared twice in this file (first at line " +
                              std::to_string(other.where.line) + ")");
  out.push_back(std::move(p));
}

// Proxies of an including file extend those it included, by name.
void Loader::merge(std::vector<RawProxy>& into, std::vector<RawProxy>&& from) {
  for (auto& p : from) {
    auto it = std::find_if(into.begin(), into.end(),
                           [&](const RawProxy& q) { return !p.name.empty() && q.name == p.name; });
    if (it == into.end()) {
      into.push_back(std::move(p));
      continue;
    }
    if (p.listen) it->listen = p.listen, it->listen_where = p.listen_where;
    if (p.upstream) it->upstream = p.upstream;
    it->listen_given = it->listen_given || p.listen_given;
    it->upstream_given = it->upstream_given || p.upstream_given;
    if (p.protocol) it->protocol = p.protocol;
    if (p.enabled) it->enabled = p.enabled;
    if (p.header_faults) it->header_faults = p.header_faults;
    if (p.pass_tls) it->pass_tls = p.pass_tls;
    for (auto& f : p.faults) {
      for (const auto& g : it->faults)
        if (g.name == f.name)
          error(f.where, "proxy '" + p.name + "' already has a fault named '" + f.name +
                             "' (from " + g.where.file + ":" + std::to_string(g.where.line) + ")");
      it->faults.push_back(std::move(f));
    }
  }
}

void Loader::load_file(const std::string& path, bool main, std::vector<std::string>& stack) {
  const std::string saved_file = file_;
  struct Restore {
    std::string& ref;
    std::string value;
    ~Restore() { ref = value; }
  } restore{file_, saved_file};
  file_ = path;

  auto text = read_(path);
  if (!text) {
    error(SourcePos{path, 0, 0}, "cannot read the file");
    return;
  }
  sources[path] = *text;
  files.push_back(path);
  std::shared_ptr<toml::table> doc;
  try {
    doc = std::make_shared<toml::table>(toml::parse(*text, path));
  } catch (const toml::parse_error& e) {
    error(pos_of(e.source(), path), std::string(e.description()));
    return;
  }
  docs_.push_back(doc);

  std::vector<RawProxy> mine;
  std::vector<RawProxy> included;
  for (auto&& [k, v] : *doc) {
    const std::string key(k.str());
    if (key == "include") {
      auto* arr = v.as_array();
      if (!arr) {
        error(pos(v), "'include' must be an array of paths, got " + type_name(v));
        continue;
      }
      for (auto& item : *arr) {
        auto s = item.value_exact<std::string>();
        if (!s) {
          error(pos(item), "each include must be a path string, got " + type_name(item));
          continue;
        }
        namespace fs = std::filesystem;
        const fs::path p =
            fs::path(*s).is_absolute() ? fs::path(*s) : fs::path(path).parent_path() / fs::path(*s);
        const std::string resolved = p.lexically_normal().string();
        if (std::find(stack.begin(), stack.end(), resolved) != stack.end()) {
          error(pos(item), "include cycle: '" + resolved + "' includes itself");
          continue;
        }
        // A file reached along two paths (a diamond) is loaded once.
        if (std::find(files.begin(), files.end(), resolved) != files.end()) continue;
        if (!read_(resolved)) {
          error(pos(item), "cannot read included file '" + resolved + "'");
          continue;
        }
        stack.push_back(resolved);
        std::vector<RawProxy> saved;
        saved.swap(proxies);
        load_file(resolved, false, stack);
        file_ = path;
        stack.pop_back();
        std::vector<RawProxy> got;
        got.swap(proxies);
        proxies.swap(saved);
        merge(included, std::move(got));
      }
    } else if (key == "proxy") {
      auto* arr = v.as_array();
      if (!arr) {
        error(pos(v), "'proxy' must be an array of tables ([[proxy]]), got " + type_name(v));
        continue;
      }
      for (auto& item : *arr) {
        if (auto* t = item.as_table())
          parse_proxy(*t, mine);
        else
          error(pos(item), "each [[proxy]] must be a table, got " + type_name(item));
      }
    } else if (key == "phase") {
      if (!main) {
        error(pos(k), "phases belong in the main profile, not in an included file");
        continue;
      }
      auto* arr = v.as_array();
      if (!arr) {
        error(pos(v), "'phase' must be an array of tables ([[phase]]), got " + type_name(v));
        continue;
      }
      for (auto& item : *arr) {
        if (auto* t = item.as_table())
          phases.push_back({t, pos(*t)});
        else
          error(pos(item), "each [[phase]] must be a table, got " + type_name(item));
      }
      phases_file = path;
    } else if (key == "timeline") {
      if (!main) {
        error(pos(k), "[timeline] belongs in the main profile, not in an included file");
        continue;
      }
      auto* t = v.as_table();
      if (!t) {
        error(pos(v), "'timeline' must be a table, got " + type_name(v));
        continue;
      }
      for (auto&& [tk, tv] : *t) {
        if (tk.str() == "repeat") {
          if (auto b = get_bool(tk, tv)) repeat = *b;
        } else {
          error(pos(tk), unknown_key_message("timeline key", tk.str(), {"repeat"}));
        }
      }
    } else if (key == "drill" || key == "probe" || key == "steady_state" || key == "hypothesis" ||
               key == "guard") {
      // A drill's sections: `brownout drill` reads them (drill/spec.*); a
      // server that applies the profile runs its proxies and timeline only.
      if (!main)
        error(pos(k), "[" + key + "] belongs in the main profile, not in an included file");
    } else {
      error(pos(k), unknown_key_message("top-level key", key,
                                        {"include", "proxy", "phase", "timeline", "drill", "probe",
                                         "steady_state", "hypothesis", "guard"}));
    }
  }
  merge(included, std::move(mine));
  merge(proxies, std::move(included));
}

// Resolves phases against the merged proxies and their faults.
struct PhaseResolver {
  Loader& l;
  Profile& profile;

  ProfileFault* find_fault(const std::string& phase, const std::string& proxy,
                           const std::string& fault, SourcePos where, SourcePos proxy_where,
                           ProfileProxy** owner) {
    std::vector<std::pair<ProfileProxy*, ProfileFault*>> hits;
    for (auto& p : profile.proxies) {
      if (!proxy.empty() && p.name != proxy) continue;
      for (auto& f : p.faults)
        if (f.name == fault) hits.emplace_back(&p, &f);
    }
    if (!proxy.empty() && !profile.proxy(proxy)) {
      l.errors.push_back({proxy_where, "phase '" + phase + "' names proxy '" + proxy +
                                           "', which the profile does not declare"});
      return nullptr;
    }
    if (hits.empty()) {
      l.errors.push_back({where, "phase '" + phase + "' names fault '" + fault + "', which " +
                                     (proxy.empty() ? std::string("no proxy declares")
                                                    : "proxy '" + proxy + "' does not declare")});
      return nullptr;
    }
    if (hits.size() > 1) {
      std::vector<std::string> names;
      for (auto& [p, f] : hits) names.push_back(p->name);
      l.errors.push_back({where, "fault '" + fault + "' is declared by proxies " + one_of(names) +
                                     "; add proxy = \"...\" to say which"});
      return nullptr;
    }
    *owner = hits[0].first;
    return hits[0].second;
  }

  // A fixed value or { from = A, to = B }.
  template <class Convert>
  bool value_or_ramp(const toml::node& n, Convert convert, std::optional<double>& fixed,
                     std::optional<Ramp>& ramp) {
    if (auto* t = n.as_table()) {
      std::optional<double> from, to;
      bool ok = true;
      for (auto&& [k, v] : *t) {
        if (k.str() == "from") {
          from = convert(v);
          ok = ok && from;
        } else if (k.str() == "to") {
          to = convert(v);
          ok = ok && to;
        } else {
          l.errors.push_back({l.pos(k), unknown_key_message("ramp key", k.str(), {"from", "to"})});
          ok = false;
        }
      }
      if (ok && (!t->get("from") || !t->get("to"))) {
        l.errors.push_back({l.pos(n), "a ramp needs both 'from' and 'to'"});
        return false;
      }
      if (ok) ramp = Ramp{*from, *to};
      return ok;
    }
    fixed = convert(n);
    return fixed.has_value();
  }

  void resolve_fault(const toml::table& t, Phase& phase, std::set<std::string>& seen) {
    const SourcePos where = l.pos(t);
    std::string proxy_name, fault_name;
    if (auto* n = t.get("proxy")) {
      if (auto s = l.get_string(toml::key("proxy"), *n)) proxy_name = *s;
    }
    if (auto* n = t.get("fault")) {
      if (auto s = l.get_string(toml::key("fault"), *n)) fault_name = *s;
    } else {
      l.errors.push_back({where, "[[phase.fault]] is missing required key 'fault'"});
      return;
    }
    if (fault_name.empty()) return;
    ProfileProxy* owner = nullptr;
    const SourcePos fault_where = l.pos(*t.get("fault"));
    ProfileFault* fault = find_fault(phase.name, proxy_name, fault_name, fault_where,
                                     t.get("proxy") ? l.pos(*t.get("proxy")) : fault_where, &owner);
    if (!fault) return;
    const std::string id = owner->name + "/" + fault->name;
    if (!seen.insert(id).second) {
      l.errors.push_back(
          {where, "phase '" + phase.name + "' names fault '" + fault->name + "' twice"});
      return;
    }
    fault->timed = true;
    PhaseFault pf;
    pf.proxy = owner->name;
    pf.fault = fault->name;
    const faults::FaultType* type = faults::find_type(fault->type);
    bool ok = true;
    std::map<std::string, SourcePos> at;
    for (auto&& [k, v] : t) {
      const std::string key(k.str());
      if (key == "proxy" || key == "fault") continue;
      if (key == "toxicity") {
        ok = value_or_ramp(
                 v, [&](const toml::node& n) { return l.get_probability("toxicity", n); },
                 pf.toxicity, pf.toxicity_ramp) &&
             ok;
        continue;
      }
      if (key == "probability") {
        ok = value_or_ramp(
                 v, [&](const toml::node& n) { return l.get_probability("probability", n); },
                 pf.probability, pf.probability_ramp) &&
             ok;
        continue;
      }
      const faults::AttrSpec* spec = nullptr;
      if (type)
        for (const auto& a : type->attributes)
          if (a.name == key) spec = &a;
      if (!spec) {
        std::vector<std::string> expected{"fault", "proxy", "toxicity", "probability"};
        if (type)
          for (const auto& a : type->attributes) expected.emplace_back(a.name);
        l.errors.push_back({l.pos(k), unknown_key_message("key", key, expected,
                                                          "for fault '" + fault->name + "' (" +
                                                              fault->type + ")")});
        ok = false;
        continue;
      }
      at[key] = l.pos(v);
      if (spec->kind == faults::AttrKind::choice) {  // a word: set, never ramped
        if (auto w = l.get_attribute(*spec, v))
          pf.values[key] = *w;
        else
          ok = false;
        continue;
      }
      const bool whole = spec->kind == faults::AttrKind::integer;
      std::optional<double> fixed;
      std::optional<Ramp> ramp;
      const bool good = value_or_ramp(
          v,
          [&](const toml::node& n) -> std::optional<double> {
            auto a = l.get_attribute(*spec, n);
            if (!a) return std::nullopt;
            if (const auto* i = std::get_if<std::int64_t>(&*a)) return static_cast<double>(*i);
            if (const auto* d = std::get_if<double>(&*a)) return *d;
            return std::nullopt;
          },
          fixed, ramp);
      ok = ok && good;
      if (fixed)
        pf.values[key] =
            whole ? faults::Value{static_cast<std::int64_t>(*fixed)} : faults::Value{*fixed};
      if (ramp) {
        ramp->whole = whole;
        pf.ramps[key] = *ramp;
      }
    }
    if (ok && type) {
      // Both ends of every ramp must be values the fault accepts.
      for (int end = 0; end < 2; ++end) {
        std::map<std::string, faults::Value> given = fault->attributes;
        for (auto& [k, v] : pf.values) given[k] = v;
        for (auto& [k, r] : pf.ramps) {
          const double x = end == 0 ? r.from : r.to;
          given[k] = r.whole ? faults::Value{static_cast<std::int64_t>(x)} : faults::Value{x};
        }
        auto built = faults::build(*type, given);
        if (!built) {
          auto it = at.find(built.error.attribute);
          l.errors.push_back({it != at.end() ? it->second : where,
                              "phase '" + phase.name + "': " + built.error.message});
          break;
        }
      }
    }
    phase.faults.push_back(std::move(pf));
  }

  void run(const std::vector<RawPhase>& raw) {
    std::int64_t previous_end = 0;
    std::string previous_name;
    std::set<std::string> names;
    for (const auto& rp : raw) {
      const toml::table& t = *rp.table;
      Phase phase;
      std::optional<std::int64_t> start;
      bool have_duration = false;
      const toml::array* faults_array = nullptr;
      for (auto&& [k, v] : t) {
        const std::string key(k.str());
        if (key == "name") {
          if (auto s = l.get_string(k, v)) phase.name = *s;
          if (!phase.name.empty() && !names.insert(phase.name).second)
            l.errors.push_back({l.pos(v), "two phases are named '" + phase.name + "'"});
        } else if (key == "duration") {
          if (auto d = l.get_duration("duration", v)) {
            if (*d <= 0)
              l.errors.push_back({l.pos(v), "'duration' must be more than 0"});
            else
              phase.duration_ms = *d, have_duration = true;
          }
        } else if (key == "start") {
          if (v.value_exact<std::string>() == std::string(kAfterPrevious)) continue;
          start = l.get_duration("start", v);
          if (!start) l.errors.back().message += " (or \"after previous\")";
        } else if (key == "fault") {
          faults_array = v.as_array();
          if (!faults_array)
            l.errors.push_back(
                {l.pos(v),
                 "'fault' must be an array of tables ([[phase.fault]]), got " + type_name(v)});
        } else {
          l.errors.push_back(
              {l.pos(k),
               unknown_key_message("phase key", key, {"name", "start", "duration", "fault"})});
        }
      }
      if (!t.get("name")) l.errors.push_back({rp.where, "phase is missing required key 'name'"});
      if (!t.get("duration"))
        l.errors.push_back({rp.where, "phase is missing required key 'duration'"});
      phase.start_ms = start.value_or(previous_end);
      if (start && *start < previous_end)
        l.errors.push_back(
            {l.pos(*t.get("start")), "phase '" + phase.name + "' starts at " + ms_text(*start) +
                                         ", before phase '" + previous_name + "' ends at " +
                                         ms_text(previous_end) +
                                         " (phases are listed in time order and may not overlap)"});
      if (faults_array) {
        std::set<std::string> seen;
        for (auto& item : *faults_array) {
          if (auto* ft = item.as_table())
            resolve_fault(*ft, phase, seen);
          else
            l.errors.push_back(
                {l.pos(item), "each [[phase.fault]] must be a table, got " + type_name(item)});
        }
      }
      if (have_duration) previous_end = std::max(previous_end, phase.end_ms());
      previous_name = phase.name;
      profile.phases.push_back(std::move(phase));
    }
  }
};

LoadResult Loader::finish(const std::string& main_file) {
  LoadResult out;
  Profile profile;
  profile.file = main_file;
  profile.files = files;
  profile.repeat = repeat;
  for (auto& rp : proxies) {
    ProfileProxy p;
    p.name = rp.name;
    p.where = rp.where;
    if (!rp.listen_given)
      error(rp.where, "proxy '" + rp.name + "' is missing required key 'listen'");
    if (!rp.upstream_given)
      error(rp.where, "proxy '" + rp.name + "' is missing required key 'upstream'");
    p.listen = rp.listen.value_or("");
    p.upstream = rp.upstream.value_or("");
    p.protocol = rp.protocol.value_or("tcp");
    p.enabled = rp.enabled.value_or(true);
    p.header_faults = rp.header_faults.value_or(false);
    p.pass_tls = rp.pass_tls.value_or(false);
    for (const auto& f : rp.faults) {
      if (!f.http) continue;
      std::string needed = "http";
      if (const auto* dt = faults::db::find_type(f.type))
        needed = std::string(faults::db::protocol_name(dt->protocol));
      if (p.protocol != needed)
        error(f.where, "fault '" + f.name + "' (" + f.type + ") needs protocol = \"" + needed +
                           "\" on proxy '" + rp.name + "'");
    }
    p.faults = std::move(rp.faults);
    profile.proxies.push_back(std::move(p));
  }
  // Two proxies may not listen on the same address (a name declared twice
  // is already an error of its own).
  for (std::size_t i = 0; i < profile.proxies.size(); ++i) {
    auto a = proxy::split_host_port(profile.proxies[i].listen);
    if (!a) continue;
    for (std::size_t j = 0; j < i; ++j) {
      if (profile.proxies[j].name == profile.proxies[i].name) continue;
      auto b = proxy::split_host_port(profile.proxies[j].listen);
      if (b && overlaps(*a.value, *b.value))
        error(proxies[i].listen_where, "proxy '" + profile.proxies[i].name + "' listens on " +
                                           profile.proxies[i].listen + ", which overlaps proxy '" +
                                           profile.proxies[j].name + "' on " +
                                           profile.proxies[j].listen);
    }
  }
  if (!phases.empty()) {
    const std::string saved = file_;
    file_ = phases_file;
    PhaseResolver{*this, profile}.run(phases);
    file_ = saved;
  }

  // Errors in file order, then by position.
  std::stable_sort(errors.begin(), errors.end(), [&](const ProfileError& a, const ProfileError& b) {
    auto rank = [&](const std::string& f) {
      return std::find(files.begin(), files.end(), f) - files.begin();
    };
    return std::tuple(rank(a.where.file), a.where.line, a.where.column) <
           std::tuple(rank(b.where.file), b.where.line, b.where.column);
  });
  out.errors = std::move(errors);
  out.sources = std::move(sources);
  if (out.errors.empty()) out.profile = std::move(profile);
  return out;
}

}  // namespace

std::string ProfileError::text() const {
  if (where.line == 0) return where.file + ": " + message;
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
         message;
}

std::string LoadResult::error_text() const {
  std::string out;
  for (const auto& e : errors) out += e.text() + "\n";
  return out;
}

const ProfileProxy* Profile::proxy(std::string_view name) const {
  for (const auto& p : proxies)
    if (p.name == name) return &p;
  return nullptr;
}

const ProfileFault* Profile::fault(std::string_view proxy_name, std::string_view fault) const {
  const ProfileProxy* p = proxy(proxy_name);
  if (!p) return nullptr;
  for (const auto& f : p->faults)
    if (f.name == fault) return &f;
  return nullptr;
}

FileReader disk_reader() {
  return [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream s;
    s << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return s.str();
  };
}

FileReader memory_reader(std::map<std::string, std::string> files) {
  auto shared = std::make_shared<const std::map<std::string, std::string>>(std::move(files));
  return [shared](const std::string& path) -> std::optional<std::string> {
    auto it = shared->find(path);
    if (it == shared->end()) return std::nullopt;
    return it->second;
  };
}

LoadResult load_profile(const std::string& path, const FileReader& read) {
  return load_profiles({path}, read);
}

LoadResult load_profiles(const std::vector<std::string>& paths, const FileReader& read) {
  Loader loader(read);
  std::vector<RawProxy> all;
  std::string phases_from;
  for (const auto& path : paths) {
    std::vector<std::string> stack{std::filesystem::path(path).lexically_normal().string()};
    const auto phases_before = loader.phases.size();
    loader.load_file(path, true, stack);
    if (loader.phases.size() > phases_before) {
      if (!phases_from.empty() && phases_from != path)
        loader.errors.push_back(
            {SourcePos{path, 0, 0},
             "has phases, and so has " + phases_from + "; only one profile may have a timeline"});
      phases_from = path;
    }
    std::vector<RawProxy> got;
    got.swap(loader.proxies);
    for (auto& p : got) {
      for (const auto& q : all)
        if (!p.name.empty() && q.name == p.name)
          loader.errors.push_back(
              {p.name_where, "proxy '" + p.name + "' is also declared in " + q.file});
      all.push_back(std::move(p));
    }
  }
  loader.proxies = std::move(all);
  return loader.finish(paths.empty() ? std::string() : paths.front());
}

std::string to_toml(const Profile& profile) {
  toml::array proxies;
  for (const auto& p : profile.proxies) {
    toml::table t;
    t.insert("name", p.name);
    t.insert("listen", p.listen);
    t.insert("upstream", p.upstream);
    if (p.protocol != "tcp") t.insert("protocol", p.protocol);
    if (!p.enabled) t.insert("enabled", false);
    toml::array fs;
    for (const auto& f : p.faults) {
      toml::table ft;
      ft.insert("name", f.name);
      ft.insert("type", f.type);
      ft.insert("stream", f.stream);
      if (f.toxicity != 1.0) ft.insert("toxicity", f.toxicity);
      const faults::FaultType* type = faults::find_type(f.type);
      for (const auto& [k, v] : f.attributes) {
        std::string_view unit;
        if (type)
          for (const auto& a : type->attributes)
            if (a.name == k) unit = a.unit;
        if (const auto* d = std::get_if<double>(&v)) ft.insert(k, *d);
        if (const auto* w = std::get_if<std::string>(&v)) ft.insert(k, *w);
        const auto* i = std::get_if<std::int64_t>(&v);
        if (!i) continue;
        // The short form with units only when it reads back as the same value.
        const std::string text = unit.empty() ? std::string() : faults::format_quantity(*i, unit);
        const auto back =
            text.empty() ? faults::Result<std::int64_t>{} : faults::parse_quantity(text, unit);
        if (back && *back.value == *i)
          ft.insert(k, text);
        else
          ft.insert(k, *i);
      }
      if (f.probability != 1.0 && !f.http) ft.insert("probability", f.probability);
      const auto& c = f.controls;
      if (c.clients) {
        toml::array a;
        for (const auto& b : *c.clients) a.push_back(b);
        ft.insert("clients", std::move(a));
      }
      const auto ms = [](std::int64_t v) { return faults::format_quantity(v, "ms"); };
      if (c.after_ms) ft.insert("after", ms(*c.after_ms));
      if (c.for_ms) ft.insert("for", ms(*c.for_ms));
      if (c.count) ft.insert("count", *c.count);
      if (c.flap)
        ft.insert("flap", toml::table{{"on", ms(c.flap->first)}, {"off", ms(c.flap->second)}});
      fs.push_back(std::move(ft));
    }
    if (!fs.empty()) t.insert("fault", std::move(fs));
    proxies.push_back(std::move(t));
  }
  toml::table root;
  root.insert("proxy", std::move(proxies));
  std::ostringstream out;
  out << toml::toml_formatter(root) << "\n";
  return out.str();
}

LoadResult import_toxiproxy_json(std::string_view json_text, const std::string& name) {
  namespace json = boost::json;
  LoadResult out;
  auto fail = [&](std::string message) {
    out.errors.push_back({SourcePos{name, 0, 0}, std::move(message)});
    return out;
  };
  boost::system::error_code ec;
  json::value doc = json::parse(json_text, ec);
  if (ec) return fail("not valid JSON: " + ec.message());
  std::vector<const json::object*> entries;
  if (doc.is_array()) {
    for (const auto& v : doc.as_array()) {
      if (!v.is_object()) return fail("each proxy must be a JSON object");
      entries.push_back(&v.as_object());
    }
  } else if (doc.is_object()) {
    for (const auto& [k, v] : doc.as_object()) {
      if (!v.is_object()) return fail("proxy '" + std::string(k) + "' must be a JSON object");
      entries.push_back(&v.as_object());
    }
  } else {
    return fail("expected a Toxiproxy config (an array of proxies) or GET /proxies' object");
  }
  auto str = [](const json::object& o, const char* key) -> std::string {
    auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  Profile profile;
  profile.file = name;
  for (const auto* o : entries) {
    ProfileProxy p;
    p.name = str(*o, "name");
    p.listen = str(*o, "listen");
    p.upstream = str(*o, "upstream");
    if (p.name.empty() || p.upstream.empty())
      return fail("every proxy needs a name and an upstream");
    if (p.listen.empty()) p.listen = "127.0.0.1:0";
    if (auto* e = o->if_contains("enabled"); e && e->is_bool()) p.enabled = e->as_bool();
    if (auto* toxics = o->if_contains("toxics"); toxics && toxics->is_array()) {
      for (const auto& tv : toxics->as_array()) {
        if (!tv.is_object()) return fail("each toxic must be a JSON object");
        const auto& t = tv.as_object();
        ProfileFault f;
        f.type = str(t, "type");
        f.name = str(t, "name");
        f.stream = str(t, "stream").empty() ? "downstream" : str(t, "stream");
        if (auto* x = t.if_contains("toxicity"); x && x->is_number())
          f.toxicity = x->to_number<double>();
        const faults::FaultType* type = faults::find_type(f.type);
        if (!type) return fail("proxy '" + p.name + "': unknown toxic type '" + f.type + "'");
        if (auto* a = t.if_contains("attributes"); a && a->is_object()) {
          for (const auto& [k, v] : a->as_object()) {
            if (v.is_int64()) {
              f.attributes[std::string(k)] = v.as_int64();
            } else if (v.is_uint64()) {
              f.attributes[std::string(k)] = static_cast<std::int64_t>(v.as_uint64());
            } else if (v.is_double() && v.as_double() == std::floor(v.as_double()) &&
                       std::abs(v.as_double()) < 9e15) {
              f.attributes[std::string(k)] = static_cast<std::int64_t>(v.as_double());
            } else if (v.is_double()) {
              f.attributes[std::string(k)] = v.as_double();  // a percentage
            } else if (v.is_string()) {
              f.attributes[std::string(k)] = std::string(v.as_string());  // a word
            } else {
              return fail("proxy '" + p.name + "', toxic '" + str(t, "name") + "': attribute " +
                          std::string(k) + " must be a number or a word");
            }
          }
        }
        if (f.name.empty()) f.name = f.type + "_" + f.stream;
        auto built = faults::build(*type, f.attributes);
        if (!built)
          return fail("proxy '" + p.name + "', toxic '" + f.name + "': " + built.error.message);
        p.faults.push_back(std::move(f));
      }
    }
    profile.proxies.push_back(std::move(p));
  }
  out.profile = std::move(profile);
  return out;
}

}  // namespace brownout::control
