// Unit tests for faults/attributes.cpp: defaults, partial updates, unknown
// keys, integer coercion and range checks.
#include "faults/attributes.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <string>

using namespace brownout::faults;

namespace {

const std::array<AttrSpec, 3> kSpecs{{
    {"latency", "ms", 5, 0, "delay"},
    {"jitter", "ms", 0, 0, "spread"},
    {"rate", "KB/s", 7, 1, "throughput"},
}};

Value I(std::int64_t v) {
  return Value{v};
}

}  // namespace

TEST_CASE("resolve_attributes: no given values yields the declared defaults in order") {
  const auto r = resolve_attributes(kSpecs, {});
  REQUIRE(r);
  REQUIRE(r.value->items.size() == 3);
  CHECK(r.value->items[0].first == "latency");
  CHECK(std::get<std::int64_t>(r.value->items[0].second) == 5);
  CHECK(r.value->items[1].first == "jitter");
  CHECK(std::get<std::int64_t>(r.value->items[1].second) == 0);
  CHECK(r.value->items[2].first == "rate");
  CHECK(std::get<std::int64_t>(r.value->items[2].second) == 7);
  CHECK(r.error.message.empty());
}

TEST_CASE("resolve_attributes: given values override the defaults") {
  const auto r = resolve_attributes(kSpecs, {{"latency", I(100)}, {"rate", I(3)}});
  REQUIRE(r);
  CHECK(r.value->get("latency") == 100);
  CHECK(r.value->get("jitter") == 0);
  CHECK(r.value->get("rate") == 3);
}

TEST_CASE("resolve_attributes: a partial update merges over the base, not the defaults") {
  Values base;
  base.items = {{"latency", 200}, {"jitter", 30}, {"rate", 50}};
  const auto r = resolve_attributes(kSpecs, {{"jitter", I(10)}}, &base);
  REQUIRE(r);
  CHECK(r.value->get("latency") == 200);  // kept from base, not the default 5
  CHECK(r.value->get("jitter") == 10);    // updated
  CHECK(r.value->get("rate") == 50);      // kept from base, not the default 7
  // The base itself is untouched.
  CHECK(base.get("jitter") == 30);
}

TEST_CASE("resolve_attributes: an empty update over a base returns the base") {
  Values base;
  base.items = {{"latency", 1}, {"jitter", 2}, {"rate", 3}};
  const auto r = resolve_attributes(kSpecs, {}, &base);
  REQUIRE(r);
  CHECK(*r.value == base);
}

TEST_CASE("resolve_attributes: unknown keys are ignored") {
  const auto r = resolve_attributes(
      kSpecs, {{"bogus", Value{std::string("x")}}, {"Latency", I(-5)}, {"latency", I(9)}});
  REQUIRE(r);
  REQUIRE(r.value->items.size() == 3);
  CHECK(r.value->get("latency") == 9);
  CHECK(r.value->get("bogus") == 0);
}

TEST_CASE("resolve_attributes: a double holding an integral value is accepted") {
  const auto r = resolve_attributes(kSpecs, {{"latency", Value{250.0}}, {"jitter", Value{-0.0}}});
  REQUIRE(r);
  CHECK(r.value->get("latency") == 250);
  CHECK(r.value->get("jitter") == 0);
}

TEST_CASE("resolve_attributes: a fractional double is refused with the attribute named") {
  const auto r = resolve_attributes(kSpecs, {{"jitter", Value{1.5}}});
  CHECK_FALSE(r);
  CHECK_FALSE(r.value.has_value());
  CHECK(r.error.attribute == "jitter");
  CHECK(r.error.message == "attribute jitter must be an integer (ms), got 1.5");
}

TEST_CASE("resolve_attributes: a string is refused with the attribute named") {
  const auto r = resolve_attributes(kSpecs, {{"rate", Value{std::string("x")}}});
  CHECK_FALSE(r);
  CHECK(r.error.attribute == "rate");
  CHECK(r.error.message == "attribute rate must be an integer (KB/s), got \"x\"");
}

TEST_CASE("resolve_attributes: a bool and non-finite doubles are refused") {
  SUBCASE("bool") {
    const auto r = resolve_attributes(kSpecs, {{"latency", Value{true}}});
    CHECK_FALSE(r);
    CHECK(r.error.attribute == "latency");
    CHECK(r.error.message == "attribute latency must be an integer (ms), got true");
  }
  SUBCASE("infinity") {
    const auto r =
        resolve_attributes(kSpecs, {{"latency", Value{std::numeric_limits<double>::infinity()}}});
    CHECK_FALSE(r);
    CHECK(r.error.attribute == "latency");
  }
  SUBCASE("too large for int64") {
    const auto r = resolve_attributes(kSpecs, {{"latency", Value{1e19}}});
    CHECK_FALSE(r);
    CHECK(r.error.attribute == "latency");
  }
}

TEST_CASE("resolve_attributes: values below the lower bound are refused with the attribute named") {
  SUBCASE("negative where min is 0") {
    const auto r = resolve_attributes(kSpecs, {{"latency", I(-1)}});
    CHECK_FALSE(r);
    CHECK(r.error.attribute == "latency");
    CHECK(r.error.message == "attribute latency must be >= 0 (ms), got -1");
  }
  SUBCASE("zero where min is 1") {
    const auto r = resolve_attributes(kSpecs, {{"rate", I(0)}});
    CHECK_FALSE(r);
    CHECK(r.error.attribute == "rate");
    CHECK(r.error.message == "attribute rate must be >= 1 (KB/s), got 0");
  }
  SUBCASE("the bound itself is accepted") {
    const auto r = resolve_attributes(kSpecs, {{"rate", I(1)}, {"latency", I(0)}});
    REQUIRE(r);
    CHECK(r.value->get("rate") == 1);
    CHECK(r.value->get("latency") == 0);
  }
  SUBCASE("a default below the bound is refused too") {
    const std::array<AttrSpec, 1> specs{{{"rate", "KB/s", 0, 1, "must be positive"}}};
    const auto r = resolve_attributes(specs, {});
    CHECK_FALSE(r);
    CHECK(r.error.attribute == "rate");
  }
}

TEST_CASE("Values::get returns 0 for a missing name") {
  Values v;
  v.items = {{"a", 4}};
  CHECK(v.get("a") == 4);
  CHECK(v.get("b") == 0);
}

TEST_CASE("resolve_attributes: a partial update is range-checked too") {
  Values base;
  base.items = {{"latency", 200}, {"jitter", 30}, {"rate", 50}};
  const auto r = resolve_attributes(kSpecs, {{"rate", I(0)}}, &base);
  CHECK_FALSE(r);
  CHECK(r.error.attribute == "rate");
  CHECK(r.error.message == "attribute rate must be >= 1 (KB/s), got 0");
  const auto neg = resolve_attributes(kSpecs, {{"jitter", I(-10)}}, &base);
  CHECK_FALSE(neg);
  CHECK(neg.error.attribute == "jitter");
}
