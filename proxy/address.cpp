#include "proxy/address.hpp"

namespace brownout::proxy {

faults::Result<HostPort> split_host_port(const std::string& address) {
  using R = faults::Result<HostPort>;
  const auto missing_port = [&] {
    return R::fail("address " + address + ": missing port in address");
  };
  if (address.empty()) return R::ok(HostPort{"", "0"});
  if (address.front() == '[') {
    const auto close = address.find(']');
    if (close == std::string::npos)
      return R::fail("address " + address + ": missing ']' in address");
    if (close + 1 >= address.size() || address[close + 1] != ':') return missing_port();
    return R::ok(HostPort{address.substr(1, close - 1), address.substr(close + 2)});
  }
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return missing_port();
  if (address.find(':') != colon)
    return R::fail("address " + address + ": too many colons in address");
  return R::ok(HostPort{address.substr(0, colon), address.substr(colon + 1)});
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
