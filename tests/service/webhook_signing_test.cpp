// Webhook signatures (DECISIONS.md §36): the key file made on first start (mode 0600), the four-line
// message signed with Ed25519 and checked here with libsodium against the JWKS, rotation keeping the
// old public key published for its grace period. The end-to-end test verifies with Node's crypto.
#include "service/webhook_signing.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "service/digest.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::map<std::string, std::string> header_map(const std::vector<std::string>& lines) {
  std::map<std::string, std::string> headers;
  for (const auto& line : lines) {
    const auto colon = line.find(": ");
    headers[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return headers;
}

// Whether any key of `jwks` verifies the signature of these headers over `body`, as a receiver does.
bool verifies(const nlohmann::ordered_json& jwks, const std::map<std::string, std::string>& headers,
              const std::string& body) {
  const std::string message = headers.at("X-Fal-Webhook-Request-Id") + "\n" +
                              headers.at("X-Fal-Webhook-User-Id") + "\n" +
                              headers.at("X-Fal-Webhook-Timestamp") + "\n" + sha256_hex(body);
  const std::string signature_hex = headers.at("X-Fal-Webhook-Signature");
  std::vector<uint8_t> signature(crypto_sign_BYTES);
  size_t length = 0;
  if (sodium_hex2bin(signature.data(), signature.size(), signature_hex.data(), signature_hex.size(), nullptr,
                     &length, nullptr) != 0 ||
      length != crypto_sign_BYTES) {
    return false;
  }
  for (const auto& key : jwks.at("keys")) {
    EXPECT_EQ(key.at("kty"), "OKP");
    EXPECT_EQ(key.at("crv"), "Ed25519");
    std::vector<uint8_t> public_key(crypto_sign_PUBLICKEYBYTES);
    if (!from_base64url(key.at("x").get<std::string>(), public_key)) continue;
    if (crypto_sign_verify_detached(signature.data(), reinterpret_cast<const unsigned char*>(message.data()),
                                    message.size(), public_key.data()) == 0) {
      return true;
    }
  }
  return false;
}

TEST(WebhookSigning, FirstStartMakesAPrivateKeyFileAndSignaturesVerifyAgainstTheJwks) {
  const TempDir dir;
  const fs::path file = dir / kWebhookKeysFileName;
  WebhookSigner signer(file);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  const auto jwks = signer.jwks();
  ASSERT_EQ(jwks.at("keys").size(), 1u);
  EXPECT_EQ(jwks["keys"][0].at("x").get<std::string>().size(), 43u)
      << "32 bytes in base64url without padding";
  const std::string body = R"({"request_id": "r1", "status": "OK"})";
  const auto headers = header_map(signer.headers("r1", "key-abc", body));
  EXPECT_EQ(headers.at("X-Fal-Webhook-Request-Id"), "r1");
  EXPECT_EQ(headers.at("X-Fal-Webhook-User-Id"), "key-abc");
  EXPECT_LE(std::abs(std::stoll(headers.at("X-Fal-Webhook-Timestamp")) - std::time(nullptr)), 5);
  EXPECT_EQ(headers.at("X-Fal-Webhook-Signature").size(), 128u) << "64 bytes in hex";
  EXPECT_TRUE(verifies(jwks, headers, body));

  EXPECT_FALSE(verifies(jwks, headers, body + " ")) << "a changed body";
  auto later = headers;
  later["X-Fal-Webhook-Timestamp"] = std::to_string(std::stoll(headers.at("X-Fal-Webhook-Timestamp")) + 1);
  EXPECT_FALSE(verifies(jwks, later, body)) << "a changed timestamp";
  auto other_user = headers;
  other_user["X-Fal-Webhook-User-Id"] = "key-other";
  EXPECT_FALSE(verifies(jwks, other_user, body)) << "a changed user id";

  // The same file read again: the same key (a restarted server keeps signing with it).
  WebhookSigner again(file);
  EXPECT_EQ(again.jwks(), jwks);
  EXPECT_TRUE(verifies(jwks, header_map(again.headers("r2", "key-abc", body)), body));
}

TEST(WebhookSigning, RotationSignsWithTheNewKeyAndPublishesTheOldOneForItsGrace) {
  const TempDir dir;
  const fs::path file = dir / kWebhookKeysFileName;
  WebhookSigner signer(file);
  const auto before = signer.jwks();
  const std::string old_kid = before["keys"][0]["kid"];
  const std::string body = "{}";
  const auto old_headers = header_map(signer.headers("r1", "u", body));

  // The file's modification time is how a running server notices; make sure it moves.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string new_kid = rotate_webhook_key(file, std::chrono::hours(1));
  EXPECT_NE(new_kid, old_kid);
  const auto after = signer.jwks();
  ASSERT_EQ(after.at("keys").size(), 2u);
  EXPECT_EQ(after["keys"][0]["kid"], new_kid);
  EXPECT_EQ(after["keys"][1]["kid"], old_kid);
  const auto new_headers = header_map(signer.headers("r2", "u", body));
  EXPECT_TRUE(verifies(after, new_headers, body));
  EXPECT_FALSE(verifies(before, new_headers, body)) << "signed with the new key, not the old one";
  EXPECT_TRUE(verifies(after, old_headers, body)) << "the old key is still published";

  const auto keys = read_webhook_keys(file);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_FALSE(keys[0].seed.empty());
  EXPECT_TRUE(keys[1].seed.empty()) << "a retired key's secret is deleted";
  EXPECT_GT(keys[1].published_until_ms, keys[1].retired_ms);

  // Without grace the key just retired leaves the set at once; the first one stays for its hour.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string third_kid = rotate_webhook_key(file, std::chrono::seconds(0));
  const auto last = signer.jwks();
  ASSERT_EQ(last.at("keys").size(), 2u) << last.dump();
  EXPECT_EQ(last["keys"][0]["kid"], third_kid);
  EXPECT_EQ(last["keys"][1]["kid"], old_kid);
  EXPECT_FALSE(verifies(last, new_headers, body)) << "the key retired without grace is gone";
  EXPECT_EQ(read_webhook_keys(file).size(), 2u);
}

// docs/api.md's worked example, whose signature Node's crypto computed from the same seed (bytes 0..31):
// both implementations of Ed25519 over the four-line message agree.
TEST(WebhookSigning, TheDocumentedWorkedExampleSignsAsNodeDoes) {
  std::vector<uint8_t> seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i);
  WebhookKey key;
  key.kid = "example";
  key.seed = base64url(seed);
  const std::string request_id = "4a1f2c9e-7b1d-4c3e-9f0a-5d6e7f809a1b";
  const std::string body = R"({"request_id":")" + request_id + R"(","gateway_request_id":")" + request_id +
                           R"(","status":"OK","payload":{},"error":null,"payload_error":null})";
  EXPECT_EQ(sha256_hex(body), "e57baf2def2274d0b87162a799b716ab8782c7d5c71fa274026bfbbad1a7127d");
  const auto headers = header_map(signed_webhook_headers(key, request_id, "key-example", 1765000000, body));
  EXPECT_EQ(headers.at("X-Fal-Webhook-Signature"),
            "4440128a7622004e372db07b2e01e002029519c6b932573200aa5c5adf63c290836eaf41e5f093d593c5386815713aec"
            "17a789116"
            "702b1c8b819de0844f1500b");
  const nlohmann::ordered_json jwks = {
      {"keys", {{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"}}}}};
  EXPECT_TRUE(verifies(jwks, headers, body));
}

TEST(WebhookSigning, AKeyFileOthersCanReadIsMadePrivate) {
  const TempDir dir;
  const fs::path file = dir / kWebhookKeysFileName;
  { WebhookSigner signer(file); }
  ::chmod(file.c_str(), 0644);
  WebhookSigner signer(file);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(WebhookSigning, ADamagedKeyFileIsRefusedNamingIt) {
  const TempDir dir;
  const fs::path file = dir / kWebhookKeysFileName;
  std::ofstream(file) << "{\"keys\": [{\"kid\": 1}]}";
  try {
    WebhookSigner signer(file);
    FAIL() << "a damaged key file was accepted";
  } catch (const core::InternalError& error) {
    EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("cannot be read as a key set"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace avtrain::service
