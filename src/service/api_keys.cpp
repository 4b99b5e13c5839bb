#include "service/api_keys.h"

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

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

ApiKeys::ApiKeys(std::filesystem::path path) : path_(std::move(path)), keys_(read_keys(path_)) {}

std::vector<ApiKeys::Key> ApiKeys::read_keys(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw core::InvalidInput("--api-keys " + path.string() +
                             " cannot be read: give a file with one API key per line");
  }
  std::vector<Key> keys;
  std::string line;
  for (int line_number = 1; std::getline(in, line); ++line_number) {
    std::istringstream words(line);
    std::string key;
    if (!(words >> key) || key.starts_with('#')) continue;
    Key entry{sha256_hex(key), key_identity(key), legacy_key_identity(key), {}};
    for (std::string limit; words >> limit;) {
      const auto equals = limit.find('=');
      const std::string name = limit.substr(0, equals);
      int value = 0;
      const char* begin = limit.data() + (equals == std::string::npos ? limit.size() : equals + 1);
      const auto [end, error] = std::from_chars(begin, limit.data() + limit.size(), value);
      const bool number =
          equals != std::string::npos && error == std::errc() && end == limit.data() + limit.size();
      if (!number || value < 1 || (name != "max_concurrent_jobs" && name != "max_queued_jobs")) {
        throw core::InvalidInput(fmt::format(
            "--api-keys {} line {}: \"{}\" is not a limit: write max_concurrent_jobs=N or max_queued_jobs=N "
            "(N at least 1) after the key",
            path.string(), line_number, limit));
      }
      (name == "max_concurrent_jobs" ? entry.limits.max_concurrent_jobs : entry.limits.max_queued_jobs) =
          value;
    }
    keys.push_back(std::move(entry));
  }
  if (keys.empty()) {
    throw core::InvalidInput("--api-keys " + path.string() + " holds no key: write one API key per line");
  }
  return keys;
}

void ApiKeys::reload() {
  auto keys = read_keys(path_);  // throws before anything changes
  const std::lock_guard lock(mutex_);
  keys_ = std::move(keys);
}

std::optional<ApiKeys::Identified> ApiKeys::identify(std::string_view presented) const {
  const std::string digest = sha256_hex(presented);
  const std::lock_guard lock(mutex_);
  std::optional<Identified> found;
  for (const auto& key : keys_) {
    if (equal_in_constant_time(digest, key.digest) && !found) found = Identified{key.identity, key.limits};
  }
  return found;
}

KeyLimits ApiKeys::limits_of(std::string_view identity) const {
  const std::lock_guard lock(mutex_);
  for (const auto& key : keys_) {
    if (key.identity == identity) return key.limits;
  }
  return {};
}

std::vector<std::pair<std::string, std::string>> ApiKeys::legacy_identities() const {
  const std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& key : keys_) pairs.emplace_back(key.legacy_identity, key.identity);
  return pairs;
}

size_t ApiKeys::size() const {
  const std::lock_guard lock(mutex_);
  return keys_.size();
}

}  // namespace avtrain::service
