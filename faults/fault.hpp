// The fault interface. A fault type has two halves, as Envoy keeps them: an
// immutable Fault (settings parsed and validated once, shared by every link)
// and a small per-link FaultState. A fault is a pure transform of a Plan: it
// never sees a socket, a thread or a real clock.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "faults/attributes.hpp"
#include "faults/plan.hpp"
#include "faults/rng.hpp"

namespace brownout::faults {

struct FaultState {
  virtual ~FaultState() = default;
};

struct Context {
  TimePoint now;
  Rng& rng;
  std::vector<Piece>& scratch;  // reusable space for faults that split pieces
  // The fault's state shared by every link of its proxy (a proxy-wide
  // bandwidth budget), or nullptr; set by the chain runner for each hook.
  FaultState* shared = nullptr;
};

// What a connection-level fault decides for a new connection.
struct Admission {
  enum Kind : std::uint8_t {
    accept,        // go on: connect upstream
    refuse_close,  // close the client's connection at once (FIN)
    refuse_reset,  // abort it with a TCP RST
    hang,          // keep it open, never connect upstream, discard what it sends
    wait,          // ask again (retry = this admission) no later than `until`
  };
  Kind kind = accept;
  TimePoint until{};
  bool holds_slot = false;  // accept: call release() when the connection ends
};

using Gauges = std::vector<std::pair<std::string_view, std::int64_t>>;

class Fault {
 public:
  virtual ~Fault() = default;

  // Per-link state, or nullptr when the fault needs none.
  virtual std::unique_ptr<FaultState> make_state() const { return nullptr; }

  // The fault was attached to a live direction (connect, add, or update).
  virtual void on_attach(FaultState*, Context&, Plan&) const {}

  // A chunk arrived: `plan` holds the pieces so far (from earlier faults).
  virtual void on_data(FaultState*, Context&, Plan& plan) const = 0;

  // The source ended: `plan.end` holds a fin (or what earlier faults made of it).
  virtual void on_eof(FaultState*, Context&, Plan&) const {}

  // Whether removing this fault ends the links it was acting on (Toxiproxy's
  // timeout does: the bytes it dropped left the stream corrupt).
  virtual bool ends_link_on_removal() const { return false; }

  // How events name a link this fault ended (close or reset it decided).
  virtual const char* end_event() const { return "closed"; }

  // Whether attaching this fault means the link's bytes are withheld (an
  // event worth reporting: the link is now "held").
  virtual bool withholds_data() const { return false; }

  // State shared by every link of the proxy (kept across updates of the
  // fault), or nullptr when the fault needs none.
  virtual std::shared_ptr<FaultState> make_shared_state() const { return nullptr; }

  // Connection-level faults act when a connection arrives, whatever their
  // stream, instead of on its bytes.
  virtual bool connection_level() const { return false; }
  // `retry` is the previous admission when this connection waited.
  virtual Admission admit(FaultState* /*shared*/, TimePoint /*now*/,
                          const Admission* /*retry*/) const {
    return {};
  }
  // A connection admitted with holds_slot ended.
  virtual void release(FaultState* /*shared*/) const {}
  // A connection told to wait went away first (the client left, the proxy
  // closed): undo what admit() counted for it.
  virtual void abandon(FaultState* /*shared*/, const Admission& /*waiting*/) const {}
  // Named figures of the shared state for /metrics (active, queued, refused).
  virtual void gauges(const FaultState* /*shared*/, Gauges& /*out*/) const {}
};

// A connection-level fault: it acts when a connection arrives, never on
// bytes, with a `Shared` state for the whole proxy.
template <class Shared>
class ConnectionFault : public Fault {
 public:
  void on_data(FaultState*, Context&, Plan&) const override {}
  bool connection_level() const override { return true; }
  std::shared_ptr<FaultState> make_shared_state() const override {
    return std::make_shared<Shared>();
  }
};

struct FaultType {
  std::string_view name;
  std::string_view summary;
  std::span<const AttrSpec> attributes;
  // Builds settings from resolved, range-checked values; refuses impossible
  // combinations with an error naming the attribute.
  Result<std::shared_ptr<const Fault>> (*make)(const Values&);
};

// Helpers shared by fault files.
inline Duration millis(std::int64_t ms) {
  return std::chrono::milliseconds(ms);
}
inline Duration micros(std::int64_t us) {
  return std::chrono::microseconds(us);
}

}  // namespace brownout::faults
