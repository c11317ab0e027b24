#include "faults/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace brownout::faults {

Result<IpAddress> parse_ip(std::string_view text) {
  const std::string s(text);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1)
    return Result<IpAddress>::ok(IpAddress::v4(reinterpret_cast<const std::uint8_t*>(&v4.s_addr)));
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1)
    return Result<IpAddress>::ok(IpAddress::v6(v6.s6_addr));
  return Result<IpAddress>::fail("\"" + s + "\" is not an IP address");
}

Result<Cidr> parse_cidr(std::string_view text) {
  using R = Result<Cidr>;
  const auto slash = text.find('/');
  auto ip = parse_ip(text.substr(0, slash));
  if (!ip) return R::fail("clients: " + ip.error.message);
  const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  const int width = v4 ? 32 : 128;
  int prefix = width;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || prefix < 0 ||
        prefix > width)
      return R::fail("clients: \"" + std::string(text) + "\" has a bad prefix length (0.." +
                     std::to_string(width) + ")");
  }
  Cidr out;
  out.base = *ip.value;
  out.prefix = v4 ? 96 + prefix : prefix;
  out.text = std::string(text);
  // Keep only the network part, so "10.1.2.3/8" means 10.0.0.0/8.
  for (int bit = out.prefix; bit < 128; ++bit)
    out.base.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  return R::ok(std::move(out));
}

bool contains(const Cidr& block, const IpAddress& address) {
  if (!address.known) return false;
  int bits = block.prefix;
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xff : (0xff00u >> bits) & 0xff);
    if ((address.bytes[i] & mask) != (block.base.bytes[i] & mask)) return false;
  }
  return true;
}

bool client_matches(std::span<const Cidr> blocks, const IpAddress& address) {
  if (blocks.empty()) return true;
  for (const auto& b : blocks)
    if (contains(b, address)) return true;
  return false;
}

}  // namespace brownout::faults
