// Fault attributes: each fault type declares its attributes once (name, unit,
// default, lower bound); parsing, defaults, partial updates and range errors
// are handled here for every type, so a fault file only reads resolved values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace brownout::faults {

// A value as it arrived from a user (JSON, TOML or the command line), before
// the type's schema gives it meaning.
using Value = std::variant<std::int64_t, double, bool, std::string>;

struct AttrSpec {
  std::string_view name;
  std::string_view unit;  // "ms", "us", "KB/s", "bytes"
  std::int64_t default_value = 0;
  std::int64_t min = 0;  // values below are refused with a message naming the attribute
  std::string_view help;
  std::int64_t max = kDayMs;  // values above are refused too; keeps time arithmetic in range

  static constexpr std::int64_t kDayMs = 86'400'000;
};

// Resolved attributes, in the order the type declares them.
struct Values {
  std::vector<std::pair<std::string, std::int64_t>> items;

  std::int64_t get(std::string_view name) const;
  bool operator==(const Values&) const = default;
};

struct Error {
  std::string message;
  std::string attribute;  // empty when the error is not about one attribute
};

template <class T>
struct Result {
  std::optional<T> value;
  Error error;

  static Result ok(T v) { return Result{std::move(v), {}}; }
  static Result fail(std::string message, std::string attribute = {}) {
    return Result{std::nullopt, Error{std::move(message), std::move(attribute)}};
  }
  explicit operator bool() const { return value.has_value(); }
};

// Merges `given` over `base` (or the declared defaults when base is empty) and
// checks every value. Unknown keys are ignored, as Toxiproxy does.
Result<Values> resolve_attributes(std::span<const AttrSpec> specs,
                                  const std::map<std::string, Value>& given,
                                  const Values* base = nullptr);

}  // namespace brownout::faults
