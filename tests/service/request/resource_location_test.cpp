// URL forms and the local-file policy (MISSION.md "Dataset", DECISIONS.md §21).
#include "service/request/resource_location.h"

#include <gtest/gtest.h>

#include "testing/temp_dir.h"

namespace avtrain::service {
namespace {

TEST(ResourceLocation, ClassifiesHttpHttpsFileUrlsAndPlainPaths) {
  const auto any = LocalFilePolicy::allow_any();
  EXPECT_EQ(check_location("https://example.com/a.zip", "f", any).location->kind, LocationKind::https);
  EXPECT_EQ(check_location("HTTP://user@example.com:8080/a.zip?x=1", "f", any).location->kind,
            LocationKind::http);
  EXPECT_EQ(check_location("http://[::1]:80/a.zip", "f", any).location->kind, LocationKind::http);
  const auto file = check_location("file:///data/my%20clips.zip", "f", any);
  ASSERT_TRUE(file.location);
  EXPECT_EQ(file.location->kind, LocationKind::local_file);
  EXPECT_EQ(file.location->path, "/data/my clips.zip");
  EXPECT_EQ(check_location("file://localhost/data/a.zip", "f", any).location->path, "/data/a.zip");
  EXPECT_EQ(check_location("clips/a.zip", "f", any).location->path, "clips/a.zip");
  EXPECT_EQ(check_location("/abs/a.zip", "f", any).location->kind, LocationKind::local_file);
}

TEST(ResourceLocation, FileUrlsOfPathsReadBackAsTheSamePath) {
  const auto any = LocalFilePolicy::allow_any();
  for (const std::string path : {"/data/my clips/a.zip", "/data/100%_ümlaut#?.zip", "/a/./b/../c.zip"}) {
    const std::string url = file_url(path);
    EXPECT_EQ(url.find_first_of(" #?"), std::string::npos) << url;
    const auto check = check_location(url, "f", any);
    ASSERT_TRUE(check.location) << url << ": " << check.msg;
    EXPECT_EQ(check.location->path, std::filesystem::path(path).lexically_normal()) << url;
  }
  EXPECT_EQ(file_url("/data/my clips.zip"), "file:///data/my%20clips.zip");
}

TEST(ResourceLocation, RefusesWhatCannotBeFetchedAndSaysWhatToWrite) {
  const auto any = LocalFilePolicy::allow_any();
  struct Case {
    std::string text, type, msg_part;
  };
  for (const auto& c :
       {Case{"ftp://h/a.zip", "url_scheme", "ftp://"}, Case{"s3://bucket/a.zip", "url_scheme", "s3://"},
        Case{"http://", "url_parsing", "no host"}, Case{"https://:443/a", "url_parsing", "no host"},
        Case{"https:example.com", "url_parsing", "https://host/path"},
        Case{"file://server/share/a.zip", "url_parsing", "file:///absolute/path"},
        Case{"file:///data/bad%zz.zip", "url_parsing", "%XX"},
        Case{"file:/data/a.zip", "url_parsing", "file:///absolute/path"},
        Case{"file:///", "url_parsing", "names no file"}, Case{"", "value_error", "empty"},
        Case{" https://x.io/a.zip", "value_error", "white space"}}) {
    const auto check = check_location(c.text, "training_data_url", any);
    EXPECT_FALSE(check.location) << c.text;
    EXPECT_EQ(check.type, c.type) << c.text;
    EXPECT_NE(check.msg.find(c.msg_part), std::string::npos) << c.text << ": " << check.msg;
    EXPECT_NE(check.msg.find("training_data_url"), std::string::npos) << check.msg;
  }
}

TEST(ResourceLocation, ServerPolicyAllowsOnlyFilesUnderTheOperatorsDirectory) {
  testing::TempDir root;
  const auto policy = LocalFilePolicy::allow_under(root.path());
  EXPECT_EQ(policy.refusal(root / "a.zip"), "");
  EXPECT_EQ(policy.refusal(root / "sub" / "b.zip"), "");
  EXPECT_NE(policy.refusal("/etc/passwd"), "");
  EXPECT_NE(policy.refusal(root / ".." / "a.zip"), "");
  // A sibling whose name merely starts with the root's name is outside it.
  EXPECT_NE(policy.refusal(root.path().string() + "-other/a.zip"), "");
  std::filesystem::create_directory_symlink("/etc", root / "link");
  EXPECT_NE(policy.refusal(root / "link" / "passwd"), "") << "symlinks are resolved before the check";
  EXPECT_TRUE(check_location("file://" + (root / "a.zip").string(), "f", policy).location);
  const auto outside = check_location("/etc/passwd", "f", policy);
  EXPECT_FALSE(outside.location);
  EXPECT_NE(outside.msg.find("only under"), std::string::npos) << outside.msg;
  EXPECT_FALSE(check_location("/tmp/a.zip", "f", LocalFilePolicy::refuse_all()).location);
  EXPECT_TRUE(check_location("https://x.io/a.zip", "f", LocalFilePolicy::refuse_all()).location);
}

TEST(ResourceLocation, ALocalPathThatCannotBeResolvedIsRefusedSayingWhy) {
  testing::TempDir root;
  std::filesystem::create_symlink("loop", root / "loop");  // resolving it never ends
  const auto check = check_location((root / "loop" / "a.zip").string(), "training_data_url",
                                    LocalFilePolicy::allow_under(root.path()));
  EXPECT_FALSE(check.location);
  EXPECT_NE(check.msg.find("cannot resolve the local path"), std::string::npos) << check.msg;
  EXPECT_NE(check.msg.find("symbolic links"), std::string::npos) << check.msg;
}

}  // namespace
}  // namespace avtrain::service
