// netbench: the small loopback load tools that bench/run needs and that no
// Debian package provides. Plain POSIX sockets and epoll, one thread each.
//
//   netbench echo-server --port P            epoll echo server, 10k+ connections
//   netbench pingpong --port P --seconds S   1-byte RTT over one TCP_NODELAY connection
//   netbench connrate --port P --seconds S [--conc C]
//                                            connect, 1-byte echo, close, in C closed loops
//   (pingpong and connrate take --port A,B,...: the ports are measured in
//    turns of --slice-ms, default 100 ms, so noise hits them alike)
//   netbench idle --port P --count N --pid PID
//                                            N idle connections: PSS of PID before/with,
//                                            then one 1-byte echo on every connection
//   netbench free-port                       prints a port that 127.0.0.1 can bind now
//   netbench wait-port --port P --seconds S  waits (bounded) until P accepts connections
//
// Every client talks to 127.0.0.1 unless --host names another loopback
// (127.x) address; anything else is refused. Output is one line of
// key=value pairs, for scripts.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "netbench: %s\n", what.c_str());
  std::exit(2);
}

[[noreturn]] void die_errno(const std::string& what) {
  die(what + ": " + std::strerror(errno));
}

struct Args {
  std::map<std::string, std::string> kv;

  std::string str(const std::string& k, const std::string& def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long num(const std::string& k, long def) const {
    auto it = kv.find(k);
    if (it == kv.end()) return def;
    char* end = nullptr;
    const long v = std::strtol(it->second.c_str(), &end, 10);
    if (!end || *end != '\0') die("--" + k + " wants a number, got '" + it->second + "'");
    return v;
  }
  double real(const std::string& k, double def) const {
    auto it = kv.find(k);
    if (it == kv.end()) return def;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (!end || *end != '\0') die("--" + k + " wants a number, got '" + it->second + "'");
    return v;
  }
  long required(const std::string& k) const {
    if (!kv.count(k)) die("--" + k + " is required");
    return num(k, 0);
  }
};

Args parse(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s.size() < 3 || s.substr(0, 2) != "--") die("unexpected argument '" + std::string(s) + "'");
    if (i + 1 >= argc) die("--" + std::string(s.substr(2)) + " needs a value");
    a.kv[std::string(s.substr(2))] = argv[++i];
  }
  return a;
}

void raise_nofile() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

sockaddr_in loopback(const Args& a) {
  const std::string host = a.str("host", "127.0.0.1");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) die("--host must be an IPv4 address");
  if ((ntohl(sa.sin_addr.s_addr) >> 24) != 127) die("--host must be a loopback (127.x) address");
  const long port = a.required("port");
  if (port < 0 || port > 65535) die("--port out of range");
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  return sa;
}

void set_nonblocking(int fd) {
  const int fl = fcntl(fd, F_GETFL, 0);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die_errno("fcntl");
}

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A blocking connection with TCP_NODELAY, or -1.
int connect_blocking(const sockaddr_in& sa) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_nodelay(fd);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_exact(int fd, char* p, std::size_t n) {
  while (n) {
    const ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

// ---------------------------------------------------------------------------
// echo-server

struct EchoConn {
  bool open = false;
  std::string pending;  // bytes the peer has not taken yet; reading pauses meanwhile
};

int echo_server(const Args& a) {
  raise_nofile();
  signal(SIGPIPE, SIG_IGN);
  const sockaddr_in sa = loopback(a);
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (lfd < 0) die_errno("socket");
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) die_errno("bind");
  if (listen(lfd, 4096) != 0) die_errno("listen");

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die_errno("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) die_errno("epoll_ctl");

  std::vector<EchoConn> conns;
  std::vector<char> buf(64 * 1024);
  std::vector<epoll_event> events(1024);

  auto drop = [&](int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    conns[static_cast<std::size_t>(fd)] = EchoConn{};
  };
  auto watch = [&](int fd, std::uint32_t what) {
    epoll_event e{};
    e.events = what;
    e.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
  };

  std::printf("echo-server port=%u\n", ntohs(sa.sin_port));
  std::fflush(stdout);
  for (;;) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_errno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      const std::uint32_t what = events[static_cast<std::size_t>(i)].events;
      if (fd == lfd) {
        for (int k = 0; k < 256; ++k) {
          const int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) {
            if (errno == EMFILE || errno == ENFILE)
              std::fprintf(stderr, "netbench echo-server: accept: %s\n", std::strerror(errno));
            break;
          }
          set_nodelay(c);
          if (conns.size() <= static_cast<std::size_t>(c))
            conns.resize(static_cast<std::size_t>(c) + 1024);
          conns[static_cast<std::size_t>(c)].open = true;
          epoll_event e{};
          e.events = EPOLLIN;
          e.data.fd = c;
          if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &e) != 0) close(c);
        }
        continue;
      }
      EchoConn& conn = conns[static_cast<std::size_t>(fd)];
      if (!conn.open) continue;
      if (!conn.pending.empty()) {  // EPOLLOUT (or an error) while output is pending
        const ssize_t w = write(fd, conn.pending.data(), conn.pending.size());
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          drop(fd);
          continue;
        }
        if (w > 0) conn.pending.erase(0, static_cast<std::size_t>(w));
        if (conn.pending.empty()) watch(fd, EPOLLIN);
        continue;
      }
      if (!(what & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      // Echo what is readable now; a few reads at most, for fairness.
      for (int k = 0; k < 4; ++k) {
        const ssize_t r = read(fd, buf.data(), buf.size());
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          drop(fd);
          break;
        }
        if (r < 0) break;
        const ssize_t w = write(fd, buf.data(), static_cast<std::size_t>(r));
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
          drop(fd);
          break;
        }
        const std::size_t sent = w > 0 ? static_cast<std::size_t>(w) : 0;
        if (sent < static_cast<std::size_t>(r)) {
          conn.pending.assign(buf.data() + sent, static_cast<std::size_t>(r) - sent);
          watch(fd, EPOLLOUT);
          break;
        }
        if (static_cast<std::size_t>(r) < buf.size()) break;
      }
    }
  }
}

// Several ports in one run: `--port A,B,C` measures each of them, switching
// from one to the next every `--slice-ms` (default 100 ms) for the whole run,
// so that every port sees the same mix of quiet and busy moments on a shared
// machine. `--seconds` is the time given to each port. One output line per
// port, in the order given.

std::vector<sockaddr_in> ports_of(const Args& a) {
  std::vector<sockaddr_in> out;
  const std::string list = a.str("port", "");
  if (list.empty()) die("--port is required");
  std::size_t pos = 0;
  while (pos <= list.size()) {
    const std::size_t comma = list.find(',', pos);
    const std::string one =
        list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    Args single = a;
    single.kv["port"] = one;
    out.push_back(loopback(single));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (out.size() > 64) die("at most 64 ports");
  return out;
}

Clock::duration secs(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// ---------------------------------------------------------------------------
// pingpong

int pingpong(const Args& a) {
  const std::vector<sockaddr_in> ports = ports_of(a);
  const double seconds = a.real("seconds", 3.0);
  const double slice = std::max(1L, a.num("slice-ms", 100)) / 1000.0;
  const long warmup = a.num("warmup", 1000);
  const long max_count = a.num("max-count", 20'000'000);
  const std::size_t n = ports.size();

  std::vector<int> fds;
  for (const auto& sa : ports) {
    const int fd = connect_blocking(sa);
    if (fd < 0) die_errno("connect to port " + std::to_string(ntohs(sa.sin_port)));
    fds.push_back(fd);
  }
  char c = 'x';
  for (int fd : fds)
    for (long i = 0; i < warmup; ++i)
      if (!write_all(fd, &c, 1) || !read_exact(fd, &c, 1))
        die("pingpong: connection lost during warm-up");

  std::vector<std::vector<double>> rtt(n);
  for (auto& v : rtt) v.reserve(1 << 20);
  std::vector<double> spent(n, 0.0);
  long total = 0;
  const auto deadline = Clock::now() + secs(seconds * static_cast<double>(n) + 1.0);
  // Round-robin slices until every port has had its time (bounded by the deadline).
  for (std::size_t turn = 0; total < max_count && Clock::now() < deadline; ++turn) {
    const std::size_t i = turn % n;
    if (spent[i] >= seconds) {
      bool all = true;
      for (double t : spent) all = all && t >= seconds;
      if (all) break;
      continue;
    }
    const auto t0 = Clock::now();
    const auto end = t0 + secs(std::min(slice, seconds - spent[i]));
    for (long k = 0; total < max_count; ++k) {
      const auto s = Clock::now();
      if (s >= end) break;
      if (!write_all(fds[i], &c, 1) || !read_exact(fds[i], &c, 1)) die("pingpong: connection lost");
      // The first few round trips of a slice warm the path up again.
      if (k >= 5)
        rtt[i].push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
      ++total;
    }
    spent[i] += seconds_since(t0);
  }
  for (int fd : fds) close(fd);
  int rc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto& v = rtt[i];
    double sum = 0;
    for (double x : v) sum += x;
    const double mean = v.empty() ? 0.0 : sum / static_cast<double>(v.size());
    const double p50 = percentile(v, 50), p99 = percentile(v, 99), p999 = percentile(v, 99.9);
    std::printf("pingpong port=%u count=%zu p50_us=%.2f p99_us=%.2f p999_us=%.2f mean_us=%.2f\n",
                ntohs(ports[i].sin_port), v.size(), p50, p99, p999, mean);
    if (v.empty()) rc = 1;
  }
  return rc;
}

// ---------------------------------------------------------------------------
// connrate: `conc` independent closed loops on one epoll, each
// connect -> write 1 byte -> read 1 byte -> close -> again.

struct Slot {
  int fd = -1;
  bool connected = false;
};

struct SliceResult {
  long done = 0;
  long errors = 0;
  double seconds = 0;
};

// Runs the loops against `sa` for `duration` seconds, then lets the
// connections in flight finish (at most 1 s more, counted in the time).
// Source addresses: with `src_ips` > 0 each connection comes from the next of
// 127.0.1.1 .. 127.0.1.src_ips (the kernel picks the port at connect time), so
// TIME_WAIT entries of earlier connections do not crowd the client's port space.
SliceResult connrate_slice(int ep, const sockaddr_in& sa, std::vector<Slot>& slots, double duration,
                           long max_count, long src_ips) {
  SliceResult res;
  static std::uint32_t next_src = 0;
  auto start = [&](std::size_t i) -> bool {
    Slot& s = slots[i];
    s = Slot{};
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    set_nodelay(fd);
    if (src_ips > 0) {
      const int one = 1;
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in src{};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr =
          htonl(0x7F000100u + 1u + (next_src++ % static_cast<std::uint32_t>(src_ips)));
      if (bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
        close(fd);
        return false;
      }
    }
    s.fd = fd;
    epoll_event e{};
    e.data.u64 = i;
    const int rc = connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    if (rc == 0) {
      s.connected = true;
      const char c = 'x';
      if (write(fd, &c, 1) != 1) {
        close(fd);
        s.fd = -1;
        return false;
      }
      e.events = EPOLLIN;
    } else if (errno == EINPROGRESS) {
      e.events = EPOLLOUT;
    } else {
      close(fd);
      s.fd = -1;
      return false;
    }
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    return true;
  };
  auto finish = [&](std::size_t i, bool ok) {
    Slot& s = slots[i];
    if (s.fd >= 0) {
      epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
      close(s.fd);
    }
    s.fd = -1;
    if (ok)
      ++res.done;
    else
      ++res.errors;
  };
  auto in_flight = [&] {
    long k = 0;
    for (const auto& s : slots) k += s.fd >= 0;
    return k;
  };

  const auto t0 = Clock::now();
  const auto deadline = t0 + secs(duration);
  const auto hard_end = deadline + std::chrono::seconds(1);
  for (std::size_t i = 0; i < slots.size(); ++i)
    if (!start(i)) ++res.errors;
  std::vector<epoll_event> events(1024);
  for (;;) {
    const auto now = Clock::now();
    const bool starting = now < deadline && res.done < max_count && res.errors < 100000;
    if (!starting && (in_flight() == 0 || now >= hard_end)) break;
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 20);
    if (n < 0 && errno != EINTR) die_errno("epoll_wait");
    for (int k = 0; k < n; ++k) {
      const auto i = static_cast<std::size_t>(events[static_cast<std::size_t>(k)].data.u64);
      Slot& s = slots[i];
      if (s.fd < 0) continue;
      if (!s.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        const char c = 'x';
        if (err != 0 || write(s.fd, &c, 1) != 1) {
          finish(i, false);
        } else {
          s.connected = true;
          epoll_event e{};
          e.events = EPOLLIN;
          e.data.u64 = i;
          epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &e);
          continue;
        }
      } else {
        char c;
        const ssize_t r = read(s.fd, &c, 1);
        if (r < 0 && errno == EAGAIN) continue;
        finish(i, r == 1);
      }
      if (Clock::now() < deadline && !start(i)) ++res.errors;
    }
    // Restart slots whose start failed (e.g. a transient EADDRNOTAVAIL).
    if (Clock::now() < deadline)
      for (std::size_t i = 0; i < slots.size(); ++i)
        if (slots[i].fd < 0 && !start(i)) ++res.errors;
  }
  for (auto& s : slots)  // past the hard end: give up on what is still in flight
    if (s.fd >= 0) {
      epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
      close(s.fd);
      s.fd = -1;
      ++res.errors;
    }
  res.seconds = seconds_since(t0);
  return res;
}

int connrate(const Args& a) {
  raise_nofile();
  signal(SIGPIPE, SIG_IGN);
  const std::vector<sockaddr_in> ports = ports_of(a);
  const double seconds = a.real("seconds", 3.0);
  const double slice = std::max(1L, a.num("slice-ms", 100)) / 1000.0;
  const long conc = std::clamp(a.num("conc", 1), 1L, 1024L);
  const long max_count = a.num("max-count", 50'000'000);
  const long src_ips = std::clamp(a.num("src-ips", 0), 0L, 250L);
  const std::size_t n = ports.size();
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die_errno("epoll_create1");
  std::vector<Slot> slots(static_cast<std::size_t>(conc));
  std::vector<SliceResult> total(n);
  std::vector<double> given(n, 0.0);  // slice time handed out, drain excluded
  const auto deadline = Clock::now() + secs(seconds * static_cast<double>(n) * 2.0 + 5.0);
  for (std::size_t turn = 0; Clock::now() < deadline; ++turn) {
    const std::size_t i = turn % n;
    if (given[i] >= seconds) {
      bool all = true;
      for (double t : given) all = all && t >= seconds;
      if (all) break;
      continue;
    }
    const double d = std::min(slice, seconds - given[i]);
    const SliceResult r = connrate_slice(ep, ports[i], slots, d, max_count, src_ips);
    given[i] += d;
    total[i].done += r.done;
    total[i].errors += r.errors;
    total[i].seconds += r.seconds;
  }
  close(ep);
  int rc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& t = total[i];
    std::printf("connrate port=%u conns=%ld errors=%ld seconds=%.3f conc=%ld conns_per_s=%.1f\n",
                ntohs(ports[i].sin_port), t.done, t.errors, t.seconds, conc,
                t.seconds > 0 ? static_cast<double>(t.done) / t.seconds : 0.0);
    if (t.done == 0) rc = 1;
  }
  return rc;
}

// ---------------------------------------------------------------------------
// idle

long pss_kib(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!in) die("cannot read /proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Pss:", 0) == 0) return std::strtol(line.c_str() + 4, nullptr, 10);
  die("no Pss line in /proc/" + std::to_string(pid) + "/smaps_rollup");
}

// Waits until PSS stops moving (two readings 250 ms apart within 0.5 %), at
// least `min_ms`, at most `max_ms`.
long settled_pss(long pid, long min_ms, long max_ms) {
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(min_ms));
  long prev = pss_kib(pid);
  while (seconds_since(t0) * 1000.0 < static_cast<double>(max_ms)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const long now = pss_kib(pid);
    if (std::labs(now - prev) * 200 <= std::max(prev, 1L)) return now;
    prev = now;
  }
  return prev;
}

int idle(const Args& a) {
  raise_nofile();
  signal(SIGPIPE, SIG_IGN);
  const sockaddr_in sa = loopback(a);
  const long count = a.required("count");
  const long pid = a.required("pid");
  const long settle_ms = a.num("settle-ms", 1000);
  const double timeout = a.real("timeout", 15.0);
  if (count <= 0 || count > 1'000'000) die("--count out of range");

  // Warm-up: a few connections, each echoing once, then closed, so that the
  // proxy's one-time allocations (first link, buffers) are in the baseline.
  const long warmup = std::clamp(a.num("warmup", 16), 0L, 1000L);
  for (long i = 0; i < warmup; ++i) {
    const int fd = connect_blocking(sa);
    if (fd < 0) die_errno("warm-up connect");
    char c = 'x';
    if (!write_all(fd, &c, 1) || !read_exact(fd, &c, 1)) die("warm-up echo failed");
    close(fd);
  }
  const long before = settled_pss(pid, 500, 3000);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(count));
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeout));
  long failed = 0;
  while (static_cast<long>(fds.size()) < count && Clock::now() < deadline && failed < 1000) {
    const int fd = connect_blocking(sa);
    if (fd < 0) {
      ++failed;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    fds.push_back(fd);
  }
  const long opened = static_cast<long>(fds.size());
  const long with = settled_pss(pid, settle_ms, settle_ms + 5000);

  // One 1-byte echo on every connection.
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die_errno("epoll_create1");
  long answered = 0, pending = 0;
  std::vector<char> waiting(fds.size(), 0);
  for (std::size_t i = 0; i < fds.size(); ++i) {
    const char c = 'x';
    if (write(fds[i], &c, 1) != 1) continue;
    set_nonblocking(fds[i]);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e);
    waiting[i] = 1;
    ++pending;
  }
  const auto ping_deadline = Clock::now() + std::chrono::seconds(10);
  std::vector<epoll_event> events(1024);
  while (pending > 0 && Clock::now() < ping_deadline) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0 && errno != EINTR) die_errno("epoll_wait");
    for (int k = 0; k < n; ++k) {
      const auto i = static_cast<std::size_t>(events[static_cast<std::size_t>(k)].data.u64);
      if (!waiting[i]) continue;
      char c;
      const ssize_t r = read(fds[i], &c, 1);
      if (r < 0 && errno == EAGAIN) continue;
      waiting[i] = 0;
      --pending;
      epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], nullptr);
      if (r == 1 && c == 'x') ++answered;
    }
  }
  for (int fd : fds) close(fd);
  close(ep);
  const double per =
      opened > 0 ? static_cast<double>(with - before) / static_cast<double>(opened) : 0.0;
  std::printf(
      "idle count=%ld opened=%ld answered=%ld pss_before_kib=%ld pss_with_kib=%ld "
      "kib_per_conn=%.3f\n",
      count, opened, answered, before, with, per);
  return answered == count ? 0 : 1;
}

// ---------------------------------------------------------------------------
// free-port / wait-port

int free_port(const Args&) {
  // Outside the usual ephemeral range (32768-60999), so that no outgoing
  // connection of the benchmark takes it first.
  std::mt19937 gen(static_cast<unsigned>(Clock::now().time_since_epoch().count()) ^
                   static_cast<unsigned>(getpid()));
  std::uniform_int_distribution<int> dist(20000, 32000);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int port = dist(gen);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die_errno("socket");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
    close(fd);
    if (ok) {
      std::printf("%d\n", port);
      return 0;
    }
  }
  die("no free port found in 500 attempts");
}

int wait_port(const Args& a) {
  const sockaddr_in sa = loopback(a);
  const double seconds = a.real("seconds", 10.0);
  const auto t0 = Clock::now();
  while (seconds_since(t0) < seconds) {
    const int fd = connect_blocking(sa);
    if (fd >= 0) {
      close(fd);
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "netbench: port %u did not accept within %.1f s\n", ntohs(sa.sin_port),
               seconds);
  return 1;
}

void usage() {
  std::fputs(
      "usage: netbench echo-server --port P\n"
      "       netbench pingpong --port P[,P...] --seconds S [--warmup N] [--slice-ms MS]\n"
      "       netbench connrate --port P[,P...] --seconds S [--conc C] [--slice-ms MS]\n"
      "       netbench idle --port P --count N --pid PID [--warmup N] [--settle-ms MS] [--timeout "
      "S]\n"
      "       netbench free-port\n"
      "       netbench wait-port --port P [--seconds S]\n"
      "every command takes --host 127.x.x.x (default 127.0.0.1)\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  const std::string cmd = argv[1];
  const Args a = parse(argc, argv, 2);
  if (cmd == "echo-server") return echo_server(a);
  if (cmd == "pingpong") return pingpong(a);
  if (cmd == "connrate") return connrate(a);
  if (cmd == "idle") return idle(a);
  if (cmd == "free-port") return free_port(a);
  if (cmd == "wait-port") return wait_port(a);
  usage();
  return 2;
}
