#pragma once
// Which part of the network an IP address belongs to, for the download policy that refuses
// loopback, private and link-local destinations unless allowed (DECISIONS.md §21: server-side
// request forgery). The downloader checks the address it is about to connect to, after DNS
// resolution and on every redirect, so a public name that resolves to 127.0.0.1 is refused too.

#include <optional>
#include <string>
#include <string_view>

struct sockaddr;

namespace avtrain::service {

enum class AddressScope {
  global,       // public internet
  loopback,     // 127.0.0.0/8, ::1
  private_use,  // 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier-grade NAT), fc00::/7, fec0::/10
  link_local,   // 169.254/16 (cloud metadata services live here), fe80::/10
  unspecified,  // 0.0.0.0/8, :: (connecting to it reaches this machine)
  multicast,    // 224/4, ff00::/8, 255.255.255.255
  reserved,     // 240/4 and the documentation and benchmarking ranges
};

std::string_view to_string(AddressScope scope);

// IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) IPv6 addresses take the scope of the
// IPv4 address inside them. nullopt for an address family other than IPv4/IPv6.
std::optional<AddressScope> classify_address(const sockaddr& address);
// The same for a numeric address ("10.1.2.3", "fe80::1"); nullopt when `text` is not one.
std::optional<AddressScope> classify_address(std::string_view text);

// "10.1.2.3", "[fe80::1]".
std::string address_text(const sockaddr& address);

}  // namespace avtrain::service
