#include "drill/probe.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
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
  if (p.kind == "http" && !status_in(e.status, a.status, true)) return "status";
  if (!has_header(a, e.header)) return "header";
  const std::string& re = p.kind == "http" ? e.body_regex : e.recv_regex;
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
    beast::tcp_stream stream(io);
    stream.expires_at(deadline);
    boost::system::error_code ec;
    Answer a;
    const Target t = p.kind == "http" ? parse_url(p.url) : parse_address(p.address);
    tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(t.host, t.port,
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec)
      co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && p.kind == "http") {
      http::request<http::string_body> req{http::string_to_verb(p.method) == http::verb::unknown
                                               ? http::verb::get
                                               : http::string_to_verb(p.method),
                                           t.path, 11};
      req.set(http::field::host, t.host + ":" + t.port);
      req.set(http::field::user_agent, "brownout-drill");
      req.set(http::field::connection, "close");
      for (const auto& [k, v] : p.headers) req.set(k, v);
      if (!p.body.empty()) req.body() = p.body;
      req.prepare_payload();
      co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(1 << 20);
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
          auto& res = parser.get();
          a.status = static_cast<int>(res.result_int());
          for (const auto& f : res) a.headers.emplace_back(f.name_string(), f.value());
          a.body = std::move(res.body());
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
    a.latency = ms_since(planned);
    if (ec) {
      s.outcome = Outcome::failed;
      s.failure = failure_of(ec, Clock::now() >= deadline);
      s.latency = a.latency;
      s.detail = ec.message();
    } else {
      classify(p, a, s);
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    --*in_flight;
    record(std::move(s));
  }
};

ProbeRunner::ProbeRunner(std::vector<Probe> probes, Clock::time_point t0)
    : impl_(std::make_unique<Impl>()) {
  impl_->probes = std::move(probes);
  impl_->t0 = t0;
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
