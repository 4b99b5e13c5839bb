#pragma once
// Hashes and encodings the service shares (libsodium): SHA-256 for API key identities, webhook
// signatures and upload part tags; base64url for JSON Web Keys; constant-time comparison for secrets.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace avtrain::service {

// Initializes libsodium once (thread-safe); throws core::InternalError when it cannot.
void ensure_sodium();

std::string sha256_hex(std::string_view bytes);  // 64 lower-case hex digits
std::string hex(std::span<const uint8_t> bytes);
// RFC 4648 §5 base64url without padding (JWK "x"); from_base64url fills `out` exactly or returns false.
std::string base64url(std::span<const uint8_t> bytes);
bool from_base64url(std::string_view text, std::span<uint8_t> out);

// Equal without a timing side channel on where they differ (libsodium's sodium_memcmp); sizes that
// differ are unequal at once (the size of a hash is not a secret).
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace avtrain::service
