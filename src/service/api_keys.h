#pragma once
// The server's API keys (--api-keys FILE): one key per line; blank lines and lines starting with '#'
// are skipped. A job, an upload and a webhook's user id belong to the key's identity, "key-" and the
// SHA-256 of the key in hex: stable across restarts and servers, and not the key itself, so the store
// holds no secret and the identity can be shown. A presented key is compared in constant time.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace avtrain::service {

// "key-<64 hex digits>".
std::string key_identity(std::string_view key);
// The identity the first wave stored ("key-" and a 64-bit FNV-1a hash), kept only so that a store
// written then can be given to the new identities (JobStore::rename_owner).
std::string legacy_key_identity(std::string_view key);

class ApiKeys {
 public:
  // Reads `path`; throws core::InvalidInput naming the file when it cannot be read or holds no key.
  static ApiKeys read(const std::filesystem::path& path);
  static ApiKeys none() { return ApiKeys(); }

  bool empty() const { return keys_.empty(); }
  // The identity of the key `presented`, or nullopt when it is none of them. Every known key is
  // compared, each in constant time, so the time taken says nothing about which one matched or how much.
  std::optional<std::string> identify(std::string_view presented) const;
  // (legacy identity, identity) of every key, for migrating a store.
  std::vector<std::pair<std::string, std::string>> legacy_identities() const;

 private:
  struct Key {
    std::string digest;  // SHA-256 of the key, hex
    std::string identity;
    std::string legacy_identity;
  };
  std::vector<Key> keys_;
};

}  // namespace avtrain::service
