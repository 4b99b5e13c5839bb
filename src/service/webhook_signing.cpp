#include "service/webhook_signing.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "service/digest.h"
#include "service/job_store.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

using Seed = std::array<uint8_t, crypto_sign_SEEDBYTES>;
using PublicKey = std::array<uint8_t, crypto_sign_PUBLICKEYBYTES>;
using SecretKey = std::array<uint8_t, crypto_sign_SECRETKEYBYTES>;

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw core::InternalError(fmt::format("webhook signing keys {}: {}", file.string(), what));
}

WebhookKey new_key() {
  ensure_sodium();
  Seed seed{};
  randombytes_buf(seed.data(), seed.size());
  PublicKey public_key{};
  SecretKey secret_key{};
  crypto_sign_seed_keypair(public_key.data(), secret_key.data(), seed.data());
  sodium_memzero(secret_key.data(), secret_key.size());
  WebhookKey key;
  key.public_key = base64url(public_key);
  key.kid = sha256_hex(std::string_view(reinterpret_cast<const char*>(public_key.data()), public_key.size()))
                .substr(0, 16);
  key.seed = base64url(seed);
  sodium_memzero(seed.data(), seed.size());
  key.created_ms = now_ms();
  return key;
}

std::string to_text(const std::vector<WebhookKey>& keys) {
  ordered_json list = ordered_json::array();
  for (const auto& key : keys) {
    list.push_back({{"kid", key.kid},
                    {"public_key", key.public_key},
                    {"seed", key.seed},
                    {"created_ms", key.created_ms},
                    {"retired_ms", key.retired_ms},
                    {"published_until_ms", key.published_until_ms}});
  }
  return ordered_json{{"keys", list}}.dump(2) + "\n";
}

std::vector<WebhookKey> parse_keys(const fs::path& file, const std::string& text) {
  std::vector<WebhookKey> keys;
  try {
    const json parsed = json::parse(text);
    for (const auto& item : parsed.at("keys")) {
      WebhookKey key;
      key.kid = item.at("kid").get<std::string>();
      key.public_key = item.at("public_key").get<std::string>();
      key.seed = item.at("seed").get<std::string>();
      key.created_ms = item.at("created_ms").get<int64_t>();
      key.retired_ms = item.at("retired_ms").get<int64_t>();
      key.published_until_ms = item.at("published_until_ms").get<int64_t>();
      PublicKey check{};
      if (!from_base64url(key.public_key, check))
        fail(file, "key " + key.kid + " has a malformed public_key");
      keys.push_back(std::move(key));
    }
  } catch (const json::exception& error) {
    fail(file, std::string("cannot be read as a key set (") + error.what() +
                   "): restore it from a backup, or move it away to start a new key (receivers then need the "
                   "new JWKS)");
  }
  return keys;
}

// Writes the key set through a private temporary file (mode 0600 from its creation, fsynced). Replaces
// the file, or, with `only_if_absent`, links it into place only when none exists yet (false then).
bool write_keys(const fs::path& file, const std::vector<WebhookKey>& keys, bool only_if_absent) {
  const std::string text = to_text(keys);
  const fs::path temporary = file.string() + fmt::format(".tmp{}", ::getpid());
  const int descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (descriptor < 0) fail(file, std::string("cannot be written: ") + std::strerror(errno));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(descriptor, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(descriptor);
      ::unlink(temporary.c_str());
      fail(file, std::string("cannot be written: ") + std::strerror(error));
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(descriptor) == 0;
  ::close(descriptor);
  if (!synced) {
    ::unlink(temporary.c_str());
    fail(file, std::string("cannot be synced to disk: ") + std::strerror(errno));
  }
  if (only_if_absent) {
    const bool linked = ::link(temporary.c_str(), file.c_str()) == 0;
    const int error = errno;
    ::unlink(temporary.c_str());
    if (!linked && error != EEXIST) fail(file, std::string("cannot be created: ") + std::strerror(error));
    return linked;
  }
  if (::rename(temporary.c_str(), file.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    fail(file, std::string("cannot be replaced: ") + std::strerror(error));
  }
  return true;
}

std::vector<WebhookKey> read_keys(const fs::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) fail(file, std::string("cannot be read: ") + std::strerror(errno));
  // The file holds a secret: nobody but the server's user may read it.
  if ((info.st_mode & 077) != 0) {
    core::logger("service").warn("webhook signing keys {}: was readable by other users; made private (0600)",
                                 file.string());
    ::chmod(file.c_str(), 0600);
  }
  std::string text;
  const int descriptor = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) fail(file, std::string("cannot be read: ") + std::strerror(errno));
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(descriptor, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(descriptor);
  return parse_keys(file, text);
}

// The set in `file`, made with a first key when there is none.
std::vector<WebhookKey> open_or_create(const fs::path& file) {
  if (!fs::exists(file)) {
    if (file.has_parent_path()) fs::create_directories(file.parent_path());
    if (write_keys(file, {new_key()}, /*only_if_absent=*/true)) {
      core::logger("service").info("webhook signing keys: made the first key in {}", file.string());
    }
  }
  return read_keys(file);
}

const WebhookKey& signing_key(const fs::path& file, const std::vector<WebhookKey>& keys) {
  for (const auto& key : keys) {
    if (!key.seed.empty()) return key;
  }
  fail(file, "holds no signing key (every key is retired): run `avtrain webhook-keys rotate` to make one");
}

}  // namespace

std::vector<std::string> signed_webhook_headers(const WebhookKey& key, std::string_view request_id,
                                                std::string_view user_id, int64_t unix_seconds,
                                                std::string_view body) {
  ensure_sodium();
  Seed seed{};
  if (!from_base64url(key.seed, seed))
    throw core::InternalError("webhook signing key " + key.kid + " has a malformed seed");
  PublicKey public_key{};
  SecretKey secret_key{};
  crypto_sign_seed_keypair(public_key.data(), secret_key.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  const std::string timestamp = std::to_string(unix_seconds);
  const std::string message = fmt::format("{}\n{}\n{}\n{}", request_id, user_id, timestamp, sha256_hex(body));
  std::array<uint8_t, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), secret_key.data());
  sodium_memzero(secret_key.data(), secret_key.size());
  return {fmt::format("X-Fal-Webhook-Request-Id: {}", request_id),
          fmt::format("X-Fal-Webhook-User-Id: {}", user_id),
          fmt::format("X-Fal-Webhook-Timestamp: {}", timestamp),
          fmt::format("X-Fal-Webhook-Signature: {}", hex(signature))};
}

WebhookSigner::WebhookSigner(fs::path keys_file) : file_(std::move(keys_file)) {
  const std::lock_guard lock(mutex_);
  keys_ = open_or_create(file_);
  loaded_time_ = fs::last_write_time(file_);
  signing_key(file_, keys_);  // refuses a set without one now, not at the first webhook
}

void WebhookSigner::reload_if_changed() {
  std::error_code error;
  const auto time = fs::last_write_time(file_, error);
  if (error || time == loaded_time_) return;  // a vanished file: keep signing with what was read
  keys_ = read_keys(file_);
  loaded_time_ = time;
  core::logger("service").info("webhook signing keys: reloaded {} (signing key {})", file_.string(),
                               signing_key(file_, keys_).kid);
}

std::vector<std::string> WebhookSigner::headers(std::string_view request_id, std::string_view user_id,
                                                std::string_view body) {
  const std::lock_guard lock(mutex_);
  reload_if_changed();
  return signed_webhook_headers(signing_key(file_, keys_), request_id, user_id, now_ms() / 1000, body);
}

ordered_json WebhookSigner::jwks() {
  const std::lock_guard lock(mutex_);
  reload_if_changed();
  const int64_t now = now_ms();
  ordered_json keys = ordered_json::array();
  for (const auto& key : keys_) {
    if (key.seed.empty() && key.published_until_ms <= now) continue;
    keys.push_back({{"kty", "OKP"},
                    {"crv", "Ed25519"},
                    {"x", key.public_key},
                    {"kid", key.kid},
                    {"alg", "EdDSA"},
                    {"use", "sig"}});
  }
  return ordered_json{{"keys", keys}};
}

std::string rotate_webhook_key(const fs::path& keys_file, std::chrono::seconds grace) {
  auto keys = open_or_create(keys_file);
  const int64_t now = now_ms();
  std::vector<WebhookKey> kept;
  for (auto& key : keys) {
    if (!key.seed.empty()) {
      key.seed.clear();
      key.retired_ms = now;
      key.published_until_ms = now + std::chrono::duration_cast<std::chrono::milliseconds>(grace).count();
    }
    if (key.published_until_ms > now) kept.push_back(std::move(key));
  }
  kept.insert(kept.begin(), new_key());
  write_keys(keys_file, kept, /*only_if_absent=*/false);
  return kept.front().kid;
}

std::vector<WebhookKey> read_webhook_keys(const fs::path& keys_file) { return read_keys(keys_file); }

}  // namespace avtrain::service
