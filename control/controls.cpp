#include "control/controls.hpp"

namespace brownout::control {

std::optional<std::string> resolve_controls(const FaultControls& c, faults::FaultInstance& out) {
  constexpr std::int64_t kMax = faults::AttrSpec::kDayMs * 365;
  const auto check = [](const char* name, std::int64_t v, std::int64_t max) {
    return v < 0 || v > max
               ? std::optional<std::string>(std::string(name) + " must be between 0 and " +
                                            std::to_string(max) + ", got " + std::to_string(v))
               : std::nullopt;
  };
  faults::Schedule s = out.schedule;
  if (c.after_ms) {
    if (auto e = check("after", *c.after_ms, kMax)) return e;
    s.after_ms = *c.after_ms;
  }
  if (c.for_ms) {
    if (auto e = check("for", *c.for_ms, kMax)) return e;
    s.for_ms = *c.for_ms;
  }
  if (c.count) {
    if (auto e = check("count", *c.count, std::int64_t{1} << 53)) return e;
    s.count = *c.count;
  }
  if (c.flap) {
    const auto [on, off] = *c.flap;
    if (auto e = check("flap.on", on, kMax)) return e;
    if (auto e = check("flap.off", off, kMax)) return e;
    if ((on == 0) != (off == 0)) return "flap needs both on and off (or neither)";
    s.flap_on_ms = on;
    s.flap_off_ms = off;
  }
  std::vector<faults::Cidr> blocks = out.clients;
  if (c.clients) {
    blocks.clear();
    for (const auto& text : *c.clients) {
      auto b = faults::parse_cidr(text);
      if (!b) return b.error.message;
      blocks.push_back(std::move(*b.value));
    }
  }
  out.schedule = s;
  out.clients = std::move(blocks);
  return std::nullopt;
}

FaultControls controls_of(const faults::FaultInstance& f) {
  FaultControls c;
  if (!f.clients.empty()) {
    c.clients.emplace();
    for (const auto& b : f.clients) c.clients->push_back(b.text);
  }
  if (f.schedule.after_ms) c.after_ms = f.schedule.after_ms;
  if (f.schedule.for_ms) c.for_ms = f.schedule.for_ms;
  if (f.schedule.count) c.count = f.schedule.count;
  if (f.schedule.flapping()) c.flap = std::pair{f.schedule.flap_on_ms, f.schedule.flap_off_ms};
  return c;
}

}  // namespace brownout::control
