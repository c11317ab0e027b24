// Client scoping: a fault may act only on connections from some addresses,
// given as CIDR blocks ("10.0.0.0/8", "127.0.0.2", "::1/128"). IPv4 is kept
// as IPv4-mapped IPv6, so a dual-stack listener's clients match IPv4 blocks.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "faults/attributes.hpp"

namespace brownout::faults {

struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool known = false;  // false: the peer's address is not known (matches no block)
  bool operator==(const IpAddress&) const = default;

  // From network-order bytes: 4 (kept IPv4-mapped) or 16.
  static IpAddress v4(const std::uint8_t* b) {
    IpAddress a;
    a.bytes[10] = a.bytes[11] = 0xff;
    for (int i = 0; i < 4; ++i) a.bytes[12 + i] = b[i];
    a.known = true;
    return a;
  }
  static IpAddress v6(const std::uint8_t* b) {
    IpAddress a;
    for (int i = 0; i < 16; ++i) a.bytes[i] = b[i];
    a.known = true;
    return a;
  }
};

struct Cidr {
  IpAddress base;
  int prefix = 128;  // bits of `base` that must match, counted over the 16 bytes
  std::string text;  // as the user wrote it, for listings
  bool operator==(const Cidr&) const = default;
};

Result<IpAddress> parse_ip(std::string_view text);
Result<Cidr> parse_cidr(std::string_view text);
bool contains(const Cidr& block, const IpAddress& address);
// An empty list scopes nothing: every client matches.
bool client_matches(std::span<const Cidr> blocks, const IpAddress& address);

}  // namespace brownout::faults
