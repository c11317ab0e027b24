// Reading attributes from a neutral Tree, with the error texts every
// message-level fault uses (HTTP, database): defined in faults/http.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>

#include "faults/http.hpp"

namespace brownout::faults::http::detail {

using Err = std::optional<Error>;
inline constexpr std::int64_t kNoMaxValue = INT64_MAX;

Error error(std::string message, std::string_view attribute);
std::string describe(const Tree& t);
std::string lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool search(const std::regex& re, std::string_view text);
bool full_match(const std::regex& re, std::string_view text);
// A given, non-null entry of a map.
const Tree* given(const TreeMap& map, std::string_view key);
Err check_keys(const TreeMap& map, std::span<const std::string_view> known,
               std::span<const std::string_view> also, std::string_view what,
               std::string_view owner, std::string_view attribute);
Err read_int(const Tree& t, std::string_view shown, std::string_view attribute, std::int64_t min,
             std::int64_t max, std::int64_t& out);
Err read_quantity(const Tree& t, std::string_view shown, std::string_view attribute,
                  std::string_view unit, std::int64_t min, std::int64_t max, std::int64_t& out);
Err read_string(const Tree& t, std::string_view shown, std::string_view attribute,
                std::string& out);
Err read_nonempty(const Tree& t, std::string_view shown, std::string_view attribute,
                  std::string& out);
std::optional<std::regex> compile(const std::string& pattern, std::string& why);
std::optional<std::string> glob_to_regex(std::string_view glob);
Duration draw_delay(std::int64_t delay_ms, std::int64_t jitter_ms, Rng& rng);

}  // namespace brownout::faults::http::detail
