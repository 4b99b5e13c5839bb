#include "service/api_keys.h"

#include <fmt/format.h>

#include <fstream>

#include "core/error.h"
#include "service/digest.h"

namespace avtrain::service {

std::string key_identity(std::string_view key) { return "key-" + sha256_hex(key); }

std::string legacy_key_identity(std::string_view key) {
  uint64_t hash = 1469598103934665603ull;
  for (const unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("key-{:016x}", hash);
}

ApiKeys ApiKeys::read(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw core::InvalidInput("--api-keys " + path.string() +
                             " cannot be read: give a file with one API key per line");
  }
  ApiKeys keys;
  std::string line;
  while (std::getline(in, line)) {
    const auto begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos || line[begin] == '#') continue;
    const auto end = line.find_last_not_of(" \t\r");
    const std::string key = line.substr(begin, end - begin + 1);
    keys.keys_.push_back({sha256_hex(key), key_identity(key), legacy_key_identity(key)});
  }
  if (keys.keys_.empty()) {
    throw core::InvalidInput("--api-keys " + path.string() + " holds no key: write one API key per line");
  }
  return keys;
}

std::optional<std::string> ApiKeys::identify(std::string_view presented) const {
  const std::string digest = sha256_hex(presented);
  std::optional<std::string> identity;
  for (const auto& key : keys_) {
    if (equal_in_constant_time(digest, key.digest) && !identity) identity = key.identity;
  }
  return identity;
}

std::vector<std::pair<std::string, std::string>> ApiKeys::legacy_identities() const {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& key : keys_) pairs.emplace_back(key.legacy_identity, key.identity);
  return pairs;
}

}  // namespace avtrain::service
