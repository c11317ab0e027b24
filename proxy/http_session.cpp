#include "proxy/http_session.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <vector>

#include "faults/http.hpp"

namespace brownout::proxy {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace fh = faults::http;

namespace {

constexpr std::size_t kChunk = 64 * 1024;
constexpr std::uint32_t kHeaderLimit = 64 * 1024;

bool ok_or_need_buffer(beast::error_code& ec) {
  if (ec == bhttp::error::need_buffer) ec = {};
  return !ec;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string pending_bytes(const beast::flat_buffer& b) {
  const auto d = b.data();
  return std::string(static_cast<const char*>(d.data()), d.size());
}

class Session {
 public:
  explicit Session(std::shared_ptr<HttpHost> host)
      : host_(std::move(host)), client_(host_->client()), upstream_(host_->upstream()) {
    // Reads of at least this much: a small response is one recv, not three.
    cbuf_.reserve(16 * 1024);
    ubuf_.reserve(16 * 1024);
  }

  Task<> run();

 private:
  Task<bool> one_request();
  Task<> wait(faults::Duration d);
  Task<bool> answer(const fh::Decision& d, bool keep_alive, unsigned version, bool head = false);
  Task<bool> drain_request_body(bhttp::request_parser<bhttp::buffer_body>& p);
  Task<bool> relay_request_body(bhttp::request_parser<bhttp::buffer_body>& p,
                                bhttp::request_serializer<bhttp::buffer_body>& sr);
  Task<bool> relay_response(bhttp::response_parser<bhttp::buffer_body>& p, const fh::Decision& d,
                            bool head);
  Task<bool> replace_response(bhttp::response_parser<bhttp::buffer_body>& p, const fh::Decision& d,
                              bool head);
  Task<> drop(const fh::Decision& d);
  void fire_events(const fh::Decision& d, const std::string& what, const std::string& trace);

  std::shared_ptr<HttpHost> host_;
  Socket& client_;
  Socket& upstream_;
  beast::flat_buffer cbuf_;
  beast::flat_buffer ubuf_;
  std::vector<char> chunk_ = std::vector<char>(kChunk);
  bool fell_back_ = false;  // the link's pumps own the sockets now
  std::string pre_;         // request body read ahead for a body matcher
  std::size_t pre_at_ = 0;  // how much of it went upstream
};

Task<> Session::wait(faults::Duration d) {
  if (d <= faults::Duration::zero()) co_return;
  Timer t(client_.get_executor());
  t.expires_after(d);
  co_await t.async_wait(nothrow);
}

void Session::fire_events(const fh::Decision& d, const std::string& what,
                          const std::string& trace) {
  for (const auto& name : d.fired) host_->http_event("http_fault", name, what, trace);
}

// The proxy's own answer (an abort, a quota, a malformed request).
Task<bool> Session::answer(const fh::Decision& d, bool keep_alive, unsigned version, bool head) {
  bhttp::response<bhttp::string_body> res;
  res.version(version ? version : 11);
  res.result(static_cast<unsigned>(d.status));
  for (const auto& h : d.headers) res.set(h.name, h.value);
  if (!d.content_type.empty() && res.find(bhttp::field::content_type) == res.end())
    res.set(bhttp::field::content_type, d.content_type);
  res.set("X-Brownout-Fault", d.fired.empty() ? std::string("proxy") : d.fired.front());
  res.body() = d.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  host_->count_status(res.result_int());
  bhttp::response_serializer<bhttp::string_body> sr{res};
  // A HEAD answer says how long the body would be, and sends none.
  auto [ec, n] = head ? co_await bhttp::async_write_header(client_, sr, nothrow)
                      : co_await bhttp::async_write(client_, sr, nothrow);
  host_->count_bytes(false, n);
  co_return !ec;
}

Task<bool> Session::drain_request_body(bhttp::request_parser<bhttp::buffer_body>& p) {
  for (int i = 0; i < 1'000'000 && !p.is_done(); ++i) {
    p.get().body().data = chunk_.data();
    p.get().body().size = chunk_.size();
    auto [ec, n] = co_await bhttp::async_read(client_, cbuf_, p, nothrow);
    if (!ok_or_need_buffer(ec)) co_return false;
  }
  co_return p.is_done();
}

Task<bool> Session::relay_request_body(bhttp::request_parser<bhttp::buffer_body>& p,
                                       bhttp::request_serializer<bhttp::buffer_body>& sr) {
  do {
    if (pre_at_ < pre_.size()) {  // what a matcher read first goes first
      p.get().body().data = pre_.data() + pre_at_;
      p.get().body().size = pre_.size() - pre_at_;
      p.get().body().more = !p.is_done();
      pre_at_ = pre_.size();
    } else if (!p.is_done()) {
      p.get().body().data = chunk_.data();
      p.get().body().size = chunk_.size();
      auto [ec, n] = co_await bhttp::async_read(client_, cbuf_, p, nothrow);
      if (!ok_or_need_buffer(ec)) co_return false;
      p.get().body().size = chunk_.size() - p.get().body().size;
      p.get().body().data = chunk_.data();
      p.get().body().more = !p.is_done();
    } else {
      p.get().body().data = nullptr;
      p.get().body().size = 0;
      p.get().body().more = false;
    }
    auto [ec, n] = co_await bhttp::async_write(upstream_, sr, nothrow);
    host_->count_bytes(true, n);
    if (!ok_or_need_buffer(ec)) co_return false;
  } while (!p.is_done() || !sr.is_done());
  co_return true;
}

Task<> Session::drop(const fh::Decision& d) {
  switch (*d.drop) {
    case fh::DropMode::close:
      host_->close_link(false);
      break;
    case fh::DropMode::reset:
      host_->close_link(true);
      break;
    case fh::DropMode::hang: {
      // Hold the connection, reading nothing, until the timeout (or until
      // the client gives up: a wait on its socket completes when it closes).
      Timer t(client_.get_executor());
      if (d.drop_timeout > faults::Duration::zero())
        t.expires_after(d.drop_timeout);
      else
        t.expires_at(Clock::time_point::max());
      bool done = false;
      asio::co_spawn(
          client_.get_executor(),
          [this, &t, &done, host = host_]() -> Task<> {
            co_await client_.async_wait(Socket::wait_error, nothrow);
            if (!done) t.cancel();
          },
          asio::detached);
      co_await t.async_wait(nothrow);
      done = true;
      host_->close_link(false);
      break;
    }
  }
}

// The upstream's status or body replaced: its body is read and dropped, and
// the replacement goes out with its own length on the same connection.
Task<bool> Session::replace_response(bhttp::response_parser<bhttp::buffer_body>& p,
                                     const fh::Decision& d, bool head) {
  std::string original;
  for (int i = 0; i < 1'000'000 && !p.is_done(); ++i) {
    p.get().body().data = chunk_.data();
    p.get().body().size = chunk_.size();
    auto [ec, n] = co_await bhttp::async_read(upstream_, ubuf_, p, nothrow);
    if (!ok_or_need_buffer(ec)) co_return false;
    const auto got = chunk_.size() - p.get().body().size;
    if (!d.replace_body && original.size() + got <= (8u << 20)) original.append(chunk_.data(), got);
  }
  bhttp::response<bhttp::string_body> res;
  const auto& up = p.get();
  res.version(up.version());
  res.result(d.replace_status ? static_cast<unsigned>(*d.replace_status) : up.result_int());
  for (const auto& f : up) {
    // A HEAD answer keeps the upstream's length unless a new body replaces it.
    const bool length =
        f.name() == bhttp::field::content_length || f.name() == bhttp::field::transfer_encoding;
    if (length && (!head || d.replace_body)) continue;
    res.insert(f.name_string(), f.value());
  }
  res.set("X-Brownout-Fault", d.fired.empty() ? std::string("status") : d.fired.front());
  res.body() = d.replace_body ? *d.replace_body : original;
  res.keep_alive(up.keep_alive());
  if (!head || d.replace_body) res.prepare_payload();
  host_->count_status(res.result_int());
  bhttp::response_serializer<bhttp::string_body> sr{res};
  auto [ec, n] = head ? co_await bhttp::async_write_header(client_, sr, nothrow)
                      : co_await bhttp::async_write(client_, sr, nothrow);
  host_->count_bytes(false, n);
  co_return !ec && res.keep_alive();
}

// Relays the response body, honouring truncate, reset-after and dribble.
Task<bool> Session::relay_response(bhttp::response_parser<bhttp::buffer_body>& p,
                                   const fh::Decision& d, bool head) {
  bhttp::response_serializer<bhttp::buffer_body> sr{p.get()};
  host_->count_status(p.get().result_int());
  std::int64_t sent = 0;
  std::optional<std::int64_t> limit = d.truncate_bytes;
  if (d.reset_after_bytes && (!limit || *d.reset_after_bytes < *limit)) limit = d.reset_after_bytes;
  const unsigned status = p.get().result_int();
  if (head || status == 204 || status == 304) {
    // No body follows, whatever the length headers say: a serializer would
    // still end a chunked message with its last chunk, which the client
    // would read as the start of the next response.
    auto [ec, n] = co_await bhttp::async_write_header(client_, sr, nothrow);
    host_->count_bytes(false, n);
    co_return !ec && p.get().keep_alive();
  }
  if ((limit && *limit == 0) || d.dribble_size > 0) {
    // The header goes alone: nothing (or little) of the body follows it.
    auto [ec, n] = co_await bhttp::async_write_header(client_, sr, nothrow);
    host_->count_bytes(false, n);
    if (ec) co_return false;
  }  // otherwise the header leaves with the first piece of body, in one send
  const std::size_t piece =
      d.dribble_size > 0 ? static_cast<std::size_t>(d.dribble_size) : chunk_.size();
  std::string held;  // body bytes read but not yet sent (dribble sends them piecewise)
  std::size_t held_at = 0;
  for (int guard = 0; guard < 100'000'000; ++guard) {
    if (held_at >= held.size() && !p.is_done()) {
      p.get().body().data = chunk_.data();
      p.get().body().size = chunk_.size();
      auto [ec, n] = co_await bhttp::async_read(upstream_, ubuf_, p, nothrow);
      if (!ok_or_need_buffer(ec)) co_return false;
      held.assign(chunk_.data(), chunk_.size() - p.get().body().size);
      held_at = 0;
    }
    std::size_t n = std::min(piece, held.size() - held_at);
    if (limit) n = static_cast<std::size_t>(std::min<std::int64_t>(n, *limit - sent));
    if (limit && sent >= *limit) {
      // The cut: the headers promised more than the client gets.
      host_->close_link(d.reset_after_bytes && *d.reset_after_bytes == *limit);
      co_return false;
    }
    const bool last = p.is_done() && held_at + n >= held.size();
    p.get().body().data = n ? held.data() + held_at : nullptr;
    p.get().body().size = n;
    p.get().body().more = !last;
    held_at += n;
    sent += static_cast<std::int64_t>(n);
    auto [ec, w] = co_await bhttp::async_write(client_, sr, nothrow);
    host_->count_bytes(false, w);
    if (!ok_or_need_buffer(ec)) co_return false;
    if (sr.is_done()) break;
    if (d.dribble_size > 0 && n > 0) co_await wait(d.dribble_delay);
    if (host_->link_closed()) co_return false;
  }
  co_return !sr.get().need_eof();
}

// One request and its response; false when the connection is over.
Task<bool> Session::one_request() {
  bhttp::request_parser<bhttp::buffer_body> rp;
  rp.header_limit(kHeaderLimit);
  rp.body_limit(boost::none);
  {
    auto [ec, n] = co_await bhttp::async_read_header(client_, cbuf_, rp, nothrow);
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      co_return false;
    if (ec) {
      host_->count_request(true, false);
      fh::Decision bad;
      bad.status = 400;
      bad.body = "malformed HTTP request: " + ec.message() + "\n";
      bad.content_type = "text/plain; charset=utf-8";
      co_await answer(bad, false, 11);
      host_->close_link(false);
      co_return false;
    }
  }
  auto& req = rp.get();
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  const bool head_request = req.method() == bhttp::verb::head;
  // The proxy's own answer. A client waiting for 100 Continue holds its body
  // back: answer at once and close rather than wait for it.
  auto own_answer = [&](const fh::Decision& d) -> Task<bool> {
    if (req[bhttp::field::expect] == "100-continue" && !rp.is_done()) {
      co_await answer(d, false, version, head_request);
      host_->close_link(false);
      co_return false;
    }
    if (!co_await drain_request_body(rp)) co_return false;
    co_return co_await answer(d, keep_alive, version, head_request) && keep_alive;
  };

  // What Beast does not frame goes through as bytes, TCP faults and all.
  if (req.method() == bhttp::verb::connect || rp.upgrade()) {
    bhttp::request_serializer<bhttp::buffer_body> sr{req};
    req.body().data = nullptr;
    req.body().size = 0;
    req.body().more = false;
    auto [ec, n] = co_await bhttp::async_write_header(upstream_, sr, nothrow);
    if (ec) co_return false;
    host_->count_bytes(true, n);
    host_->count_request(false, false);
    fell_back_ = true;
    host_->fall_back_to_bytes(pending_bytes(cbuf_), pending_bytes(ubuf_));
    co_return false;
  }

  const auto set = host_->current_faults();
  std::vector<const fh::Fault*> faults;
  bool needs_body = false;
  if (set)
    for (const auto& inst : set->http)
      if (inst->http && !inst->used_up() &&
          faults::client_matches(inst->clients, host_->client_ip())) {
        faults.push_back(inst->http.get());
        needs_body = needs_body || inst->http->settings.match.needs_body();
      }
  // Headers are copied only when something will look at them.
  fh::Headers headers;
  if (!faults.empty() || host_->header_faults())
    for (const auto& f : req)
      headers.push_back({std::string(f.name_string()), std::string(f.value())});
  fh::Decision decision;
  if (host_->header_faults()) {
    auto from = fh::from_headers(headers);
    if (!from) {
      host_->count_request(true, false);
      fh::Decision bad;
      bad.status = 400;
      bad.body = from.error.message + "\n";
      bad.content_type = "text/plain; charset=utf-8";
      co_return co_await own_answer(bad);
    }
    decision = std::move(*from.value);
    if (fh::strip_fault_headers(headers)) {
      for (auto it = req.begin(); it != req.end();) {
        if (lower(it->name_string()).rfind("x-brownout-fault-", 0) == 0)
          it = req.erase(it);
        else
          ++it;
      }
    }
  }
  pre_.clear();
  pre_at_ = 0;
  if (!decision.any() && !faults.empty()) {
    if (needs_body && req[bhttp::field::expect] != "100-continue") {
      // A body matcher sees the first kMaxMatchBody bytes; they are sent on
      // with the rest.
      for (int i = 0; i < 4096 && !rp.is_done() && pre_.size() < fh::kMaxMatchBody; ++i) {
        rp.get().body().data = chunk_.data();
        rp.get().body().size = std::min(chunk_.size(), fh::kMaxMatchBody - pre_.size());
        const auto asked = rp.get().body().size;
        auto [ec, n] = co_await bhttp::async_read(client_, cbuf_, rp, nothrow);
        if (!ok_or_need_buffer(ec)) co_return false;
        pre_.append(chunk_.data(), asked - rp.get().body().size);
      }
    }
    const fh::Request view{req.method_string(), req.target(), &headers, pre_};
    decision = fh::decide(faults, view, host_->rng(), Clock::now());
  }
  host_->count_request(false, decision.any());
  if (decision.any())
    fire_events(decision, std::string(req.method_string()) + " " + std::string(req.target()),
                fh::trace_id(req["traceparent"]));

  co_await wait(decision.request_delay);
  if (host_->link_closed()) co_return false;
  if (decision.abort) co_return co_await own_answer(decision);
  if (decision.garbage) {
    static constexpr std::string_view kGarbage =
        "\x16\x03\x01 brownout: this is not HTTP \xff\xfe\r\n";
    boost::system::error_code ec;
    asio::write(client_, asio::buffer(kGarbage.data(), kGarbage.size()), ec);
    host_->close_link(false);
    co_return false;
  }
  if (decision.reset_before) {
    host_->close_link(true);
    co_return false;
  }

  // Forward the request, streaming its body.
  const bool expect_continue = req[bhttp::field::expect] == "100-continue";
  bhttp::request_serializer<bhttp::buffer_body> sr{req};
  if (expect_continue) {  // otherwise the header leaves with the body, in one send
    auto [ec, n] = co_await bhttp::async_write_header(upstream_, sr, nothrow);
    host_->count_bytes(true, n);
    if (ec) co_return false;
  }
  const bool head = req.method() == bhttp::verb::head;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> res;
  auto read_response_header = [&]() -> Task<bool> {
    for (int i = 0; i < 16; ++i) {
      res.emplace();
      res->header_limit(kHeaderLimit);
      res->body_limit(boost::none);
      if (head) res->skip(true);
      auto [ec, n] = co_await bhttp::async_read_header(upstream_, ubuf_, *res, nothrow);
      if (ec) co_return false;
      const unsigned status = res->get().result_int();
      if (status < 100 || status >= 200 || status == 101) co_return true;
      // An interim answer (100 Continue): the client gets it as it is.
      bhttp::response<bhttp::empty_body> interim{res->get().base()};
      auto [wec, wn] = co_await bhttp::async_write(client_, interim, nothrow);
      host_->count_bytes(false, wn);
      if (wec) co_return false;
      if (status == 100 && expect_continue) co_return true;
    }
    co_return false;
  };
  bool have_response = false;
  if (expect_continue) {
    // The client waits for 100 Continue before it sends the body.
    if (!co_await read_response_header()) {
      host_->close_link(false);
      co_return false;
    }
    have_response = res->get().result_int() != 100;
  }
  if (!have_response) {
    if (!co_await relay_request_body(rp, sr)) {
      host_->close_link(false);
      co_return false;
    }
    if (!co_await read_response_header()) {
      if (!host_->link_closed()) {
        fh::Decision bad;
        bad.status = 502;
        bad.body = "brownout: the upstream closed without an answer\n";
        bad.content_type = "text/plain; charset=utf-8";
        co_await answer(bad, false, version);
      }
      host_->close_link(false);
      co_return false;
    }
  } else {
    // A final answer before the body: the body never goes, so the
    // connection cannot be reused.
    rp.get().keep_alive(false);
  }
  if (res->get().result_int() == 101) {
    bhttp::response_serializer<bhttp::buffer_body> rs{res->get()};
    auto [ec, n] = co_await bhttp::async_write_header(client_, rs, nothrow);
    if (ec) co_return false;
    fell_back_ = true;
    host_->fall_back_to_bytes(pending_bytes(cbuf_), pending_bytes(ubuf_));
    co_return false;
  }

  if (decision.drop) {
    co_await drop(decision);
    co_return false;
  }
  co_await wait(decision.response_delay);
  if (host_->link_closed()) co_return false;
  bool again;
  if (decision.replace_status || decision.replace_body)
    again = co_await replace_response(*res, decision, head);
  else
    again = co_await relay_response(*res, decision, head);
  if (!again || !keep_alive || !res->get().keep_alive() || !rp.get().keep_alive()) {
    boost::system::error_code ec;
    if (!host_->link_closed()) client_.shutdown(Socket::shutdown_send, ec);
    co_return false;
  }
  co_return true;
}

Task<> Session::run() {
  for (std::uint64_t i = 0; !host_->link_closed(); ++i) {
    bool more = false;
    try {
      more = co_await one_request();
    } catch (const std::exception& e) {
      spdlog::debug("http session: {}", e.what());
      more = false;
    }
    if (!more) break;
  }
  if (!fell_back_ && !host_->link_closed()) host_->close_link(false);
}

}  // namespace

Task<> run_http_session(std::shared_ptr<HttpHost> host) {
  Session s(std::move(host));
  co_await s.run();
}

}  // namespace brownout::proxy
