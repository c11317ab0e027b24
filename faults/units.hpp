// Quantities with units as people write them ("300ms", "2s", "64KiB",
// "1MB/s"), converted to the integer unit an attribute is declared in
// ("ms", "us", "bytes", "KB/s"). Shared by the CLI and profiles.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "faults/attributes.hpp"

namespace brownout::faults {

// Converts `text` to `unit`. A bare number is taken as already in `unit`.
// Errors say which units are accepted.
Result<std::int64_t> parse_quantity(std::string_view text, std::string_view unit);

// The units accepted for a declared unit, for help texts and errors.
std::string accepted_units(std::string_view unit);

// A compact human form of a value in its declared unit: 300ms, 1.5s, 64KiB, 1MB/s.
std::string format_quantity(std::int64_t value, std::string_view unit);

}  // namespace brownout::faults
