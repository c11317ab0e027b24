#include "faults/attributes.hpp"

#include <cmath>

namespace brownout::faults {

std::int64_t Values::get(std::string_view name) const {
  for (const auto& [key, value] : items)
    if (key == name) return value;
  return 0;
}

namespace {

std::string describe(const Value& v) {
  struct {
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      std::string s = std::to_string(d);
      while (s.size() > 1 && s.back() == '0') s.pop_back();
      if (!s.empty() && s.back() == '.') s.pop_back();
      return s;
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
  } visitor;
  return std::visit(visitor, v);
}

}  // namespace

Result<Values> resolve_attributes(std::span<const AttrSpec> specs,
                                  const std::map<std::string, Value>& given, const Values* base) {
  Values out;
  out.items.reserve(specs.size());
  for (const auto& spec : specs) {
    std::int64_t value = base ? base->get(spec.name) : spec.default_value;
    if (auto it = given.find(std::string(spec.name)); it != given.end()) {
      const Value& v = it->second;
      if (const auto* i = std::get_if<std::int64_t>(&v)) {
        value = *i;
      } else if (const auto* d = std::get_if<double>(&v);
                 d && std::isfinite(*d) && std::floor(*d) == *d && std::fabs(*d) < 9.0e18) {
        value = static_cast<std::int64_t>(*d);
      } else {
        return Result<Values>::fail("attribute " + std::string(spec.name) +
                                        " must be an integer (" + std::string(spec.unit) +
                                        "), got " + describe(v),
                                    std::string(spec.name));
      }
    }
    if (value < spec.min) {
      return Result<Values>::fail("attribute " + std::string(spec.name) +
                                      " must be >= " + std::to_string(spec.min) + " (" +
                                      std::string(spec.unit) + "), got " + std::to_string(value),
                                  std::string(spec.name));
    }
    if (value > spec.max) {
      return Result<Values>::fail("attribute " + std::string(spec.name) +
                                      " must be <= " + std::to_string(spec.max) + " (" +
                                      std::string(spec.unit) + "), got " + std::to_string(value),
                                  std::string(spec.name));
    }
    out.items.emplace_back(std::string(spec.name), value);
  }
  return Result<Values>::ok(std::move(out));
}

}  // namespace brownout::faults
