#include "control/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace brownout::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpResult http_call(const std::string& server, const std::string& method,
                     const std::string& target, const std::string& body) {
  HttpResult out;
  std::string hostport = server;
  if (auto p = hostport.find("://"); p != std::string::npos) hostport = hostport.substr(p + 3);
  while (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
  std::string host = hostport, port = "8474";
  if (auto c = hostport.rfind(':'); c != std::string::npos && hostport.find(']') < c) {
    host = hostport.substr(0, c);
    port = hostport.substr(c + 1);
  } else if (auto c2 = hostport.rfind(':');
             c2 != std::string::npos && hostport.find('[') == std::string::npos) {
    host = hostport.substr(0, c2);
    port = hostport.substr(c2 + 1);
  }
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);

  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host, port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, hostport);
    req.set(http::field::user_agent, std::string("brownout-cli/") + BROWNOUT_VERSION);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    out.reached = true;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const boost::system::system_error& e) {
    if (!out.reached) out.error = e.code().message();
  } catch (const std::exception& e) {
    if (!out.reached) out.error = e.what();
  }
  return out;
}

}  // namespace brownout::control
