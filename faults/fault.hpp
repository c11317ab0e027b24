// The fault interface. A fault type has two halves, as Envoy keeps them: an
// immutable Fault (settings parsed and validated once, shared by every link)
// and a small per-link FaultState. A fault is a pure transform of a Plan: it
// never sees a socket, a thread or a real clock.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "faults/attributes.hpp"
#include "faults/plan.hpp"
#include "faults/rng.hpp"

namespace brownout::faults {

struct Context {
  TimePoint now;
  Rng& rng;
  std::vector<Piece>& scratch;  // reusable space for faults that split pieces
};

struct FaultState {
  virtual ~FaultState() = default;
};

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
