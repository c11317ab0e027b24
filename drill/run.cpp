#include "drill/run.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "control/api.hpp"
#include "control/client.hpp"
#include "control/events.hpp"
#include "control/lease.hpp"
#include "control/registry.hpp"
#include "control/timeline.hpp"
#include "drill/diff.hpp"
#include "drill/html.hpp"
#include "drill/judge.hpp"
#include "drill/probe.hpp"
#include "drill/report.hpp"
#include "drill/spec.hpp"

namespace brownout::drill {

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) {
  g_signal = sig;
}

std::string iso_utc(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Where the proxies run: in this process, or in a `brownout serve` the drill
// drives over its API under a lease.
class Backend {
 public:
  virtual ~Backend() = default;
  // The profile's proxies with no fault; an error text.
  virtual std::string calm() = 0;
  // Its faults and its timeline (from now); an error text.
  virtual std::string start_faults() = 0;
  // Called every 200 ms or so: keeps the lease, collects events.
  virtual void tick() {}
  // Every fault the drill set goes; an error text.
  virtual std::string clear() = 0;
  // The fault events since calm(), in ms from `sys0`.
  virtual std::vector<FaultEvent> events(std::chrono::system_clock::time_point sys0) = 0;
};

FaultEvent to_fault_event(const proxy::Event& e, std::chrono::system_clock::time_point sys0) {
  const Ms at = std::chrono::duration_cast<std::chrono::milliseconds>(e.time - sys0).count();
  return {at, e.proxy, e.fault, e.action, e.acted, e.trace};
}

class LocalBackend final : public Backend {
 public:
  LocalBackend(const control::Profile& profile, std::uint64_t seed)
      : profile_(profile),
        events_(std::make_shared<control::EventLog>()),
        engine_(proxy::EngineOptions{0, seed, 4 << 20, events_}),
        registry_(engine_, events_.get()),
        timeline_(registry_, events_.get()) {
    registry_.set_actor("drill");
  }
  std::string calm() override { return apply(control::without_faults(profile_), false); }
  std::string start_faults() override { return apply(profile_, true); }
  std::string clear() override {
    timeline_.stop();
    return apply(control::without_faults(profile_), false);
  }
  std::vector<FaultEvent> events(std::chrono::system_clock::time_point sys0) override {
    std::vector<FaultEvent> out;
    for (const auto& e : events_->since(0, 1'000'000)) out.push_back(to_fault_event(e.event, sys0));
    return out;
  }

 private:
  std::string apply(const control::Profile& p, bool with_timeline) {
    auto r = with_timeline ? control::apply_profile(registry_, timeline_, p, false)
                           : registry_.apply_profile(p);
    if (auto* e = std::get_if<control::ApiError>(&r)) return e->message;
    return {};
  }
  const control::Profile& profile_;
  std::shared_ptr<control::EventLog> events_;
  proxy::Engine engine_;
  control::Registry registry_;
  control::Timeline timeline_;
};

// "2026-11-28T10:27:08.037626Z" as a time point.
std::optional<std::chrono::system_clock::time_point> parse_stamp(const std::string& s) {
  std::tm tm{};
  long long micros = 0;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%6lldZ%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &micros, &n) != 7)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::microseconds(micros);
}

class RemoteBackend final : public Backend {
 public:
  static constexpr std::int64_t kLeaseMs = 10'000;

  RemoteBackend(std::string server, std::string main, std::map<std::string, std::string> files)
      : server_(std::move(server)) {
    boost::json::object f;
    for (const auto& [k, v] : files) f[k] = v;
    body_ = boost::json::serialize(boost::json::object{{"main", main}, {"files", f}});
  }
  ~RemoteBackend() override {
    if (!lease_.empty()) clear();
  }
  std::string calm() override {
    // The event cursor first: what happened before this drill is not its own.
    auto r = control::http_call(server_, "GET", "/events?since=18446744073709551615");
    if (!r.reached) return "cannot reach " + server_ + ": " + r.error;
    if (auto v = json(r); v && v->is_object())
      if (const auto* last = v->as_object().if_contains("last"); last && last->is_number())
        cursor_ = last->to_number<std::uint64_t>();
    return post_profile("/profiles?calm=1");
  }
  std::string start_faults() override {
    const auto err = post_profile("/profiles?lease=" + std::to_string(kLeaseMs));
    if (err.empty()) renewed_ = std::chrono::steady_clock::now();
    return err;
  }
  void tick() override {
    if (lease_.empty() || std::chrono::steady_clock::now() - renewed_ < std::chrono::seconds(1))
      return;
    auto r = control::http_call(server_, "POST", "/leases/" + lease_);
    if (r.reached && r.status == 200) renewed_ = std::chrono::steady_clock::now();
    // A lost lease (the server restarted) cannot be renewed: its faults are gone.
    else if (r.reached && r.status == 404)
      lease_.clear();
    poll();
  }
  std::string clear() override {
    if (lease_.empty()) return {};
    auto r = control::http_call(server_, "DELETE", "/leases/" + lease_);
    lease_.clear();
    if (!r.reached) return "cannot reach " + server_ + " to clear the faults: " + r.error;
    if (r.status != 204 && r.status != 404)
      return "clearing the faults: HTTP " + std::to_string(r.status);
    return {};
  }
  std::vector<FaultEvent> events(std::chrono::system_clock::time_point sys0) override {
    poll();
    std::vector<FaultEvent> out;
    for (const auto& e : events_) out.push_back(to_fault_event(e, sys0));
    return out;
  }

 private:
  static std::optional<boost::json::value> json(const control::HttpResult& r) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (ec) return std::nullopt;
    return v;
  }
  std::string post_profile(const std::string& target) {
    auto r = control::http_call(server_, "POST", target, body_);
    if (!r.reached) return "cannot reach " + server_ + ": " + r.error;
    auto v = json(r);
    if (r.status != 200 || !v || !v->is_object()) {
      const auto* e = v && v->is_object() ? v->as_object().if_contains("error") : nullptr;
      return "the server refused the profile: " + (e && e->is_string()
                                                       ? std::string(e->as_string())
                                                       : "HTTP " + std::to_string(r.status));
    }
    if (const auto* l = v->as_object().if_contains("lease"); l && l->is_object())
      if (const auto* id = l->as_object().if_contains("id"); id && id->is_string())
        lease_ = std::string(id->as_string());
    return {};
  }
  // Reads the server's events since the cursor (1000 a call, bounded).
  void poll() {
    for (int i = 0; i < 100; ++i) {
      auto r = control::http_call(server_, "GET", "/events?since=" + std::to_string(cursor_));
      auto v = r.reached && r.status == 200 ? json(r) : std::nullopt;
      if (!v || !v->is_object()) return;
      const auto* list = v->as_object().if_contains("events");
      if (!list || !list->is_array() || list->as_array().empty()) return;
      for (const auto& item : list->as_array()) {
        const auto& o = item.as_object();
        const auto text = [&](const char* k) {
          const auto* x = o.if_contains(k);
          return x && x->is_string() ? std::string(x->as_string()) : std::string();
        };
        proxy::Event e;
        if (auto t = parse_stamp(text("time"))) e.time = *t;
        e.proxy = text("proxy");
        e.fault = text("fault");
        e.action = text("action");
        e.trace = text("trace");
        if (const auto* a = o.if_contains("acted"); a && a->is_number())
          e.acted = a->to_number<std::uint64_t>();
        if (const auto* id = o.if_contains("id"); id && id->is_number())
          cursor_ = std::max(cursor_, id->to_number<std::uint64_t>());
        events_.push_back(std::move(e));
      }
      if (list->as_array().size() < 1000) return;
    }
  }

  std::string server_;
  std::string body_;
  std::string lease_;
  std::chrono::steady_clock::time_point renewed_{};
  std::uint64_t cursor_ = 0;
  std::vector<proxy::Event> events_;
};

// The steady state as a hypothesis over the window `when` ("before" or "after").
Hypothesis steady_hypothesis(const SteadyState& steady, const std::string& probe,
                             const std::string& when) {
  Hypothesis h;
  h.name = "steady state " + when + " faults (" + probe + ")";
  h.probe = probe;
  h.during = {when};
  h.checks = steady.checks;
  h.min_samples = steady.min_samples;
  return h;
}

bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  return static_cast<bool>(f);
}

}  // namespace

int run_drill(const DrillOptions& o, std::ostream& out, std::ostream& err) {
  // 1. Validate everything before anything runs.
  auto loaded = control::load_profile(o.profile);
  if (!loaded) {
    err << loaded.error_text();
    err << "brownout: " << loaded.errors.size() << " error(s), nothing ran\n";
    return static_cast<int>(Exit::bad_profile);
  }
  const control::Profile profile = *loaded.profile;
  std::vector<std::string> phase_names;
  for (const auto& p : profile.phases) phase_names.push_back(p.name);
  auto spec_result = load_spec(o.profile, loaded.sources[o.profile], phase_names);
  std::vector<control::ProfileError> errors = spec_result.errors;
  if (profile.phases.empty())
    errors.push_back({{o.profile, 1, 1}, "a drill needs a timeline: the profile has no [[phase]]"});
  if (profile.repeat)
    errors.push_back(
        {{o.profile, 1, 1}, "a drill runs its timeline once: remove [timeline] repeat"});
  if (!errors.empty()) {
    for (const auto& e : errors) err << e.text() << "\n";
    err << "brownout: " << errors.size() << " error(s), nothing ran\n";
    return static_cast<int>(Exit::bad_profile);
  }
  const DrillSpec spec = *spec_result.spec;
  const std::string reports = o.reports.value_or(spec.reports);

  // 2. The proxies, with no fault yet: in this process, or on the server.
  const std::uint64_t seed = o.seed.value_or(std::random_device{}());
  std::unique_ptr<Backend> backend;
  if (o.server.empty())
    backend = std::make_unique<LocalBackend>(profile, seed);
  else
    backend = std::make_unique<RemoteBackend>(o.server, o.profile, loaded.sources);
  if (auto e = backend->calm(); !e.empty()) {
    err << "brownout: " << e << "\n";
    return static_cast<int>(Exit::bad_profile);
  }

  g_signal = 0;
  auto old_int = std::signal(SIGINT, on_signal);
  auto old_term = std::signal(SIGTERM, on_signal);

  const auto t0 = Clock::now();
  const auto sys0 = std::chrono::system_clock::now();
  const auto now_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  };
  ProbeRunner probes(spec.probes, t0, seed);
  probes.start();

  RunRecord rec;
  rec.title = spec.title;
  rec.profile = o.profile;
  rec.replay_of = o.replay_of;
  rec.profile_text = loaded.sources[o.profile];
  rec.seed = seed;
  rec.started = iso_utc(sys0);

  // Sleeps until `until` (ms from t0), a second at a time, printing progress;
  // false when a signal or `stop` cut it short.
  const bool tty = !o.quiet && &out == &std::cout && ::isatty(STDOUT_FILENO);
  const auto wait_until = [&](Ms until, const std::string& what, auto&& stop) {
    Ms shown = -1;
    if (!o.quiet && !tty) out << "  " << what << " (" << (until - now_ms() + 999) / 1000 << "s)\n";
    while (now_ms() < until) {
      backend->tick();
      if (g_signal) return false;
      if (stop()) return false;
      const Ms now = now_ms(), left = (until - now + 999) / 1000;
      if (tty && left != shown) {
        shown = left;
        // In the timeline: the phase, its time left, and the whole's.
        std::string phase;
        for (const auto& w : rec.windows)
          if (w.faulted && now >= w.start && now < w.end)
            phase = ", phase " + w.name + " " + std::to_string((w.end - now + 999) / 1000) + "s";
        out << "\r  " << what << phase << ": " << left << "s left        " << std::flush;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<Ms>(200, until - now_ms())));
    }
    return true;
  };
  const auto never = [] { return false; };

  // 3. Steady state before any fault.
  const Ms before = spec.steady ? spec.steady->before : 0;
  rec.windows.push_back({"before", 0, before, false});
  bool ok = wait_until(before, "steady state", never);
  std::string status;
  if (ok && spec.steady && !spec.steady->checks.empty()) {
    const auto samples = probes.samples();
    for (const auto& probe : spec.steady->probes) {
      auto r = judge(steady_hypothesis(*spec.steady, probe, "before"), samples, rec.windows, {});
      if (r.verdict != Verdict::pass) status = "NOT_STEADY";
      rec.results.push_back(std::move(r));
    }
  }

  // 4. The timeline, with guards watching.
  Ms cleared = now_ms();
  if (ok && status.empty()) {
    const Ms t1 = now_ms();
    if (auto e = backend->start_faults(); !e.empty()) {
      err << "\nbrownout: " << e << "\n";
      status = "ERROR";
    }
    for (const auto& p : profile.phases)
      rec.windows.push_back({p.name, t1 + p.start_ms, t1 + p.end_ms(), true});
    const auto tripped = [&] {
      const Ms now = now_ms();
      for (const auto& g : spec.guards) {
        if (now - t1 < g.delay + g.over) continue;
        std::vector<Window> recent{{"recent", now - g.over, now, true}};
        Hypothesis h;
        h.probe = g.probe;
        h.during = {"recent"};
        const auto s = probes.samples();
        const auto scoped = in_scope(s, g.probe, recent, h.during, 0);
        if (!scoped.empty() && g.when.threshold.holds(measure(g.when.metric, scoped))) {
          rec.aborted_by =
              "guard " + g.probe + " " + metric_name(g.when.metric) + " " + g.when.threshold.text;
          return true;
        }
      }
      return false;
    };
    ok = status.empty() && wait_until(t1 + profile.timeline_ms(), "timeline", tripped);
    // 5. Every fault goes, whatever happened.
    if (auto e = backend->clear(); !e.empty()) err << "\nbrownout: " << e << "\n";
    cleared = now_ms();
    if (!ok && status.empty()) {
      status = "ABORTED";
      if (rec.aborted_by.empty()) rec.aborted_by = "signal";
    }
    // 6. The recovery, observed even after an abort (not after a second signal).
    Ms after = spec.steady ? spec.steady->after : 0;
    for (const auto& h : spec.hypotheses)
      if (h.recovery) after = std::max(after, h.stable_for + 10'000);
    rec.windows.push_back({"after", cleared, cleared + after, false});
    if (status != "ERROR") {
      g_signal = 0;
      wait_until(cleared + after, "recovery", never);
    }
  }
  probes.stop();
  if (tty) out << "\r" << std::string(78, ' ') << "\r";
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);

  // 7. Judge.
  rec.samples = probes.samples();
  rec.requests_sent = probes.sent();
  rec.events = backend->events(sys0);
  std::sort(rec.samples.begin(), rec.samples.end(), [](const Sample& a, const Sample& b) {
    return a.planned != b.planned ? a.planned < b.planned : a.probe < b.probe;
  });
  if (status.empty() || status == "ABORTED") {
    for (const auto& h : spec.hypotheses)
      rec.results.push_back(judge(h, rec.samples, rec.windows, rec.events));
    if (spec.steady && !spec.steady->checks.empty() && spec.steady->after > 0)
      for (const auto& probe : spec.steady->probes)
        rec.results.push_back(judge(steady_hypothesis(*spec.steady, probe, "after"), rec.samples,
                                    rec.windows, rec.events));
  }
  rec.impact = impact(rec.samples, rec.events);
  rec.duration = now_ms();
  if (status == "NOT_STEADY") {
    rec.exit = Exit::not_steady;
  } else if (status == "ABORTED") {
    rec.exit = Exit::aborted;
  } else if (status == "ERROR") {
    rec.exit = Exit::internal;
  } else {
    rec.exit = overall(rec.results, spec.inconclusive_as);
    status = rec.exit == Exit::pass ? "PASS" : rec.exit == Exit::fail ? "FAIL" : "INCONCLUSIVE";
  }
  rec.status = status;

  // 8. Report.
  std::error_code ec;
  std::filesystem::create_directories(reports, ec);
  const std::filesystem::path dir(reports);
  if (ec || !write_file(dir / "report.json", report_json(rec)) ||
      !write_file(dir / "junit.xml", junit_xml(rec)) ||
      !write_file(dir / "report.html", report_html(rec)) ||
      !write_file(dir / "samples.ndjson", samples_ndjson(rec)) ||
      !write_file(dir / "events.ndjson", events_ndjson(rec)))
    err << "brownout: cannot write the reports to " << reports << "\n";
  print_summary(out, rec, reports);
  return static_cast<int>(rec.exit);
}

namespace {
std::optional<std::string> read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream text;
  text << f.rdbuf();
  return text.str();
}
}  // namespace

int replay_drill(const std::string& report, DrillOptions o, std::ostream& out, std::ostream& err) {
  const auto text = read_text(report);
  if (!text) {
    err << "brownout: cannot read " << report << "\n";
    return static_cast<int>(Exit::bad_profile);
  }
  boost::system::error_code ec;
  const auto v = boost::json::parse(*text, ec);
  const auto* r = v.if_object();
  const auto* schema = r ? r->if_contains("schema") : nullptr;
  const auto* profile_text = r ? r->if_contains("profile_text") : nullptr;
  const auto* seed = r ? r->if_contains("seed") : nullptr;
  const auto* profile = r ? r->if_contains("profile") : nullptr;
  if (ec || !schema || !schema->is_string() || schema->get_string() != "brownout.drill/1" ||
      !profile_text || !profile_text->is_string() || !seed || !seed->is_number()) {
    err << "brownout: " << report
        << " is not a drill report with its profile and seed (schema brownout.drill/1)\n";
    return static_cast<int>(Exit::bad_profile);
  }
  // The profile as it was, next to a copy of the name it had, so errors and
  // reports still say which profile this is.
  std::error_code fec;
  const auto dir =
      std::filesystem::temp_directory_path(fec) / ("brownout-replay-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir, fec);
  const std::string name =
      profile && profile->is_string()
          ? std::filesystem::path(std::string(profile->get_string())).filename().string()
          : "profile.toml";
  const auto path = dir / (name.empty() ? "profile.toml" : name);
  if (fec || !write_file(path, std::string(profile_text->get_string()))) {
    err << "brownout: cannot write the replayed profile to " << path.string() << "\n";
    return static_cast<int>(Exit::internal);
  }
  o.profile = path.string();
  if (!o.seed) o.seed = seed->to_number<std::uint64_t>();
  o.replay_of = report;
  if (!o.quiet)
    out << "replaying " << report << ": "
        << (profile && profile->is_string() ? std::string(profile->get_string()) : name)
        << " as it was, seed " << *o.seed << "\n";
  const int code = run_drill(o, out, err);
  std::filesystem::remove_all(dir, fec);
  return code;
}

int diff_drills(const std::string& a, const std::string& b, std::ostream& out, std::ostream& err) {
  const auto ta = read_text(a), tb = read_text(b);
  if (!ta || !tb) {
    err << "brownout: cannot read " << (!ta ? a : b) << "\n";
    return 2;
  }
  const auto d = diff_reports(*ta, *tb);
  if (!d.error.empty()) {
    err << "brownout: " << (d.error.rfind("A:", 0) == 0 ? a : b) << ": " << d.error.substr(3)
        << "\n";
    return 2;
  }
  out << format_diff(d, a, b);
  return d.regressed ? 1 : 0;
}

}  // namespace brownout::drill
