#pragma once
// Webhook signatures as the hosted service makes them (DECISIONS.md §36, docs/api.md "Verifying
// webhooks"): Ed25519 over the four lines
//   request_id \n user_id \n timestamp \n sha256-hex(raw body)
// sent as X-Fal-Webhook-Request-Id, -User-Id, -Timestamp (Unix seconds) and -Signature (hex); receivers
// take the public keys from GET /.well-known/jwks.json (OKP, Ed25519, base64url "x") and refuse
// timestamps more than 300 s off.
//
// The server's keys live in one file in its data folder (webhook_keys.json, mode 0600), made on first
// start. `avtrain webhook-keys rotate` makes a new signing key; the old key's secret is deleted and its
// public key stays published for a grace period, so receivers that cached the set keep verifying
// webhooks signed just before the rotation. A running server picks up a rotation at its next signature
// or JWKS answer (the file's modification time is watched).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace avtrain::service {

inline constexpr const char* kWebhookKeysFileName = "webhook_keys.json";
// How long a retired key stays in the JWKS unless the operator says otherwise.
inline constexpr std::chrono::hours kDefaultKeyGrace{24 * 7};

// One key of the set: the signing key holds its seed, retired keys only their public half.
struct WebhookKey {
  std::string kid;         // 16 hex digits of the SHA-256 of the public key
  std::string public_key;  // 32 bytes, base64url
  std::string seed;        // 32 bytes, base64url; empty once retired
  int64_t created_ms = 0;
  int64_t retired_ms = 0;          // 0 while signing
  int64_t published_until_ms = 0;  // retired keys: JWKS lists them until then
};

// The four header lines of a signed webhook, "Name: value" each.
std::vector<std::string> signed_webhook_headers(const WebhookKey& key, std::string_view request_id,
                                                std::string_view user_id, int64_t unix_seconds,
                                                std::string_view body);

class WebhookSigner {
 public:
  // Reads `keys_file`, creating it (mode 0600) with a new key when it does not exist. Throws
  // core::InternalError naming the file when it cannot be read, written or parsed.
  explicit WebhookSigner(std::filesystem::path keys_file);

  // The headers that sign `body` now, for one delivery attempt.
  std::vector<std::string> headers(std::string_view request_id, std::string_view user_id,
                                   std::string_view body);
  // {"keys": [the signing key and the retired keys still in their grace period]}.
  nlohmann::ordered_json jwks();

 private:
  void reload_if_changed();  // caller holds mutex_

  std::filesystem::path file_;
  std::mutex mutex_;
  std::filesystem::file_time_type loaded_time_{};
  std::vector<WebhookKey> keys_;
};

// Makes a new signing key in `keys_file` (created when missing); the previous one is retired and stays
// published for `grace`. Returns the new key's kid.
std::string rotate_webhook_key(const std::filesystem::path& keys_file, std::chrono::seconds grace);
// Every key in the file, newest first (for `avtrain webhook-keys list`).
std::vector<WebhookKey> read_webhook_keys(const std::filesystem::path& keys_file);

}  // namespace avtrain::service
