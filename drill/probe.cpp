#include "drill/probe.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <regex>
#include <thread>

namespace brownout::drill {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

bool status_in(const std::vector<std::pair<int, int>>& ranges, int status, bool default_2xx) {
  if (ranges.empty()) return default_2xx ? status >= 200 && status < 300 : true;
  for (const auto& [a, b] : ranges)
    if (status >= a && status <= b) return true;
  return false;
}

bool has_header(const Answer& a, const std::string& name) {
  if (name.empty()) return true;
  for (const auto& [k, v] : a.headers)
    if (beast::iequals(k, name)) return true;
  return false;
}

// Empty when `a` meets `e`, else the failure class.
std::string unmet(const Probe& p, const Expect& e, const Answer& a) {
  if ((p.kind == "http" || p.kind == "prometheus") && !status_in(e.status, a.status, true))
    return "status";
  if (p.kind == "exec" && !(e.status.empty() ? a.status == 0 : status_in(e.status, a.status, true)))
    return "status";
  if (p.kind == "prometheus") {
    if (!a.value) return "no-data";
    if (e.value && !e.value->holds(*a.value)) return "value";
  }
  if (!has_header(a, e.header)) return "header";
  const std::string& re = p.kind == "tcp" ? e.recv_regex : e.body_regex;
  if (!re.empty() && !std::regex_search(a.body, std::regex(re))) return "body";
  if (e.latency && a.latency > static_cast<double>(*e.latency)) return "slow";
  return {};
}

struct Target {
  std::string host, port, path;
};

Target parse_url(const std::string& url) {
  Target t;
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  const auto slash = rest.find('/');
  t.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const std::string hostport = rest.substr(0, slash);
  const auto colon = hostport.rfind(':');
  t.host = hostport.substr(0, colon);
  t.port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  return t;
}

Target parse_address(const std::string& address) {
  const auto colon = address.rfind(':');
  return Target{address.substr(0, colon),
                colon == std::string::npos ? "" : address.substr(colon + 1), ""};
}

std::string failure_of(const boost::system::error_code& ec, bool timed_out) {
  if (timed_out || ec == beast::error::timeout) return "timeout";
  if (ec == asio::error::connection_refused) return "refused";
  if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) return "reset";
  if (ec == asio::error::eof || ec == http::error::end_of_stream ||
      ec == http::error::partial_message)
    return "closed";
  return "error";
}

}  // namespace

void classify(const Probe& p, const Answer& a, Sample& out) {
  out.status = a.status;
  out.latency = a.latency;
  out.value = a.value;
  const std::string why = unmet(p, p.expect, a);
  if (why.empty()) {
    out.outcome = Outcome::ok;
    return;
  }
  if (p.degraded.given && unmet(p, p.degraded, a).empty()) {
    out.outcome = Outcome::degraded;
    out.detail = why;
    return;
  }
  out.outcome = Outcome::failed;
  out.failure = why;
}

struct ProbeRunner::Impl {
  std::vector<Probe> probes;
  Clock::time_point t0;
  std::uint64_t seed = 0;
  asio::io_context io;
  std::thread thread;
  mutable std::mutex mutex;
  std::vector<Sample> samples;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> sent{0};
  std::vector<std::unique_ptr<asio::steady_timer>> timers;

  double ms_since(Clock::time_point planned) const {
    return std::chrono::duration<double, std::milli>(Clock::now() - planned).count();
  }
  Ms offset(Clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - t0).count();
  }
  void record(Sample s) {
    std::lock_guard lock(mutex);
    samples.push_back(std::move(s));
  }

  asio::awaitable<void> schedule(const Probe& p, asio::steady_timer& timer) {
    auto in_flight_ptr = std::make_shared<int>(0);
    std::uint64_t seq = 0;
    auto next = t0;
    while (!stopping) {
      timer.expires_at(next);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (stopping) break;
      const auto planned = next;
      next += std::chrono::milliseconds(p.every);
      if (*in_flight_ptr >= p.max_in_flight) {
        Sample s;
        s.probe = p.name;
        s.seq = seq++;
        s.planned = offset(planned);
        s.outcome = Outcome::skipped;
        s.failure = "saturated";
        record(std::move(s));
        continue;
      }
      ++*in_flight_ptr;
      ++sent;
      asio::co_spawn(io, request(p, seq++, planned, in_flight_ptr), asio::detached);
    }
  }

  asio::awaitable<void> request(const Probe& p, std::uint64_t seq, Clock::time_point planned,
                                std::shared_ptr<int> in_flight) {
    Sample s;
    s.probe = p.name;
    s.seq = seq;
    s.planned = offset(planned);
    const auto deadline = planned + std::chrono::milliseconds(p.timeout);
    boost::system::error_code ec;
    Answer a;
    if (p.kind == "exec") {
      co_await run_command(p, deadline, a, ec);
    } else {
      if (p.kind == "http") s.trace = trace_id(seed, p.name, seq);
      co_await exchange(p, s.trace, deadline, a, ec);
    }
    a.latency = ms_since(planned);
    if (ec) {
      s.outcome = Outcome::failed;
      s.failure = p.kind == "exec" && ec != asio::error::timed_out
                      ? "exec-error"
                      : failure_of(ec, Clock::now() >= deadline);
      s.latency = a.latency;
      s.detail = ec.message();
    } else {
      classify(p, a, s);
    }
    --*in_flight;
    record(std::move(s));
  }

  // One HTTP request (http, prometheus) or TCP exchange, by the deadline.
  asio::awaitable<void> exchange(const Probe& p, const std::string& trace,
                                 Clock::time_point deadline, Answer& a,
                                 boost::system::error_code& ec) {
    beast::tcp_stream stream(io);
    stream.expires_at(deadline);
    const bool web = p.kind == "http" || p.kind == "prometheus";
    Target t = web ? parse_url(p.url) : parse_address(p.address);
    if (p.kind == "prometheus" && prom::is_query_url(p.url))
      t.path += (t.path.find('?') == std::string::npos ? "?query=" : "&query=") +
                prom::url_encode(p.query);
    tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(t.host, t.port,
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec)
      co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && web) {
      const auto verb = p.kind == "prometheus" ? http::verb::get : http::string_to_verb(p.method);
      http::request<http::string_body> req{verb == http::verb::unknown ? http::verb::get : verb,
                                           t.path, 11};
      req.set(http::field::host, t.host + ":" + t.port);
      req.set(http::field::user_agent, "brownout-drill");
      req.set(http::field::connection, "close");
      if (!trace.empty()) req.set("traceparent", "00-" + trace + "-" + trace.substr(0, 16) + "-01");
      if (p.kind == "http") {
        for (const auto& [k, v] : p.headers) req.set(k, v);
        if (!p.body.empty()) req.body() = p.body;
      }
      req.prepare_payload();
      co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(p.kind == "prometheus" ? 16 << 20 : 1 << 20);
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
          auto& res = parser.get();
          a.status = static_cast<int>(res.result_int());
          for (const auto& f : res) a.headers.emplace_back(f.name_string(), f.value());
          a.body = std::move(res.body());
        }
      }
      if (!ec && p.kind == "prometheus" && a.status >= 200 && a.status < 300) {
        if (p.selector) {
          a.value = prom::scrape(a.body, *p.selector);
        } else {
          std::string why;
          a.value = prom::query_value(a.body, why);
        }
      }
    } else if (!ec) {  // tcp: connect, send, read until the answer matches (or it ends)
      if (!p.send.empty())
        co_await asio::async_write(stream, asio::buffer(p.send),
                                   asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && !p.expect.recv_regex.empty()) {
        const std::regex re(p.expect.recv_regex);
        char buf[4096];
        while (!ec && !std::regex_search(a.body, re) && a.body.size() < (1 << 20)) {
          const auto n = co_await stream.async_read_some(
              asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
          a.body.append(buf, n);
        }
        if (ec && std::regex_search(a.body, re)) ec = {};
      }
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  // Runs an exec probe's command in its own process group, its output (stdout
  // and stderr, the first 64 KiB) read as the body and its exit code as the
  // status. Killed with its group at the deadline (ec = timed_out); ec says
  // why when it could not start or died of a signal.
  asio::awaitable<void> run_command(const Probe& p, Clock::time_point deadline, Answer& a,
                                    boost::system::error_code& ec) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      ec.assign(errno, boost::system::system_category());
      co_return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    std::vector<char*> argv;
    for (const auto& arg : p.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (spawned != 0) {
      ::close(fds[0]);
      ec.assign(spawned, boost::system::system_category());
      co_return;
    }
    asio::posix::stream_descriptor out(io, fds[0]);
    asio::steady_timer killer(io);
    bool killed = false;
    killer.expires_at(deadline);
    killer.async_wait([&, pid](const boost::system::error_code& e) {
      if (e) return;
      killed = true;
      ::kill(-pid, SIGKILL);
    });
    char buf[4096];
    for (;;) {
      boost::system::error_code rec;
      const auto n = co_await out.async_read_some(asio::buffer(buf),
                                                  asio::redirect_error(asio::use_awaitable, rec));
      if (a.body.size() < (64u << 10))
        a.body.append(buf, std::min<std::size_t>(n, (64u << 10) - a.body.size()));
      if (rec) break;
    }
    // Output closed: the command is ending (or handed its output on and lives
    // on; then the deadline kills its group). Reap it, polling, bounded by the
    // deadline and then by the kill.
    int status = 0;
    asio::steady_timer poll(io);
    for (int i = 0; i < 100'000; ++i) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || r < 0) break;
      if (killed) {
        ::waitpid(pid, &status, 0);  // SIGKILLed: it ends at once
        break;
      }
      poll.expires_after(std::chrono::milliseconds(2));
      co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      ec = {};
    }
    killer.cancel();
    if (killed) {
      ec = asio::error::timed_out;
    } else if (WIFEXITED(status)) {
      a.status = WEXITSTATUS(status);
    } else {
      ec.assign(ECHILD, boost::system::system_category());
      a.body += "killed by signal " + std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
  }
};

std::string trace_id(std::uint64_t seed, const std::string& probe, std::uint64_t seq) {
  // splitmix64 over the seed, the probe's name and the sequence number.
  const auto mix = [](std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  std::uint64_t h = mix(seed);
  for (unsigned char c : probe) h = mix(h ^ c);
  const std::uint64_t hi = mix(h ^ seq), lo = mix(hi ^ 0x5bd1e995ULL);
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo | 1));  // never all zeros
  return buf;
}

ProbeRunner::ProbeRunner(std::vector<Probe> probes, Clock::time_point t0, std::uint64_t seed)
    : impl_(std::make_unique<Impl>()) {
  impl_->probes = std::move(probes);
  impl_->t0 = t0;
  impl_->seed = seed;
}

ProbeRunner::~ProbeRunner() {
  stop();
}

void ProbeRunner::start() {
  for (const auto& p : impl_->probes) {
    impl_->timers.push_back(std::make_unique<asio::steady_timer>(impl_->io));
    asio::co_spawn(impl_->io, impl_->schedule(p, *impl_->timers.back()), asio::detached);
  }
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void ProbeRunner::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stopping = true;
  asio::post(impl_->io, [this] {
    for (auto& t : impl_->timers) t->cancel();
  });
  // In-flight requests end by their own deadline; the io_context then runs dry.
  impl_->thread.join();
}

std::vector<Sample> ProbeRunner::samples() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->samples;
}

std::uint64_t ProbeRunner::sent() const {
  return impl_->sent.load();
}

}  // namespace brownout::drill
