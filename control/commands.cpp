#include "control/commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <set>

#include "control/client.hpp"
#include "control/profile.hpp"
#include "control/timeline.hpp"
#include "faults/cidr.hpp"
#include "faults/db.hpp"
#include "faults/http.hpp"
#include "faults/registry.hpp"
#include "faults/units.hpp"

namespace brownout::control::commands {

namespace json = boost::json;

namespace {

// One API call; prints the failure and sets `exit` when it does not succeed.
std::optional<json::value> call(const Context& c, const std::string& method,
                                const std::string& path, const std::string& body, int& exit) {
  auto r = http_call(c.server, method, path, body);
  if (!r.reached) {
    c.err << "brownout: cannot reach the server at " << c.server << ": " << r.error
          << " (start one with `brownout serve`, or point --server / BROWNOUT_SERVER at it)\n";
    exit = kUnreachable;
    return std::nullopt;
  }
  if (r.status >= 400) {
    std::string message = r.body;
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object() && v.as_object().contains("error") && v.at("error").is_string())
      message = std::string(v.at("error").as_string());
    while (!message.empty() && message.back() == '\n') message.pop_back();
    c.err << "brownout: " << message << " (HTTP " << r.status << ")\n";
    exit = kRefused;
    return std::nullopt;
  }
  exit = kOk;
  if (r.body.empty()) return json::value(nullptr);
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec) return json::value(json::string(r.body));
  return v;
}

std::string str(const json::value& v, const char* key) {
  if (!v.is_object()) return {};
  const auto* f = v.as_object().if_contains(key);
  if (!f) return {};
  if (f->is_string()) return std::string(f->as_string());
  return json::serialize(*f);
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  const auto display = [](const std::string& s) {  // count UTF-8 code points
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
  };
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], display(row[i]));
    }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - display(row[i]) + 2, ' ');
    }
    out << line << "\n";
  }
}

const faults::AttrSpec* spec_of(const faults::FaultType& type, std::string_view attr) {
  for (const auto& s : type.attributes)
    if (s.name == attr) return &s;
  return nullptr;
}

const char* kind_name(const faults::AttrSpec& s) {
  switch (s.kind) {
    case faults::AttrKind::number:
      return "number";
    case faults::AttrKind::choice:
      return "choice";
    case faults::AttrKind::integer:
      break;
  }
  return "integer";
}

std::string summary(const json::value& toxic) {
  const std::string type = str(toxic, "type");
  std::string out = type;
  const faults::FaultType* t = faults::find_type(type);
  const auto* attrs = toxic.as_object().if_contains("attributes");
  const auto value = [&](std::string_view name) -> std::optional<std::int64_t> {
    if (!attrs || !attrs->is_object()) return std::nullopt;
    const auto* v = attrs->as_object().if_contains(name);
    if (!v || !v->is_number()) return std::nullopt;
    return v->to_number<std::int64_t>();
  };
  if (!t) {  // an HTTP fault: its status or delay says most
    if (auto s = value("status")) out += " " + std::to_string(*s);
    if (auto d = value("delay"); d && *d) out += " " + faults::format_quantity(*d, "ms");
    if (auto b = value("bytes")) out += " " + faults::format_quantity(*b, "bytes");
    if (attrs && attrs->is_object())
      for (const char* key : {"error", "sqlstate", "mode"})
        if (const auto* v = attrs->as_object().if_contains(key); v && v->is_string()) {
          out += " " + std::string(v->as_string());
          break;
        }
  }
  if (t && !t->attributes.empty()) {
    const auto& first = t->attributes.front();
    if (first.kind == faults::AttrKind::number) {
      if (const auto* v = attrs ? attrs->as_object().if_contains(first.name) : nullptr;
          v && v->is_number())
        out +=
            " " + std::string(first.name) + "=" + fmt::format("{}", v->to_number<double>()) + "%";
    } else if (auto v = value(first.name)) {
      out += " " + faults::format_quantity(*v, first.unit);
    }
    if (type == "latency")
      if (auto j = value("jitter"); j && *j) out += "±" + faults::format_quantity(*j, "ms");
    // Words say how it acts (mode=queue, distribution=pareto) when not the default.
    for (const auto& s : t->attributes) {
      if (s.kind != faults::AttrKind::choice || !attrs || !attrs->is_object()) continue;
      const auto* v = attrs->as_object().if_contains(s.name);
      if (v && v->is_string() && v->as_string() != s.words().front())
        out += " " + std::string(v->as_string());
    }
  }
  const auto& o = toxic.as_object();
  const auto ms_field = [&](const char* key) -> std::optional<std::int64_t> {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_number()) return std::nullopt;
    return v->to_number<std::int64_t>();
  };
  if (const auto* p = o.if_contains("probability");
      p && p->is_number() && !faults::http::find_type(type))
    out += std::string(faults::db::find_type(type) ? " per request " : " per chunk ") +
           std::to_string(static_cast<int>(p->to_number<double>() * 100 + 0.5)) + "%";
  if (const auto* c = o.if_contains("clients"); c && c->is_array()) {
    std::string list;
    for (const auto& b : c->as_array())
      if (b.is_string()) list += (list.empty() ? "" : ",") + std::string(b.as_string());
    out += " clients " + list;
  }
  if (auto v = ms_field("after")) out += " after " + faults::format_quantity(*v, "ms");
  if (auto v = ms_field("for")) out += " for " + faults::format_quantity(*v, "ms");
  if (auto v = ms_field("count")) out += " count " + std::to_string(*v);
  if (const auto* f = o.if_contains("flap"); f && f->is_object()) {
    const auto* on = f->as_object().if_contains("on");
    const auto* off = f->as_object().if_contains("off");
    if (on && off && on->is_number() && off->is_number())
      out += " flap " + faults::format_quantity(on->to_number<std::int64_t>(), "ms") + "/" +
             faults::format_quantity(off->to_number<std::int64_t>(), "ms");
  }
  std::string stream = str(toxic, "stream");
  std::transform(stream.begin(), stream.end(), stream.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  if (!faults::db::find_type(type)) out += stream == "upstream" ? " ↑" : " ↓";
  if (const auto* tox = toxic.as_object().if_contains("toxicity"); tox && tox->is_number()) {
    const double p = tox->to_number<double>();
    if (p < 1.0) out += " " + std::to_string(static_cast<int>(p * 100 + 0.5)) + "%";
  }
  return out;
}

int usage(const Context& c, const std::string& message) {
  c.err << "brownout: " << message << "\n";
  return kUsage;
}

// Converts --ATTR values with units into the API's integers for `type`.
std::optional<json::object> attributes_for(const Context& c, const faults::FaultType& type,
                                           const FaultArgs& a, int& exit) {
  json::object attrs;
  for (const auto& [name, text] : a.attributes) {
    const faults::AttrSpec* s = spec_of(type, name);
    if (!s) {
      std::string have;
      for (const auto& spec : type.attributes)
        have += (have.empty() ? "" : ", ") + std::string(spec.name);
      exit = usage(c, "fault type " + std::string(type.name) + " has no attribute --" + name +
                          " (it has: " + (have.empty() ? "none" : have) + ")");
      return std::nullopt;
    }
    if (s->kind == faults::AttrKind::choice) {
      attrs[name] = text;  // the server names the words it takes
      continue;
    }
    if (s->kind == faults::AttrKind::number) {
      std::string t = text;
      if (!t.empty() && t.back() == '%') t.pop_back();
      double d = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
      if (t.empty() || ec != std::errc() || p != t.data() + t.size()) {
        exit = usage(
            c, "--" + name + ": '" + text + "' is not a number (" + std::string(s->unit) + ")");
        return std::nullopt;
      }
      attrs[name] = d;
      continue;
    }
    auto v = faults::parse_quantity(text, s->unit);
    if (!v) {
      exit = usage(c, "--" + name + ": " + v.error.message);
      return std::nullopt;
    }
    attrs[name] = *v.value;
  }
  return attrs;
}

// --probability, --clients, --after, --for, --count, --flap into the body.
bool add_controls(const Context& c, const FaultArgs& a, json::object& body, int& exit) {
  if (a.probability) body["probability"] = *a.probability;
  if (!a.clients.empty()) {
    json::array list;
    for (const auto& text : a.clients) {
      if (auto b = faults::parse_cidr(text); !b) {
        exit = usage(c, "--clients: " + b.error.message);
        return false;
      }
      list.emplace_back(text);
    }
    body["clients"] = std::move(list);
  }
  const auto duration = [&](const char* flag, const std::optional<std::string>& text,
                            const char* key) {
    if (!text) return true;
    auto ms = faults::parse_quantity(*text, "ms");
    if (!ms) {
      exit = usage(c, std::string(flag) + ": " + ms.error.message);
      return false;
    }
    body[key] = *ms.value;
    return true;
  };
  if (!duration("--after", a.after, "after") || !duration("--for", a.for_, "for")) return false;
  if (a.count) body["count"] = *a.count;
  if (a.flap) {
    const auto slash = a.flap->find('/');
    auto on = faults::parse_quantity(a.flap->substr(0, slash), "ms");
    auto off = slash == std::string::npos ? decltype(on){}
                                          : faults::parse_quantity(a.flap->substr(slash + 1), "ms");
    if (!on || !off) {
      exit = usage(c, "--flap: give ON/OFF durations, such as 5s/10s");
      return false;
    }
    body["flap"] = json::object{{"on", *on.value}, {"off", *off.value}};
  }
  return true;
}

std::optional<std::string> stream_name(const std::string& s) {
  if (s == "up" || s == "upstream") return "upstream";
  if (s == "down" || s == "downstream") return "downstream";
  return std::nullopt;
}

int print_json(const Context& c, const json::value& v) {
  c.out << json::serialize(v) << "\n";
  return kOk;
}

}  // namespace

std::string fault_summary(const std::string& toxic_json) {
  boost::system::error_code ec;
  auto v = json::parse(toxic_json, ec);
  if (ec || !v.is_object()) return {};
  return summary(v);
}

std::vector<std::string> attribute_names() {
  std::set<std::string> names;
  for (const auto* t : faults::all_types())
    for (const auto& s : t->attributes) names.insert(std::string(s.name));
  return {names.begin(), names.end()};
}

int list(const Context& c) {
  int exit = kOk;
  auto proxies = call(c, "GET", "/proxies", "", exit);
  if (!proxies) return exit;
  auto stats = call(c, "GET", "/stats", "", exit);
  if (!stats) return exit;
  if (c.json) {
    json::array out;
    for (const auto& [name, p] : proxies->as_object()) {
      json::object o = p.as_object();
      if (const auto* s = stats->as_object().if_contains("proxies"))
        if (const auto* ps = s->as_object().if_contains(name)) o["stats"] = *ps;
      out.push_back(o);
    }
    return print_json(c, out);
  }
  std::vector<std::vector<std::string>> rows{
      {"NAME", "LISTEN", "UPSTREAM", "ENABLED", "CONNS", "FAULTS"}};
  for (const auto& [name, p] : proxies->as_object()) {
    std::string faults;
    for (const auto& t : p.at("toxics").as_array())
      faults += (faults.empty() ? "" : ", ") + summary(t);
    std::string conns = "-";
    if (const auto* s = stats->as_object().if_contains("proxies"))
      if (const auto* ps = s->as_object().if_contains(name)) conns = str(*ps, "active");
    rows.push_back({std::string(name), str(p, "listen"), str(p, "upstream"),
                    p.at("enabled").as_bool() ? "yes" : "no", conns,
                    faults.empty() ? "-" : faults});
  }
  if (rows.size() == 1) {
    c.out << "no proxies (create one with `brownout create NAME --listen ADDR --upstream ADDR`)\n";
    return kOk;
  }
  print_table(c.out, rows);
  return kOk;
}

int inspect(const Context& c, const std::string& proxy) {
  int exit = kOk;
  auto p = call(c, "GET", "/proxies/" + proxy, "", exit);
  if (!p) return exit;
  if (c.json) return print_json(c, *p);
  c.out << "proxy     " << str(*p, "name") << "\n"
        << "listen    " << str(*p, "listen") << "\n"
        << "upstream  " << str(*p, "upstream") << "\n"
        << "enabled   " << (p->at("enabled").as_bool() ? "yes" : "no") << "\n";
  const auto& toxics = p->at("toxics").as_array();
  if (toxics.empty()) {
    c.out << "faults    none\n";
    return kOk;
  }
  std::vector<std::vector<std::string>> rows{{"FAULT", "TYPE", "STREAM", "TOXICITY", "ATTRIBUTES"}};
  for (const auto& t : toxics) {
    const faults::FaultType* type = faults::find_type(str(t, "type"));
    std::string attrs;
    for (const auto& [k, v] : t.at("attributes").as_object()) {
      const faults::AttrSpec* s = type ? spec_of(*type, k) : nullptr;
      const std::string shown = s && v.is_number()
                                    ? faults::format_quantity(v.to_number<std::int64_t>(), s->unit)
                                    : json::serialize(v);
      attrs += (attrs.empty() ? "" : " ") + std::string(k) + "=" + shown;
    }
    char tox[32];
    std::snprintf(tox, sizeof tox, "%g", t.at("toxicity").to_number<double>());
    rows.push_back(
        {str(t, "name"), str(t, "type"), str(t, "stream"), tox, attrs.empty() ? "-" : attrs});
  }
  c.out << "\n";
  print_table(c.out, rows);
  return kOk;
}

int create(const Context& c, const std::string& proxy, const std::string& listen,
           const std::string& upstream, const std::string& protocol) {
  int exit = kOk;
  json::object body{{"name", proxy}, {"listen", listen}, {"upstream", upstream}, {"enabled", true}};
  if (!protocol.empty()) {
    if (protocol != "tcp" && protocol != "http" && protocol != "postgres" && protocol != "redis" &&
        protocol != "mysql")
      return usage(
          c, "--protocol: expected tcp, http, postgres, redis or mysql, got '" + protocol + "'");
    body["protocol"] = protocol;
  }
  auto p = call(c, "POST", "/proxies", json::serialize(body), exit);
  if (!p) return exit;
  if (c.json) return print_json(c, *p);
  c.out << "created proxy " << proxy << ": " << str(*p, "listen") << " -> " << str(*p, "upstream")
        << "\n";
  return kOk;
}

int set_enabled(const Context& c, const std::string& proxy, std::optional<bool> enabled) {
  int exit = kOk;
  if (!enabled) {
    auto p = call(c, "GET", "/proxies/" + proxy, "", exit);
    if (!p) return exit;
    enabled = !p->at("enabled").as_bool();
  }
  json::object body{{"enabled", *enabled}};
  auto p = call(c, "PATCH", "/proxies/" + proxy, json::serialize(body), exit);
  if (!p) return exit;
  if (c.json) return print_json(c, *p);
  c.out << "proxy " << proxy << " is now " << (*enabled ? "enabled" : "disabled") << "\n";
  return kOk;
}

int remove(const Context& c, const std::string& proxy) {
  int exit = kOk;
  if (!call(c, "DELETE", "/proxies/" + proxy, "", exit)) return exit;
  if (c.json) return print_json(c, json::object{{"deleted", proxy}});
  c.out << "deleted proxy " << proxy << "\n";
  return kOk;
}

int reset(const Context& c) {
  int exit = kOk;
  if (!call(c, "POST", "/reset", "", exit)) return exit;
  if (c.json) return print_json(c, json::object{{"reset", true}});
  c.out << "every proxy enabled, every fault removed\n";
  return kOk;
}

namespace {

// A command-line value as JSON: whole numbers and booleans as such, the rest
// as strings (the server reads units: "300ms").
json::value cli_value(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc() && p == text.data() + text.size() && !text.empty()) return n;
  return json::string(text);
}

std::optional<std::pair<std::string, std::string>> key_value(const std::string& s) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) return std::nullopt;
  return std::make_pair(s.substr(0, eq), s.substr(eq + 1));
}

// The attributes of an HTTP fault from --ATTR, --set, --header and --match.
std::optional<json::object> http_attributes(const Context& c, const FaultArgs& a, int& exit) {
  json::object attrs;
  for (const auto& [k, v] : a.attributes) attrs[k] = cli_value(v);
  for (const auto& s : a.set) {
    auto kv = key_value(s);
    if (!kv) {
      exit = usage(c, "--set: expected KEY=VALUE, got '" + s + "'");
      return std::nullopt;
    }
    if (kv->first == "quota") {  // REQUESTS/WINDOW, as in 20/2s
      const auto slash = kv->second.find('/');
      if (slash == std::string::npos) {
        exit = usage(c, "--set quota: expected REQUESTS/WINDOW such as 20/2s");
        return std::nullopt;
      }
      attrs["quota"] = json::object{{"requests", cli_value(kv->second.substr(0, slash))},
                                    {"window", cli_value(kv->second.substr(slash + 1))}};
      continue;
    }
    attrs[kv->first] = cli_value(kv->second);
  }
  for (const auto& h : a.header) {
    auto kv = key_value(h);
    if (!kv) {
      exit = usage(c, "--header: expected NAME=VALUE, got '" + h + "'");
      return std::nullopt;
    }
    if (!attrs.contains("headers")) attrs["headers"] = json::object{};
    attrs["headers"].as_object()[kv->first] = kv->second;
  }
  for (const auto& m : a.match) {
    auto kv = key_value(m);
    if (!kv) {
      exit = usage(c,
                   "--match: expected KEY=VALUE (method, path, path_prefix, path_regex, "
                   "body_contains, header.NAME), got '" +
                       m + "'");
      return std::nullopt;
    }
    if (!attrs.contains("match")) attrs["match"] = json::object{};
    auto& match = attrs["match"].as_object();
    if (kv->first.rfind("header.", 0) == 0) {
      if (!match.contains("headers")) match["headers"] = json::object{};
      match["headers"].as_object()[kv->first.substr(7)] = kv->second;
    } else {
      match[kv->first] = kv->second;
    }
  }
  return attrs;
}

}  // namespace

int fault_add(const Context& c, const FaultArgs& a) {
  const faults::FaultType* type = faults::find_type(a.type);
  // Message faults (HTTP, database) take --set and --match.
  const bool http = !type && (faults::http::find_type(a.type) || faults::db::find_type(a.type));
  if (!type && !http) {
    std::string have;
    for (const auto* t : faults::all_types())
      have += (have.empty() ? "" : ", ") + std::string(t->name);
    for (const auto& t : faults::http::types()) have += ", " + std::string(t.name);
    for (const auto& t : faults::db::types()) have += ", " + std::string(t.name);
    return usage(c, "unknown fault type '" + a.type + "' (known: " + have + ")");
  }
  if (!http && (!a.set.empty() || !a.header.empty() || !a.match.empty()))
    return usage(
        c,
        "--set, --header and --match are for HTTP and database faults (http_*, pg_*, mysql_*, "
        "redis_*)");
  int exit = kOk;
  auto attrs = http ? http_attributes(c, a, exit) : attributes_for(c, *type, a, exit);
  if (!attrs) return exit;
  json::object body{{"type", a.type}, {"attributes", *attrs}};
  if (!add_controls(c, a, body, exit)) return exit;
  if (a.name) body["name"] = *a.name;
  if (a.stream) {
    auto s = stream_name(*a.stream);
    if (!s)
      return usage(c, "--stream: '" + *a.stream + "' is not up, down, upstream or downstream");
    body["stream"] = *s;
  }
  if (a.toxicity) {
    if (!(*a.toxicity >= 0 && *a.toxicity <= 1))
      return usage(c, "--toxicity: must be between 0 and 1");
    body["toxicity"] = *a.toxicity;
  }
  auto t = call(c, "POST", "/proxies/" + a.proxy + "/toxics", json::serialize(body), exit);
  if (!t) return exit;
  if (c.json) return print_json(c, *t);
  c.out << "added fault " << str(*t, "name") << " to " << a.proxy << ": " << summary(*t) << "\n";
  return kOk;
}

int fault_update(const Context& c, const FaultArgs& a) {
  int exit = kOk;
  auto current = call(c, "GET", "/proxies/" + a.proxy + "/toxics/" + a.fault, "", exit);
  if (!current) return exit;
  const faults::FaultType* type = faults::find_type(str(*current, "type"));
  const auto current_type = str(*current, "type");
  const bool http =
      !type && (faults::http::find_type(current_type) || faults::db::find_type(current_type));
  if (!type && !http)
    return usage(
        c, "the server's fault type '" + str(*current, "type") + "' is unknown to this client");
  auto attrs = http ? http_attributes(c, a, exit) : attributes_for(c, *type, a, exit);
  if (!attrs) return exit;
  json::object body{{"attributes", *attrs}};
  if (!add_controls(c, a, body, exit)) return exit;
  if (a.toxicity) {
    if (!(*a.toxicity >= 0 && *a.toxicity <= 1))
      return usage(c, "--toxicity: must be between 0 and 1");
    body["toxicity"] = *a.toxicity;
  }
  auto t =
      call(c, "PATCH", "/proxies/" + a.proxy + "/toxics/" + a.fault, json::serialize(body), exit);
  if (!t) return exit;
  if (c.json) return print_json(c, *t);
  c.out << "updated fault " << a.fault << " on " << a.proxy << ": " << summary(*t) << "\n";
  return kOk;
}

int fault_remove(const Context& c, const FaultArgs& a) {
  int exit = kOk;
  if (!call(c, "DELETE", "/proxies/" + a.proxy + "/toxics/" + a.fault, "", exit)) return exit;
  if (c.json) return print_json(c, json::object{{"removed", a.fault}, {"proxy", a.proxy}});
  c.out << "removed fault " << a.fault << " from " << a.proxy << "\n";
  return kOk;
}

int fault_types(const Context& c) {
  if (c.json) {
    json::array out;
    for (const auto* t : faults::all_types()) {
      json::array attrs;
      for (const auto& s : t->attributes) {
        json::object a{{"name", s.name},      {"unit", s.unit}, {"default", s.default_value},
                       {"min", s.min},        {"max", s.max},   {"help", s.help},
                       {"kind", kind_name(s)}};
        if (s.kind == faults::AttrKind::choice) {
          json::array words;
          for (auto w : s.words()) words.emplace_back(w);
          a["default"] = words.empty() ? json::value() : words.front();
          a["choices"] = std::move(words);
        }
        attrs.push_back(std::move(a));
      }
      out.push_back(
          json::object{{"type", t->name}, {"summary", t->summary}, {"attributes", attrs}});
    }
    return print_json(c, out);
  }
  std::vector<std::vector<std::string>> rows{{"TYPE", "ATTRIBUTE", "UNIT", "DEFAULT", "MEANING"}};
  for (const auto* t : faults::all_types()) {
    rows.push_back({std::string(t->name), "", "", "", std::string(t->summary)});
    for (const auto& s : t->attributes) {
      if (s.kind == faults::AttrKind::choice) {
        std::string words;
        for (auto w : s.words()) words += (words.empty() ? "" : "|") + std::string(w);
        rows.push_back({"", "--" + std::string(s.name), words, std::string(s.words().front()),
                        std::string(s.help)});
        continue;
      }
      rows.push_back({"", "--" + std::string(s.name),
                      faults::accepted_units(s.unit) == std::string(s.unit)
                          ? std::string(s.unit)
                          : std::string(s.unit) + " (or " + faults::accepted_units(s.unit) + ")",
                      std::to_string(s.default_value), std::string(s.help)});
    }
  }
  print_table(c.out, rows);
  c.out << "\nEvery fault also takes --name, --stream up|down (default down), --toxicity 0..1 "
           "(share of\nconnections, default 1), --probability 0..1 (share of chunks), --clients "
           "CIDR,...,\n--after, --for and --count (remove after N actions), --flap ON/OFF.\n";
  std::vector<std::vector<std::string>> http{{"HTTP TYPE", "ATTRIBUTES", "MEANING"}};
  for (const auto& t : faults::http::types()) {
    std::string names;
    for (const auto& n : t.attributes) names += (names.empty() ? "" : ", ") + std::string(n);
    http.push_back({std::string(t.name), names.empty() ? "-" : names, std::string(t.summary)});
  }
  c.out << "\n";
  print_table(c.out, http);
  std::vector<std::vector<std::string>> dbt{{"DATABASE TYPE", "ATTRIBUTES", "MEANING"}};
  for (const auto& t : faults::db::types()) {
    std::string names;
    for (const auto& n : t.attributes) names += (names.empty() ? "" : ", ") + std::string(n);
    dbt.push_back({std::string(t.name), names.empty() ? "-" : names, std::string(t.summary)});
  }
  c.out << "\n";
  print_table(c.out, dbt);
  c.out << "\nDatabase faults (protocol postgres, redis or mysql proxies) take --probability 0..1 "
           "per "
           "statement or\ncommand, --match KEY=VALUE (postgres, mysql: statement, kind, prepared; "
           "redis: "
           "command, key)\nand --set KEY=VALUE (error=serialization_failure, delay=300ms, "
           "first=N, every=K).\n";
  c.out
      << "\nHTTP faults (protocol http proxies) also take --probability 0..1 per request, "
         "--match KEY=VALUE\n(method, path, path_prefix, path_regex, body_contains, header.NAME), "
         "--header NAME=VALUE,\nand --set KEY=VALUE for any attribute (first=N, every=K, "
         "quota=20/2s). See docs/faults.md.\n";
  return kOk;
}

namespace {

std::string ms(std::int64_t v) {
  return faults::format_quantity(v, "ms");
}

std::string unit_of(const Profile& p, const std::string& proxy, const std::string& fault,
                    const std::string& attr) {
  const ProfileFault* f = p.fault(proxy, fault);
  const faults::FaultType* t = f ? faults::find_type(f->type) : nullptr;
  const faults::AttrSpec* s = t ? spec_of(*t, attr) : nullptr;
  return s ? std::string(s->unit) : std::string();
}

std::string fault_text(const ProfileFault& f) {
  std::string out = f.type;
  const faults::FaultType* t = faults::find_type(f.type);
  for (const auto& [k, v] : f.attributes) {
    const faults::AttrSpec* s = t ? spec_of(*t, k) : nullptr;
    if (const auto* i = std::get_if<std::int64_t>(&v))
      out += " " + k + "=" + (s ? faults::format_quantity(*i, s->unit) : std::to_string(*i));
    if (const auto* d = std::get_if<double>(&v)) out += " " + k + "=" + fmt::format("{}", *d);
    if (const auto* w = std::get_if<std::string>(&v)) out += " " + k + "=" + *w;
  }
  if (faults::db::find_type(f.type)) {
    // A database fault: its error or mode, then its share of requests.
    if (const auto* m = f.http ? std::get_if<faults::http::TreeMap>(&f.http->v) : nullptr)
      for (const char* key : {"error", "sqlstate", "mode", "delay"})
        if (const auto it = m->find(key); it != m->end()) {
          if (const auto* w = std::get_if<std::string>(&it->second.v)) out += " " + *w;
          if (const auto* i = std::get_if<std::int64_t>(&it->second.v))
            out += " " + faults::format_quantity(*i, "ms");
        }
    if (f.probability < 1.0)
      out += " " + std::to_string(static_cast<int>(f.probability * 100 + 0.5)) + "% of requests";
    return out;
  }
  out += f.stream == "upstream" ? " ↑" : " ↓";
  if (f.toxicity < 1.0) out += " " + std::to_string(static_cast<int>(f.toxicity * 100 + 0.5)) + "%";
  return out;
}

std::string phase_fault_text(const Profile& p, const PhaseFault& pf) {
  std::string out = pf.proxy + "/" + pf.fault;
  std::vector<std::string> parts;
  for (const auto& [k, v] : pf.values) {
    if (const auto* i = std::get_if<std::int64_t>(&v))
      parts.push_back(k + "=" + faults::format_quantity(*i, unit_of(p, pf.proxy, pf.fault, k)));
    if (const auto* d = std::get_if<double>(&v)) parts.push_back(k + "=" + fmt::format("{}", *d));
    if (const auto* w = std::get_if<std::string>(&v)) parts.push_back(k + "=" + *w);
  }
  for (const auto& [k, r] : pf.ramps) {
    const auto u = unit_of(p, pf.proxy, pf.fault, k);
    if (!r.whole) {
      parts.push_back(k + " " + fmt::format("{}", r.from) + u + "→" + fmt::format("{}", r.to) + u);
      continue;
    }
    parts.push_back(k + " " + faults::format_quantity(std::llround(r.from), u) + "→" +
                    faults::format_quantity(std::llround(r.to), u));
  }
  auto pct = [](double x) { return std::to_string(static_cast<int>(x * 100 + 0.5)) + "%"; };
  if (pf.toxicity) parts.push_back("toxicity " + pct(*pf.toxicity));
  if (pf.toxicity_ramp)
    parts.push_back("toxicity " + pct(pf.toxicity_ramp->from) + "→" + pct(pf.toxicity_ramp->to));
  if (pf.probability) parts.push_back("probability " + pct(*pf.probability));
  if (pf.probability_ramp)
    parts.push_back("probability " + pct(pf.probability_ramp->from) + "→" +
                    pct(pf.probability_ramp->to));
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : " (") + parts[i];
  if (!parts.empty()) out += ")";
  return out;
}

json::value profile_json(const Profile& p) {
  json::array proxies;
  for (const auto& x : p.proxies) {
    json::array fs;
    for (const auto& f : x.faults)
      fs.push_back(json::object{
          {"name", f.name}, {"type", f.type}, {"stream", f.stream}, {"timeline", f.timed}});
    proxies.push_back(json::object{{"name", x.name},
                                   {"listen", x.listen},
                                   {"upstream", x.upstream},
                                   {"protocol", x.protocol},
                                   {"faults", fs}});
  }
  json::array phases;
  for (const auto& ph : p.phases) {
    json::array fs;
    for (const auto& f : ph.faults) fs.push_back(json::string(phase_fault_text(p, f)));
    phases.push_back(json::object{
        {"name", ph.name}, {"start_ms", ph.start_ms}, {"end_ms", ph.end_ms()}, {"faults", fs}});
  }
  return json::object{{"file", p.file},
                      {"proxies", proxies},
                      {"phases", phases},
                      {"repeat", p.repeat},
                      {"total_ms", p.timeline_ms()}};
}

void print_profile(std::ostream& out, const Profile& p) {
  std::size_t nfaults = 0;
  for (const auto& x : p.proxies) nfaults += x.faults.size();
  out << "profile " << p.file << ": " << p.proxies.size()
      << (p.proxies.size() == 1 ? " proxy, " : " proxies, ") << nfaults
      << (nfaults == 1 ? " fault" : " faults");
  if (!p.phases.empty())
    out << ", " << p.phases.size() << " phases over " << ms(p.timeline_ms())
        << (p.repeat ? ", repeating" : "");
  out << "\n\n";
  std::vector<std::vector<std::string>> rows{{"PROXY", "LISTEN", "UPSTREAM", "FAULT", "WHEN"}};
  for (const auto& x : p.proxies) {
    if (x.faults.empty()) rows.push_back({x.name, x.listen, x.upstream, "-", ""});
    for (std::size_t i = 0; i < x.faults.size(); ++i) {
      const auto& f = x.faults[i];
      rows.push_back({i ? "" : x.name, i ? "" : x.listen, i ? "" : x.upstream,
                      f.name + ": " + fault_text(f), f.timed ? "timeline" : "always"});
    }
  }
  print_table(out, rows);
  if (p.phases.empty()) return;
  out << "\n";
  std::vector<std::vector<std::string>> t{{"PHASE", "START", "END", "CHANGES"}};
  const std::vector<PhaseFault>* previous = nullptr;
  std::int64_t previous_end = 0;
  for (const auto& ph : p.phases) {
    if (ph.start_ms > previous_end && previous && !previous->empty()) {
      t.push_back({"(gap)", ms(previous_end), ms(ph.start_ms), "timeline faults off"});
      previous = nullptr;
    }
    std::vector<std::string> changes;
    for (const auto& f : ph.faults) {
      bool was_on = false;
      if (previous)
        for (const auto& g : *previous)
          was_on = was_on || (g.proxy == f.proxy && g.fault == f.fault);
      changes.push_back((was_on ? "keeps " : "on ") + phase_fault_text(p, f));
    }
    if (previous)
      for (const auto& g : *previous) {
        bool still = false;
        for (const auto& f : ph.faults) still = still || (g.proxy == f.proxy && g.fault == f.fault);
        if (!still) changes.push_back("off " + g.proxy + "/" + g.fault);
      }
    if (changes.empty()) changes.push_back("no timeline fault");
    for (std::size_t i = 0; i < changes.size(); ++i)
      t.push_back(
          {i ? "" : ph.name, i ? "" : ms(ph.start_ms), i ? "" : ms(ph.end_ms()), changes[i]});
    previous = &ph.faults;
    previous_end = ph.end_ms();
  }
  t.push_back({p.repeat ? "(repeat)" : "(end)", ms(p.timeline_ms()), "",
               p.repeat ? "starts over" : "timeline faults off"});
  print_table(out, t);
}

int print_errors(const Context& c, const LoadResult& r) {
  for (const auto& e : r.errors) c.err << e.text() << "\n";
  c.err << "brownout: " << r.errors.size() << (r.errors.size() == 1 ? " error" : " errors")
        << ", nothing applied\n";
  return kUsage;
}

}  // namespace

int profile_check(const Context& c, const std::vector<std::string>& files) {
  auto r = load_profiles(files);
  if (!r) return print_errors(c, r);
  if (c.json) return print_json(c, profile_json(*r.profile));
  print_profile(c.out, *r.profile);
  return kOk;
}

int profile_import(const Context& c, const std::string& file) {
  auto text = disk_reader()(file);
  if (!text) return usage(c, "cannot read " + file);
  auto r = import_toxiproxy_json(*text, file);
  if (!r) return print_errors(c, r);
  c.out << "# Imported from " << file << " by `brownout profile import`.\n" << to_toml(*r.profile);
  return kOk;
}

int apply(const Context& c, const std::string& file) {
  auto r = load_profile(file);
  if (!r) return print_errors(c, r);
  json::object files;
  for (const auto& [path, text] : r.sources) files[path] = text;
  int exit = kOk;
  auto v = call(c, "POST", "/profiles",
                json::serialize(json::object{{"main", file}, {"files", files}}), exit);
  if (!v) return exit;
  if (c.json) return print_json(c, *v);
  for (const char* what : {"created", "restarted", "kept", "removed"}) {
    const auto* list = v->as_object().if_contains(what);
    if (!list || !list->is_array() || list->as_array().empty()) continue;
    std::string names;
    for (const auto& n : list->as_array())
      names += (names.empty() ? "" : ", ") + std::string(n.as_string());
    c.out << what << ": " << names << "\n";
  }
  if (!r.profile->phases.empty())
    c.out << "timeline started: " << r.profile->phases.size() << " phases over "
          << ms(r.profile->timeline_ms()) << " (brownout timeline shows where it is)\n";
  return kOk;
}

namespace {

int print_timeline(const Context& c, const json::value& v) {
  if (c.json) return print_json(c, v);
  const auto& o = v.as_object();
  const std::string state = str(v, "state");
  if (state == "none") {
    c.out << "no timeline: load a profile with phases (brownout apply FILE)\n";
    return kOk;
  }
  const auto num = [&](const char* k) {
    const auto* x = o.if_contains(k);
    return x && x->is_number() ? x->to_number<std::int64_t>() : std::int64_t{0};
  };
  c.out << "timeline of " << str(v, "profile") << ": " << state << ", " << ms(num("elapsed_ms"))
        << " of " << ms(num("total_ms")) << (o.at("repeat").as_bool() ? " (repeating)" : "");
  if (o.at("phase").is_string())
    c.out << "; phase " << o.at("phase").as_string().c_str() << ", " << ms(num("phase_left_ms"))
          << " left";
  c.out << "\n\n";
  std::vector<std::vector<std::string>> rows{{"", "PHASE", "START", "END", "FAULTS"}};
  for (const auto& ph : o.at("phases").as_array()) {
    std::string faults;
    for (const auto& f : ph.at("faults").as_array())
      faults += (faults.empty() ? "" : ", ") + std::string(f.as_string());
    const bool current = o.at("phase").is_string() && ph.at("name") == o.at("phase");
    rows.push_back({current ? "▶" : "", std::string(ph.at("name").as_string()),
                    ms(ph.at("start_ms").to_number<std::int64_t>()),
                    ms(ph.at("end_ms").to_number<std::int64_t>()), faults.empty() ? "-" : faults});
  }
  print_table(c.out, rows);
  return kOk;
}

}  // namespace

int timeline(const Context& c) {
  int exit = kOk;
  auto v = call(c, "GET", "/timeline", "", exit);
  if (!v) return exit;
  return print_timeline(c, *v);
}

int timeline_stop(const Context& c) {
  int exit = kOk;
  auto v = call(c, "POST", "/timeline/stop", "", exit);
  if (!v) return exit;
  return print_timeline(c, *v);
}

}  // namespace brownout::control::commands
