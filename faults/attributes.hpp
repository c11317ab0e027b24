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

// A resolved attribute: an integer, a number or a chosen word.
using Attr = std::variant<std::int64_t, double, std::string>;

// integer: a whole number in `unit`; number: a real number in `unit` (a
// percentage); choice: one of the words in `choices` ("a|b|c"), the first
// being the default.
enum class AttrKind : std::uint8_t { integer, number, choice };

struct AttrSpec {
  std::string_view name;
  std::string_view unit;  // "ms", "us", "KB/s", "bytes", "%", "" for a choice
  std::int64_t default_value = 0;
  std::int64_t min = 0;  // values below are refused with a message naming the attribute
  std::string_view help;
  std::int64_t max = kDayMs;  // values above are refused too; keeps time arithmetic in range
  AttrKind kind = AttrKind::integer;
  std::string_view choices = {};
  // brownout's addition to a Toxiproxy type: shown by the API only when set
  // to something else than its default, so Toxiproxy clients see its toxics
  // exactly as Toxiproxy shows them.
  bool extension = false;

  static constexpr std::int64_t kDayMs = 86'400'000;

  // The words of a choice attribute.
  std::vector<std::string_view> words() const;
  // Whether `a` is this attribute's default.
  bool is_default(const Attr& a) const;
};

// Resolved attributes, in the order the type declares them.
struct Values {
  std::vector<std::pair<std::string, Attr>> items;

  std::int64_t get(std::string_view name) const;       // integers (numbers truncated)
  double number(std::string_view name) const;          // integers and numbers
  std::string_view text(std::string_view name) const;  // choices
  const Attr* find(std::string_view name) const;
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
