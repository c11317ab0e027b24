#include "control/http_server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "proxy/address.hpp"

namespace brownout::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> session(tcp::socket socket, const HttpServer::Handler& handler) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(8 * 1024 * 1024);
    stream.expires_after(std::chrono::seconds(60));  // idle keep-alive and slow senders
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, nothrow);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout && ec != asio::error::eof &&
          ec != asio::error::connection_reset) {
        http::response<http::string_body> bad{http::status::bad_request, 11};
        bad.set(http::field::content_type, "text/plain; charset=utf-8");
        bad.set(http::field::connection, "close");
        bad.body() = "400 Bad Request: " + ec.message() + "\n";
        bad.prepare_payload();
        stream.expires_after(std::chrono::seconds(5));
        co_await http::async_write(stream, bad, nothrow);
      }
      break;
    }
    auto& req = parser.get();
    ApiRequest api_req{std::string(req.method_string()), std::string(req.target()),
                       std::move(req.body()), std::string(req[http::field::user_agent])};
    ApiResponse out;
    try {
      out = handler(api_req);
    } catch (const std::exception& e) {
      spdlog::error("API {} {}: {}", api_req.method, api_req.target, e.what());
      out = ApiResponse{500,
                        "text/plain; charset=utf-8",
                        std::string("{\"error\":\"internal error\",\"status\":500}\n"),
                        {}};
    }
    spdlog::debug("API {} {} -> {}", api_req.method, api_req.target, out.status);
    http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
    res.set(http::field::server, "brownout");
    if (!out.content_type.empty()) res.set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res.set(k, v);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(out.body);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(Handler h) : handler(std::move(h)) {}
  Handler handler;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
};

HttpServer::HttpServer(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {}
HttpServer::~HttpServer() = default;

faults::Result<std::string> HttpServer::listen(const std::string& host, unsigned port) {
  using R = faults::Result<std::string>;
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results = resolver.resolve(host.empty() ? "::" : host, std::to_string(port),
                                  tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty())
    return R::fail("listen tcp " + host + ":" + std::to_string(port) + ": lookup " + host +
                   ": no such host");
  tcp::endpoint endpoint = results.begin()->endpoint();
  for (const auto& r : results)
    if (r.endpoint().address().is_v4()) {
      endpoint = r.endpoint();
      break;
    }
  const std::string where =
      "listen tcp " + proxy::join_host_port(endpoint.address().to_string(), endpoint.port());
  auto& a = impl_->acceptor;
  if (a.open(endpoint.protocol(), ec); ec)
    return R::fail(where + ": " + proxy::error_text(ec.message()));
  a.set_option(asio::socket_base::reuse_address(true), ec);
  if (a.bind(endpoint, ec); ec)
    return R::fail(where + ": bind: " + proxy::error_text(ec.message()));
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec)
    return R::fail(where + ": " + proxy::error_text(ec.message()));
  const auto bound = a.local_endpoint(ec);
  return R::ok(proxy::join_host_port(bound.address().to_string(), bound.port()));
}

void HttpServer::run(bool handle_signals, std::function<void()> on_hangup) {
  auto& impl = *impl_;
  asio::co_spawn(
      impl.io,
      [&impl]() -> asio::awaitable<void> {
        for (;;) {
          auto [ec, socket] = co_await impl.acceptor.async_accept(nothrow);
          if (ec) {
            if (!impl.acceptor.is_open()) co_return;
            continue;
          }
          asio::co_spawn(impl.io, session(std::move(socket), impl.handler), asio::detached);
        }
      },
      asio::detached);
  std::optional<asio::signal_set> signals;
  if (handle_signals) {
    signals.emplace(impl.io, SIGINT, SIGTERM);
    signals->async_wait([&impl](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("signal {}: shutting down", sig);
      impl.io.stop();
    });
  }
  std::optional<asio::signal_set> hangup;
  std::function<void(const boost::system::error_code&, int)> on_hup;
  if (handle_signals && on_hangup) {
    hangup.emplace(impl.io, SIGHUP);
    on_hup = [&](const boost::system::error_code& ec, int) {
      if (ec) return;
      on_hangup();
      hangup->async_wait(on_hup);
    };
    hangup->async_wait(on_hup);
  }
  impl.io.run();
}

void HttpServer::stop() {
  asio::post(impl_->io, [this] { impl_->io.stop(); });
}

}  // namespace brownout::control
