// The registry: every proxy's configuration and its fault chains, with the
// semantics of Toxiproxy's API (create, update, populate, reset, toxics). It
// validates everything before changing anything and publishes each change
// to the data plane as a new immutable snapshot.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "control/controls.hpp"
#include "control/profile.hpp"
#include "faults/chain.hpp"
#include "faults/db.hpp"
#include "faults/http.hpp"
#include "proxy/engine.hpp"
#include "proxy/events.hpp"

namespace brownout::control {

struct ApiError {
  int status = 400;
  std::string message;
};

template <class T>
using Outcome = std::variant<T, ApiError>;

using ToxicView = std::shared_ptr<const faults::FaultInstance>;

struct ProxyView {
  std::string name;
  std::string listen;
  std::string upstream;
  bool enabled = false;
  std::vector<ToxicView> toxics;  // upstream, downstream, then HTTP faults, each in insertion order
  std::string protocol = "tcp";
  bool header_faults = false;
  bool pass_tls = false;
};

struct ProxySpec {
  std::string name;
  std::string upstream;
  std::string listen;
  bool enabled = true;
  std::string protocol = "tcp";  // "tcp" or "http"
  bool header_faults = false;    // http: x-brownout-fault-* request headers pick faults
  bool pass_tls = false;         // postgres: forward SSLRequest (byte faults only) instead of 'N'
};

struct ProxyPatch {
  std::optional<std::string> listen;
  std::optional<std::string> upstream;
  std::optional<bool> enabled;
  std::optional<std::string> protocol;
  std::optional<bool> header_faults;
};

struct ToxicSpec {
  std::string type;
  std::optional<std::string> name;
  std::optional<std::string> stream;
  std::optional<double> toxicity;
  std::map<std::string, faults::Value> attributes;
  // HTTP faults: per-request probability and the attributes as a tree
  // (match, headers and quota are objects).
  std::optional<double> probability;  // per request (HTTP), per chunk (stream faults)
  faults::http::Tree http_attributes;
  FaultControls controls;
};

struct ToxicPatch {
  std::optional<double> toxicity;
  std::map<std::string, faults::Value> attributes;
  std::optional<double> probability;
  faults::http::Tree http_attributes;  // merged over the current ones, key by key
  FaultControls controls;              // what it names replaces the current value
  // Bytes the fault holds keep their release times (a timeline ramp step)
  // instead of going out at once as after an API update.
  bool keep_pending = false;
};

struct ApplyResult {
  std::vector<ProxyView> proxies;  // the profile's proxies, as they now run
  std::vector<std::string> created, kept, restarted, removed;
  std::string timeline = "none";  // started, kept (a reload left it unchanged) or none
};

struct PopulateResult {
  std::vector<ProxyView> proxies;
  std::optional<ApiError> error;  // set when an entry failed; proxies holds those done
};

class Registry {
 public:
  // `events` (optional) receives a record of every change and who made it.
  explicit Registry(proxy::Engine& engine, proxy::EventSink* events = nullptr);

  // Who is making the changes that follow on this thread (the API sets the
  // client's User-Agent, the timeline "timeline"); recorded in the events.
  void set_actor(std::string actor);
  ~Registry();

  std::vector<ProxyView> list() const;
  Outcome<ProxyView> get(const std::string& name) const;
  Outcome<ProxyView> create(const ProxySpec& spec);
  Outcome<ProxyView> update(const std::string& name, const ProxyPatch& patch);
  std::optional<ApiError> remove(const std::string& name);
  PopulateResult populate(const std::vector<ProxySpec>& specs);
  std::optional<ApiError> reset();

  // Makes the profile's proxies and their always-on faults the running
  // state, all or nothing: every new listen address is bound before anything
  // changes. A proxy running with the same name and listen address keeps its
  // connections. Proxies an earlier apply of the same file created and the
  // file no longer declares are removed. Faults named by the profile's phases
  // are left to the timeline.
  Outcome<ApplyResult> apply_profile(const Profile& profile);

  Outcome<std::vector<ToxicView>> toxics(const std::string& proxy) const;
  Outcome<ToxicView> toxic(const std::string& proxy, const std::string& toxic) const;
  Outcome<ToxicView> add_toxic(const std::string& proxy, const ToxicSpec& spec);
  Outcome<ToxicView> update_toxic(const std::string& proxy, const std::string& toxic,
                                  const ToxicPatch& patch);
  // With `only_id`, removes the fault only while it is still that instance
  // (updates keep the id): the timeline never removes a fault someone else
  // made under the same name.
  std::optional<ApiError> remove_toxic(const std::string& proxy, const std::string& toxic,
                                       std::uint64_t only_id = 0);

  std::vector<std::pair<std::string, proxy::ProxyCounters>> counters() const;

 private:
  struct Entry {
    ProxySpec spec;     // listen as the user gave it
    std::string bound;  // the address actually bound, once started
    bool running = false;
    faults::ChainSet faults;
    std::shared_ptr<proxy::Proxy> runtime;
    std::string owner;                // the profile file that created it, if one did
    std::vector<std::uint64_t> live;  // ids of the faults last published
  };

  ProxyView view(const Entry& e) const;
  std::optional<ApiError> start(Entry& e);
  void stop(Entry& e);
  // Publishes the faults that act now (a fault waiting for its `after`, or
  // flapped off, is listed but not published).
  void publish(Entry& e, bool flush_pending = true);
  // The scheduler: removes faults whose `for` or `count` ran out, publishes
  // when a timed fault turns on or off, and sleeps until the next change.
  void run_scheduler();
  faults::TimePoint tick(faults::TimePoint now);
  // A configured fault (byte-stream or HTTP) with a fresh id, or why its
  // attributes are refused; and where it goes in a chain set.
  faults::Result<std::shared_ptr<faults::FaultInstance>> make_fault(
      const std::string& name, const std::string& type, const std::string& stream_text,
      double toxicity, const std::map<std::string, faults::Value>& attributes,
      const faults::http::Tree& http_attributes, double probability, const FaultControls& controls);
  static void add_to(faults::ChainSet& set, std::shared_ptr<const faults::FaultInstance> f);
  void record(const std::string& proxy, const std::string& action, const std::string& fault = {},
              const std::string& type = {}, const std::string& detail = {},
              std::optional<std::uint64_t> acted = std::nullopt);
  Entry* find(const std::string& name);
  const Entry* find(const std::string& name) const;

  proxy::Engine& engine_;
  proxy::EventSink* events_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> proxies_;
  std::uint64_t next_fault_id_ = 1;
  std::condition_variable wake_;  // with mutex_: a fault with a schedule was added or changed
  bool stopping_ = false;
  std::thread scheduler_;
};

}  // namespace brownout::control
