// The table of fault types: a type name maps to its attribute schema and its
// settings factory. Adding a fault type is one file plus one row in registry.cpp.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "faults/fault.hpp"

namespace brownout::faults {

const FaultType* find_type(std::string_view name);
std::span<const FaultType* const> all_types();
// Position of `type` in all_types().
std::size_t type_index(const FaultType& type);

// Resolves attributes against the type's schema (over `base` for a partial
// update) and builds the immutable settings.
struct Built {
  Values values;
  std::shared_ptr<const Fault> fault;
};
Result<Built> build(const FaultType& type, const std::map<std::string, Value>& given,
                    const Values* base = nullptr);

}  // namespace brownout::faults
