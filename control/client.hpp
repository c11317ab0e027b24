// A small blocking HTTP client for the control API, used by the CLI's client
// commands (and by anything else that drives a running server).
#pragma once

#include <string>

namespace brownout::control {

struct HttpResult {
  bool reached = false;  // false: the server could not be reached (error says why)
  int status = 0;
  std::string body;
  std::string error;
};

// `server` is "http://host:port" or "host:port".
HttpResult http_call(const std::string& server, const std::string& method,
                     const std::string& target, const std::string& body = "");

}  // namespace brownout::control
