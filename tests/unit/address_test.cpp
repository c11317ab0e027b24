// Unit tests for proxy/address.cpp: Go-compatible host:port handling.
#include "proxy/address.hpp"

#include <doctest/doctest.h>

#include <string>

using brownout::proxy::join_host_port;
using brownout::proxy::split_host_port;

TEST_CASE("split_host_port: IPv4 host and port") {
  const auto r = split_host_port("127.0.0.1:80");
  REQUIRE(r);
  CHECK(r.value->host == "127.0.0.1");
  CHECK(r.value->port == "80");
}

TEST_CASE("split_host_port: a name and port") {
  const auto r = split_host_port("localhost:26379");
  REQUIRE(r);
  CHECK(r.value->host == "localhost");
  CHECK(r.value->port == "26379");
}

TEST_CASE("split_host_port: bracketed IPv6 host loses its brackets") {
  const auto r = split_host_port("[::1]:80");
  REQUIRE(r);
  CHECK(r.value->host == "::1");
  CHECK(r.value->port == "80");

  const auto zoned = split_host_port("[fe80::1%eth0]:8080");
  REQUIRE(zoned);
  CHECK(zoned.value->host == "fe80::1%eth0");
  CHECK(zoned.value->port == "8080");
}

TEST_CASE("split_host_port: \":80\" means every interface") {
  const auto r = split_host_port(":80");
  REQUIRE(r);
  CHECK(r.value->host == "");
  CHECK(r.value->port == "80");
}

TEST_CASE("split_host_port: the empty address is any host, port 0") {
  const auto r = split_host_port("");
  REQUIRE(r);
  CHECK(r.value->host == "");
  CHECK(r.value->port == "0");
}

TEST_CASE("split_host_port: a missing port is refused with Go's text") {
  const auto r = split_host_port("localhost");
  CHECK_FALSE(r);
  CHECK(r.error.message == "address localhost: missing port in address");
  CHECK(r.error.attribute.empty());

  const auto v6 = split_host_port("[::1]");
  CHECK_FALSE(v6);
  CHECK(v6.error.message == "address [::1]: missing port in address");

  const auto v6_junk = split_host_port("[::1]80");
  CHECK_FALSE(v6_junk);
  CHECK(v6_junk.error.message == "address [::1]80: missing port in address");
}

TEST_CASE("split_host_port: other malformed addresses use Go's texts") {
  const auto unclosed = split_host_port("[::1:80");
  CHECK_FALSE(unclosed);
  CHECK(unclosed.error.message == "address [::1:80: missing ']' in address");

  const auto colons = split_host_port("::1:80");
  CHECK_FALSE(colons);
  CHECK(colons.error.message == "address ::1:80: too many colons in address");
}

TEST_CASE("join_host_port: IPv4 and names are joined plainly") {
  CHECK(join_host_port("127.0.0.1", 80) == "127.0.0.1:80");
  CHECK(join_host_port("localhost", 65535) == "localhost:65535");
  CHECK(join_host_port("", 8474) == ":8474");
  CHECK(join_host_port("0.0.0.0", 0) == "0.0.0.0:0");
}

TEST_CASE("join_host_port: IPv6 is bracketed") {
  CHECK(join_host_port("::1", 80) == "[::1]:80");
  CHECK(join_host_port("::", 26379) == "[::]:26379");
  CHECK(join_host_port("fe80::1%eth0", 443) == "[fe80::1%eth0]:443");
}

TEST_CASE("join_host_port and split_host_port round-trip") {
  for (const char* ip : {"127.0.0.1", "::1", "2001:db8::7", "example.com"}) {
    CAPTURE(ip);
    const auto r = split_host_port(join_host_port(ip, 1234));
    REQUIRE(r);
    CHECK(r.value->host == ip);
    CHECK(r.value->port == "1234");
  }
}

TEST_CASE("split_host_port: stray brackets are refused as Go refuses them") {
  for (const char* bad : {"a]b:80", "a[b:80", "[::1]:80]", "[::1]x:80"}) {
    CAPTURE(bad);
    auto r = split_host_port(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error.message.find(bad) != std::string::npos);
  }
  CHECK(split_host_port("a]b:80").error.message == "address a]b:80: unexpected ']' in address");
  CHECK(split_host_port("a[b:80").error.message == "address a[b:80: unexpected '[' in address");
}
