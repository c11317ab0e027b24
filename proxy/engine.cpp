// The data plane: worker threads, listeners and links. A link is one accepted
// connection and its upstream connection; each of its two directions is one
// coroutine that reads and, while faults are active, a second that executes
// the plans the fault chain makes (timed writes and the direction's end).
#include "proxy/engine.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/intrusive/list.hpp>
#include <cerrno>
#include <charconv>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "proxy/address.hpp"
#include "proxy/db_session.hpp"
#include "proxy/http_session.hpp"
#include "proxy/net.hpp"
#include "proxy/ring_buffer.hpp"

namespace brownout::proxy {

using faults::EndKind;

namespace {

constexpr std::size_t kBufferSize = BlockPool::kBlockSize;
constexpr std::size_t kBulkRead = 16 * 1024;  // a planned read this full marks a bulk stream
constexpr int kReadsPerWake = 16;             // fairness between links sharing a thread

// Fast-path buffers come from the per-thread BlockPool (ring_buffer.hpp) and
// are held only while bytes flow, so an idle link holds no buffer at all.

// One non-blocking recv/send straight on the descriptor (MSG_DONTWAIT), so
// the sockets never need an ioctl to switch modes. EOF is asio::error::eof,
// an empty socket asio::error::would_block.
template <class S>
std::size_t recv_now(S& socket, char* data, std::size_t size, boost::system::error_code& ec) {
  for (;;) {
    const auto n = ::recv(socket.native_handle(), data, size, MSG_DONTWAIT);
    if (n > 0) {
      ec = {};
      return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      ec = asio::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    ec = (errno == EAGAIN || errno == EWOULDBLOCK)
             ? asio::error::would_block
             : boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
}

template <class S>
std::size_t send_now(S& socket, const char* data, std::size_t size, boost::system::error_code& ec) {
  for (;;) {
    const auto n = ::send(socket.native_handle(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      ec = {};
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    ec = (errno == EAGAIN || errno == EWOULDBLOCK)
             ? asio::error::would_block
             : boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
}

// Sends all of `data`, waiting (up to 10 s) for room when the socket is full;
// for the few bytes a codec read ahead, where no coroutine can wait.
template <class S>
bool send_all_now(S& socket, std::string_view data) {
  while (!data.empty()) {
    boost::system::error_code ec;
    const std::size_t n = send_now(socket, data.data(), data.size(), ec);
    if (ec == asio::error::would_block) {
      pollfd pfd{socket.native_handle(), POLLOUT, 0};
      if (::poll(&pfd, 1, 10000) <= 0) return false;
      continue;
    }
    if (ec) return false;
    data.remove_prefix(n);
  }
  return true;
}

struct PooledBuffer {
  PooledBuffer() : data(BlockPool::acquire()) {}
  ~PooledBuffer() { BlockPool::release(std::move(data)); }
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  std::unique_ptr<char[]> data;
};

void log_coroutine_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("link task failed: {}", ex.what());
  }
}

struct alignas(64) WorkerCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> active{0};
  std::atomic<std::uint64_t> upstream_failures{0};
  std::atomic<std::uint64_t> bytes_upstream{0};
  std::atomic<std::uint64_t> bytes_downstream{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> http_malformed{0};
  std::atomic<std::uint64_t> http_faulted{0};
  std::array<std::atomic<std::uint64_t>, 6> http_status{};
  std::array<std::atomic<std::uint64_t>, kMaxFaultTypes> fault_applied{};
  std::array<std::atomic<std::uint64_t>, kMaxFaultTypes> fault_ended{};
};

void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
  // Only this worker writes its slot: a relaxed load+store avoids a locked op.
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
void drop(std::atomic<std::uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

}  // namespace

struct Worker {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread;
};

struct Engine::Impl {
  EngineOptions options;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<std::uint64_t> next_link_id{1};
  std::atomic<unsigned> next_worker{0};
  std::atomic<unsigned> next_listener{0};

  unsigned pick_worker() {
    return next_worker.fetch_add(1, std::memory_order_relaxed) % workers.size();
  }
};

// The client's address as client-scoped faults match it.
static faults::IpAddress address_of(const tcp::endpoint& e) {
  const auto a = e.address();
  if (a.is_v4()) return faults::IpAddress::v4(a.to_v4().to_bytes().data());
  return faults::IpAddress::v6(a.to_v6().to_bytes().data());
}

class ProxyImpl;

std::optional<Protocol> protocol_from(std::string_view name) {
  if (name == "tcp") return Protocol::tcp;
  if (name == "http") return Protocol::http;
  if (name == "postgres") return Protocol::postgres;
  if (name == "redis") return Protocol::redis;
  if (name == "mysql") return Protocol::mysql;
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Link

struct Planned {
  Planned(asio::io_context& io, std::uint64_t offset, std::size_t max_inflight)
      : ring(offset, max_inflight), wake_writer(io), wake_reader(io) {}

  faults::ChainRunner chain;
  faults::Plan plan;
  std::vector<faults::Piece> scratch;
  RingBuffer ring;
  std::deque<faults::Piece> queue;
  faults::End end;
  Timer wake_writer;
  Timer wake_reader;
  bool writer_running = false;
  bool writing = false;  // a write from the ring is in flight: the ring must not move
  bool bulk = false;     // the last read filled a large span: read big from now on
};

struct Direction {
  Socket* src = nullptr;
  Socket* dst = nullptr;
  faults::Stream stream = faults::Stream::upstream;
  std::unique_ptr<Planned> planned;  // present while faults act on this direction
  std::uint64_t offset = 0;          // bytes read from src so far
  bool reader_done = false;          // src ended or failed
  bool done = false;                 // dst was shut down: nothing more goes this way
};

using LinkHook =
    boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class Link final : public HttpHost, public std::enable_shared_from_this<Link> {
 public:
  Link(std::shared_ptr<ProxyImpl> proxy, unsigned worker, Socket client, std::uint64_t id,
       std::uint64_t generation, faults::IpAddress client_ip);
  ~Link();

  Task<> run();
  void apply_faults(const faults::ChainSet& set);
  void close(bool reset);

  LinkHook hook;

  // HttpHost: what the HTTP codec uses of its link.
  Socket& client() override { return client_; }
  Socket& upstream() override { return upstream_; }
  std::shared_ptr<const faults::ChainSet> current_faults() override { return http_faults_; }
  faults::Rng& rng() override { return rng_; }
  bool header_faults() const override { return header_faults_; }
  const faults::IpAddress& client_ip() const override { return client_ip_; }
  void http_event(std::string action, std::string fault, std::string detail,
                  std::string trace) override;
  void db_event(std::string protocol, std::string action, std::string fault,
                std::string detail) override;
  void count_request(bool malformed, bool faulted) override;
  void count_status(unsigned status) override {
    if (status >= 100 && status < 600) bump(counters().http_status[status / 100]);
  }
  void count_bytes(bool upstream, std::size_t n) override;
  void fall_back_to_bytes(std::string client_pending, std::string upstream_pending) override;
  void close_link(bool reset) override { close(reset); }
  bool link_closed() const override { return closed_; }

 private:
  // `self` is a parameter so the frame owns the link from its creation on.
  Task<> pump(std::shared_ptr<Link> self, Direction& d);
  Task<> writer(std::shared_ptr<Link> self, Direction& d);
  // Asks the connection-level faults whether this connection goes on;
  // false when one refused it (the link is closed or left hanging).
  Task<bool> admit(std::shared_ptr<Link> self, std::shared_ptr<const faults::ChainSet> set);
  Task<> hang(std::shared_ptr<Link> self);
  Task<boost::system::error_code> connect_upstream(const tcp::endpoint& endpoint);
  // The client closed or reset its end (checked without reading its bytes).
  bool client_gone() {
    char c;
    const auto n = ::recv(client_.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }
  enum class ReadResult { more, empty, done };  // read again / socket empty / reading is over
  ReadResult read_planned(Direction& d);
  bool write_due(Direction& d, faults::TimePoint now);
  void start_writer(Direction& d);
  void finish_direction(Direction& d);
  faults::Context context(Planned& p);
  WorkerCounters& counters();
  void count_bytes(const Direction& d, std::size_t n);
  void emit(std::string action, const faults::FaultInstance* fault, std::string detail = {});

  std::shared_ptr<ProxyImpl> proxy_;
  unsigned worker_;
  asio::io_context& io_;
  Socket client_;
  Socket upstream_;
  Direction up_;
  Direction down_;
  faults::Rng rng_;
  std::uint64_t id_;
  std::uint64_t generation_;
  bool closed_ = false;
  bool counted_active_ = false;
  bool http_ = false;  // the HTTP codec owns the sockets (until a fallback)
  bool header_faults_ = false;
  bool hung_ = false;  // refused by a fault that leaves the client hanging
  std::shared_ptr<const faults::ChainSet> http_faults_;
  faults::IpAddress client_ip_;
  // Connection-level faults holding a slot for this link (released at its end).
  std::vector<std::shared_ptr<const faults::FaultInstance>> slots_;
};

using LinkList =
    boost::intrusive::list<Link, boost::intrusive::member_hook<Link, LinkHook, &Link::hook>,
                           boost::intrusive::constant_time_size<false>>;

// ---------------------------------------------------------------------------
// Proxy

class ProxyImpl final : public Proxy, public std::enable_shared_from_this<ProxyImpl> {
 public:
  ProxyImpl(Engine::Impl& engine, std::string name)
      : engine_(engine),
        name_(std::move(name)),
        links_(engine.workers.size()),
        counters_(engine.workers.size()) {}

  ~ProxyImpl() override = default;

  faults::Result<std::string> listen(const std::string& address) override;
  void close() override;
  void set_upstream(const std::string& upstream) override {
    Upstream target{upstream, std::nullopt};
    // A numeric address is parsed once here, not per connection.
    if (auto hp = split_host_port(upstream); hp) {
      boost::system::error_code ec;
      auto ip = asio::ip::make_address(hp.value->host.empty() ? "127.0.0.1" : hp.value->host, ec);
      unsigned port = 0;
      auto [ptr, perr] = std::from_chars(hp.value->port.data(),
                                         hp.value->port.data() + hp.value->port.size(), port);
      if (!ec && perr == std::errc() && ptr == hp.value->port.data() + hp.value->port.size() &&
          port <= 65535)
        target.endpoint = tcp::endpoint(ip, static_cast<std::uint16_t>(port));
    }
    std::lock_guard lock(mutex_);
    upstream_ = std::move(target);
  }
  void set_faults(std::shared_ptr<const faults::ChainSet> set) override;
  void set_protocol(Protocol protocol, bool header_faults, bool pass_tls) override {
    std::lock_guard lock(mutex_);
    protocol_ = protocol;
    header_faults_ = header_faults;
    pass_tls_ = pass_tls;
  }
  std::tuple<Protocol, bool, bool> protocol() const {
    std::lock_guard lock(mutex_);
    return {protocol_, header_faults_, pass_tls_};
  }
  ProxyCounters counters() const override;

  Engine::Impl& engine() { return engine_; }
  const std::string& name() const { return name_; }
  WorkerCounters& worker_counters(unsigned w) { return counters_[w]; }

  // Called on the link's worker once its upstream is connected: registers it
  // and hands back the current faults, or nothing when the proxy was closed
  // after the link was accepted.
  std::shared_ptr<const faults::ChainSet> attach(Link& link, unsigned worker,
                                                 std::uint64_t generation) {
    std::lock_guard lock(mutex_);
    if (generation != generation_) return nullptr;
    links_[worker].push_back(link);
    return faults_;
  }

  std::shared_ptr<const faults::ChainSet> current_faults() const {
    std::lock_guard lock(mutex_);
    return faults_;
  }

  // Whether links accepted in `generation` still belong (not closed since).
  bool current(std::uint64_t generation) const {
    std::lock_guard lock(mutex_);
    return generation == generation_;
  }

  // Registers a link that a fault left hanging, so closing the proxy ends it.
  bool attach_hung(Link& link, unsigned worker, std::uint64_t generation) {
    std::lock_guard lock(mutex_);
    if (generation != generation_) return false;
    links_[worker].push_back(link);
    return true;
  }

  struct Upstream {
    std::string address;
    std::optional<tcp::endpoint> endpoint;  // set when the address is numeric
  };
  Upstream upstream() const {
    std::lock_guard lock(mutex_);
    return upstream_;
  }

 private:
  Task<> accept_loop(std::shared_ptr<Acceptor> acceptor, std::uint64_t generation);

  Engine::Impl& engine_;
  std::string name_;
  mutable std::mutex mutex_;  // guards the fields below; never held on the byte path
  Upstream upstream_;
  std::shared_ptr<const faults::ChainSet> faults_ = std::make_shared<faults::ChainSet>();
  std::shared_ptr<Acceptor> acceptor_;
  std::uint64_t generation_ = 0;  // bumped by close(): links accepted before it must go
  Protocol protocol_ = Protocol::tcp;
  bool header_faults_ = false;
  bool pass_tls_ = false;
  std::vector<LinkList> links_;  // one list per worker, touched only on that worker
  std::vector<WorkerCounters> counters_;
};

faults::Result<std::string> ProxyImpl::listen(const std::string& address) {
  using R = faults::Result<std::string>;
  auto hp = split_host_port(address);
  if (!hp) return R::fail("listen tcp " + address + ": " + hp.error.message);

  unsigned port = 0;
  for (char c : hp.value->port) {
    if (c < '0' || c > '9' || port > 65535)
      return R::fail("listen tcp " + address + ": address tcp/" + hp.value->port +
                     ": unknown port");
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (hp.value->port.empty() || port > 65535)
    return R::fail("listen tcp " + address + ": address tcp/" + hp.value->port + ": unknown port");

  const unsigned w = engine_.next_listener.fetch_add(1) % engine_.workers.size();
  auto& io = engine_.workers[w]->io;

  tcp::endpoint endpoint;
  boost::system::error_code ec;
  const std::string& host = hp.value->host;
  if (host.empty()) {
    endpoint = tcp::endpoint(asio::ip::address_v6::any(), static_cast<std::uint16_t>(port));
  } else if (auto ip = asio::ip::make_address(host, ec); !ec) {
    endpoint = tcp::endpoint(ip, static_cast<std::uint16_t>(port));
  } else {
    Resolver resolver(io);
    auto results = resolver.resolve(host, hp.value->port, Resolver::numeric_service, ec);
    if (ec || results.empty())
      return R::fail("listen tcp " + address + ": lookup " + host + ": no such host");
    endpoint = results.begin()->endpoint();
    for (const auto& r : results)  // prefer IPv4, as Go does for "localhost"
      if (r.endpoint().address().is_v4()) {
        endpoint = r.endpoint();
        break;
      }
  }

  auto acceptor = std::make_shared<Acceptor>(io);
  const std::string where =
      "listen tcp " + join_host_port(endpoint.address().to_string(), endpoint.port());
  if (acceptor->open(endpoint.protocol(), ec); ec)
    return R::fail(where + ": socket: " + error_text(ec.message()));
  acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  // Accepted sockets inherit TCP_NODELAY from the listener (Linux): one
  // setsockopt per proxy instead of one per connection.
  acceptor->set_option(tcp::no_delay(true), ec);
  if (acceptor->bind(endpoint, ec); ec)
    return R::fail(where + ": bind: " + error_text(ec.message()));
  if (acceptor->listen(4096, ec); ec)
    return R::fail(where + ": listen: " + error_text(ec.message()));
  const auto bound = acceptor->local_endpoint(ec);
  if (ec) return R::fail(where + ": " + error_text(ec.message()));

  std::uint64_t generation;
  {
    std::lock_guard lock(mutex_);
    acceptor_ = acceptor;
    generation = generation_;
  }
  asio::co_spawn(io, accept_loop(acceptor, generation), log_coroutine_exception);
  return R::ok(join_host_port(bound.address().to_string(), bound.port()));
}

Task<> ProxyImpl::accept_loop(std::shared_ptr<Acceptor> acceptor, std::uint64_t generation) {
  auto self = shared_from_this();
  Timer backoff(acceptor->get_executor());
  for (;;) {
    const unsigned w = engine_.pick_worker();
    Socket socket(engine_.workers[w]->io);
    tcp::endpoint peer;  // accept4 gives it: no getpeername per connection
    auto [ec] = co_await acceptor->async_accept(socket, peer, nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      // Out of descriptors or a transient error: keep serving, slowly.
      spdlog::warn("proxy {}: accept failed: {}", name_, ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(nothrow);
      continue;
    }
    bump(counters_[w].accepted);
    const auto id = engine_.next_link_id.fetch_add(1, std::memory_order_relaxed);
    auto link =
        std::make_shared<Link>(self, w, std::move(socket), id, generation, address_of(peer));
    // Moved, not copied: the link must die on its own worker, never here.
    asio::co_spawn(
        engine_.workers[w]->io, [link = std::move(link)]() { return link->run(); },
        log_coroutine_exception);
  }
}

void ProxyImpl::close() {
  std::shared_ptr<Acceptor> acceptor;
  {
    std::lock_guard lock(mutex_);
    acceptor = std::move(acceptor_);
    ++generation_;
  }
  if (acceptor) {
    // The acceptor lives on its worker, so it is closed there; we wait, so
    // that the port is free when we return (a re-listen on it must not race).
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    asio::post(acceptor->get_executor(), [acceptor, done] {
      boost::system::error_code ec;
      acceptor->close(ec);
      done->set_value();
    });
    future.wait_for(std::chrono::seconds(5));
  }
  auto self = shared_from_this();
  for (unsigned w = 0; w < engine_.workers.size(); ++w) {
    asio::post(engine_.workers[w]->io, [self, w] {
      auto& list = self->links_[w];
      for (auto it = list.begin(); it != list.end();) (it++)->close(false);
    });
  }
}

void ProxyImpl::set_faults(std::shared_ptr<const faults::ChainSet> set) {
  {
    std::lock_guard lock(mutex_);
    faults_ = set;
  }
  auto self = shared_from_this();
  for (unsigned w = 0; w < engine_.workers.size(); ++w) {
    asio::post(engine_.workers[w]->io, [self, set, w] {
      // apply_faults may close a link, which unlinks it: step past it first.
      auto& list = self->links_[w];
      for (auto it = list.begin(); it != list.end();) (it++)->apply_faults(*set);
    });
  }
}

ProxyCounters ProxyImpl::counters() const {
  ProxyCounters out;
  for (const auto& c : counters_) {
    out.accepted += c.accepted.load(std::memory_order_relaxed);
    out.active += c.active.load(std::memory_order_relaxed);
    out.upstream_failures += c.upstream_failures.load(std::memory_order_relaxed);
    out.bytes_upstream += c.bytes_upstream.load(std::memory_order_relaxed);
    out.bytes_downstream += c.bytes_downstream.load(std::memory_order_relaxed);
    out.refused += c.refused.load(std::memory_order_relaxed);
    out.http_requests += c.http_requests.load(std::memory_order_relaxed);
    out.http_malformed += c.http_malformed.load(std::memory_order_relaxed);
    out.http_faulted += c.http_faulted.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < out.http_status.size(); ++i)
      out.http_status[i] += c.http_status[i].load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < kMaxFaultTypes; ++i) {
      out.fault_applied[i] += c.fault_applied[i].load(std::memory_order_relaxed);
      out.fault_ended[i] += c.fault_ended[i].load(std::memory_order_relaxed);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Link implementation

Link::Link(std::shared_ptr<ProxyImpl> proxy, unsigned worker, Socket client, std::uint64_t id,
           std::uint64_t generation, faults::IpAddress client_ip)
    : proxy_(std::move(proxy)),
      worker_(worker),
      io_(proxy_->engine().workers[worker]->io),
      client_(std::move(client)),
      upstream_(io_),
      rng_(faults::Rng::for_link(proxy_->engine().options.seed, id)),
      id_(id),
      generation_(generation),
      client_ip_(client_ip) {
  up_.src = &client_;
  up_.dst = &upstream_;
  up_.stream = faults::Stream::upstream;
  down_.src = &upstream_;
  down_.dst = &client_;
  down_.stream = faults::Stream::downstream;
}

Link::~Link() {
  if (counted_active_) drop(counters().active);
  for (const auto& f : slots_) f->fault->release(f->shared.get());
}

WorkerCounters& Link::counters() {
  return proxy_->worker_counters(worker_);
}

void Link::count_bytes(const Direction& d, std::size_t n) {
  auto& c = counters();
  bump(d.stream == faults::Stream::upstream ? c.bytes_upstream : c.bytes_downstream, n);
}

void Link::emit(std::string action, const faults::FaultInstance* fault, std::string detail) {
  const auto& sink = proxy_->engine().options.events;
  if (!sink) return;
  proxy::Event e;
  e.proxy = proxy_->name();
  e.link = id_;
  if (fault) {
    e.fault = fault->name;
    e.type = fault->type;
  }
  e.action = std::move(action);
  e.detail = std::move(detail);
  sink->emit(std::move(e));
}

faults::Context Link::context(Planned& p) {
  return faults::Context{Clock::now(), rng_, p.scratch};
}

// GCC 12 reports a mismatched new/delete on this coroutine's frame (both are
// Asio's frame allocator's); a false positive of its inliner, silenced here only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
Task<bool> Link::admit(std::shared_ptr<Link> self, std::shared_ptr<const faults::ChainSet> set) {
  for (const auto& f : set->connection) {
    if (!f->fault || !faults::client_matches(f->clients, client_ip_)) continue;
    if (f->used_up() || !rng_.chance(f->toxicity) || !rng_.chance(f->probability)) continue;
    const auto shared = f->shared.get();
    auto a = f->fault->admit(shared, Clock::now(), nullptr);
    if (a.kind == faults::Admission::wait) {
      emit("queued", f.get());
      Timer timer(io_);
      // Bounded by the fault's deadline; polls so that a freed slot, the
      // fault's removal or the client leaving are noticed within 10 ms.
      while (a.kind == faults::Admission::wait && !closed_) {
        timer.expires_at(std::min(a.until, Clock::now() + std::chrono::milliseconds(10)));
        co_await timer.async_wait(nothrow);
        if (client_gone() || !proxy_->current(generation_)) {
          // The client gave up, or the proxy was closed: it leaves the queue.
          emit("closed", f.get(), "left the queue");
          close(false);
          break;
        }
        const auto now_set = proxy_->current_faults();
        const bool still_there = std::any_of(now_set->connection.begin(), now_set->connection.end(),
                                             [&](const auto& g) { return g->id == f->id; });
        if (!still_there) {  // the fault went away: the connection goes on
          f->fault->abandon(shared, a);
          a = {};
          break;
        }
        a = f->fault->admit(shared, Clock::now(), &a);
      }
      if (closed_) {
        if (a.kind == faults::Admission::wait) f->fault->abandon(shared, a);
        co_return false;
      }
    }
    if (a.kind == faults::Admission::accept) {
      if (a.holds_slot) slots_.push_back(f);
      continue;
    }
    f->fire();
    bump(counters().refused);
    if (f->type_index < kMaxFaultTypes) bump(counters().fault_applied[f->type_index]);
    if (a.kind == faults::Admission::hang) {
      if (!proxy_->attach_hung(*this, worker_, generation_)) {
        close(false);
        co_return false;
      }
      hung_ = true;
      emit("hung", f.get());
      asio::co_spawn(io_, hang(self), log_coroutine_exception);
      co_return false;
    }
    const bool reset = a.kind == faults::Admission::refuse_reset;
    emit(reset ? "refused_reset" : "refused", f.get());
    if (!reset) {
      // A clean FIN: what the client already sent is read first, or closing
      // a socket with unread bytes would send an RST instead.
      boost::system::error_code ec;
      client_.shutdown(Socket::shutdown_send, ec);
      std::array<char, 4096> sink;
      for (int i = 0; i < kReadsPerWake && !ec; ++i)
        if (recv_now(client_, sink.data(), sink.size(), ec) < sink.size()) break;
    }
    close(reset);
    co_return false;
  }
  co_return true;
}
#pragma GCC diagnostic pop

// A hung connection: open, never served; what the client sends is read and
// dropped so its writes do not block, until it gives up or the proxy closes.
Task<> Link::hang([[maybe_unused]] std::shared_ptr<Link> self) {
  std::array<char, 4096> sink;
  while (!closed_) {
    auto [ec] = co_await client_.async_wait(Socket::wait_read, nothrow);
    if (closed_) break;
    if (ec) {
      close(false);
      break;
    }
    boost::system::error_code rec;
    for (int i = 0; i < kReadsPerWake; ++i) {
      const std::size_t n = recv_now(client_, sink.data(), sink.size(), rec);
      if (rec || n < sink.size()) break;
    }
    if (rec && rec != asio::error::would_block) {
      close(false);
      break;
    }
  }
}

// Connects upstream_ to an address. Asio's async_connect always waits for
// writability (an EPOLL_CTL_MOD that also leaves EPOLLOUT registered for the
// link's life), then asks poll and SO_ERROR; on loopback the handshake is
// over before connect(2) returns, so one poll(2) with no timeout tells, and
// only a connection still in progress waits.
Task<boost::system::error_code> Link::connect_upstream(const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  upstream_.open(endpoint.protocol(), ec);
  if (!ec) upstream_.non_blocking(true, ec);
  if (ec) co_return ec;
  boost::system::error_code ignored;  // without TCP_NODELAY the link still works
  upstream_.set_option(tcp::no_delay(true), ignored);
  const int fd = upstream_.native_handle();
  int rc;
  do {
    rc = ::connect(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size()));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) co_return ec;
  if (errno != EINPROGRESS)
    co_return boost::system::error_code(errno, boost::system::system_category());
  pollfd pfd{fd, POLLOUT, 0};
  if (::poll(&pfd, 1, 0) == 1 && pfd.revents == POLLOUT) co_return ec;  // connected
  if (pfd.revents == 0) {
    auto [wec] = co_await upstream_.async_wait(Socket::wait_write, nothrow);
    if (wec) co_return wec;
  }
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
  co_return error ? boost::system::error_code(error, boost::system::system_category())
                  : boost::system::error_code();
}

Task<> Link::run() {
  auto self = shared_from_this();
  boost::system::error_code ec;
  // Connection-level faults decide first; without any, no coroutine is made.
  if (auto set = proxy_->current_faults(); set && !set->connection.empty())
    if (!co_await admit(self, std::move(set))) co_return;
  const auto upstream = proxy_->upstream();
  const std::string& target = upstream.address;
  if (upstream.endpoint) {
    ec = co_await connect_upstream(*upstream.endpoint);
  } else if (auto hp = split_host_port(target); hp) {
    Resolver resolver(io_);
    auto [rec, results] = co_await resolver.async_resolve(hp.value->host, hp.value->port, nothrow);
    ec = rec;
    if (!ec) std::tie(ec, std::ignore) = co_await asio::async_connect(upstream_, results, nothrow);
  } else {
    ec = asio::error::invalid_argument;
  }
  if (ec) {
    bump(counters().upstream_failures);
    spdlog::warn("proxy {}: upstream {} unreachable: {}; closing client", proxy_->name(), target,
                 ec.message());
    emit("upstream_unreachable", nullptr, target + ": " + ec.message());
    close(false);
    co_return;
  }

  auto set = proxy_->attach(*this, worker_, generation_);
  if (!set) {  // the proxy was disabled while we connected
    close(false);
    co_return;
  }
  counted_active_ = true;
  bump(counters().active);

  if (!upstream.endpoint)                           // connect_upstream set it already
    upstream_.set_option(tcp::no_delay(true), ec);  // the client's came from the listener

  const auto [protocol, header_faults, pass_tls] = proxy_->protocol();
  header_faults_ = header_faults;
  if (protocol != Protocol::tcp) {
    http_ = true;  // a codec owns the sockets
    http_faults_ = set;
    if (protocol == Protocol::http)
      asio::co_spawn(io_, run_http_session(self), log_coroutine_exception);
    else
      asio::co_spawn(io_,
                     run_db_session(self,
                                    protocol == Protocol::postgres ? faults::db::Protocol::postgres
                                    : protocol == Protocol::redis  ? faults::db::Protocol::redis
                                                                   : faults::db::Protocol::mysql,
                                    pass_tls),
                     log_coroutine_exception);
    co_return;
  }
  apply_faults(*set);
  if (closed_) co_return;
  // Spawned directly: a wrapping lambda would cost a coroutine frame per
  // direction for the link's whole life.
  asio::co_spawn(io_, pump(self, up_), log_coroutine_exception);
  asio::co_spawn(io_, pump(self, down_), log_coroutine_exception);
}

void Link::apply_faults(const faults::ChainSet& set) {
  if (closed_ || hung_) return;
  if (http_) {  // the codec reads the set per request
    http_faults_ = std::make_shared<const faults::ChainSet>(set);
    return;
  }
  for (Direction* d : {&up_, &down_}) {
    const auto& chain = set.of(d->stream);
    if (d->done || (!d->planned && chain.empty())) continue;
    if (!d->planned) {
      d->planned = std::make_unique<Planned>(io_, d->offset, proxy_->engine().options.max_inflight);
      d->planned->chain.set_client(client_ip_);
    }
    Planned& p = *d->planned;
    auto ctx = context(p);
    // Like an interrupted Toxiproxy stage, what was waiting goes out now and
    // the new chain applies to what arrives next.
    if (set.flush_pending)
      for (auto& piece : p.queue) piece.release = std::min(piece.release, ctx.now);
    p.plan.reset_empty();
    std::vector<const faults::FaultInstance*> picked;
    if (!p.chain.rebind(chain, ctx, p.plan, &picked)) {
      emit("closed", nullptr, "a fault that dropped this link's bytes was removed");
      close(false);
      return;
    }
    for (const auto* f : picked) {
      if (f->type_index < kMaxFaultTypes) bump(counters().fault_applied[f->type_index]);
      if (f->fault->withholds_data()) emit("held", f, "bytes are dropped");
    }
    if (p.plan.end.kind != EndKind::none) p.end = p.plan.end;
    start_writer(*d);
  }
}

void Link::start_writer(Direction& d) {
  Planned& p = *d.planned;
  if (p.writer_running) {
    p.wake_writer.cancel();
    return;
  }
  p.writer_running = true;
  asio::co_spawn(io_, writer(shared_from_this(), d), log_coroutine_exception);
}

void Link::close(bool reset) {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  for (Socket* s : {&client_, &upstream_}) {
    if (reset && s->is_open()) s->set_option(asio::socket_base::linger(true, 0), ec);
    s->close(ec);
  }
  for (Direction* d : {&up_, &down_}) {
    if (!d->planned) continue;
    d->planned->wake_writer.cancel();
    d->planned->wake_reader.cancel();
  }
  hook.unlink();
}

void Link::http_event(std::string action, std::string fault, std::string detail,
                      std::string trace) {
  const auto& sink = proxy_->engine().options.events;
  if (!sink) return;
  proxy::Event e;
  e.proxy = proxy_->name();
  e.link = id_;
  e.fault = std::move(fault);
  e.type = "http";
  e.action = std::move(action);
  e.detail = std::move(detail);
  e.trace = std::move(trace);
  sink->emit(std::move(e));
}

void Link::db_event(std::string protocol, std::string action, std::string fault,
                    std::string detail) {
  const auto& sink = proxy_->engine().options.events;
  if (!sink) return;
  proxy::Event e;
  e.proxy = proxy_->name();
  e.link = id_;
  e.fault = std::move(fault);
  e.type = std::move(protocol);
  e.action = std::move(action);
  e.detail = std::move(detail);
  sink->emit(std::move(e));
}

void Link::count_request(bool malformed, bool faulted) {
  auto& c = counters();
  bump(c.http_requests);
  if (malformed) bump(c.http_malformed);
  if (faulted) bump(c.http_faulted);
}

void Link::count_bytes(bool upstream, std::size_t n) {
  auto& c = counters();
  bump(upstream ? c.bytes_upstream : c.bytes_downstream, n);
}

void Link::fall_back_to_bytes(std::string client_pending, std::string upstream_pending) {
  // Bytes the codec had read ahead go first (small: a header's worth).
  if (!send_all_now(upstream_, client_pending) || !send_all_now(client_, upstream_pending)) {
    close(true);
    return;
  }
  http_ = false;
  auto set = http_faults_;
  http_faults_.reset();
  if (set) apply_faults(*set);
  if (closed_) return;
  auto self = shared_from_this();
  asio::co_spawn(io_, pump(self, up_), log_coroutine_exception);
  asio::co_spawn(io_, pump(self, down_), log_coroutine_exception);
}

void Link::finish_direction(Direction& d) {
  d.done = true;
  if (up_.done && down_.done) {
    close(false);  // closing sends the FIN a shutdown would: no shutdown first
    return;
  }
  boost::system::error_code ec;
  d.dst->shutdown(Socket::shutdown_send, ec);
}

Task<> Link::pump([[maybe_unused]] std::shared_ptr<Link> self, Direction& d) {
  // Asio's reactor is edge-triggered: a wait only completes on new readiness.
  // So we wait only after a read found the socket empty; otherwise we read on
  // (yielding to other links between bursts).
  // The client usually spoke while the upstream connection was being made:
  // its direction reads first (an empty socket costs one recv, as the wait's
  // re-arm would), the upstream's waits.
  bool readable = &d == &up_;
  int reads = 0;  // reads since this direction last let other links run
  while (!closed_) {
    // Backpressure: a planned direction whose bound is reached stops reading.
    if (d.planned && !d.planned->ring.can_write(!d.planned->writing)) {
      d.planned->wake_reader.expires_at(Clock::time_point::max());
      co_await d.planned->wake_reader.async_wait(nothrow);
      continue;
    }
    if (!readable) {
      reads = 0;
      auto [wec] = co_await d.src->async_wait(Socket::wait_read, nothrow);
      if (closed_) co_return;
      if (wec) {
        close(true);
        co_return;
      }
    } else if (++reads >= kReadsPerWake) {
      reads = 0;
      co_await asio::post(io_.get_executor(), use_task);  // let other links run
      if (closed_) co_return;
    }
    readable = true;
    if (d.planned) {
      Planned& p = *d.planned;
      if (p.chain.empty() && !p.writer_running && p.queue.empty() && p.end.kind == EndKind::none) {
        d.planned.reset();  // the last fault went away: back to the fast path
      } else {
        switch (read_planned(d)) {
          case ReadResult::more:
            break;
          case ReadResult::empty:
            readable = false;
            break;
          case ReadResult::done:
            co_return;
        }
        continue;
      }
    }

    // Fast path: no plan, no timers; the buffer is held only while data flows.
    PooledBuffer buffer;
    char* const data = buffer.data.get();
    for (int i = 0; i < kReadsPerWake && !d.planned && !closed_; ++i) {
      boost::system::error_code ec;
      const std::size_t n = recv_now(*d.src, data, kBufferSize, ec);
      if (ec == asio::error::would_block) {
        readable = false;
        break;
      }
      if (ec == asio::error::eof) {
        d.reader_done = true;
        finish_direction(d);
        co_return;
      }
      if (ec) {
        d.reader_done = true;
        close(true);  // the peer reset or failed: the other side learns by RST too
        co_return;
      }
      d.offset += n;
      count_bytes(d, n);
      // Write straight away; only a full socket buffer needs the reactor.
      std::size_t done = send_now(*d.dst, data, n, ec);
      if (ec == asio::error::would_block) {
        done = 0;
        ec = {};
      }
      if (!ec && done < n) {
        std::tie(ec, std::ignore) =
            co_await asio::async_write(*d.dst, asio::buffer(data + done, n - done), nothrow);
      }
      if (ec) {
        close(true);
        co_return;
      }
      // A short read emptied the socket. No need to prove it with another
      // recv: every async_wait re-arms the descriptor (EPOLL_CTL_MOD), which
      // reports data or an EOF that is already there.
      if (n < kBufferSize) {
        readable = false;
        break;
      }
    }
    if (readable) reads = kReadsPerWake;  // a full burst: yield before the next
  }
}

// Reads one chunk into the ring and runs it through the chain.
Link::ReadResult Link::read_planned(Direction& d) {
  Planned& p = *d.planned;
  auto room = p.ring.writable(kBufferSize, !p.writing, p.bulk);
  if (room.empty()) return ReadResult::more;
  boost::system::error_code ec;
  const std::size_t n = recv_now(*d.src, room.data(), room.size(), ec);
  p.bulk = n == room.size() && n >= kBulkRead;
  if (ec == asio::error::would_block) return ReadResult::empty;
  auto ctx = context(p);
  if (ec == asio::error::eof) {
    d.reader_done = true;
    p.plan.reset_for_eof(ctx.now);
    p.chain.on_eof(ctx, p.plan);
  } else if (ec) {
    d.reader_done = true;
    close(true);
    return ReadResult::done;
  } else {
    p.ring.commit(n);
    count_bytes(d, n);
    p.plan.reset_for(d.offset, static_cast<std::uint32_t>(n), ctx.now);
    d.offset += n;
    p.chain.on_data(ctx, p.plan);
    for (const auto& f : p.plan.flips) p.ring.flip(f.offset, f.mask);
  }
  for (const auto& piece : p.plan.pieces)
    if (piece.size) p.queue.push_back(piece);
  if (p.plan.end.kind != EndKind::none) p.end = p.plan.end;
  if (!write_due(d, ctx.now)) return ReadResult::done;
  if (p.queue.empty()) {
    // Everything read went out (or was dropped): the storage goes back to the
    // pool, so the next read, this link's or another's, takes a block that
    // is still in the cache, as the fast path does.
    p.ring.release_to(p.ring.head());
    p.ring.trim();
  }
  // The writer is needed only for what must wait (or did not fit) and for ends.
  if (!p.queue.empty() || p.end.kind != EndKind::none) start_writer(d);
  if (d.reader_done) return ReadResult::done;
  return n < room.size() ? ReadResult::empty : ReadResult::more;  // a short read emptied the socket
}

// Writes the pieces already due straight from the ring, as the fast path
// does, so a fault that delays nothing (latency 0) costs no timer and no
// writer wake-up. Returns false when the link failed.
bool Link::write_due(Direction& d, faults::TimePoint now) {
  Planned& p = *d.planned;
  while (!p.writing && !p.queue.empty() && p.queue.front().release <= now) {
    auto& piece = p.queue.front();
    std::span<const char> spans[2];
    const int k = p.ring.readable(piece.offset, piece.size, spans);
    std::size_t sent = 0;
    boost::system::error_code ec;
    for (int i = 0; i < k; ++i) {
      const std::size_t n = send_now(*d.dst, spans[i].data(), spans[i].size(), ec);
      sent += n;
      if (ec || n < spans[i].size()) break;
    }
    if (ec && ec != asio::error::would_block) {
      close(true);
      return false;
    }
    if (sent < piece.size) {  // the socket is full: the writer waits for room
      piece.offset += sent;
      piece.size -= static_cast<std::uint32_t>(sent);
      p.ring.release_to(piece.offset);
      return true;
    }
    p.queue.pop_front();
    p.ring.release_to(p.queue.empty() ? p.ring.head() : p.queue.front().offset);
  }
  return true;
}

Task<> Link::writer([[maybe_unused]] std::shared_ptr<Link> self, Direction& d) {
  Planned& p = *d.planned;
  std::array<asio::const_buffer, 16> buffers;
  constexpr std::size_t kMaxGather = 256 * 1024;
  while (!closed_) {
    const auto now = Clock::now();
    if (!p.queue.empty()) {
      if (p.queue.front().release > now) {
        p.wake_writer.expires_at(p.queue.front().release);
        co_await p.wake_writer.async_wait(nothrow);
        continue;
      }
      // Gather every piece that is due into one write.
      std::size_t nb = 0, total = 0, count = 0;
      for (const auto& piece : p.queue) {
        if (piece.release > now || total >= kMaxGather || nb + 2 > buffers.size()) break;
        std::span<const char> spans[2];
        const int k = p.ring.readable(piece.offset, piece.size, spans);
        for (int i = 0; i < k; ++i) {
          const auto* prev =
              nb ? static_cast<const char*>(buffers[nb - 1].data()) + buffers[nb - 1].size()
                 : nullptr;
          if (prev == spans[i].data())
            buffers[nb - 1] = asio::const_buffer(buffers[nb - 1].data(),
                                                 buffers[nb - 1].size() + spans[i].size());
          else
            buffers[nb++] = asio::const_buffer(spans[i].data(), spans[i].size());
        }
        total += piece.size;
        ++count;
      }
      p.writing = true;
      auto [ec, written] = co_await asio::async_write(
          *d.dst, std::span<const asio::const_buffer>(buffers.data(), nb), nothrow);
      p.writing = false;
      if (closed_) break;
      if (ec) {
        close(true);
        break;
      }
      p.queue.erase(p.queue.begin(), p.queue.begin() + static_cast<std::ptrdiff_t>(count));
      p.ring.release_to(p.queue.empty() ? p.ring.head() : p.queue.front().offset);
      p.wake_reader.cancel();
      continue;
    }
    if (p.end.kind != EndKind::none) {
      if (p.end.at > now) {
        p.wake_writer.expires_at(p.end.at);
        co_await p.wake_writer.async_wait(nothrow);
        continue;
      }
      const auto end = p.end;
      p.end = {};
      if (end.kind == EndKind::fin) {
        finish_direction(d);
      } else {
        const faults::FaultInstance* by = end.fault_id ? p.chain.find(end.fault_id) : nullptr;
        // The fault names what it did; an end without one is the peer's.
        std::string action = by                           ? by->fault->end_event()
                             : end.kind == EndKind::reset ? "reset"
                                                          : "closed";
        if (by && by->type_index < kMaxFaultTypes) bump(counters().fault_ended[by->type_index]);
        spdlog::debug("proxy {}: link {} {}{}", proxy_->name(), id_, action,
                      by ? " by " + by->name : "");
        emit(action, by);
        close(end.kind == EndKind::reset);
      }
      break;
    }
    if (p.chain.empty()) break;  // nothing planned, nothing to plan: back to the fast path
    p.ring.trim();
    p.wake_writer.expires_at(Clock::time_point::max());
    co_await p.wake_writer.async_wait(nothrow);
  }
  p.writer_running = false;
  p.wake_reader.cancel();
}

// ---------------------------------------------------------------------------
// Engine

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
  // By default one worker for every two cores: the proxy shares the machine
  // with the load and the servers it sits between, and on 2 cores one worker
  // beat two on most figures of bench/run (bench/README.md, "One worker or
  // two").
  if (options.workers == 0) options.workers = std::max(1u, std::thread::hardware_concurrency() / 2);
  impl_->options = options;
  for (unsigned i = 0; i < options.workers; ++i)
    impl_->workers.push_back(std::make_unique<Worker>());
  for (auto& w : impl_->workers) {
    w->thread = std::thread([io = &w->io] {
      for (;;) {
        try {
          io->run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("worker: {}", e.what());
        }
      }
    });
  }
}

Engine::~Engine() {
  stop();
}

void Engine::stop() {
  for (auto& w : impl_->workers) {
    w->guard.reset();
    w->io.stop();
  }
  for (auto& w : impl_->workers)
    if (w->thread.joinable()) w->thread.join();
}

std::shared_ptr<Proxy> Engine::make_proxy(const std::string& name) {
  return std::make_shared<ProxyImpl>(*impl_, name);
}

unsigned Engine::workers() const {
  return static_cast<unsigned>(impl_->workers.size());
}
std::uint64_t Engine::seed() const {
  return impl_->options.seed;
}

}  // namespace brownout::proxy
