#include "faults/units.hpp"

#include <doctest/doctest.h>

using brownout::faults::format_quantity;
using brownout::faults::parse_quantity;

namespace {
std::int64_t ok(std::string_view text, std::string_view unit) {
  auto r = parse_quantity(text, unit);
  REQUIRE_MESSAGE(r, r.error.message);
  return *r.value;
}
std::string err(std::string_view text, std::string_view unit) {
  auto r = parse_quantity(text, unit);
  REQUIRE_FALSE(r);
  return r.error.message;
}
}  // namespace

TEST_CASE("durations convert to the attribute's unit") {
  CHECK(ok("300ms", "ms") == 300);
  CHECK(ok("2s", "ms") == 2000);
  CHECK(ok("1.5s", "ms") == 1500);
  CHECK(ok("1m", "ms") == 60000);
  CHECK(ok("250", "ms") == 250);  // bare numbers are in the attribute's unit
  CHECK(ok("3ms", "us") == 3000);
  CHECK(ok("40us", "us") == 40);
  CHECK(ok(" 7ms ", "ms") == 7);
}

TEST_CASE("sizes and rates convert, decimal and binary") {
  CHECK(ok("64KiB", "bytes") == 65536);
  CHECK(ok("1MB", "bytes") == 1000000);
  CHECK(ok("10B", "bytes") == 10);
  CHECK(ok("1MB/s", "KB/s") == 1000);
  CHECK(ok("512KiB/s", "KB/s") == 524);  // rates round to the nearest KB/s
}

TEST_CASE("bad quantities name the accepted units") {
  const auto e = err("3parsecs", "ms");
  CHECK(e.find("3parsecs") != std::string::npos);
  CHECK(e.find("ms, s") != std::string::npos);
  CHECK(err("fast", "ms").find("not a quantity") != std::string::npos);
  CHECK(err("1.5ms", "ms").find("whole number") != std::string::npos);
  CHECK(err("1s", "bytes").find("unknown unit") != std::string::npos);
}

TEST_CASE("quantities format compactly") {
  CHECK(format_quantity(300, "ms") == "300ms");
  CHECK(format_quantity(1500, "ms") == "1.5s");
  CHECK(format_quantity(1024, "bytes") == "1KiB");
  CHECK(format_quantity(1500, "bytes") == "1.5KB");
  CHECK(format_quantity(65536, "bytes") == "64KiB");
  CHECK(format_quantity(1000, "KB/s") == "1MB/s");
  CHECK(format_quantity(0, "ms") == "0ms");
  CHECK(format_quantity(1024, "ms") == "1.024s");
}
