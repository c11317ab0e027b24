#include "control/events.hpp"

#include <boost/json.hpp>
#include <cstdio>
#include <iostream>

namespace brownout::control {

namespace json = boost::json;

std::string EventLog::open(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (path.empty()) return {};
  if (path == "-") {
    to_stdout_ = true;
    return {};
  }
  file_.open(path, std::ios::app);
  if (!file_) return "cannot open events file " + path;
  return {};
}

std::string EventLog::to_json(const Stored& s) {
  const auto& e = s.event;
  const auto since_epoch =
      std::chrono::duration_cast<std::chrono::microseconds>(e.time.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(since_epoch / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[80];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(since_epoch % 1000000));
  json::object o{{"id", s.id}, {"time", stamp}, {"proxy", e.proxy}, {"action", e.action}};
  if (e.link) o["link"] = e.link;
  if (!e.fault.empty()) o["fault"] = e.fault;
  if (!e.type.empty()) o["type"] = e.type;
  if (!e.detail.empty()) o["detail"] = e.detail;
  if (e.acted) o["acted"] = *e.acted;
  if (!e.trace.empty()) o["trace"] = e.trace;
  return json::serialize(o);
}

void EventLog::emit(proxy::Event event) {
  std::lock_guard lock(mutex_);
  ring_.push_back(Stored{next_id_++, std::move(event)});
  if (ring_.size() > capacity_) ring_.pop_front();
  if (to_stdout_ || file_.is_open()) {
    const auto line = to_json(ring_.back());
    if (to_stdout_) std::cout << line << std::endl;
    if (file_.is_open()) file_ << line << std::endl;
  }
}

std::vector<EventLog::Stored> EventLog::since(std::uint64_t since, std::size_t limit) const {
  std::lock_guard lock(mutex_);
  std::vector<Stored> out;
  for (const auto& s : ring_) {
    if (s.id <= since) continue;
    out.push_back(s);
    if (out.size() >= limit) break;
  }
  return out;
}

std::uint64_t EventLog::last_id() const {
  std::lock_guard lock(mutex_);
  return next_id_ - 1;
}

}  // namespace brownout::control
