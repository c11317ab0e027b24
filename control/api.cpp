#include "control/api.hpp"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "control/json_text.hpp"
#include "faults/registry.hpp"

namespace brownout::control {

namespace json = boost::json;

namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";
// The Toxiproxy API level we speak; Ruby's client picks PATCH over POST by it.
constexpr const char* kApiVersion = "2.12.0";

std::string request_id() {
  static std::atomic<std::uint64_t> counter{0};
  static const auto start = static_cast<std::uint64_t>(std::time(nullptr));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08llx%012llx",
                static_cast<unsigned long long>(start & 0xffffffff),
                static_cast<unsigned long long>(counter.fetch_add(1) & 0xffffffffffffull));
  return buf;
}

ApiResponse error_response(const ApiError& e, json::object extra = {}) {
  json::object o;
  o["error"] = e.message;
  o["status"] = e.status;
  for (auto& [k, v] : extra) o[k] = v;
  ApiResponse r{e.status, kText, dump(o) + "\n", {{"X-Content-Type-Options", "nosniff"}}};
  return r;
}

ApiResponse json_response(int status, const json::value& v) {
  return ApiResponse{status, kJson, dump(v), {}};
}

ApiResponse empty(int status) {
  return ApiResponse{status, "", "", {}};
}

json::value number(double d) {
  if (d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
  return d;
}

json::value tree_json(const faults::http::Tree& t) {
  return std::visit(
      [](const auto& x) -> json::value {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, faults::http::TreeList>) {
          json::array a;
          for (const auto& i : x) a.push_back(tree_json(i));
          return a;
        } else if constexpr (std::is_same_v<T, faults::http::TreeMap>) {
          json::object o;
          for (const auto& [k, v] : x) o[k] = tree_json(v);
          return o;
        } else {
          return json::value(x);
        }
      },
      t.v);
}

faults::http::Tree json_tree(const json::value& v) {
  faults::http::Tree t;
  switch (v.kind()) {
    case json::kind::bool_:
      t.v = v.as_bool();
      break;
    case json::kind::int64:
      t.v = v.as_int64();
      break;
    case json::kind::uint64:
      t.v = static_cast<std::int64_t>(std::min<std::uint64_t>(v.as_uint64(), INT64_MAX));
      break;
    case json::kind::double_:
      t.v = v.as_double();
      break;
    case json::kind::string:
      t.v = std::string(v.as_string());
      break;
    case json::kind::array: {
      faults::http::TreeList l;
      for (const auto& i : v.as_array()) l.push_back(json_tree(i));
      t.v = std::move(l);
      break;
    }
    case json::kind::object: {
      faults::http::TreeMap m;
      for (const auto& [k, i] : v.as_object()) m[std::string(k)] = json_tree(i);
      t.v = std::move(m);
      break;
    }
    default:
      break;
  }
  return t;
}

json::object toxic_json(const faults::FaultInstance& t) {
  json::object attrs;
  const faults::FaultType* type = t.fault ? faults::find_type(t.type) : nullptr;
  for (const auto& [k, v] : t.values.items) {
    if (type) {
      const auto spec = std::find_if(type->attributes.begin(), type->attributes.end(),
                                     [&, key = k](const auto& s) { return s.name == key; });
      if (spec != type->attributes.end() && spec->extension && spec->is_default(v)) continue;
    }
    if (const auto* d = std::get_if<double>(&v))
      attrs[k] = number(*d);
    else
      std::visit([&, key = k](const auto& x) { attrs[key] = x; }, v);
  }
  if (t.http) {
    auto tree = tree_json(faults::http::to_tree(t.http->settings));
    if (tree.is_object()) attrs = std::move(tree.as_object());
  }
  if (t.db) {
    auto tree = tree_json(faults::db::to_tree(t.db->settings));
    if (tree.is_object()) attrs = std::move(tree.as_object());
  }
  json::object o;
  o["attributes"] = std::move(attrs);
  o["name"] = t.name;
  o["type"] = t.type;
  o["stream"] = t.stream_text;
  o["toxicity"] = number(t.toxicity);
  if (t.http) o["probability"] = number(t.http->settings.probability);
  if (t.db) o["probability"] = number(t.db->settings.probability);
  // Brownout's controls appear when used, so a Toxiproxy toxic looks the same.
  if (!t.http && !t.db && t.probability < 1.0) o["probability"] = number(t.probability);
  const auto c = controls_of(t);
  if (c.clients) {
    json::array a;
    for (const auto& b : *c.clients) a.emplace_back(b);
    o["clients"] = std::move(a);
  }
  if (c.after_ms) o["after"] = *c.after_ms;
  if (c.for_ms) o["for"] = *c.for_ms;
  if (c.count) o["count"] = *c.count;
  if (c.flap) o["flap"] = json::object{{"on", c.flap->first}, {"off", c.flap->second}};
  return o;
}

json::array toxics_json(const std::vector<ToxicView>& toxics) {
  json::array a;
  for (const auto& t : toxics) a.push_back(toxic_json(*t));
  return a;
}

json::object proxy_json(const ProxyView& p) {
  json::object o;
  o["name"] = p.name;
  o["listen"] = p.listen;
  o["upstream"] = p.upstream;
  o["enabled"] = p.enabled;
  o["toxics"] = toxics_json(p.toxics);
  // A TCP proxy's object is exactly Toxiproxy's; brownout's fields appear
  // when they say something.
  if (p.protocol != "tcp") {
    o["protocol"] = p.protocol;
    o["header_faults"] = p.header_faults;
  }
  if (p.pass_tls) o["pass_tls"] = true;
  return o;
}

// Parses a request body the way Toxiproxy's decoder reports failures.
std::variant<json::value, ApiError> parse_body(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos)
    return ApiError{400, "bad request body: EOF"};
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    if (ec == json::error::incomplete) return ApiError{400, "bad request body: unexpected EOF"};
    return ApiError{400, "bad request body: invalid JSON: " + ec.message()};
  }
  return v;
}

const char* kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::array:
      return "array";
    case json::kind::object:
      return "object";
    case json::kind::string:
      return "string";
    case json::kind::bool_:
      return "bool";
    case json::kind::null:
      return "null";
    default:
      return "number";
  }
}

ApiError type_error(const json::value& v, const std::string& field, const char* want) {
  return ApiError{400, "bad request body: json: cannot unmarshal " + std::string(kind_name(v)) +
                           " into field " + field + " of type " + want};
}

// Reads optional fields; null counts as absent, as Go's decoder treats it.
std::optional<ApiError> read_string(const json::object& o, const char* key,
                                    std::optional<std::string>& out) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) return type_error(*v, key, "string");
  out = std::string(v->as_string());
  return std::nullopt;
}

std::optional<ApiError> read_bool(const json::object& o, const char* key,
                                  std::optional<bool>& out) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_bool()) return type_error(*v, key, "bool");
  out = v->as_bool();
  return std::nullopt;
}

std::optional<ApiError> read_number(const json::object& o, const char* key,
                                    std::optional<double>& out) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_number()) return type_error(*v, key, "float32");
  out = v->to_number<double>();
  return std::nullopt;
}

std::optional<ApiError> read_attributes(const json::object& o,
                                        std::map<std::string, faults::Value>& out) {
  const json::value* v = o.if_contains("attributes");
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_object()) return type_error(*v, "attributes", "object");
  for (const auto& [key, value] : v->as_object()) {
    switch (value.kind()) {
      case json::kind::int64:
        out[key] = value.as_int64();
        break;
      case json::kind::uint64:
        if (value.as_uint64() > static_cast<std::uint64_t>(INT64_MAX))
          return ApiError{400, "attribute " + std::string(key) + " is out of range"};
        out[key] = static_cast<std::int64_t>(value.as_uint64());
        break;
      case json::kind::double_:
        out[key] = value.as_double();
        break;
      case json::kind::bool_:
        out[key] = value.as_bool();
        break;
      case json::kind::string:
        out[key] = std::string(value.as_string());
        break;
      default:
        return ApiError{400, "attribute " + std::string(key) + " has an unsupported type (" +
                                 kind_name(value) + ")"};
    }
  }
  return std::nullopt;
}

std::optional<ApiError> read_millis(const json::object& o, const char* key,
                                    std::optional<std::int64_t>& out) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_int64() && v->as_int64() >= 0) {
    out = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    out = static_cast<std::int64_t>(v->as_uint64());
  } else if (v->is_double() && v->as_double() >= 0 && v->as_double() < 9e18 &&
             v->as_double() == static_cast<double>(static_cast<std::int64_t>(v->as_double()))) {
    out = static_cast<std::int64_t>(v->as_double());
  } else {
    return ApiError{
        400, std::string(key) + " must be a non-negative integer, got " + json::serialize(*v)};
  }
  return std::nullopt;
}

// Brownout's controls at the toxic's top level: clients, after, for, count, flap.
std::optional<ApiError> read_controls(const json::object& o, FaultControls& out) {
  if (const auto* v = o.if_contains("clients"); v && !v->is_null()) {
    if (!v->is_array()) return ApiError{400, "clients must be a list of CIDR strings"};
    out.clients.emplace();
    for (const auto& item : v->as_array()) {
      if (!item.is_string()) return ApiError{400, "clients must be a list of CIDR strings"};
      out.clients->emplace_back(item.as_string());
    }
  }
  for (auto err : {read_millis(o, "after", out.after_ms), read_millis(o, "for", out.for_ms),
                   read_millis(o, "count", out.count)})
    if (err) return err;
  if (const auto* v = o.if_contains("flap"); v && !v->is_null()) {
    if (!v->is_object()) return ApiError{400, "flap must be an object {\"on\": ms, \"off\": ms}"};
    std::optional<std::int64_t> on, off;
    for (auto err :
         {read_millis(v->as_object(), "on", on), read_millis(v->as_object(), "off", off)})
      if (err) return ApiError{400, "flap." + err->message};
    if (!on || !off) return ApiError{400, "flap needs both on and off (milliseconds)"};
    out.flap = std::pair{*on, *off};
  }
  return std::nullopt;
}

std::variant<ProxySpec, ApiError> proxy_spec(const json::value& v, const std::string& where) {
  if (!v.is_object()) return type_error(v, where, "proxy object");
  const auto& o = v.as_object();
  std::optional<std::string> name, upstream, listen, protocol;
  std::optional<bool> enabled, header_faults, pass_tls;
  for (auto err :
       {read_string(o, "name", name), read_string(o, "upstream", upstream),
        read_string(o, "listen", listen), read_bool(o, "enabled", enabled),
        read_string(o, "protocol", protocol), read_bool(o, "header_faults", header_faults),
        read_bool(o, "pass_tls", pass_tls)})
    if (err) return *err;
  return ProxySpec{name.value_or(""),       upstream.value_or(""),    listen.value_or(""),
                   enabled.value_or(true),  protocol.value_or("tcp"), header_faults.value_or(false),
                   pass_tls.value_or(false)};
}

template <class T>
bool failed(const Outcome<T>& o) {
  return std::holds_alternative<ApiError>(o);
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  if (path.empty() || path.front() != '/') return parts;
  path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    parts.emplace_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

}  // namespace

ApiResponse Api::metrics() const {
  std::string out;
  const auto counters = registry_.counters();
  const auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [proxy, c] : counters) value(name, proxy, c);
  };
  const auto line = [&](const std::string& name, const std::string& labels, std::uint64_t v) {
    out += name + "{" + labels + "} " + std::to_string(v) + "\n";
  };
  const auto proxy_label = [](const std::string& p) { return "proxy=\"" + p + "\""; };
  family("brownout_connections_accepted_total", "counter", "Connections accepted.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           line(n, proxy_label(p), c.accepted);
         });
  family("brownout_connections_active", "gauge", "Connections open now.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           line(n, proxy_label(p), c.active);
         });
  family("brownout_connections_refused_total", "counter", "Connections refused by a fault.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           line(n, proxy_label(p), c.refused);
         });
  family("brownout_http_requests_total", "counter", "Requests an HTTP proxy read.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           line(n, proxy_label(p), c.http_requests);
         });
  family("brownout_http_malformed_requests_total", "counter",
         "Malformed requests the proxy answered with 400.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           line(n, proxy_label(p), c.http_malformed);
         });
  family("brownout_http_faulted_requests_total", "counter", "Requests an HTTP fault acted on.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           line(n, proxy_label(p), c.http_faulted);
         });
  family("brownout_http_responses_total", "counter",
         "Responses HTTP clients got (from the upstream or a fault), by status class.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           for (std::size_t i = 1; i < c.http_status.size(); ++i)
             if (c.http_status[i])
               line(n, proxy_label(p) + ",code=\"" + std::to_string(i) + "xx\"", c.http_status[i]);
         });
  {
    out +=
        "# HELP brownout_http_fault_acted_total Requests each HTTP fault acted on.\n"
        "# TYPE brownout_http_fault_acted_total counter\n";
    for (const auto& p : registry_.list())
      for (const auto& t : p.toxics)
        if (t->http && t->http->shared)
          line("brownout_http_fault_acted_total",
               proxy_label(p.name) + ",fault=\"" + t->name + "\",type=\"" + t->type + "\"",
               t->http->shared->acted.load(std::memory_order_relaxed));
  }
  {
    out +=
        "# HELP brownout_db_fault_acted_total Statements, commands (or refused sessions) each "
        "database fault acted on.\n"
        "# TYPE brownout_db_fault_acted_total counter\n";
    for (const auto& p : registry_.list())
      for (const auto& t : p.toxics)
        if (t->db && t->db->shared)
          line("brownout_db_fault_acted_total",
               proxy_label(p.name) + ",fault=\"" + t->name + "\",type=\"" + t->type + "\"",
               t->db->shared->acted.load(std::memory_order_relaxed));
  }
  {
    out +=
        "# HELP brownout_fault_acted_total Links (stream faults) or connections "
        "(connection-level faults) each fault acted on.\n"
        "# TYPE brownout_fault_acted_total counter\n";
    std::string figures;
    for (const auto& p : registry_.list())
      for (const auto& t : p.toxics) {
        if (!t->fault) continue;
        const auto labels =
            proxy_label(p.name) + ",fault=\"" + t->name + "\",type=\"" + t->type + "\"";
        line("brownout_fault_acted_total", labels, t->acted());
        if (!t->shared) continue;
        faults::Gauges g;
        t->fault->gauges(t->shared.get(), g);
        for (const auto& [figure, value] : g)
          figures += "brownout_fault_state{" + labels + ",figure=\"" + std::string(figure) +
                     "\"} " + std::to_string(value) + "\n";
      }
    out +=
        "# HELP brownout_fault_state What connection-level faults hold now: active, queued, "
        "and how many they refused, hung or delayed so far.\n"
        "# TYPE brownout_fault_state gauge\n" +
        figures;
  }
  family("brownout_upstream_connect_failures_total", "counter", "Upstream connections that failed.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           line(n, proxy_label(p), c.upstream_failures);
         });
  family("brownout_bytes_total", "counter", "Bytes read from the source of each direction.",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           line(n, proxy_label(p) + ",direction=\"upstream\"", c.bytes_upstream);
           line(n, proxy_label(p) + ",direction=\"downstream\"", c.bytes_downstream);
         });
  const auto types = faults::all_types();
  family("brownout_fault_applied_total", "counter",
         "Connections a fault type acted on (won its toxicity draw).",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           for (std::size_t i = 0; i < types.size() && i < proxy::kMaxFaultTypes; ++i)
             if (c.fault_applied[i])
               line(n, proxy_label(p) + ",type=\"" + std::string(types[i]->name) + "\"",
                    c.fault_applied[i]);
         });
  family("brownout_fault_ended_total", "counter",
         "Connections a fault type ended (reset, cut, timed out).",
         [&](const char* n, const std::string& p, const proxy::ProxyCounters& c) {
           for (std::size_t i = 0; i < types.size() && i < proxy::kMaxFaultTypes; ++i)
             if (c.fault_ended[i])
               line(n, proxy_label(p) + ",type=\"" + std::string(types[i]->name) + "\"",
                    c.fault_ended[i]);
         });
  std::size_t fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++fds;
    ::closedir(d);
    --fds;  // the directory stream itself
  }
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  out +=
      "# HELP brownout_process_open_fds Open file descriptors.\n# TYPE brownout_process_open_fds "
      "gauge\n";
  out += "brownout_process_open_fds " + std::to_string(fds) + "\n";
  out +=
      "# HELP brownout_process_resident_memory_bytes Resident memory.\n"
      "# TYPE brownout_process_resident_memory_bytes gauge\n";
  out += "brownout_process_resident_memory_bytes " +
         std::to_string(resident * ::sysconf(_SC_PAGESIZE)) + "\n";
  return ApiResponse{200, "text/plain; version=0.0.4; charset=utf-8", out, {}};
}

ApiResponse Api::handle(const ApiRequest& req) {
  ApiResponse r = [&]() -> ApiResponse {
    if (req.user_agent.rfind("Mozilla/", 0) == 0)
      return ApiResponse{403, kText, "User agent not allowed\n", {}};

    registry_.set_actor(req.user_agent.empty() ? "api" : req.user_agent);
    std::string_view path = req.target;
    std::string_view query;
    if (auto q = path.find('?'); q != std::string_view::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    const auto parts = split_path(path);
    const auto& m = req.method;
    const auto not_found = ApiResponse{404, kText, "404 page not found\n", {}};
    const auto bad_method = empty(405);
    const bool update = m == "POST" || m == "PATCH";
    // A trailing slash or an empty segment is another path, as in Toxiproxy's router.
    for (const auto& p : parts)
      if (p.empty()) return not_found;

    if (parts.size() == 1 && parts[0] == "version") {
      if (m != "GET") return bad_method;
      json::object o;
      o["version"] = kApiVersion;
      o["brownout"] = BROWNOUT_VERSION;
      return ApiResponse{200, "application/json;charset=utf-8", dump(o) + "\n", {}};
    }
    if (parts.size() == 1 && parts[0] == "metrics") return metrics();
    if (parts.size() == 1 && parts[0] == "events") {  // brownout's own: the event log
      if (m != "GET") return bad_method;
      std::uint64_t since = 0;
      for (auto rest = query; !rest.empty();) {
        const auto amp = rest.find('&');
        const auto pair = rest.substr(0, amp);
        if (pair.rfind("since=", 0) == 0) {
          const auto text = pair.substr(6);
          auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), since);
          if (ec != std::errc() || p != text.data() + text.size())
            return error_response({400, "since must be an event id (a non-negative integer)"});
        }
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      }
      json::array list;
      // A cursor past the newest event (the server restarted) resyncs to it.
      std::uint64_t last = events_ ? std::min(since, events_->last_id()) : 0;
      if (events_) {
        for (const auto& e : events_->since(since)) {
          list.push_back(json::parse(EventLog::to_json(e)));
          last = e.id;
        }
      }
      return json_response(200, json::object{{"events", list}, {"last", last}});
    }
    if (parts.size() == 1 && parts[0] == "stats") {  // brownout's own: live counters per proxy
      if (m != "GET") return bad_method;
      json::object proxies;
      for (const auto& [name, c] : registry_.counters())
        proxies[name] = json::object{{"accepted", c.accepted},
                                     {"active", c.active},
                                     {"upstream_failures", c.upstream_failures},
                                     {"bytes_upstream", c.bytes_upstream},
                                     {"bytes_downstream", c.bytes_downstream}};
      return json_response(200, json::object{{"proxies", proxies}});
    }
    if (!parts.empty() && parts[0] == "timeline" && parts.size() <= 2) return timeline(parts, m);
    if (parts.size() == 2 && parts[0] == "leases") return lease(parts, m);
    if (parts.size() == 1 && parts[0] == "profiles") {
      if (m != "POST") return bad_method;
      return apply(req, query);
    }
    if (parts.size() == 1 && parts[0] == "reset") {
      if (m != "POST") return bad_method;
      if (auto err = registry_.reset()) return error_response(*err);
      return empty(204);
    }
    if (parts.size() == 1 && parts[0] == "populate") {
      if (m != "POST") return bad_method;
      auto parsed = parse_body(req.body);
      if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
      const auto& v = std::get<json::value>(parsed);
      if (!v.is_array()) return error_response(type_error(v, "populate", "[]proxy"));
      std::vector<ProxySpec> specs;
      for (const auto& item : v.as_array()) {
        auto spec = proxy_spec(item, "proxy");
        if (auto* e = std::get_if<ApiError>(&spec)) return error_response(*e);
        specs.push_back(std::get<ProxySpec>(spec));
      }
      auto result = registry_.populate(specs);
      json::array done;
      for (const auto& p : result.proxies) done.push_back(proxy_json(p));
      if (result.error) return error_response(*result.error, json::object{{"proxies", done}});
      json::object o;
      o["proxies"] = done.empty() ? json::value(nullptr) : json::value(done);
      return json_response(201, o);
    }
    if (parts.empty() || parts[0] != "proxies") return not_found;

    if (parts.size() == 1) {
      if (m == "GET") {
        json::object o;
        for (const auto& p : registry_.list()) o[p.name] = proxy_json(p);
        return json_response(200, o);
      }
      if (m != "POST") return bad_method;
      auto parsed = parse_body(req.body);
      if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
      auto spec = proxy_spec(std::get<json::value>(parsed), "proxy");
      if (auto* e = std::get_if<ApiError>(&spec)) return error_response(*e);
      auto out = registry_.create(std::get<ProxySpec>(spec));
      if (failed(out)) return error_response(std::get<ApiError>(out));
      return json_response(201, proxy_json(std::get<ProxyView>(out)));
    }

    const std::string& name = parts[1];
    if (parts.size() == 2) {
      if (m == "GET") {
        auto out = registry_.get(name);
        if (failed(out)) return error_response(std::get<ApiError>(out));
        return json_response(200, proxy_json(std::get<ProxyView>(out)));
      }
      if (m == "DELETE") {
        if (auto err = registry_.remove(name)) return error_response(*err);
        return empty(204);
      }
      if (!update) return bad_method;
      if (failed(registry_.get(name))) return error_response({404, "proxy not found"});
      auto parsed = parse_body(req.body);
      if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
      const auto& v = std::get<json::value>(parsed);
      if (!v.is_object()) return error_response(type_error(v, "proxy", "proxy object"));
      ProxyPatch patch;
      const auto& o = v.as_object();
      for (auto err :
           {read_string(o, "listen", patch.listen), read_string(o, "upstream", patch.upstream),
            read_bool(o, "enabled", patch.enabled), read_string(o, "protocol", patch.protocol),
            read_bool(o, "header_faults", patch.header_faults)})
        if (err) return error_response(*err);
      if (patch.upstream && patch.upstream->empty()) patch.upstream.reset();
      auto out = registry_.update(name, patch);
      if (failed(out)) return error_response(std::get<ApiError>(out));
      return json_response(200, proxy_json(std::get<ProxyView>(out)));
    }

    if (parts[2] != "toxics" || parts.size() > 4) return not_found;
    if (parts.size() == 3) {
      if (m == "GET") {
        auto out = registry_.toxics(name);
        if (failed(out)) return error_response(std::get<ApiError>(out));
        return json_response(200, toxics_json(std::get<std::vector<ToxicView>>(out)));
      }
      if (m != "POST") return bad_method;
      if (failed(registry_.get(name))) return error_response({404, "proxy not found"});
      auto parsed = parse_body(req.body);
      if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
      const auto& v = std::get<json::value>(parsed);
      if (!v.is_object()) return error_response(type_error(v, "toxic", "toxic object"));
      const auto& o = v.as_object();
      ToxicSpec spec;
      std::optional<std::string> type;
      for (auto err :
           {read_string(o, "type", type), read_string(o, "name", spec.name),
            read_string(o, "stream", spec.stream), read_number(o, "toxicity", spec.toxicity)})
        if (err) return error_response(*err);
      if (auto err = read_number(o, "probability", spec.probability)) return error_response(*err);
      if (auto err = read_controls(o, spec.controls)) return error_response(*err);
      if (type && (faults::http::find_type(*type) || faults::db::find_type(*type))) {
        // Message faults: attributes hold objects (match, headers, quota).
        if (const auto* a = o.if_contains("attributes"); a && !a->is_null()) {
          if (!a->is_object()) return error_response(type_error(*a, "attributes", "object"));
          spec.http_attributes = json_tree(*a);
        } else {
          spec.http_attributes.v = faults::http::TreeMap{};
        }
      } else if (auto err = read_attributes(o, spec.attributes)) {
        return error_response(*err);
      }
      spec.type = type.value_or("");
      auto out = registry_.add_toxic(name, spec);
      if (failed(out)) return error_response(std::get<ApiError>(out));
      return json_response(200, toxic_json(*std::get<ToxicView>(out)));
    }

    const std::string& toxic = parts[3];
    if (m == "GET") {
      auto out = registry_.toxic(name, toxic);
      if (failed(out)) return error_response(std::get<ApiError>(out));
      return json_response(200, toxic_json(*std::get<ToxicView>(out)));
    }
    if (m == "DELETE") {
      if (auto err = registry_.remove_toxic(name, toxic)) return error_response(*err);
      return empty(204);
    }
    if (!update) return bad_method;
    auto current = registry_.toxic(name, toxic);
    if (failed(current)) return error_response(std::get<ApiError>(current));
    auto parsed = parse_body(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
    const auto& v = std::get<json::value>(parsed);
    if (!v.is_object()) return error_response(type_error(v, "toxic", "toxic object"));
    ToxicPatch patch;
    const auto& o = v.as_object();
    const auto& current_type = std::get<ToxicView>(current)->type;
    const bool http_fault =
        faults::http::find_type(current_type) || faults::db::find_type(current_type);
    if (auto err = read_number(o, "toxicity", patch.toxicity)) return error_response(*err);
    if (auto err = read_number(o, "probability", patch.probability)) return error_response(*err);
    if (auto err = read_controls(o, patch.controls)) return error_response(*err);
    if (http_fault) {
      if (const auto* a = o.if_contains("attributes"); a && !a->is_null()) {
        if (!a->is_object()) return error_response(type_error(*a, "attributes", "object"));
        patch.http_attributes = json_tree(*a);
      }
    } else if (auto err = read_attributes(o, patch.attributes)) {
      return error_response(*err);
    }
    auto out = registry_.update_toxic(name, toxic, patch);
    if (failed(out)) return error_response(std::get<ApiError>(out));
    return json_response(200, toxic_json(*std::get<ToxicView>(out)));
  }();
  r.headers.emplace_back("X-Toxiproxy-Request-Id", request_id());
  return r;
}

Outcome<ApplyResult> apply_profile(Registry& registry, Timeline& timeline, const Profile& profile,
                                   bool keep_same_timeline) {
  const bool keep_timeline = keep_same_timeline && timeline.same(profile);
  auto out = registry.apply_profile(profile);
  if (std::holds_alternative<ApiError>(out)) return out;
  auto& result = std::get<ApplyResult>(out);
  if (keep_timeline) {
    result.timeline = "kept";
  } else {
    timeline.start(profile);
    result.timeline = profile.phases.empty() ? "none" : "started";
  }
  return out;
}

namespace {

json::object phase_json(const Phase& p) {
  json::array faults;
  for (const auto& f : p.faults) faults.push_back(json::string(f.proxy + "/" + f.fault));
  return json::object{{"name", p.name},
                      {"start_ms", p.start_ms},
                      {"end_ms", p.end_ms()},
                      {"duration_ms", p.duration_ms},
                      {"faults", faults}};
}

}  // namespace

std::string timeline_json(const TimelineStatus& s) {
  json::object o;
  o["state"] = s.state;
  o["profile"] = s.profile;
  o["repeat"] = s.repeat;
  o["elapsed_ms"] = s.elapsed_ms;
  o["total_ms"] = s.total_ms;
  if (s.phase >= 0) {
    o["phase"] = s.phases[static_cast<std::size_t>(s.phase)].name;
    o["phase_index"] = s.phase;
    o["phase_left_ms"] = s.phase_left_ms;
  } else {
    o["phase"] = nullptr;
  }
  json::array phases;
  for (const auto& p : s.phases) phases.push_back(phase_json(p));
  o["phases"] = phases;
  json::array active;
  for (const auto& a : s.active) {
    json::object v;
    for (const auto& [k, x] : a.values) std::visit([&, key = k](const auto& y) { v[key] = y; }, x);
    active.push_back(json::object{
        {"proxy", a.proxy}, {"fault", a.fault}, {"toxicity", number(a.toxicity)}, {"values", v}});
  }
  o["active"] = active;
  return dump(o);
}

ApiResponse Api::timeline(const std::vector<std::string>& parts, const std::string& m) {
  if (!timeline_) return error_response({404, "this server runs no timeline"});
  if (parts.size() == 1) {
    if (m != "GET") return empty(405);
  } else if (parts[1] == "stop") {
    if (m != "POST") return empty(405);
    timeline_->stop();
  } else {
    return ApiResponse{404, kText, "404 page not found\n", {}};
  }
  return ApiResponse{200, kJson, timeline_json(timeline_->status()), {}};
}

// POST /profiles: TOML text (includes refused: nothing to read them from), or
// {"main": "a.toml", "files": {"a.toml": "...", "base.toml": "..."}} as
// `brownout apply` sends it with the includes it read.
ApiResponse Api::apply(const ApiRequest& req, std::string_view query) {
  if (!timeline_) return error_response({404, "this server does not take profiles"});
  std::string main = "profile.toml";
  bool calm = false;
  std::int64_t lease_ms = 0;
  for (auto rest = query; !rest.empty();) {
    const auto amp = rest.find('&');
    const auto pair = rest.substr(0, amp);
    if (pair.rfind("name=", 0) == 0 && pair.size() > 5) main = std::string(pair.substr(5));
    if (pair == "calm=1" || pair == "calm=true") calm = true;
    if (pair.rfind("lease=", 0) == 0) {
      const auto text = pair.substr(6);
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), lease_ms);
      if (ec != std::errc() || p != text.data() + text.size() || lease_ms < 100 ||
          lease_ms > 3'600'000)
        return error_response({400, "lease must be a time to live in ms, 100 to 3600000"});
    }
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
  }
  std::map<std::string, std::string> files;
  const auto first = req.body.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && req.body[first] == '{') {
    auto parsed = parse_body(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return error_response(*e);
    const auto& v = std::get<json::value>(parsed);
    const auto* m = v.as_object().if_contains("main");
    const auto* f = v.as_object().if_contains("files");
    if (!m || !m->is_string() || !f || !f->is_object())
      return error_response(
          {400, "expected TOML text, or {\"main\": NAME, \"files\": {NAME: TEXT}}"});
    main = std::string(m->as_string());
    for (const auto& [k, t] : f->as_object()) {
      if (!t.is_string())
        return error_response({400, "files." + std::string(k) + " must be a string"});
      files[std::string(k)] = std::string(t.as_string());
    }
  } else {
    files[main] = req.body;
  }
  auto loaded = load_profile(main, memory_reader(std::move(files)));
  if (!loaded) {
    json::array errors;
    for (const auto& e : loaded.errors)
      errors.push_back(json::object{{"file", e.where.file},
                                    {"line", e.where.line},
                                    {"column", e.where.column},
                                    {"message", e.message}});
    std::string text = loaded.error_text();
    if (!text.empty()) text.pop_back();
    return error_response({400, text}, json::object{{"errors", errors}});
  }
  const Profile profile = calm ? without_faults(*loaded.profile) : *loaded.profile;
  auto out = apply_profile(registry_, *timeline_, profile);
  if (auto* e = std::get_if<ApiError>(&out)) return error_response(*e);
  const auto& r = std::get<ApplyResult>(out);
  std::string lease_id;
  if (lease_ms > 0) lease_id = leases().grant(std::chrono::milliseconds(lease_ms), profile);
  json::array proxies;
  for (const auto& p : r.proxies) proxies.push_back(proxy_json(p));
  auto names = [](const std::vector<std::string>& v) {
    json::array a;
    for (const auto& n : v) a.push_back(json::string(n));
    return a;
  };
  json::object o{{"proxies", proxies},
                 {"created", names(r.created)},
                 {"kept", names(r.kept)},
                 {"restarted", names(r.restarted)},
                 {"removed", names(r.removed)},
                 {"timeline_action", r.timeline},
                 {"timeline", json::parse(timeline_json(timeline_->status()))}};
  if (!lease_id.empty()) o["lease"] = json::object{{"id", lease_id}, {"ttl_ms", lease_ms}};
  return json_response(200, o);
}

Api::Api(Registry& registry, const EventLog* events, Timeline* timeline)
    : registry_(registry), events_(events), timeline_(timeline) {}

Api::~Api() = default;

Leases& Api::leases() {
  std::lock_guard lock(leases_mutex_);
  if (!leases_)
    leases_ = std::make_unique<Leases>(
        [this](const std::string& id, const Profile& held) { release(id, held, "expired"); });
  return *leases_;
}

void Api::release(const std::string& id, const Profile& held, const std::string& why) {
  const std::string by = "lease " + id + " (" + why + ")";
  spdlog::info("lease {} {}: the faults of {} are taken away", id, why, held.file);
  if (timeline_ && timeline_->same(held)) timeline_->stop(by);
  registry_.set_actor(by);
  registry_.apply_profile(without_faults(held));
}

// POST /leases/ID renews a lease (another time to live from now); DELETE
// /leases/ID releases it: its timeline stops and its faults are removed.
ApiResponse Api::lease(const std::vector<std::string>& parts, const std::string& m) {
  const std::string& id = parts[1];
  if (m == "POST") {
    if (!leases().renew(id))
      return error_response({404, "no lease " + id + " (it expired, or was released)"});
    return json_response(
        200,
        json::object{{"id", id},
                     {"ttl_ms", leases().ttl(id).value_or(std::chrono::milliseconds(0)).count()}});
  }
  if (m == "DELETE") {
    auto held = leases().take(id);
    if (!held) return error_response({404, "no lease " + id + " (it expired, or was released)"});
    release(id, *held, "released");
    return empty(204);
  }
  return empty(405);
}

std::string load_toxiproxy_config(Registry& registry, const std::string& json_text) {
  Api api(registry);
  auto r = api.handle(ApiRequest{"POST", "/populate", json_text, "brownout-config"});
  if (r.status / 100 == 2) return {};
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (!ec && v.is_object() && v.as_object().contains("error"))
    return std::string(v.as_object().at("error").as_string());
  return r.body;
}

}  // namespace brownout::control
