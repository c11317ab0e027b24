#include "control/json_text.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>

namespace brownout::control {

namespace json = boost::json;

// JSON text as Toxiproxy's Go encoder writes it: numbers in their shortest
// plain form (0.5, not Boost.JSON's 5E-1).
namespace {

void write_json(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::double_: {
      char buf[32];
      const double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";
        return;
      }
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, ec == std::errc() ? end : buf);
      return;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write_json(item, out);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string(k));
        out += ':';
        write_json(item, out);
      }
      out += '}';
      return;
    }
    default:
      out += json::serialize(v);
  }
}

}  // namespace

std::string dump(const json::value& v) {
  std::string out;
  write_json(v, out);
  return out;
}

}  // namespace brownout::control
