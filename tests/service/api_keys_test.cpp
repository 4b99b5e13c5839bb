// API keys (service/api_keys.h): SHA-256 identities, constant-time identification, the keys file.
#include "service/api_keys.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

TEST(ApiKeys, IdentityIsTheSha256OfTheKey) {
  // SHA-256("abc") from FIPS 180-2's examples.
  EXPECT_EQ(key_identity("abc"), "key-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(legacy_key_identity("abc").size(), 4u + 16u);
}

TEST(ApiKeys, IdentifiesOnlyTheKeysOfTheFile) {
  const testing::TempDir dir;
  std::ofstream(dir / "keys.txt") << "# team keys\n\n  key-one  \nkey-two\r\n";
  const auto keys = ApiKeys::read(dir / "keys.txt");
  EXPECT_EQ(keys.identify("key-one"), key_identity("key-one"));
  EXPECT_EQ(keys.identify("key-two"), key_identity("key-two"));
  EXPECT_FALSE(keys.identify("key-on"));
  EXPECT_FALSE(keys.identify("key-one "));
  EXPECT_FALSE(keys.identify(""));
  EXPECT_FALSE(keys.identify("# team keys"));
  const auto pairs = keys.legacy_identities();
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0], std::make_pair(legacy_key_identity("key-one"), key_identity("key-one")));
}

TEST(ApiKeys, AnUnreadableOrEmptyFileIsRefusedNamingIt) {
  const testing::TempDir dir;
  std::ofstream(dir / "empty.txt") << "# nothing\n";
  for (const auto& file : {dir / "missing.txt", dir / "empty.txt"}) {
    try {
      ApiKeys::read(file);
      FAIL() << file;
    } catch (const core::InvalidInput& error) {
      EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
    }
  }
}

}  // namespace
}  // namespace avtrain::service
