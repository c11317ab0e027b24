#include "proxy/address.hpp"

namespace brownout::proxy {

faults::Result<HostPort> split_host_port(const std::string& address) {
  using R = faults::Result<HostPort>;
  const auto fail = [&](const char* why) { return R::fail("address " + address + ": " + why); };
  if (address.empty()) return R::ok(HostPort{"", "0"});
  std::string host, port;
  if (address.front() == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos) return fail("missing ']' in address");
    if (close + 1 >= address.size()) return fail("missing port in address");
    if (address[close + 1] != ':') {
      return address.find(']', close + 1) != std::string::npos ? fail("unexpected ']' in address")
                                                               : fail("missing port in address");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    if (host.find('[') != std::string::npos) return fail("unexpected '[' in address");
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) return fail("missing port in address");
    if (address.find(':') != colon) return fail("too many colons in address");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find('[') != std::string::npos) return fail("unexpected '[' in address");
    if (host.find(']') != std::string::npos) return fail("unexpected ']' in address");
  }
  if (port.find_first_of("[]") != std::string::npos)
    return fail(port.find('[') != std::string::npos ? "unexpected '[' in address"
                                                    : "unexpected ']' in address");
  return R::ok(HostPort{std::move(host), std::move(port)});
}

std::string error_text(std::string message) {
  if (!message.empty() && message[0] >= 'A' && message[0] <= 'Z')
    message[0] = static_cast<char>(message[0] - 'A' + 'a');
  return message;
}

std::string join_host_port(const std::string& ip, std::uint16_t port) {
  if (ip.find(':') != std::string::npos) return "[" + ip + "]:" + std::to_string(port);
  return ip + ":" + std::to_string(port);
}

}  // namespace brownout::proxy
