// Listen and upstream addresses as Toxiproxy writes them ("host:port",
// "[::1]:port", ":port"), and the Go-style error texts clients expect.
#pragma once

#include <cstdint>
#include <string>

#include "faults/attributes.hpp"

namespace brownout::proxy {

struct HostPort {
  std::string host;  // without brackets; empty means every interface
  std::string port;
};

// Splits "host:port"; the error text matches Go's net.SplitHostPort.
faults::Result<HostPort> split_host_port(const std::string& address);

// "127.0.0.1:80" or "[::1]:80".
std::string join_host_port(const std::string& ip, std::uint16_t port);

// A system error as Go prints it ("address already in use"): clients match on it.
std::string error_text(std::string message);

}  // namespace brownout::proxy
