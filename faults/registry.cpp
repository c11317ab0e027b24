#include "faults/registry.hpp"

#include <array>

namespace brownout::faults {

// One row per fault type; each is defined in its own file.
extern const FaultType noop_type;
extern const FaultType latency_type;
extern const FaultType bandwidth_type;
extern const FaultType slow_close_type;
extern const FaultType timeout_type;
extern const FaultType reset_peer_type;
extern const FaultType slicer_type;
extern const FaultType limit_data_type;
extern const FaultType connection_limit_type;
extern const FaultType accept_rate_type;
extern const FaultType blackhole_type;
extern const FaultType flaky_type;
extern const FaultType stall_type;
extern const FaultType corrupt_type;

namespace {
const std::array<const FaultType*, 14> kTypes = {
    &latency_type,          &bandwidth_type,   &slow_close_type,
    &timeout_type,          &reset_peer_type,  &slicer_type,
    &limit_data_type,       &noop_type,        &stall_type,
    &blackhole_type,        &flaky_type,       &corrupt_type,
    &connection_limit_type, &accept_rate_type,
};
}  // namespace

const FaultType* find_type(std::string_view name) {
  for (const FaultType* t : kTypes)
    if (t->name == name) return t;
  return nullptr;
}

std::span<const FaultType* const> all_types() {
  return kTypes;
}

std::size_t type_index(const FaultType& type) {
  for (std::size_t i = 0; i < kTypes.size(); ++i)
    if (kTypes[i] == &type) return i;
  return 0;
}

Result<Built> build(const FaultType& type, const std::map<std::string, Value>& given,
                    const Values* base) {
  auto values = resolve_attributes(type.attributes, given, base);
  if (!values) return Result<Built>::fail(values.error.message, values.error.attribute);
  auto fault = type.make(*values.value);
  if (!fault) return Result<Built>::fail(fault.error.message, fault.error.attribute);
  return Result<Built>::ok(Built{std::move(*values.value), std::move(*fault.value)});
}

}  // namespace brownout::faults
