#include "proxy/db_session.hpp"

#include <spdlog/spdlog.h>

#include <variant>
#include <vector>

#include "faults/chain.hpp"
#include "proxy/mysql_codec.hpp"
#include "proxy/pg_codec.hpp"
#include "proxy/resp_codec.hpp"

namespace brownout::proxy {

namespace {

namespace db = faults::db;

constexpr std::size_t kChunk = 64 * 1024;

class DbSession : public std::enable_shared_from_this<DbSession> {
 public:
  DbSession(std::shared_ptr<HttpHost> host, db::Protocol protocol, bool pass_tls)
      : host_(std::move(host)), protocol_(protocol) {
    CodecHooks hooks;
    hooks.decide = [this](const db::Statement& s) { return decide(s); };
    hooks.refuse = [this]() -> db::FaultRef {
      refresh();
      return db::refuse(faults_, host_->rng());
    };
    hooks.acted = [this](const db::Fault& f, std::string_view what) {
      host_->db_event(std::string(db::protocol_name(protocol_)), std::string(what), f.name, {});
    };
    if (protocol == db::Protocol::postgres) {
      pg::Codec::Options o;
      o.pass_tls = pass_tls;
      codec_.emplace<pg::Codec>(std::move(hooks), o);
    } else if (protocol == db::Protocol::redis) {
      codec_.emplace<resp::Codec>(std::move(hooks));
    } else {
      codec_.emplace<mysql::Codec>(std::move(hooks));
    }
  }

  Task<> pump(bool from_client);

 private:
  // The proxy's database faults for this link, rebuilt when the set changes.
  void refresh() {
    auto set = host_->current_faults();
    if (set == set_) {
      // used_up faults drop out as they go
      return;
    }
    set_ = set;
    faults_.clear();
    if (!set) return;
    for (const auto& inst : set->http)
      if (inst->db && faults::client_matches(inst->clients, host_->client_ip()))
        faults_.push_back(inst->db);
  }

  db::Decision decide(const db::Statement& s) {
    refresh();
    if (faults_.empty()) return {};
    auto d = db::decide(faults_, protocol_, s, host_->rng());
    for (const auto& f : d.fired) {
      std::string what = s.command.empty() ? std::string(s.sql.substr(0, 200))
                                           : std::string(s.command) + (s.key.empty() ? "" : " ") +
                                                 std::string(s.key.substr(0, 100));
      host_->db_event(std::string(db::protocol_name(protocol_)),
                      std::string(f->settings.kind == db::Kind::pg_delay ||
                                          f->settings.kind == db::Kind::redis_delay
                                      ? "delayed"
                                      : "matched"),
                      f->name, what);
    }
    return d;
  }

  const Actions& feed(bool from_client, std::string_view data) {
    return std::visit(
        [&](auto& c) -> const Actions& {
          if constexpr (std::is_same_v<std::decay_t<decltype(c)>, std::monostate>) {
            static const Actions none;
            return none;
          } else {
            return from_client ? c.from_client(data) : c.from_server(data);
          }
        },
        codec_);
  }

  // The proxy's stream faults (latency, bandwidth, timeout, ...) act on what
  // the codec forwards, one direction each, as on a TCP proxy; each chunk
  // waits for its release time before the next is read.
  struct StreamFaults {
    faults::ChainRunner runner;
    faults::Plan plan;
    std::vector<faults::Piece> scratch;
    std::shared_ptr<const faults::ChainSet> bound;  // the set the runner follows
    std::uint64_t offset = 0;
    std::string bytes;  // a copy, when a fault flips some
  };
  Task<bool> write(bool to_server, std::string_view data, Timer& timer);
  // Whether stream faults act (or still hold state) on this side.
  bool stream_faults(bool to_server) {
    const auto set = host_->current_faults();
    const auto stream = to_server ? faults::Stream::upstream : faults::Stream::downstream;
    return (set && !set->of(stream).empty()) || !(to_server ? up_ : down_).runner.empty();
  }

  std::shared_ptr<HttpHost> host_;
  db::Protocol protocol_;
  StreamFaults up_, down_;
  std::variant<std::monostate, pg::Codec, resp::Codec, mysql::Codec> codec_;
  std::shared_ptr<const faults::ChainSet> set_;
  std::vector<db::FaultRef> faults_;
  bool client_done_ = false;
  bool server_done_ = false;
};

Task<> DbSession::pump(bool from_client) {
  auto self = shared_from_this();
  Socket& src = from_client ? host_->client() : host_->upstream();
  Socket& dst = from_client ? host_->upstream() : host_->client();
  std::vector<char> buf(kChunk);
  Timer timer(src.get_executor());
  std::string joined;
  for (;;) {
    auto [ec, n] = co_await src.async_read_some(asio::buffer(buf), nothrow);
    if (host_->link_closed()) co_return;
    if (ec == asio::error::eof) {
      boost::system::error_code ignored;
      dst.shutdown(Socket::shutdown_send, ignored);
      (from_client ? client_done_ : server_done_) = true;
      if (client_done_ && server_done_) host_->close_link(false);
      co_return;
    }
    if (ec) {
      host_->close_link(true);
      co_return;
    }
    host_->count_bytes(from_client, n);
    const Actions& actions = feed(from_client, std::string_view(buf.data(), n));
    for (std::size_t i = 0; i < actions.size(); ++i) {
      const Action& a = actions[i];
      switch (a.kind) {
        case Action::Kind::to_server:
        case Action::Kind::to_client: {
          // Consecutive pieces for the same side go out in one write (a
          // command's held head and its streamed value, say).
          std::size_t j = i + 1;
          while (j < actions.size() && actions[j].kind == a.kind) ++j;
          const bool to_server = a.kind == Action::Kind::to_server;
          if (j == i + 1) {
            if (!co_await write(to_server, a.data, timer)) co_return;
          } else if (!stream_faults(to_server)) {
            std::vector<asio::const_buffer> bufs;
            for (std::size_t k = i; k < j; ++k) bufs.push_back(asio::buffer(actions[k].data));
            auto [wec, wn] = co_await asio::async_write(
                to_server ? host_->upstream() : host_->client(), bufs, nothrow);
            if (host_->link_closed()) co_return;
            if (wec) {
              host_->close_link(true);
              co_return;
            }
          } else {
            joined.clear();
            for (std::size_t k = i; k < j; ++k) joined.append(actions[k].data);
            if (!co_await write(to_server, joined, timer)) co_return;
          }
          i = j - 1;
          break;
        }
        case Action::Kind::wait:
          timer.expires_after(a.delay);
          co_await timer.async_wait(nothrow);
          if (host_->link_closed()) co_return;
          break;
        case Action::Kind::close:
          host_->close_link(a.reset);
          co_return;
      }
    }
  }
}

Task<bool> DbSession::write(bool to_server, std::string_view data, Timer& timer) {
  Socket& out = to_server ? host_->upstream() : host_->client();
  const auto put = [&](std::string_view d) -> Task<bool> {
    auto [ec, n] = co_await asio::async_write(out, asio::buffer(d), nothrow);
    if (host_->link_closed()) co_return false;
    if (ec) {
      host_->close_link(true);
      co_return false;
    }
    co_return true;
  };
  StreamFaults& sf = to_server ? up_ : down_;
  const auto set = host_->current_faults();
  const faults::Stream stream = to_server ? faults::Stream::upstream : faults::Stream::downstream;
  const bool none = !set || set->of(stream).empty();
  if (none && sf.runner.empty()) co_return co_await put(data);
  faults::Context ctx{Clock::now(), host_->rng(), sf.scratch};
  if (set != sf.bound) {
    sf.bound = set;
    sf.plan.reset_empty();
    static const faults::Chain kNone;
    if (!sf.runner.rebind(set ? set->of(stream) : kNone, ctx, sf.plan)) {
      host_->close_link(false);
      co_return false;
    }
  }
  const std::uint64_t base = sf.offset;
  sf.plan.reset_for(base, static_cast<std::uint32_t>(data.size()), ctx.now);
  sf.offset += data.size();
  sf.runner.on_data(ctx, sf.plan);
  if (!sf.plan.flips.empty()) {
    sf.bytes.assign(data);
    for (const auto& f : sf.plan.flips)
      if (f.offset >= base && f.offset - base < sf.bytes.size())
        sf.bytes[f.offset - base] = static_cast<char>(sf.bytes[f.offset - base] ^ f.mask);
    data = sf.bytes;
  }
  const auto wait_until = [&](faults::TimePoint t) -> Task<bool> {
    if (t > Clock::now()) {
      timer.expires_at(t);
      co_await timer.async_wait(nothrow);
    }
    co_return !host_->link_closed();
  };
  for (const auto& piece : sf.plan.pieces) {
    if (!piece.size || piece.offset < base || piece.offset - base >= data.size()) continue;
    if (!co_await wait_until(piece.release)) co_return false;
    if (!co_await put(data.substr(piece.offset - base, piece.size))) co_return false;
  }
  const auto end = sf.plan.end;
  if (end.kind == faults::EndKind::none) co_return true;
  if (!co_await wait_until(end.at)) co_return false;
  if (end.kind == faults::EndKind::fin) {
    boost::system::error_code ignored;
    out.shutdown(Socket::shutdown_send, ignored);
    co_return true;
  }
  host_->close_link(end.kind == faults::EndKind::reset);
  co_return false;
}

}  // namespace

Task<> run_db_session(std::shared_ptr<HttpHost> host, db::Protocol protocol, bool pass_tls) {
  auto session = std::make_shared<DbSession>(std::move(host), protocol, pass_tls);
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, session->pump(false), asio::detached);
  co_await session->pump(true);
}

}  // namespace brownout::proxy
