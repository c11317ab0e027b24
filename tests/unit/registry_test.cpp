// Unit tests for faults/registry.cpp: the type table and build().
#include "faults/registry.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "fault_fixture.hpp"

using namespace brownout::test;

namespace {

std::set<std::string> attribute_names(const FaultType& t) {
  std::set<std::string> out;
  for (const auto& a : t.attributes) out.insert(std::string(a.name));
  return out;
}

}  // namespace

TEST_CASE("registry: every Toxiproxy type is found by name") {
  for (const char* name : {"latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer",
                           "limit_data", "noop"}) {
    CAPTURE(name);
    const FaultType* t = find_type(name);
    REQUIRE(t != nullptr);
    CHECK(t->name == name);
    CHECK(static_cast<bool>(t->make));
    CHECK_FALSE(t->summary.empty());
  }
}

TEST_CASE("registry: unknown and differently-cased names are not found") {
  CHECK(find_type("") == nullptr);
  CHECK(find_type("down") == nullptr);
  CHECK(find_type("Latency") == nullptr);
  CHECK(find_type("latency ") == nullptr);
}

TEST_CASE("registry: all_types lists the fourteen types once each") {
  const auto all = all_types();
  REQUIRE(all.size() == 14);
  std::set<std::string> names;
  for (const FaultType* t : all) names.insert(std::string(t->name));
  CHECK(names == std::set<std::string>{"bandwidth", "latency", "limit_data", "noop", "reset_peer",
                                       "slicer", "slow_close", "timeout", "connection_limit",
                                       "accept_rate", "blackhole", "flaky", "stall", "corrupt"});
}

TEST_CASE("registry: each type declares Toxiproxy's attribute names") {
  // Toxiproxy's names, plus brownout's extensions (which default to Toxiproxy's behaviour).
  CHECK(attribute_names(type("latency")) ==
        std::set<std::string>{"latency", "jitter", "distribution", "correlation"});
  CHECK(attribute_names(type("bandwidth")) == std::set<std::string>{"rate", "scope"});
  CHECK(attribute_names(type("slow_close")) == std::set<std::string>{"delay"});
  CHECK(attribute_names(type("timeout")) == std::set<std::string>{"timeout"});
  CHECK(attribute_names(type("reset_peer")) == std::set<std::string>{"timeout"});
  CHECK(attribute_names(type("slicer")) ==
        std::set<std::string>{"average_size", "size_variation", "delay"});
  CHECK(attribute_names(type("limit_data")) == std::set<std::string>{"bytes"});
  CHECK(attribute_names(type("noop")).empty());
}

TEST_CASE("registry: types whose defaults are valid build with no attributes") {
  for (const char* name :
       {"latency", "slow_close", "timeout", "reset_peer", "limit_data", "noop"}) {
    CAPTURE(name);
    const auto b = build(type(name), {});
    REQUIRE(b);
    CHECK(b.value->fault != nullptr);
    for (const auto& [key, value] : b.value->values.items) {
      CAPTURE(key);
      // Toxiproxy: all attributes default to 0 (brownout's own choices default to
      // their first word, Toxiproxy's behaviour).
      if (const auto* i = std::get_if<std::int64_t>(&value)) CHECK(*i == 0);
    }
  }
}

TEST_CASE("registry: build returns the resolved values in declaration order") {
  const auto b = build(type("latency"), {{"jitter", I(20)}, {"latency", I(100)}});
  REQUIRE(b);
  REQUIRE(b.value->values.items.size() == 4);
  CHECK(b.value->values.items[0] == std::pair<std::string, Attr>{"latency", std::int64_t{100}});
  CHECK(b.value->values.items[1] == std::pair<std::string, Attr>{"jitter", std::int64_t{20}});
  CHECK(b.value->values.items[2] == std::pair<std::string, Attr>{"distribution", "uniform"});
  CHECK(b.value->values.items[3] == std::pair<std::string, Attr>{"correlation", 0.0});
}

TEST_CASE("registry: build over a base keeps the base's other values") {
  const auto first =
      build(type("slicer"), {{"average_size", I(10)}, {"size_variation", I(5)}, {"delay", I(100)}});
  REQUIRE(first);
  const auto second = build(type("slicer"), {{"delay", I(7)}}, &first.value->values);
  REQUIRE(second);
  CHECK(second.value->values.get("average_size") == 10);
  CHECK(second.value->values.get("size_variation") == 5);
  CHECK(second.value->values.get("delay") == 7);
}

TEST_CASE("registry: build errors name the attribute") {
  SUBCASE("slicer average_size 0") {
    const auto b = build(type("slicer"), {{"average_size", I(0)}});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "average_size");
    CHECK(b.error.message.find("average_size") != std::string::npos);
  }
  SUBCASE("slicer with default attributes (average_size defaults to 0)") {
    const auto b = build(type("slicer"), {});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "average_size");
  }
  SUBCASE("slicer size_variation equal to average_size") {
    const auto b = build(type("slicer"), {{"average_size", I(10)}, {"size_variation", I(10)}});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "size_variation");
    CHECK(b.error.message ==
          "attribute size_variation must be smaller than average_size (10 >= 10)");
  }
  SUBCASE("slicer size_variation above average_size") {
    const auto b = build(type("slicer"), {{"average_size", I(10)}, {"size_variation", I(11)}});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "size_variation");
  }
  SUBCASE("slicer size_variation just below average_size is fine") {
    const auto b = build(type("slicer"), {{"average_size", I(10)}, {"size_variation", I(9)}});
    CHECK(b);
  }
  SUBCASE("negative latency") {
    const auto b = build(type("latency"), {{"latency", I(-1)}});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "latency");
    CHECK(b.error.message == "attribute latency must be >= 0 (ms), got -1");
  }
  SUBCASE("negative jitter") {
    const auto b = build(type("latency"), {{"jitter", I(-3)}});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "jitter");
  }
  SUBCASE("bandwidth rate 0") {
    const auto b = build(type("bandwidth"), {{"rate", I(0)}});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "rate");
    CHECK(b.error.message.find("rate") != std::string::npos);
  }
  SUBCASE("bandwidth with default attributes (rate defaults to 0)") {
    const auto b = build(type("bandwidth"), {});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "rate");
  }
  SUBCASE("a non-integer attribute") {
    const auto b = build(type("limit_data"), {{"bytes", Value{1.5}}});
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "bytes");
  }
  SUBCASE("an invalid partial update over a valid base") {
    const auto first = build(type("slicer"), {{"average_size", I(10)}, {"size_variation", I(5)}});
    REQUIRE(first);
    const auto b = build(type("slicer"), {{"average_size", I(5)}}, &first.value->values);
    CHECK_FALSE(b);
    CHECK(b.error.attribute == "size_variation");
  }
}
