#pragma once
// The server's API keys (--api-keys FILE), reloaded on SIGHUP. One key per line, optionally followed by
// its limits; blank lines and lines starting with '#' are skipped (docs/api.md "Keys"):
//
//   team-key-1
//   partner-key  max_concurrent_jobs=1 max_queued_jobs=5
//
// A job, an upload and a webhook's user id belong to the key's identity, "key-" and the SHA-256 of the
// key in hex: stable across restarts and servers, and not the key itself, so the store holds no secret
// and the identity can be shown. A presented key is compared in constant time. A key removed from the
// file (and reloaded) loses access; its jobs stay in the store and keep running.
#include <filesystem>
#include <mutex>
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

// A key's optional limits: how many of its jobs may run at once (more wait in the queue) and how many
// may wait (a submission beyond is refused with 429 and Retry-After).
struct KeyLimits {
  std::optional<int> max_concurrent_jobs, max_queued_jobs;
};

class ApiKeys {
 public:
  // Reads `path`; throws core::InvalidInput naming the file (and the line) when it cannot be read, holds
  // no key, or a limit is malformed.
  explicit ApiKeys(std::filesystem::path path);

  // Reads the file again. On any problem the keys stay as they were and the problem is thrown.
  void reload();

  struct Identified {
    std::string identity;
    KeyLimits limits;
  };
  // The key `presented` is, or nullopt. Every known key is compared, each in constant time, so the
  // time taken says nothing about which one matched or how much.
  std::optional<Identified> identify(std::string_view presented) const;
  // The limits of the key with this identity (none when it is not, or no longer, in the file).
  KeyLimits limits_of(std::string_view identity) const;
  // (legacy identity, identity) of every key, for migrating a store.
  std::vector<std::pair<std::string, std::string>> legacy_identities() const;
  size_t size() const;

 private:
  struct Key {
    std::string digest;  // SHA-256 of the key, hex
    std::string identity;
    std::string legacy_identity;
    KeyLimits limits;
  };
  static std::vector<Key> read_keys(const std::filesystem::path& path);

  std::filesystem::path path_;
  mutable std::mutex mutex_;
  std::vector<Key> keys_;
};

}  // namespace avtrain::service
