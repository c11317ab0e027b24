#include "control/timeline.hpp"

#include <spdlog/spdlog.h>

#include <cmath>

#include "control/registry.hpp"

namespace brownout::control {

namespace {

constexpr std::int64_t kMaxStepMs = 1000;

// Ramps move in steps of at most a second: the phase is cut into n equal
// steps; the value is `from` during the first and `to` during the last.
std::int64_t steps(const Phase& p) {
  return std::max<std::int64_t>(1, (p.duration_ms + kMaxStepMs - 1) / kMaxStepMs);
}

bool has_ramps(const Phase& p) {
  for (const auto& f : p.faults)
    if (!f.ramps.empty() || f.toxicity_ramp || f.probability_ramp) return true;
  return false;
}

std::int64_t step_index(const Phase& p, std::int64_t t) {
  return std::min(steps(p) - 1, (t - p.start_ms) * steps(p) / p.duration_ms);
}

std::int64_t step_start(const Phase& p, std::int64_t k) {
  return p.start_ms + (k * p.duration_ms + steps(p) - 1) / steps(p);
}

double at_step(const Ramp& r, std::int64_t k, std::int64_t n) {
  if (n <= 1) return r.to;
  return r.from + (r.to - r.from) * static_cast<double>(k) / static_cast<double>(n - 1);
}

std::string key(const std::string& proxy, const std::string& fault) {
  return proxy + "/" + fault;
}

}  // namespace

TimelinePoint timeline_at(const Profile& profile, std::int64_t elapsed_ms) {
  TimelinePoint out;
  const std::int64_t total = profile.timeline_ms();
  if (total <= 0) {
    out.finished = true;
    return out;
  }
  std::int64_t t = std::max<std::int64_t>(0, elapsed_ms);
  if (profile.repeat) {
    t %= total;
  } else if (t >= total) {
    out.finished = true;
    return out;
  }
  for (std::size_t i = 0; i < profile.phases.size(); ++i) {
    const Phase& p = profile.phases[i];
    if (t < p.start_ms || t >= p.end_ms()) continue;
    out.phase = static_cast<int>(i);
    out.phase_left_ms = p.end_ms() - t;
    const std::int64_t k = step_index(p, t), n = steps(p);
    for (const auto& pf : p.faults) {
      FaultSetting s;
      s.proxy = pf.proxy;
      s.fault = pf.fault;
      const ProfileFault* base = profile.fault(pf.proxy, pf.fault);
      s.toxicity = base ? base->toxicity : 1.0;
      if (pf.toxicity) s.toxicity = *pf.toxicity;
      if (pf.toxicity_ramp) s.toxicity = at_step(*pf.toxicity_ramp, k, n);
      if (base && (base->http || base->probability < 1.0)) s.probability = base->probability;
      if (pf.probability) s.probability = *pf.probability;
      if (pf.probability_ramp) s.probability = at_step(*pf.probability_ramp, k, n);
      s.values = pf.values;
      for (const auto& [name, r] : pf.ramps) {
        const double x = at_step(r, k, n);
        s.values[name] = r.whole ? faults::Value{std::int64_t{std::llround(x)}} : faults::Value{x};
      }
      out.active.push_back(std::move(s));
    }
    break;
  }
  return out;
}

std::optional<std::int64_t> next_change(const Profile& profile, std::int64_t elapsed_ms) {
  const std::int64_t total = profile.timeline_ms();
  if (total <= 0) return std::nullopt;
  std::int64_t t = std::max<std::int64_t>(0, elapsed_ms);
  std::int64_t cycle = 0;
  if (profile.repeat) {
    cycle = t - t % total;
    t %= total;
  } else if (t >= total) {
    return std::nullopt;
  }
  std::int64_t next = total;  // the end (or the wrap, with repeat)
  for (const Phase& p : profile.phases) {
    if (p.start_ms > t) next = std::min(next, p.start_ms);
    if (p.end_ms() > t) next = std::min(next, p.end_ms());
    if (t >= p.start_ms && t < p.end_ms() && has_ramps(p)) {
      const std::int64_t k = step_index(p, t);
      if (k + 1 < steps(p)) next = std::min(next, step_start(p, k + 1));
    }
  }
  return cycle + next;
}

Timeline::~Timeline() {
  if (thread_.joinable()) {
    thread_.request_stop();
    wake_.notify_all();
    thread_.join();
  }
}

void Timeline::emit(const std::string& action, const std::string& detail) {
  if (!events_) return;
  proxy::Event e;
  e.action = action;
  e.detail = detail.empty() ? "by timeline" : detail + ", by timeline";
  events_->emit(std::move(e));
}

void Timeline::clear_applied(const std::string& by) {
  std::map<std::string, FaultSetting> applied;
  std::map<std::string, std::uint64_t> ids;
  {
    std::lock_guard lock(mutex_);
    applied.swap(applied_);
    ids.swap(applied_ids_);
    point_ = {};
  }
  registry_.set_actor(by);
  for (const auto& [k, s] : applied) registry_.remove_toxic(s.proxy, s.fault, ids[k]);
}

void Timeline::stop(const std::string& by) {
  if (thread_.joinable()) {
    thread_.request_stop();
    wake_.notify_all();
    thread_.join();
  }
  clear_applied(by);
  std::lock_guard lock(mutex_);
  if (state_ == "running") {
    state_ = "stopped";
    stopped_at_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started_)
                         .count();
    emit("timeline_stopped", profile_ ? profile_->file : std::string());
  }
}

void Timeline::start(const Profile& profile) {
  stop();
  if (profile.phases.empty()) return;
  {
    std::lock_guard lock(mutex_);
    profile_ = profile;
    started_ = std::chrono::steady_clock::now();
    state_ = "running";
    stopped_at_ms_ = 0;
  }
  spdlog::info("timeline of {} started: {} phases, {}", profile.file, profile.phases.size(),
               profile.repeat ? "repeating" : std::to_string(profile.timeline_ms()) + " ms");
  emit("timeline_started", profile.file);
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

bool Timeline::same(const Profile& profile) const {
  std::lock_guard lock(mutex_);
  if (!profile_ || state_ != "running") return false;
  if (profile_->phases != profile.phases || profile_->repeat != profile.repeat) return false;
  // The faults the phases switch on must be declared the same way too.
  for (const auto& phase : profile.phases)
    for (const auto& pf : phase.faults) {
      const ProfileFault* a = profile_->fault(pf.proxy, pf.fault);
      const ProfileFault* b = profile.fault(pf.proxy, pf.fault);
      if (!a || !b || a->type != b->type || a->stream != b->stream ||
          a->attributes != b->attributes || a->toxicity != b->toxicity)
        return false;
    }
  return true;
}

TimelineStatus Timeline::status() const {
  std::lock_guard lock(mutex_);
  TimelineStatus s;
  s.state = state_;
  if (!profile_) return s;
  s.profile = profile_->file;
  s.repeat = profile_->repeat;
  s.phases = profile_->phases;
  s.total_ms = profile_->timeline_ms();
  s.elapsed_ms = state_ == "running" ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - started_)
                                           .count()
                 : state_ == "finished" ? s.total_ms
                                        : stopped_at_ms_;
  if (state_ == "running") {
    const auto point = timeline_at(*profile_, s.elapsed_ms);
    s.phase = point.phase;
    s.phase_left_ms = point.phase_left_ms;
  }
  for (const auto& [k, v] : applied_) s.active.push_back(v);
  return s;
}

void Timeline::apply(const TimelinePoint& point) {
  std::map<std::string, FaultSetting> want;
  for (const auto& s : point.active) want[key(s.proxy, s.fault)] = s;
  std::map<std::string, FaultSetting> have;
  std::map<std::string, std::uint64_t> ids;
  {
    std::lock_guard lock(mutex_);
    have = applied_;
    ids = applied_ids_;
  }
  registry_.set_actor("timeline");
  for (const auto& [k, s] : have) {
    if (want.count(k)) continue;
    registry_.remove_toxic(s.proxy, s.fault, ids[k]);
    std::lock_guard lock(mutex_);
    applied_.erase(k);
    applied_ids_.erase(k);
  }
  for (const auto& [k, s] : want) {
    auto it = have.find(k);
    if (it != have.end() && it->second == s) continue;
    const ProfileFault* base = profile_->fault(s.proxy, s.fault);
    if (!base) continue;
    std::map<std::string, faults::Value> attrs = base->attributes;
    for (const auto& [name, v] : s.values) attrs[name] = v;
    bool ok = false;
    std::uint64_t id = 0;
    if (it != have.end()) {
      auto current = registry_.toxic(s.proxy, s.fault);
      if (!std::holds_alternative<ToxicView>(current) ||
          std::get<ToxicView>(current)->id != ids[k]) {
        // Removed or replaced behind the timeline's back: forget it, so the
        // next step adds it again (and never changes someone else's fault).
        spdlog::warn("timeline: {} was removed or replaced; adding it again", k);
        std::lock_guard lock(mutex_);
        applied_.erase(k);
        applied_ids_.erase(k);
        continue;
      }
      ToxicPatch patch;
      patch.toxicity = s.toxicity;
      patch.attributes = attrs;
      patch.keep_pending = true;
      patch.probability = s.probability;
      auto r = registry_.update_toxic(s.proxy, s.fault, patch);
      ok = std::holds_alternative<ToxicView>(r);
      if (ok) id = ids[k];
      if (!ok) spdlog::warn("timeline: cannot update {}: {}", k, std::get<ApiError>(r).message);
    } else {
      ToxicSpec spec;
      spec.type = base->type;
      spec.name = base->name;
      spec.stream = base->stream;
      spec.toxicity = s.toxicity;
      spec.attributes = attrs;
      if (base->http) {
        spec.http_attributes = *base->http;
        spec.probability = s.probability;
      }
      auto r = registry_.add_toxic(s.proxy, spec);
      ok = std::holds_alternative<ToxicView>(r);
      if (ok) id = std::get<ToxicView>(r)->id;
      if (!ok) spdlog::warn("timeline: cannot add {}: {}", k, std::get<ApiError>(r).message);
    }
    std::lock_guard lock(mutex_);
    if (ok) applied_[k] = s, applied_ids_[k] = id;
  }
}

void Timeline::run(std::stop_token stop) {
  using clock = std::chrono::steady_clock;
  int last_phase = -2;
  while (!stop.stop_requested()) {
    const auto now = clock::now();
    const std::int64_t elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - started_).count();
    const TimelinePoint point = timeline_at(*profile_, elapsed);
    if (point.phase != last_phase) {
      if (last_phase >= 0)
        emit("phase_ended", profile_->phases[static_cast<std::size_t>(last_phase)].name);
      if (point.phase >= 0) {
        const Phase& p = profile_->phases[static_cast<std::size_t>(point.phase)];
        spdlog::info("timeline: phase {} ({} of {})", p.name, point.phase + 1,
                     profile_->phases.size());
        emit("phase_started", p.name);
      }
      last_phase = point.phase;
    }
    apply(point);
    {
      std::lock_guard lock(mutex_);
      point_ = point;
    }
    if (point.finished) {
      std::lock_guard lock(mutex_);
      state_ = "finished";
      spdlog::info("timeline of {} finished", profile_->file);
      emit("timeline_finished", profile_->file);
      return;
    }
    const auto next = next_change(*profile_, elapsed);
    if (!next) return;
    std::unique_lock lock(mutex_);
    wake_.wait_until(lock, stop, started_ + std::chrono::milliseconds(*next), [] { return false; });
  }
}

}  // namespace brownout::control
