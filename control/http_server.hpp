// The control API's HTTP/1.1 transport (Boost.Beast): keep-alive
// connections on one thread, each request handed to a handler function.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "control/api.hpp"
#include "faults/attributes.hpp"

namespace brownout::control {

class HttpServer {
 public:
  using Handler = std::function<ApiResponse(const ApiRequest&)>;

  explicit HttpServer(Handler handler);
  ~HttpServer();

  // Binds host:port (port 0 picks a free one); returns the bound "ip:port".
  faults::Result<std::string> listen(const std::string& host, unsigned port);

  // Serves until stop() (or SIGINT/SIGTERM when handle_signals is set; then
  // SIGHUP calls on_hangup, on this thread).
  void run(bool handle_signals, std::function<void()> on_hangup = {});
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brownout::control
