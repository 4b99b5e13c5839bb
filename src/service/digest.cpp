#include "service/digest.h"

#include <sodium.h>

#include <mutex>
#include <vector>

#include "core/error.h"

namespace avtrain::service {

void ensure_sodium() {
  static std::once_flag once;
  static int status = 0;
  std::call_once(once, [] { status = sodium_init(); });
  if (status < 0) throw core::InternalError("libsodium could not be initialized (sodium_init failed)");
}

std::string sha256_hex(std::string_view bytes) {
  ensure_sodium();
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return hex(digest);
}

std::string hex(std::span<const uint8_t> bytes) {
  std::string text(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(text.data(), text.size(), bytes.data(), bytes.size());
  text.pop_back();  // the terminating NUL
  return text;
}

std::string base64url(std::span<const uint8_t> bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string text(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(text.data(), text.size(), bytes.data(), bytes.size(), kVariant);
  text.resize(text.find('\0'));
  return text;
}

bool from_base64url(std::string_view text, std::span<uint8_t> out) {
  size_t decoded = 0;
  const char* end = nullptr;
  const int status = sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &decoded,
                                       &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return status == 0 && decoded == out.size() && end == text.data() + text.size();
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  ensure_sodium();
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace avtrain::service
