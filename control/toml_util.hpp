// Helpers for files read with toml++ (profiles and the drill's sections):
// positions as file:line:column, type names and "did you mean" messages.
#pragma once

#include <toml++/toml.h>

#include <string>
#include <string_view>
#include <vector>

#include "control/profile.hpp"

namespace brownout::control {

SourcePos pos_of(const toml::source_region& r, const std::string& fallback_file);
std::string type_name(const toml::node& n);  // "a string", "an integer", ...
std::string unknown_key_message(std::string_view what, std::string_view key,
                                const std::vector<std::string>& expected,
                                std::string_view context = {});

}  // namespace brownout::control
