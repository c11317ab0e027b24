// The HTTP/1.1 codec of a link on a `protocol = "http"` proxy (Boost.Beast):
// reads each request, asks the HTTP faults what to do with it, forwards it,
// and relays (or replaces, delays, cuts, drops) the response. Bodies are
// streamed, never buffered whole. What Beast cannot follow (Upgrade,
// CONNECT) falls back to byte forwarding through the link's pumps.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "faults/chain.hpp"
#include "faults/rng.hpp"
#include "proxy/net.hpp"

namespace brownout::proxy {

// What the codec needs from its link (implemented by the engine's Link).
class HttpHost {
 public:
  virtual ~HttpHost() = default;
  virtual Socket& client() = 0;
  virtual Socket& upstream() = 0;
  virtual std::shared_ptr<const faults::ChainSet> current_faults() = 0;
  virtual faults::Rng& rng() = 0;
  virtual bool header_faults() const = 0;
  virtual const faults::IpAddress& client_ip() const = 0;  // for client-scoped faults
  // `trace`: the request's W3C trace id, when it carried a traceparent.
  virtual void http_event(std::string action, std::string fault, std::string detail,
                          std::string trace) = 0;
  // A database codec's event (type "postgres" or "redis").
  virtual void db_event(std::string protocol, std::string action, std::string fault,
                        std::string detail) = 0;
  // Counters: a request seen, a malformed one refused with 400, one a fault acted on.
  virtual void count_request(bool malformed, bool faulted) = 0;
  virtual void count_status(unsigned status) = 0;  // a response the client got
  virtual void count_bytes(bool upstream, std::size_t n) = 0;
  // Hands the connection to plain byte forwarding (after an Upgrade or a
  // CONNECT); the bytes already read are written first.
  virtual void fall_back_to_bytes(std::string client_pending, std::string upstream_pending) = 0;
  virtual void close_link(bool reset) = 0;
  virtual bool link_closed() const = 0;
};

Task<> run_http_session(std::shared_ptr<HttpHost> host);

}  // namespace brownout::proxy
