// Unit tests for faults/cidr.cpp: client scoping by CIDR blocks.
#include "faults/cidr.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace brownout::faults;

namespace {

IpAddress ip(std::string_view text) {
  auto r = parse_ip(text);
  REQUIRE_MESSAGE(r, r.error.message);
  return *r.value;
}

Cidr cidr(std::string_view text) {
  auto r = parse_cidr(text);
  REQUIRE_MESSAGE(r, r.error.message);
  return *r.value;
}

bool in(std::string_view block, std::string_view address) {
  return contains(cidr(block), ip(address));
}

}  // namespace

TEST_CASE("cidr: parse_ip keeps IPv4 as IPv4-mapped IPv6") {
  const auto v4 = ip("127.0.0.2");
  CHECK(v4.known);
  const std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2};
  CHECK(v4.bytes == mapped);
  CHECK(ip("::ffff:127.0.0.2") == v4);
  const auto v6 = ip("::1");
  CHECK(v6.known);
  CHECK(v6.bytes[15] == 1);
  CHECK(v6 != v4);
  CHECK_FALSE(parse_ip("abc"));
  CHECK_FALSE(parse_ip(""));
  CHECK_FALSE(parse_ip("1.2.3.256"));
  CHECK(parse_ip("nope").error.message.find("nope") != std::string::npos);
}

TEST_CASE("cidr: an IPv4 block contains its addresses and no others") {
  CHECK(in("10.0.0.0/8", "10.1.2.3"));
  CHECK(in("10.0.0.0/8", "10.0.0.0"));
  CHECK(in("10.0.0.0/8", "10.255.255.255"));
  CHECK_FALSE(in("10.0.0.0/8", "11.0.0.1"));
  CHECK_FALSE(in("10.0.0.0/8", "9.255.255.255"));
  // A prefix that does not fall on a byte boundary.
  CHECK(in("192.168.4.0/22", "192.168.7.255"));
  CHECK_FALSE(in("192.168.4.0/22", "192.168.8.0"));
  CHECK_FALSE(in("192.168.4.0/22", "192.168.3.255"));
  CHECK(in("172.16.0.0/12", "172.31.1.1"));
  CHECK_FALSE(in("172.16.0.0/12", "172.32.0.0"));
}

TEST_CASE("cidr: an address without a prefix matches only itself") {
  const auto one = cidr("127.0.0.2");
  CHECK(one.prefix == 128);  // 96 bits of IPv4-mapped prefix + 32
  CHECK(contains(one, ip("127.0.0.2")));
  CHECK_FALSE(contains(one, ip("127.0.0.1")));
  CHECK_FALSE(contains(one, ip("127.0.0.3")));
  CHECK(one.text == "127.0.0.2");
}

TEST_CASE("cidr: IPv6 blocks") {
  const auto lo = cidr("::1/128");
  CHECK(lo.prefix == 128);
  CHECK(contains(lo, ip("::1")));
  CHECK_FALSE(contains(lo, ip("::2")));
  CHECK(in("2001:db8::/32", "2001:db8:1234::1"));
  CHECK_FALSE(in("2001:db8::/32", "2001:db9::1"));
  CHECK(in("fe80::/10", "febf::1"));
  CHECK_FALSE(in("fe80::/10", "fec0::1"));
  // ::/0 contains every address, IPv4 ones too (they are mapped into IPv6).
  CHECK(in("::/0", "::1"));
  CHECK(in("::/0", "8.8.8.8"));
}

TEST_CASE("cidr: IPv4 blocks match IPv4-mapped IPv6 clients (dual-stack listeners)") {
  CHECK(in("127.0.0.2", "::ffff:127.0.0.2"));
  CHECK(in("10.0.0.0/8", "::ffff:10.9.8.7"));
  CHECK_FALSE(in("10.0.0.0/8", "::ffff:11.0.0.1"));
  // 0.0.0.0/0 is every IPv4 client, not every client.
  CHECK(in("0.0.0.0/0", "1.2.3.4"));
  CHECK_FALSE(in("0.0.0.0/0", "::1"));
  // An IPv4-compatible (not mapped) IPv6 address is not the IPv4 one.
  CHECK_FALSE(in("10.0.0.0/8", "::10.0.0.1"));
}

TEST_CASE("cidr: the host part of a block is cleared; the text is kept as written") {
  const auto b = cidr("10.1.2.3/8");
  CHECK(b.base == ip("10.0.0.0"));
  CHECK(b.prefix == 96 + 8);
  CHECK(b.text == "10.1.2.3/8");
  CHECK(contains(b, ip("10.200.0.1")));
  CHECK_FALSE(contains(b, ip("11.1.2.3")));
  CHECK(cidr("2001:db8::ffff/32").base == ip("2001:db8::"));
  CHECK(cidr("192.168.7.9/22").base == ip("192.168.4.0"));
}

TEST_CASE("cidr: bad blocks are refused with a message") {
  for (const char* bad : {"10.0.0.0/33", "abc", "1.2.3.4/", "::1/129", "10.0.0.0/-1", "10.0.0.0/8x",
                          "10.0.0.0/ 8", "/8", "", "10.0.0/8", "1.2.3.4/+8"}) {
    CAPTURE(bad);
    const auto r = parse_cidr(bad);
    CHECK_FALSE(r);
    CHECK_FALSE(r.error.message.empty());
    CHECK(r.error.message.find("clients") != std::string::npos);
  }
  // The prefix's bound depends on the family.
  CHECK(parse_cidr("10.0.0.0/32"));
  CHECK(parse_cidr("::/128"));
  CHECK(parse_cidr("10.0.0.0/0"));
  CHECK(parse_cidr("10.0.0.0/33").error.message.find("0..32") != std::string::npos);
  CHECK(parse_cidr("::1/129").error.message.find("0..128") != std::string::npos);
}

TEST_CASE("cidr: client_matches: an empty list matches everyone, an unknown peer no block") {
  const std::vector<Cidr> none;
  CHECK(client_matches(none, ip("1.2.3.4")));
  CHECK(client_matches(none, IpAddress{}));  // unscoped: even an unknown peer

  const std::vector<Cidr> blocks{cidr("10.0.0.0/8"), cidr("::1/128")};
  CHECK(client_matches(blocks, ip("10.1.1.1")));
  CHECK(client_matches(blocks, ip("::1")));
  CHECK_FALSE(client_matches(blocks, ip("192.168.0.1")));
  CHECK_FALSE(client_matches(blocks, IpAddress{}));
  // Not even a block that contains everything matches an unknown peer.
  const std::vector<Cidr> all{cidr("::/0")};
  CHECK_FALSE(client_matches(all, IpAddress{}));
  CHECK_FALSE(contains(cidr("::/0"), IpAddress{}));
}
