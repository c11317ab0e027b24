#include "faults/attributes.hpp"

#include <algorithm>
#include <cmath>

namespace brownout::faults {

std::vector<std::string_view> AttrSpec::words() const {
  std::vector<std::string_view> out;
  std::string_view rest = choices;
  while (!rest.empty()) {
    const auto bar = rest.find('|');
    out.push_back(rest.substr(0, bar));
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 1);
  }
  return out;
}

bool AttrSpec::is_default(const Attr& a) const {
  switch (kind) {
    case AttrKind::choice: {
      const auto* w = std::get_if<std::string>(&a);
      return w && !words().empty() && *w == words().front();
    }
    case AttrKind::number: {
      const auto* d = std::get_if<double>(&a);
      return d && *d == static_cast<double>(default_value);
    }
    case AttrKind::integer:
      break;
  }
  const auto* i = std::get_if<std::int64_t>(&a);
  return i && *i == default_value;
}

const Attr* Values::find(std::string_view name) const {
  for (const auto& [key, value] : items)
    if (key == name) return &value;
  return nullptr;
}

std::int64_t Values::get(std::string_view name) const {
  const Attr* a = find(name);
  if (!a) return 0;
  if (const auto* i = std::get_if<std::int64_t>(a)) return *i;
  if (const auto* d = std::get_if<double>(a)) return static_cast<std::int64_t>(*d);
  return 0;
}

double Values::number(std::string_view name) const {
  const Attr* a = find(name);
  if (!a) return 0;
  if (const auto* i = std::get_if<std::int64_t>(a)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(a)) return *d;
  return 0;
}

std::string_view Values::text(std::string_view name) const {
  const Attr* a = find(name);
  if (const auto* s = a ? std::get_if<std::string>(a) : nullptr) return *s;
  return {};
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

namespace {

std::string range_text(const AttrSpec& spec, const char* op, std::int64_t bound) {
  return "attribute " + std::string(spec.name) + " must be " + op + " " + std::to_string(bound) +
         " (" + std::string(spec.unit) + "), got ";
}

// One given value checked against its spec.
Result<Attr> resolve_one(const AttrSpec& spec, const Value& v) {
  const std::string name(spec.name);
  if (spec.kind == AttrKind::choice) {
    const auto* s = std::get_if<std::string>(&v);
    const auto words = spec.words();
    if (s && std::find(words.begin(), words.end(), *s) != words.end()) return Result<Attr>::ok(*s);
    std::string list;
    for (auto w : words) list += (list.empty() ? "" : ", ") + std::string(w);
    return Result<Attr>::fail(
        "attribute " + name + " must be one of " + list + ", got " + describe(v), name);
  }
  if (spec.kind == AttrKind::number) {
    double d = 0;
    if (const auto* i = std::get_if<std::int64_t>(&v))
      d = static_cast<double>(*i);
    else if (const auto* x = std::get_if<double>(&v); x && std::isfinite(*x))
      d = *x;
    else
      return Result<Attr>::fail("attribute " + name + " must be a number (" +
                                    std::string(spec.unit) + "), got " + describe(v),
                                name);
    if (d < static_cast<double>(spec.min))
      return Result<Attr>::fail(range_text(spec, ">=", spec.min) + describe(v), name);
    if (d > static_cast<double>(spec.max))
      return Result<Attr>::fail(range_text(spec, "<=", spec.max) + describe(v), name);
    return Result<Attr>::ok(d);
  }
  std::int64_t value = 0;
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    value = *i;
  } else if (const auto* d = std::get_if<double>(&v);
             d && std::isfinite(*d) && std::floor(*d) == *d && std::fabs(*d) < 9.0e18) {
    value = static_cast<std::int64_t>(*d);
  } else {
    return Result<Attr>::fail("attribute " + name + " must be an integer (" +
                                  std::string(spec.unit) + "), got " + describe(v),
                              name);
  }
  if (value < spec.min)
    return Result<Attr>::fail(range_text(spec, ">=", spec.min) + std::to_string(value), name);
  if (value > spec.max)
    return Result<Attr>::fail(range_text(spec, "<=", spec.max) + std::to_string(value), name);
  return Result<Attr>::ok(value);
}

Attr default_of(const AttrSpec& spec) {
  switch (spec.kind) {
    case AttrKind::choice:
      return std::string(spec.words().empty() ? std::string_view{} : spec.words().front());
    case AttrKind::number:
      return static_cast<double>(spec.default_value);
    case AttrKind::integer:
      break;
  }
  return spec.default_value;
}

}  // namespace

Result<Values> resolve_attributes(std::span<const AttrSpec> specs,
                                  const std::map<std::string, Value>& given, const Values* base) {
  Values out;
  out.items.reserve(specs.size());
  for (const auto& spec : specs) {
    const Attr* old = base ? base->find(spec.name) : nullptr;
    // Defaults and kept values are checked too: a required attribute has an
    // out-of-range default.
    const Attr current = old ? *old : default_of(spec);
    auto it = given.find(std::string(spec.name));
    const Value v = it != given.end()
                        ? it->second
                        : std::visit([](const auto& x) -> Value { return x; }, current);
    auto r = resolve_one(spec, v);
    if (!r) return Result<Values>::fail(r.error.message, r.error.attribute);
    out.items.emplace_back(std::string(spec.name), std::move(*r.value));
  }
  return Result<Values>::ok(std::move(out));
}

}  // namespace brownout::faults
