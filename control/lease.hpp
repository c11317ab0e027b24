// Leases on applied profiles: a client that applies a profile's faults to a
// server (a drill) holds a lease and renews it; when the client releases it,
// or stops renewing (it died), the server takes the faults away. No fault
// outlives its driver by more than the lease's time to live.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "control/profile.hpp"

namespace brownout::control {

class Leases {
 public:
  using Clock = std::chrono::steady_clock;
  // Called, outside the lock, for each lease that expired: the profile it
  // held and why.
  using Release = std::function<void(const std::string& id, const Profile& held)>;

  explicit Leases(Release on_expiry);
  ~Leases();
  Leases(const Leases&) = delete;
  Leases& operator=(const Leases&) = delete;

  // A new lease on `held`, alive for `ttl` from now; its id.
  std::string grant(std::chrono::milliseconds ttl, Profile held);
  // Another `ttl` from now; false when the lease is unknown (or expired).
  bool renew(const std::string& id);
  // Ends the lease; the profile it held, or nothing when it was unknown.
  std::optional<Profile> take(const std::string& id);
  std::optional<std::chrono::milliseconds> ttl(const std::string& id) const;

 private:
  struct Lease {
    std::chrono::milliseconds ttl;
    Clock::time_point expires;
    Profile held;
  };
  void run();

  Release on_expiry_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Lease> leases_;
  std::uint64_t next_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

// The profile's proxies with no fault and no phase: what a released lease
// leaves behind (and what `POST /profiles?calm=1` applies).
Profile without_faults(Profile p);

}  // namespace brownout::control
