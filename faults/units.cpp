#include "faults/units.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <span>

namespace brownout::faults {

namespace {

struct Scale {
  std::string_view suffix;
  double factor;  // in the base unit of the family (ns, bytes, bytes/s)
};

constexpr Scale kDurations[] = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},  {"ms", 1e6},
                                {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
constexpr Scale kSizes[] = {
    {"B", 1},        {"KB", 1e3},        {"MB", 1e6},           {"GB", 1e9},
    {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"bytes", 1}};
constexpr Scale kRates[] = {
    {"B/s", 1},        {"KB/s", 1e3},        {"MB/s", 1e6},          {"GB/s", 1e9},
    {"KiB/s", 1024.0}, {"MiB/s", 1048576.0}, {"GiB/s", 1073741824.0}};

template <std::size_t N>
const Scale* find(const Scale (&table)[N], std::string_view suffix) {
  for (const auto& s : table)
    if (s.suffix == suffix) return &s;
  return nullptr;
}

// The family of a declared unit and the declared unit's size in the family's base.
struct Family {
  std::span<const Scale> table;
  double unit_factor;
};

std::optional<Family> family_of(std::string_view unit) {
  if (auto* s = find(kDurations, unit)) return Family{kDurations, s->factor};
  if (auto* s = find(kSizes, unit)) return Family{kSizes, s->factor};
  if (auto* s = find(kRates, unit)) return Family{kRates, s->factor};
  return std::nullopt;
}

}  // namespace

std::string accepted_units(std::string_view unit) {
  auto fam = family_of(unit);
  if (!fam) return std::string(unit);
  std::string out;
  for (const auto& s : fam->table) {
    if (s.suffix == "µs" || s.suffix == "bytes") continue;
    if (!out.empty()) out += ", ";
    out += s.suffix;
  }
  return out;
}

Result<std::int64_t> parse_quantity(std::string_view text, std::string_view unit) {
  using R = Result<std::int64_t>;
  const std::string shown(text);
  const auto bad = [&](std::string why) {
    return R::fail("'" + shown + "' " + why + " (a number with one of: " + accepted_units(unit) +
                   ")");
  };
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  const std::string number(text.substr(0, i));
  std::string_view suffix = text.substr(i);
  while (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);
  if (number.empty() || number == "-" || number == "+") return bad("is not a quantity");
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(value))
    return bad("is not a quantity");

  auto fam = family_of(unit);
  double factor = 1.0, unit_factor = 1.0;
  if (fam) {
    unit_factor = fam->unit_factor;
    factor = unit_factor;  // a bare number is in the declared unit
    if (!suffix.empty()) {
      const Scale* s = nullptr;
      for (const auto& cand : fam->table)
        if (cand.suffix == suffix) s = &cand;
      if (!s) return bad("has an unknown unit '" + std::string(suffix) + "'");
      factor = s->factor;
    }
  } else if (!suffix.empty()) {
    return bad("has an unknown unit '" + std::string(suffix) + "'");
  }
  const double converted = value * factor / unit_factor;
  const double rounded = std::round(converted);
  // Rates round to the nearest unit (512KiB/s is 524 KB/s); durations and
  // sizes must be whole, since a silent rounding there changes behaviour.
  const bool is_rate = unit.find("/s") != std::string_view::npos;
  if (!is_rate && std::fabs(converted - rounded) > 1e-6 * std::max(1.0, std::fabs(converted)))
    return bad("is not a whole number of " + std::string(unit));
  if (std::fabs(rounded) > 9e18) return bad("is too large");
  return R::ok(static_cast<std::int64_t>(rounded));
}

std::string format_quantity(std::int64_t value, std::string_view unit) {
  auto fam = family_of(unit);
  if (!fam) return std::to_string(value);
  const double base = static_cast<double>(value) * fam->unit_factor;
  // The largest unit that keeps the number >= 1: binary ones (KiB) when the
  // value is a multiple of 1024, as people write sizes, decimal ones otherwise.
  const auto whole = static_cast<std::int64_t>(base);
  const bool has_binary = std::any_of(fam->table.begin(), fam->table.end(), [](const Scale& s) {
    return s.suffix.find('i') != std::string_view::npos;
  });
  const bool prefer_binary = has_binary && whole != 0 && whole % 1024 == 0;
  const Scale* best = nullptr;
  for (const auto& s : fam->table) {
    if (s.suffix == "µs" || s.suffix == "bytes") continue;
    const bool binary = s.suffix.find('i') != std::string_view::npos;
    if (binary != prefer_binary && s.factor != 1) continue;
    if (std::fabs(base) >= s.factor && (!best || s.factor > best->factor)) best = &s;
  }
  if (!best || value == 0) return std::to_string(value) + std::string(unit == "bytes" ? "B" : unit);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g%.*s", base / best->factor,
                static_cast<int>(best->suffix.size()), best->suffix.data());
  return buf;
}

}  // namespace brownout::faults
