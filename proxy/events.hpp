// Fault decisions that matter, as the data plane reports them (a link reset,
// cut, held, an upstream refused). The control plane implements the sink
// (a bounded ring plus an optional JSON-lines file); calls come from worker
// threads, rarely: never per chunk.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace brownout::proxy {

struct Event {
  std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
  std::string proxy;
  std::uint64_t link = 0;  // 0: not about one connection
  std::string fault;       // fault name, when a fault decided it
  std::string type;        // fault type
  std::string action;      // reset, cut, timed_out, closed, held, upstream_unreachable, ...
  std::string detail;
  // How many times a fault acted (links, refused connections or requests),
  // on the events that end its life: fault_removed, fault_expired.
  std::optional<std::uint64_t> acted;
  // The W3C trace id (32 hex digits) of the request an HTTP fault acted on,
  // when the request carried a `traceparent` header.
  std::string trace;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void emit(Event event) = 0;
};

}  // namespace brownout::proxy
