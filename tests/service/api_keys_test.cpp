// API keys (service/api_keys.h): SHA-256 identities, constant-time identification, the keys file with
// its limits, and reloading it.
#include "service/api_keys.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

std::optional<std::string> identity_of(const ApiKeys& keys, std::string_view key) {
  const auto found = keys.identify(key);
  return found ? std::optional<std::string>(found->identity) : std::nullopt;
}

TEST(ApiKeys, IdentityIsTheSha256OfTheKey) {
  // SHA-256("abc") from FIPS 180-2's examples.
  EXPECT_EQ(key_identity("abc"), "key-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(legacy_key_identity("abc").size(), 4u + 16u);
}

TEST(ApiKeys, IdentifiesOnlyTheKeysOfTheFileWithTheirLimits) {
  const testing::TempDir dir;
  std::ofstream(dir / "keys.txt")
      << "# team keys\n\n  key-one  \nkey-two max_concurrent_jobs=1 max_queued_jobs=5\r\n";
  const ApiKeys keys(dir / "keys.txt");
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_EQ(identity_of(keys, "key-one"), key_identity("key-one"));
  EXPECT_EQ(identity_of(keys, "key-two"), key_identity("key-two"));
  for (const std::string_view wrong : {"key-on", "key-one ", "", "# team keys", "max_queued_jobs=5"}) {
    EXPECT_FALSE(keys.identify(wrong)) << wrong;
  }
  const auto limits = keys.identify("key-two")->limits;
  EXPECT_EQ(limits.max_concurrent_jobs, 1);
  EXPECT_EQ(limits.max_queued_jobs, 5);
  EXPECT_FALSE(keys.identify("key-one")->limits.max_concurrent_jobs);
  EXPECT_EQ(keys.limits_of(key_identity("key-two")).max_queued_jobs, 5);
  EXPECT_FALSE(keys.limits_of("key-unknown").max_queued_jobs);
  const auto pairs = keys.legacy_identities();
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0], std::make_pair(legacy_key_identity("key-one"), key_identity("key-one")));
}

TEST(ApiKeys, AReloadedFileReplacesTheKeysAndABadOneKeepsThem) {
  const testing::TempDir dir;
  std::ofstream(dir / "keys.txt") << "key-a\nkey-b\n";
  ApiKeys keys(dir / "keys.txt");
  std::ofstream(dir / "keys.txt", std::ios::trunc) << "key-a max_queued_jobs=2\n";
  keys.reload();
  EXPECT_TRUE(keys.identify("key-a"));
  EXPECT_FALSE(keys.identify("key-b")) << "a removed key loses access";
  EXPECT_EQ(keys.identify("key-a")->limits.max_queued_jobs, 2);
  std::ofstream(dir / "keys.txt", std::ios::trunc) << "# nobody\n";
  EXPECT_THROW(keys.reload(), core::InvalidInput) << "an empty file would turn authentication off";
  EXPECT_TRUE(keys.identify("key-a")) << "the keys stay as they were";
}

TEST(ApiKeys, AnUnreadableEmptyOrMalformedFileIsRefusedNamingIt) {
  const testing::TempDir dir;
  std::ofstream(dir / "empty.txt") << "# nothing\n";
  std::ofstream(dir / "limit.txt") << "key-a\nkey-b max_running=3\n";
  for (const auto& [file, part] :
       {std::pair{dir / "missing.txt", std::string("cannot be read")},
        {dir / "empty.txt", std::string("holds no key")},
        {dir / "limit.txt", std::string("line 2: \"max_running=3\" is not a limit")}}) {
    try {
      ApiKeys keys(file);
      FAIL() << file;
    } catch (const core::InvalidInput& error) {
      EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(part), std::string::npos) << error.what();
    }
  }
}

}  // namespace
}  // namespace avtrain::service
