// The probe engine: runs each [[probe]] on a fixed schedule (an open model:
// a request starts at its planned time even when earlier ones are slow, up to
// max_in_flight; beyond it the sample is recorded as skipped, "saturated"),
// and records every answer as a sample. Latency counts from the planned
// start, so a slow phase is not under-sampled. Own thread; no Asio here.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "drill/model.hpp"
#include "drill/spec.hpp"

namespace brownout::drill {

class ProbeRunner {
 public:
  // Times are counted from `t0` (the drill's start). `seed` makes the trace
  // ids of HTTP probes (their traceparent headers) the same on a replay.
  ProbeRunner(std::vector<Probe> probes, std::chrono::steady_clock::time_point t0,
              std::uint64_t seed = 0);
  ~ProbeRunner();
  ProbeRunner(const ProbeRunner&) = delete;
  ProbeRunner& operator=(const ProbeRunner&) = delete;

  void start();
  // Stops planning new requests, waits (bounded by the probes' timeouts) for
  // those in flight, and stops the thread.
  void stop();
  // Every sample so far, in the order they finished.
  std::vector<Sample> samples() const;
  // Requests sent so far (the load the drill itself puts on the system).
  std::uint64_t sent() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Judges one answer against `expect` / `degraded` (pure; the engine calls it).
struct Answer {
  int status = 0;  // HTTP status, or an exec probe's exit code
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double latency = 0;
  std::optional<double> value;  // prometheus: what the page or the query gave
};
void classify(const Probe& p, const Answer& a, Sample& out);

// The W3C trace id (32 hex digits) of probe `probe`'s request `seq`, from the
// run's seed: a replay sends the same ones.
std::string trace_id(std::uint64_t seed, const std::string& probe, std::uint64_t seq);

}  // namespace brownout::drill
