#include "service/network_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace avtrain::service {
namespace {

AddressScope classify_ipv4(uint32_t address) {  // host byte order
  const auto in = [address](uint32_t network, int prefix) {
    const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    return (address & mask) == network;
  };
  if (in(0x7F000000, 8)) return AddressScope::loopback;
  if (in(0x00000000, 8)) return AddressScope::unspecified;
  if (in(0x0A000000, 8) || in(0xAC100000, 12) || in(0xC0A80000, 16) || in(0x64400000, 10)) {
    return AddressScope::private_use;
  }
  if (in(0xA9FE0000, 16)) return AddressScope::link_local;
  if (address == 0xFFFFFFFF || in(0xE0000000, 4)) return AddressScope::multicast;
  // 240/4 (future use), 192.0.0/24 (protocol assignments), 192.0.2/24, 198.51.100/24, 203.0.113/24
  // (documentation), 198.18/15 (benchmarking).
  if (in(0xF0000000, 4) || in(0xC0000000, 24) || in(0xC0000200, 24) || in(0xC6336400, 24) ||
      in(0xCB007100, 24) || in(0xC6120000, 15)) {
    return AddressScope::reserved;
  }
  return AddressScope::global;
}

AddressScope classify_ipv6(const std::array<uint8_t, 16>& bytes) {
  const auto embedded_ipv4 = [&bytes] {
    return uint32_t{bytes[12]} << 24 | uint32_t{bytes[13]} << 16 | uint32_t{bytes[14]} << 8 | bytes[15];
  };
  const auto starts_with = [&bytes](std::initializer_list<uint8_t> prefix) {
    return std::equal(prefix.begin(), prefix.end(), bytes.begin());
  };
  static constexpr std::array<uint8_t, 16> kZero{};
  std::array<uint8_t, 16> loopback{};
  loopback[15] = 1;
  if (bytes == kZero) return AddressScope::unspecified;
  if (bytes == loopback) return AddressScope::loopback;
  if (starts_with({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}))
    return classify_ipv4(embedded_ipv4());  // mapped
  if (starts_with({0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0}))
    return classify_ipv4(embedded_ipv4());                                               // NAT64
  if (starts_with({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})) return AddressScope::reserved;  // IPv4-compatible
  if ((bytes[0] & 0xFE) == 0xFC) return AddressScope::private_use;                       // fc00::/7
  if (bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80) return AddressScope::link_local;    // fe80::/10
  if (bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0xC0) return AddressScope::private_use;   // fec0::/10
  if (bytes[0] == 0xFF) return AddressScope::multicast;
  if (starts_with({0x20, 0x01, 0x0D, 0xB8})) return AddressScope::reserved;  // documentation
  return AddressScope::global;
}

}  // namespace

std::string_view to_string(AddressScope scope) {
  switch (scope) {
    case AddressScope::global:
      return "public";
    case AddressScope::loopback:
      return "loopback";
    case AddressScope::private_use:
      return "private";
    case AddressScope::link_local:
      return "link-local";
    case AddressScope::unspecified:
      return "unspecified";
    case AddressScope::multicast:
      return "multicast";
    case AddressScope::reserved:
      return "reserved";
  }
  return "unknown";
}

std::optional<AddressScope> classify_address(const sockaddr& address) {
  if (address.sa_family == AF_INET) {
    sockaddr_in ipv4;
    std::memcpy(&ipv4, &address, sizeof ipv4);
    return classify_ipv4(ntohl(ipv4.sin_addr.s_addr));
  }
  if (address.sa_family == AF_INET6) {
    sockaddr_in6 ipv6;
    std::memcpy(&ipv6, &address, sizeof ipv6);
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), ipv6.sin6_addr.s6_addr, 16);
    return classify_ipv6(bytes);
  }
  return std::nullopt;
}

std::optional<AddressScope> classify_address(std::string_view text) {
  const std::string address(text);
  in_addr ipv4;
  if (inet_pton(AF_INET, address.c_str(), &ipv4) == 1) return classify_ipv4(ntohl(ipv4.s_addr));
  in6_addr ipv6;
  if (inet_pton(AF_INET6, address.c_str(), &ipv6) == 1) {
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), ipv6.s6_addr, 16);
    return classify_ipv6(bytes);
  }
  return std::nullopt;
}

std::string address_text(const sockaddr& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (address.sa_family == AF_INET) {
    sockaddr_in ipv4;
    std::memcpy(&ipv4, &address, sizeof ipv4);
    inet_ntop(AF_INET, &ipv4.sin_addr, buffer, sizeof buffer);
    return buffer;
  }
  if (address.sa_family == AF_INET6) {
    sockaddr_in6 ipv6;
    std::memcpy(&ipv6, &address, sizeof ipv6);
    inet_ntop(AF_INET6, &ipv6.sin6_addr, buffer, sizeof buffer);
    return "[" + std::string(buffer) + "]";
  }
  return "(address family " + std::to_string(address.sa_family) + ")";
}

}  // namespace avtrain::service
