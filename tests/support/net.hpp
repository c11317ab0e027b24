// Blocking loopback sockets and small servers for integration tests. Plain
// POSIX, so tests read like what a client does; every call has a timeout.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "faults/rng.hpp"
#include "support/sha256.hpp"

namespace brownout::test {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

inline void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline Fd listen_tcp(std::uint16_t& port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("bind failed");
  ::listen(fd.get(), 1024);
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// Connects to 127.0.0.1:port, from the source address `source` when given
// (any address of 127.0.0.0/8 works on Linux loopback without setup).
inline Fd connect_tcp(std::uint16_t port, std::chrono::milliseconds timeout = 10s,
                      const char* source = nullptr) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  set_timeouts(fd.get(), timeout);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source, &local.sin_addr) != 1) return Fd();
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return Fd();
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  return fd;
}

// Waits up to `timeout` for a connection.
inline Fd accept_tcp(const Fd& listener, std::chrono::milliseconds timeout = 10s) {
  pollfd p{listener.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return Fd();
  Fd fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (fd) set_timeouts(fd.get(), 30s);
  return fd;
}

inline bool send_all(int fd, const void* data, std::size_t n) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const auto k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
inline bool send_all(int fd, const std::string& s) {
  return send_all(fd, s.data(), s.size());
}

// Reads until EOF (or error / timeout, then `error` holds errno).
inline std::string recv_all(int fd, int* error = nullptr, std::size_t limit = 1 << 30) {
  std::string out;
  char buf[65536];
  if (error) *error = 0;
  while (out.size() < limit) {
    const auto k = ::recv(fd, buf, sizeof buf, 0);
    if (k == 0) break;
    if (k < 0) {
      if (error) *error = errno;
      break;
    }
    out.append(buf, static_cast<std::size_t>(k));
  }
  return out;
}

inline std::string recv_exact(int fd, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const auto k = ::recv(fd, out.data() + got, n - got, 0);
    if (k <= 0) break;
    got += static_cast<std::size_t>(k);
  }
  out.resize(got);
  return out;
}

inline std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

inline double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// Deterministic pseudo-random bytes: both ends can hash the same stream.
inline void fill_random(faults::Rng& rng, char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; i += 8) {
    const auto v = rng.next();
    std::memcpy(p + i, &v, std::min<std::size_t>(8, n - i));
  }
}

// Sends `total` seeded random bytes; returns their SHA-256.
inline std::string send_random(int fd, std::size_t total, std::uint64_t seed, bool* ok = nullptr) {
  faults::Rng rng(seed);
  Sha256 sha;
  std::vector<char> buf(256 * 1024);
  bool good = true;
  for (std::size_t sent = 0; sent < total && good;) {
    const std::size_t n = std::min(buf.size(), total - sent);
    fill_random(rng, buf.data(), n);
    sha.update(buf.data(), n);
    good = send_all(fd, buf.data(), n);
    sent += n;
  }
  if (ok) *ok = good;
  return sha.hex();
}

// Reads to EOF; returns the SHA-256 and the byte count.
inline std::pair<std::string, std::size_t> recv_hash(int fd) {
  Sha256 sha;
  std::vector<char> buf(256 * 1024);
  std::size_t total = 0;
  for (;;) {
    const auto k = ::recv(fd, buf.data(), buf.size(), 0);
    if (k <= 0) break;
    sha.update(buf.data(), static_cast<std::size_t>(k));
    total += static_cast<std::size_t>(k);
  }
  return {sha.hex(), total};
}

// A loopback server running `serve` on a thread per connection.
class Server {
 public:
  explicit Server(std::function<void(Fd)> serve) : serve_(std::move(serve)) {
    listener_ = listen_tcp(port_);
    thread_ = std::thread([this] { loop(); });
  }
  ~Server() {
    stop_ = true;
    thread_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : workers_) t.join();
  }
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }

 private:
  void loop() {
    while (!stop_) {
      Fd c = accept_tcp(listener_, 50ms);
      if (!c) continue;
      ++accepted_;
      std::lock_guard lock(mutex_);
      workers_.emplace_back(
          [this, fd = std::make_shared<Fd>(std::move(c))]() mutable { serve_(std::move(*fd)); });
    }
  }

  std::function<void(Fd)> serve_;
  Fd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};

// Echoes everything back; half-closes when the client does.
inline void echo(Fd fd) {
  char buf[65536];
  for (;;) {
    const auto k = ::recv(fd.get(), buf, sizeof buf, 0);
    if (k <= 0) break;
    if (!send_all(fd.get(), buf, static_cast<std::size_t>(k))) break;
  }
  ::shutdown(fd.get(), SHUT_WR);
}

}  // namespace brownout::test
