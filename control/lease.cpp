#include "control/lease.hpp"

#include <cstdio>
#include <random>
#include <vector>

namespace brownout::control {

Leases::Leases(Release on_expiry) : on_expiry_(std::move(on_expiry)) {
  thread_ = std::thread([this] { run(); });
}

Leases::~Leases() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::string Leases::grant(std::chrono::milliseconds ttl, Profile held) {
  static const std::uint64_t salt = std::random_device{}();
  std::lock_guard lock(mutex_);
  char id[40];
  std::snprintf(id, sizeof id, "%08llx%04llx", static_cast<unsigned long long>(salt & 0xffffffff),
                static_cast<unsigned long long>(next_++ & 0xffff));
  leases_[id] = Lease{ttl, Clock::now() + ttl, std::move(held)};
  wake_.notify_all();
  return id;
}

bool Leases::renew(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return false;
  it->second.expires = Clock::now() + it->second.ttl;
  return true;
}

std::optional<Profile> Leases::take(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  Profile p = std::move(it->second.held);
  leases_.erase(it);
  return p;
}

std::optional<std::chrono::milliseconds> Leases::ttl(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  return it->second.ttl;
}

void Leases::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    std::vector<std::pair<std::string, Profile>> expired;
    auto next = now + std::chrono::seconds(10);  // bounded: wake at least every 10 s
    for (auto it = leases_.begin(); it != leases_.end();) {
      if (it->second.expires <= now) {
        expired.emplace_back(it->first, std::move(it->second.held));
        it = leases_.erase(it);
      } else {
        next = std::min(next, it->second.expires);
        ++it;
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      for (const auto& [id, held] : expired) on_expiry_(id, held);
      lock.lock();
      continue;
    }
    wake_.wait_until(lock, next);
  }
}

Profile without_faults(Profile p) {
  for (auto& proxy : p.proxies) proxy.faults.clear();
  p.phases.clear();
  p.repeat = false;
  return p;
}

}  // namespace brownout::control
