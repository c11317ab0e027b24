#include "control/registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "faults/registry.hpp"
#include "faults/units.hpp"

namespace brownout::control {

namespace {

ApiError not_found() {
  return {404, "proxy not found"};
}
ApiError toxic_not_found() {
  return {404, "toxic not found"};
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool port_is_zero(const std::string& listen) {
  const auto colon = listen.rfind(':');
  return listen.empty() || (colon != std::string::npos && listen.substr(colon + 1) == "0");
}

std::optional<ApiError> check_toxicity(double t) {
  if (!(t >= 0.0 && t <= 1.0))
    return ApiError{400, "attribute toxicity must be between 0 and 1, got " + fmt::format("{}", t)};
  return std::nullopt;
}

thread_local std::string t_actor = "api";

}  // namespace

void Registry::set_actor(std::string actor) {
  t_actor = std::move(actor);
}

void Registry::record(const std::string& proxy, const std::string& action, const std::string& fault,
                      const std::string& type, const std::string& detail,
                      std::optional<std::uint64_t> acted) {
  if (!events_) return;
  proxy::Event e;
  e.proxy = proxy;
  e.action = action;
  e.fault = fault;
  e.type = type;
  e.detail = detail.empty() ? "by " + t_actor : detail + ", by " + t_actor;
  e.acted = acted;
  events_->emit(std::move(e));
}

Registry::Registry(proxy::Engine& engine, proxy::EventSink* events)
    : engine_(engine), events_(events) {
  scheduler_ = std::thread([this] { run_scheduler(); });
}

Registry::~Registry() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  scheduler_.join();
  std::lock_guard lock(mutex_);
  for (auto& [name, e] : proxies_) stop(e);
}

namespace {

bool acting(const faults::FaultInstance& f, faults::TimePoint now) {
  if (f.used_up()) return false;
  return !f.schedule.timed() || faults::active_at(f.schedule, now - f.added);
}

std::vector<std::uint64_t> live_ids(const faults::ChainSet& set, faults::TimePoint now) {
  std::vector<std::uint64_t> ids;
  for (const auto* chain : {&set.upstream, &set.downstream, &set.http, &set.connection})
    for (const auto& f : *chain)
      if (acting(*f, now)) ids.push_back(f->id);
  return ids;
}

}  // namespace

void Registry::run_scheduler() {
  set_actor("schedule");
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto next = tick(faults::Clock::now());
    wake_.wait_until(lock, next);
  }
}

faults::TimePoint Registry::tick(faults::TimePoint now) {
  // Bounded: wake at least every 10 s; every 100 ms while a count runs.
  auto next = now + std::chrono::seconds(10);
  for (auto& [name, e] : proxies_) {
    bool changed = false;
    for (auto* chain :
         {&e.faults.upstream, &e.faults.downstream, &e.faults.http, &e.faults.connection}) {
      for (auto it = chain->begin(); it != chain->end();) {
        const auto& f = **it;
        const bool timed_out = faults::expired_at(f.schedule, now - f.added);
        if (timed_out || f.used_up()) {
          const std::string why =
              timed_out
                  ? "its for (" + faults::format_quantity(f.schedule.for_ms, "ms") + ") ran out"
                  : "it acted " + std::to_string(f.schedule.count) + " times";
          spdlog::info("proxy {}: fault {} expired: {}", name, f.name, why);
          record(name, "fault_expired", f.name, f.type, why, f.acted());
          it = chain->erase(it);
          changed = true;
          continue;
        }
        if (f.schedule.count > 0) next = std::min(next, now + std::chrono::milliseconds(100));
        if (f.schedule.timed())
          if (auto at = faults::next_change(f.schedule, now - f.added))
            next = std::min(next, f.added + *at);
        ++it;
      }
    }
    const auto ids = live_ids(e.faults, now);
    if (changed || ids != e.live) {
      // Say which timed faults turned on or off.
      for (const auto* chain :
           {&e.faults.upstream, &e.faults.downstream, &e.faults.http, &e.faults.connection})
        for (const auto& f : *chain) {
          const bool was = std::find(e.live.begin(), e.live.end(), f->id) != e.live.end();
          const bool is = std::find(ids.begin(), ids.end(), f->id) != ids.end();
          if (was != is) record(name, is ? "fault_on" : "fault_off", f->name, f->type);
        }
      publish(e);
    }
  }
  return next;
}

Registry::Entry* Registry::find(const std::string& name) {
  auto it = proxies_.find(name);
  return it == proxies_.end() ? nullptr : &it->second;
}
const Registry::Entry* Registry::find(const std::string& name) const {
  auto it = proxies_.find(name);
  return it == proxies_.end() ? nullptr : &it->second;
}

ProxyView Registry::view(const Entry& e) const {
  ProxyView v{e.spec.name,
              e.bound.empty() ? e.spec.listen : e.bound,
              e.spec.upstream,
              e.running,
              {},
              e.spec.protocol,
              e.spec.header_faults,
              e.spec.pass_tls};
  v.toxics = e.faults.upstream;
  v.toxics.insert(v.toxics.end(), e.faults.downstream.begin(), e.faults.downstream.end());
  v.toxics.insert(v.toxics.end(), e.faults.connection.begin(), e.faults.connection.end());
  v.toxics.insert(v.toxics.end(), e.faults.http.begin(), e.faults.http.end());
  return v;
}

static std::optional<ApiError> check_protocol(const std::string& protocol) {
  if (proxy::protocol_from(protocol)) return std::nullopt;
  return ApiError{400,
                  "protocol must be tcp, http, postgres, redis or mysql, got \"" + protocol + "\""};
}

static proxy::Protocol protocol_of(const std::string& name) {
  return proxy::protocol_from(name).value_or(proxy::Protocol::tcp);
}

// The protocol a message-level fault type needs, or empty for a stream fault.
static std::string protocol_needed(const std::string& type) {
  if (faults::http::find_type(type)) return "http";
  if (const auto* t = faults::db::find_type(type))
    return std::string(faults::db::protocol_name(t->protocol));
  return {};
}

std::optional<ApiError> Registry::start(Entry& e) {
  if (e.running) return std::nullopt;
  if (!e.runtime) e.runtime = engine_.make_proxy(e.spec.name);
  e.runtime->set_upstream(e.spec.upstream);
  e.runtime->set_protocol(protocol_of(e.spec.protocol), e.spec.header_faults, e.spec.pass_tls);
  publish(e);
  // Re-enabling binds the address bound before, as Toxiproxy does.
  auto bound = e.runtime->listen(e.bound.empty() ? e.spec.listen : e.bound);
  if (!bound) return ApiError{500, bound.error.message};
  e.bound = *bound.value;
  e.running = true;
  spdlog::info("proxy {} listening on {}, upstream {}", e.spec.name, e.bound, e.spec.upstream);
  record(e.spec.name, "proxy_enabled", {}, {}, e.bound + " -> " + e.spec.upstream);
  return std::nullopt;
}

void Registry::stop(Entry& e) {
  if (!e.running) return;
  e.runtime->close();
  e.running = false;
  spdlog::info("proxy {} stopped", e.spec.name);
  record(e.spec.name, "proxy_disabled");
}

void Registry::publish(Entry& e, bool flush_pending) {
  const auto now = faults::Clock::now();
  e.live = live_ids(e.faults, now);
  if (!e.runtime) return;
  auto set = std::make_shared<faults::ChainSet>();
  for (const auto* chain :
       {&e.faults.upstream, &e.faults.downstream, &e.faults.http, &e.faults.connection})
    for (const auto& f : *chain)
      if (acting(*f, now)) add_to(*set, f);
  set->flush_pending = flush_pending;
  e.runtime->set_faults(std::move(set));
  wake_.notify_all();  // the scheduler looks again at what is timed
}

std::vector<ProxyView> Registry::list() const {
  std::lock_guard lock(mutex_);
  std::vector<ProxyView> out;
  for (const auto& [name, e] : proxies_) out.push_back(view(e));
  return out;
}

Outcome<ProxyView> Registry::get(const std::string& name) const {
  std::lock_guard lock(mutex_);
  const Entry* e = find(name);
  if (!e) return not_found();
  return view(*e);
}

Outcome<ProxyView> Registry::create(const ProxySpec& spec) {
  std::lock_guard lock(mutex_);
  if (spec.name.empty()) return ApiError{400, "missing required field: name"};
  if (spec.upstream.empty()) return ApiError{400, "missing required field: upstream"};
  if (auto err = check_protocol(spec.protocol)) return *err;
  if (find(spec.name)) return ApiError{409, "proxy already exists"};
  Entry e;
  e.spec = spec;
  if (spec.enabled) {
    if (auto err = start(e)) return *err;  // not added, as Toxiproxy does
  }
  auto& stored = proxies_[spec.name] = std::move(e);
  return view(stored);
}

Outcome<ProxyView> Registry::update(const std::string& name, const ProxyPatch& patch) {
  std::lock_guard lock(mutex_);
  Entry* e = find(name);
  if (!e) return not_found();
  const bool listen_changed = patch.listen &&
                              (*patch.listen != e->spec.listen || port_is_zero(*patch.listen)) &&
                              *patch.listen != e->bound;
  const bool upstream_changed = patch.upstream && *patch.upstream != e->spec.upstream;
  const bool enabled = patch.enabled.value_or(e->running);
  if (patch.protocol)
    if (auto err = check_protocol(*patch.protocol)) return *err;
  const bool protocol_changed =
      (patch.protocol && *patch.protocol != e->spec.protocol) ||
      (patch.header_faults && *patch.header_faults != e->spec.header_faults);
  if (protocol_changed) {
    if (patch.protocol && *patch.protocol != e->spec.protocol && !e->faults.http.empty())
      return ApiError{400, "remove the proxy's " + e->spec.protocol +
                               " faults before it speaks another protocol"};
    // New connections speak the new protocol; open ones keep theirs.
    if (patch.protocol) e->spec.protocol = *patch.protocol;
    if (patch.header_faults) e->spec.header_faults = *patch.header_faults;
    if (e->runtime)
      e->runtime->set_protocol(protocol_of(e->spec.protocol), e->spec.header_faults,
                               e->spec.pass_tls);
  }

  if (listen_changed || upstream_changed) {
    stop(*e);
    if (listen_changed) {
      e->spec.listen = *patch.listen;
      e->bound.clear();
    }
    if (upstream_changed) e->spec.upstream = *patch.upstream;
  }
  if (!enabled) {
    stop(*e);
  } else if (auto err = start(*e)) {
    return *err;  // stored with the new values, disabled
  }
  return view(*e);
}

std::optional<ApiError> Registry::remove(const std::string& name) {
  std::lock_guard lock(mutex_);
  Entry* e = find(name);
  if (!e) return not_found();
  stop(*e);
  proxies_.erase(name);
  record(name, "proxy_deleted");
  return std::nullopt;
}

PopulateResult Registry::populate(const std::vector<ProxySpec>& specs) {
  PopulateResult out;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto at = " at proxy " + std::to_string(i + 1);
    if (specs[i].name.empty()) {
      out.error = ApiError{400, "missing required field: name" + at};
      return out;
    }
    if (specs[i].upstream.empty()) {
      out.error = ApiError{400, "missing required field: upstream" + at};
      return out;
    }
  }
  std::lock_guard lock(mutex_);
  for (const auto& spec : specs) {
    if (Entry* old = find(spec.name)) {
      const bool same_listen = !port_is_zero(spec.listen) &&
                               (spec.listen == old->spec.listen || spec.listen == old->bound);
      if (same_listen && spec.upstream == old->spec.upstream) {
        out.proxies.push_back(view(*old));
        continue;
      }
      stop(*old);  // replaced by a new proxy: its faults go with it
    }
    Entry e;
    e.spec = spec;
    if (spec.enabled) {
      if (auto err = start(e)) {
        out.error = err;
        return out;
      }
    }
    auto& stored = proxies_[spec.name] = std::move(e);
    out.proxies.push_back(view(stored));
  }
  return out;
}

void Registry::add_to(faults::ChainSet& set, std::shared_ptr<const faults::FaultInstance> f) {
  if (f->http || f->db)
    set.http.push_back(std::move(f));
  else if (f->connection_level())
    set.connection.push_back(std::move(f));
  else
    (f->stream == faults::Stream::upstream ? set.upstream : set.downstream).push_back(std::move(f));
}

faults::Result<std::shared_ptr<faults::FaultInstance>> Registry::make_fault(
    const std::string& name, const std::string& type_name, const std::string& stream_text,
    double toxicity, const std::map<std::string, faults::Value>& attributes,
    const faults::http::Tree& http_attributes, double probability, const FaultControls& controls) {
  using R = faults::Result<std::shared_ptr<faults::FaultInstance>>;
  if (!(probability >= 0.0 && probability <= 1.0))
    return R::fail("probability must be between 0 and 1, got " + fmt::format("{}", probability),
                   "probability");
  auto instance = std::make_shared<faults::FaultInstance>();
  instance->added = faults::Clock::now();
  if (auto err = resolve_controls(controls, *instance)) return R::fail(*err);
  instance->name = name;
  instance->type = type_name;
  instance->stream_text = stream_text;
  instance->stream =
      lower(stream_text) == "upstream" ? faults::Stream::upstream : faults::Stream::downstream;
  instance->toxicity = toxicity;
  if (const faults::FaultType* type = faults::find_type(type_name)) {
    auto built = faults::build(*type, attributes);
    if (!built) return R::fail(built.error.message, built.error.attribute);
    instance->type_index = faults::type_index(*type);
    instance->values = std::move(built.value->values);
    instance->fault = std::move(built.value->fault);
    instance->shared = instance->fault->make_shared_state();
    instance->probability = probability;
  } else if (const auto* http_type = faults::http::find_type(type_name)) {
    auto settings = faults::http::parse_settings(*http_type, http_attributes, probability);
    if (!settings) return R::fail(settings.error.message, settings.error.attribute);
    auto fault = std::make_shared<faults::http::Fault>();
    fault->name = name;
    fault->settings = std::move(*settings.value);
    fault->added = faults::Clock::now();
    instance->http = std::move(fault);
  } else if (const auto* db_type = faults::db::find_type(type_name)) {
    auto settings = faults::db::parse_settings(*db_type, http_attributes, probability);
    if (!settings) return R::fail(settings.error.message, settings.error.attribute);
    auto fault = std::make_shared<faults::db::Fault>();
    fault->name = name;
    fault->settings = std::move(*settings.value);
    instance->db = std::move(fault);
    instance->stream_text = std::string(faults::db::protocol_name(db_type->protocol));
  } else {
    return R::fail("unknown fault type " + type_name);
  }
  instance->id = next_fault_id_++;  // only once it is sure to be used
  return R::ok(std::move(instance));
}

Outcome<ApplyResult> Registry::apply_profile(const Profile& profile) {
  std::lock_guard lock(mutex_);
  struct Plan {
    const ProfileProxy* spec = nullptr;
    faults::ChainSet faults;
    Entry* existing = nullptr;
    bool keep = false;  // same listen address: keep the runtime and its connections
    std::shared_ptr<proxy::Proxy> runtime;  // new runtime, bound when enabled
    std::string bound;
  };
  std::vector<Plan> plans;
  // Build every fault first: nothing changes if one is refused.
  for (const auto& pp : profile.proxies) {
    Plan plan;
    plan.spec = &pp;
    for (const auto& f : pp.faults) {
      if (f.timed) {
        // The timeline's: keep the instance it may have on right now.
        if (Entry* e = find(pp.name))
          for (const auto* chain :
               {&e->faults.upstream, &e->faults.downstream, &e->faults.http, &e->faults.connection})
            for (const auto& t : *chain)
              if (t->name == f.name) add_to(plan.faults, t);
        continue;
      }
      auto made = make_fault(f.name, f.type, f.stream, f.toxicity, f.attributes,
                             f.http.value_or(faults::http::Tree{}), f.probability, f.controls);
      if (!made)
        return ApiError{400, "proxy " + pp.name + ", fault " + f.name + ": " + made.error.message};
      add_to(plan.faults, std::move(*made.value));
    }
    plan.existing = find(pp.name);
    plan.keep = plan.existing && (plan.existing->spec.listen == pp.listen ||
                                  (!port_is_zero(pp.listen) && plan.existing->bound == pp.listen));
    plans.push_back(std::move(plan));
  }
  // Bind every new listener; on a failure close those bound and change nothing.
  for (auto& plan : plans) {
    if (plan.keep || !plan.spec->enabled) continue;
    plan.runtime = engine_.make_proxy(plan.spec->name);
    plan.runtime->set_upstream(plan.spec->upstream);
    plan.runtime->set_protocol(protocol_of(plan.spec->protocol), plan.spec->header_faults,
                               plan.spec->pass_tls);
    plan.runtime->set_faults(std::make_shared<const faults::ChainSet>(plan.faults));
    auto bound = plan.runtime->listen(plan.spec->listen);
    if (!bound) {
      for (auto& p : plans)
        if (p.runtime && !p.bound.empty()) p.runtime->close();
      return ApiError{400, "proxy " + plan.spec->name + ": " + bound.error.message};
    }
    plan.bound = *bound.value;
  }
  // Commit.
  ApplyResult out;
  for (auto& plan : plans) {
    const auto& pp = *plan.spec;
    if (plan.keep) {
      Entry& e = *plan.existing;
      if (e.spec.upstream != pp.upstream) {
        e.spec.upstream = pp.upstream;
        if (e.runtime) e.runtime->set_upstream(pp.upstream);
      }
      e.faults = std::move(plan.faults);
      e.owner = profile.file;
      e.spec.protocol = pp.protocol;
      e.spec.header_faults = pp.header_faults;
      e.spec.pass_tls = pp.pass_tls;
      if (e.runtime)
        e.runtime->set_protocol(protocol_of(pp.protocol), pp.header_faults, pp.pass_tls);
      publish(e);
      if (!pp.enabled)
        stop(e);
      else if (auto err = start(e))
        spdlog::warn("proxy {}: {}", pp.name, err->message);
      out.kept.push_back(pp.name);
      record(pp.name, "profile_applied", {}, {}, profile.file + ", kept its connections");
      continue;
    }
    if (plan.existing) {
      stop(*plan.existing);
      out.restarted.push_back(pp.name);
    } else {
      out.created.push_back(pp.name);
    }
    Entry e;
    e.spec = ProxySpec{pp.name,     pp.upstream,      pp.listen,  pp.enabled,
                       pp.protocol, pp.header_faults, pp.pass_tls};
    e.faults = std::move(plan.faults);
    e.owner = profile.file;
    e.runtime = plan.runtime;
    e.bound = plan.bound;
    e.running = !plan.bound.empty();
    proxies_[pp.name] = std::move(e);
    if (!plan.bound.empty()) {
      spdlog::info("proxy {} listening on {}, upstream {}", pp.name, plan.bound, pp.upstream);
      record(pp.name, "proxy_enabled", {}, {}, plan.bound + " -> " + pp.upstream);
    }
    record(pp.name, "profile_applied", {}, {}, profile.file);
  }
  for (auto it = proxies_.begin(); it != proxies_.end();) {
    if (it->second.owner == profile.file && !profile.proxy(it->first)) {
      stop(it->second);
      out.removed.push_back(it->first);
      record(it->first, "proxy_deleted", {}, {}, "no longer in " + profile.file);
      it = proxies_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& pp : profile.proxies) out.proxies.push_back(view(*find(pp.name)));
  return out;
}

std::optional<ApiError> Registry::reset() {
  std::lock_guard lock(mutex_);
  std::optional<ApiError> first_error;
  for (auto& [name, e] : proxies_) {
    if (auto err = start(e); err && !first_error) first_error = err;
    if (!e.faults.upstream.empty() || !e.faults.downstream.empty() || !e.faults.http.empty() ||
        !e.faults.connection.empty())
      record(name, "faults_cleared");
    e.faults = {};
    publish(e);
  }
  return first_error;
}

Outcome<std::vector<ToxicView>> Registry::toxics(const std::string& proxy) const {
  std::lock_guard lock(mutex_);
  const Entry* e = find(proxy);
  if (!e) return not_found();
  return view(*e).toxics;
}

Outcome<ToxicView> Registry::toxic(const std::string& proxy, const std::string& toxic) const {
  std::lock_guard lock(mutex_);
  const Entry* e = find(proxy);
  if (!e) return not_found();
  for (const auto& t : view(*e).toxics)
    if (t->name == toxic) return t;
  return toxic_not_found();
}

Outcome<ToxicView> Registry::add_toxic(const std::string& proxy, const ToxicSpec& spec) {
  std::lock_guard lock(mutex_);
  Entry* e = find(proxy);
  if (!e) return not_found();

  // Toxiproxy's order of checks: stream, default name, type, name, attributes.
  const std::string stream_text = spec.stream.value_or("downstream");
  const std::string stream = lower(stream_text);
  if (stream != "upstream" && stream != "downstream")
    return ApiError{400, "stream was invalid, can be either upstream or downstream"};
  const std::string name =
      spec.name && !spec.name->empty() ? *spec.name : spec.type + "_" + stream_text;
  const faults::FaultType* type = faults::find_type(spec.type);
  const std::string needed = type ? std::string() : protocol_needed(spec.type);
  if (!type && needed.empty()) return ApiError{400, "invalid toxic type"};
  for (const auto& t : view(*e).toxics)
    if (t->name == name) return ApiError{409, "toxic already exists"};
  const double toxicity = spec.toxicity.value_or(1.0);
  if (auto err = check_toxicity(toxicity)) return *err;
  if (!needed.empty() && e->spec.protocol != needed)
    return ApiError{400, "fault type " + spec.type + " needs a proxy with protocol " + needed +
                             " (proxy " + proxy + " speaks " + e->spec.protocol + ")"};
  auto made = make_fault(name, spec.type, stream_text, toxicity, spec.attributes,
                         spec.http_attributes, spec.probability.value_or(1.0), spec.controls);
  if (!made) return ApiError{400, made.error.message};
  std::shared_ptr<const faults::FaultInstance> instance = std::move(*made.value);
  add_to(e->faults, instance);
  publish(*e);
  spdlog::info("proxy {}: fault {} ({}, {}) added", proxy, name, spec.type,
               instance->http || instance->db ? needed : stream);
  record(proxy, "fault_added", name, spec.type,
         instance->http || instance->db ? needed
         : instance->connection_level() ? "connections"
                                        : stream);
  return ToxicView(instance);
}

Outcome<ToxicView> Registry::update_toxic(const std::string& proxy, const std::string& toxic,
                                          const ToxicPatch& patch) {
  std::lock_guard lock(mutex_);
  Entry* e = find(proxy);
  if (!e) return not_found();
  for (faults::Chain* chain :
       {&e->faults.upstream, &e->faults.downstream, &e->faults.http, &e->faults.connection}) {
    for (auto& slot : *chain) {
      if (slot->name != toxic) continue;
      const double toxicity = patch.toxicity.value_or(slot->toxicity);
      if (auto err = check_toxicity(toxicity)) return *err;
      auto controlled = std::make_shared<faults::FaultInstance>(*slot);
      if (auto err = resolve_controls(patch.controls, *controlled)) return ApiError{400, *err};
      if (slot->http) {
        // Partial update: the given attributes replace the current ones, key by key.
        auto tree = faults::http::to_tree(slot->http->settings);
        if (auto* given = std::get_if<faults::http::TreeMap>(&patch.http_attributes.v))
          for (const auto& [k, v] : *given) std::get<faults::http::TreeMap>(tree.v)[k] = v;
        auto settings = faults::http::parse_settings(
            *faults::http::find_type(slot->type), tree,
            patch.probability.value_or(slot->http->settings.probability));
        if (!settings) return ApiError{400, settings.error.message};
        auto next = controlled;
        next->toxicity = toxicity;
        auto fault = std::make_shared<faults::http::Fault>(*slot->http);  // keeps the counters
        fault->settings = std::move(*settings.value);
        next->http = std::move(fault);
        slot = next;
        publish(*e);
        record(proxy, "fault_updated", toxic, next->type);
        return ToxicView(next);
      }
      if (slot->db) {
        auto tree = faults::db::to_tree(slot->db->settings);
        if (auto* given = std::get_if<faults::http::TreeMap>(&patch.http_attributes.v))
          for (const auto& [k, v] : *given) std::get<faults::http::TreeMap>(tree.v)[k] = v;
        auto settings =
            faults::db::parse_settings(*faults::db::find_type(slot->type), tree,
                                       patch.probability.value_or(slot->db->settings.probability));
        if (!settings) return ApiError{400, settings.error.message};
        auto next = controlled;
        next->toxicity = toxicity;
        auto fault = std::make_shared<faults::db::Fault>(*slot->db);  // keeps the counters
        fault->settings = std::move(*settings.value);
        next->db = std::move(fault);
        slot = next;
        publish(*e);
        record(proxy, "fault_updated", toxic, next->type);
        return ToxicView(next);
      }
      auto built = faults::build(*faults::find_type(slot->type), patch.attributes, &slot->values);
      if (!built) return ApiError{400, built.error.message};
      const double probability = patch.probability.value_or(slot->probability);
      if (!(probability >= 0.0 && probability <= 1.0))
        return ApiError{
            400, "probability must be between 0 and 1, got " + fmt::format("{}", probability)};
      auto next = controlled;
      next->toxicity = toxicity;
      next->probability = probability;
      next->values = std::move(built.value->values);
      next->fault = std::move(built.value->fault);
      // The proxy-wide state (a connection count, a shared budget) carries over.
      if (!next->shared || !next->fault->make_shared_state())
        next->shared = next->fault->make_shared_state();
      slot = next;
      publish(*e, !patch.keep_pending);
      // A timeline ramp steps every second: keep those out of the info log.
      spdlog::log(patch.keep_pending ? spdlog::level::debug : spdlog::level::info,
                  "proxy {}: fault {} updated", proxy, toxic);
      record(proxy, "fault_updated", toxic, next->type);
      return ToxicView(next);
    }
  }
  return toxic_not_found();
}

std::optional<ApiError> Registry::remove_toxic(const std::string& proxy, const std::string& toxic,
                                               std::uint64_t only_id) {
  std::lock_guard lock(mutex_);
  Entry* e = find(proxy);
  if (!e) return not_found();
  for (faults::Chain* chain :
       {&e->faults.upstream, &e->faults.downstream, &e->faults.http, &e->faults.connection}) {
    auto it =
        std::find_if(chain->begin(), chain->end(), [&](const auto& t) { return t->name == toxic; });
    if (it == chain->end()) continue;
    if (only_id && (*it)->id != only_id) return toxic_not_found();
    const std::string type = (*it)->type;
    const std::uint64_t acted = (*it)->acted();
    chain->erase(it);
    publish(*e);
    spdlog::info("proxy {}: fault {} removed", proxy, toxic);
    record(proxy, "fault_removed", toxic, type, {}, acted);
    return std::nullopt;
  }
  return toxic_not_found();
}

std::vector<std::pair<std::string, proxy::ProxyCounters>> Registry::counters() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, proxy::ProxyCounters>> out;
  for (const auto& [name, e] : proxies_)
    out.emplace_back(name, e.runtime ? e.runtime->counters() : proxy::ProxyCounters{});
  return out;
}

}  // namespace brownout::control
