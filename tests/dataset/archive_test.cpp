// Safe extraction (DECISIONS.md §20): hostile archives are refused with every unsafe entry named.
#include "dataset/archive.h"

#include <gtest/gtest.h>

#include <functional>

#include "core/error.h"
#include "testing/temp_dir.h"
#include "zip_builder.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;
using avtrain::testing::TempDir;
using testing::read_bytes;
using testing::ZipBuilder;

// The problems of the DatasetRejected that `run` throws.
std::vector<core::Problem> rejection(const std::function<void()>& run) {
  try {
    run();
  } catch (const core::DatasetRejected& error) {
    return error.problems();
  }
  ADD_FAILURE() << "expected DatasetRejected";
  return {};
}

bool nothing_extracted(const fs::path& destination) {
  return !fs::exists(destination) || fs::is_empty(destination);
}

TEST(ExtractArchive, ExtractsFilesInFoldersAndKeepsTheirPaths) {
  TempDir dir;
  ZipBuilder()
      .folder("set1/")
      .file("set1/a_start.mp4", "reference")
      .file("set1/a_end.mp4", "target")
      .file("b.txt", "caption")
      .write(dir / "clips.zip");
  const auto extracted = extract_archive(dir / "clips.zip", dir / "out", "clips.zip");
  ASSERT_EQ(extracted.files.size(), 3u);
  EXPECT_EQ(extracted.entry_count, 4);
  EXPECT_EQ(extracted.files[0].archive_path, "set1/a_start.mp4");
  EXPECT_EQ(extracted.files[0].path, dir / "out/set1/a_start.mp4");
  EXPECT_EQ(extracted.files[0].bytes, 9u);
  EXPECT_EQ(read_bytes(dir / "out/set1/a_end.mp4"), "target");
  EXPECT_EQ(read_bytes(dir / "out/b.txt"), "caption");
}

TEST(ExtractArchive, IgnoresMacMetadataAndHiddenFilesAndFolders) {
  TempDir dir;
  ZipBuilder()
      .file("a_start.mp4", "r")
      .file("__MACOSX/._a_start.mp4", "resource fork")
      .file("._a_end.mp4", "apple double")
      .file(".DS_Store", "finder")
      .file("set/.hidden/x_start.mp4", "hidden folder")
      .file(".git/config", "vcs")
      .write(dir / "clips.zip");
  const auto extracted = extract_archive(dir / "clips.zip", dir / "out", "clips.zip");
  ASSERT_EQ(extracted.files.size(), 1u);
  EXPECT_EQ(extracted.files[0].archive_path, "a_start.mp4");
  EXPECT_EQ(extracted.ignored.size(), 5u);
  EXPECT_FALSE(fs::exists(dir / "out/__MACOSX"));
  EXPECT_FALSE(fs::exists(dir / "out/.DS_Store"));
}

TEST(ExtractArchive, RefusesZipSlip) {
  TempDir dir;
  ZipBuilder().file("a_start.mp4", "r").file("../evil_end.mp4", "x").write(dir / "clips.zip");
  const auto problems = rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip"); });
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].loc, (std::vector<std::string>{"body", "training_data_url", "../evil_end.mp4"}));
  EXPECT_NE(problems[0].msg.find("'..' component"), std::string::npos) << problems[0].msg;
  EXPECT_FALSE(fs::exists(dir / "evil_end.mp4"));
  EXPECT_TRUE(nothing_extracted(dir / "out"));
}

TEST(ExtractArchive, RefusesTraversalHiddenInsideAFolderOrWithBackslashes) {
  TempDir dir;
  ZipBuilder().file("set/../../evil.mp4", "x").file("set\\..\\..\\evil2.mp4", "x").write(dir / "clips.zip");
  const auto problems = rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip"); });
  EXPECT_EQ(problems.size(), 2u);
}

TEST(ExtractArchive, RefusesAbsolutePaths) {
  TempDir dir;
  ZipBuilder().file("/tmp/abs_start.mp4", "x").file("C:\\clips\\abs_end.mp4", "x").write(dir / "clips.zip");
  const auto problems = rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip"); });
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].msg.find("/tmp/abs_start.mp4 has an absolute path"), std::string::npos)
      << problems[0].msg;
  EXPECT_FALSE(fs::exists("/tmp/abs_start.mp4"));
}

TEST(ExtractArchive, RefusesSymlinks) {
  TempDir dir;
  ZipBuilder().file("a_start.mp4", "r").symlink("a_end.mp4", "/etc/passwd").write(dir / "clips.zip");
  const auto problems = rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip"); });
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].loc.back(), "a_end.mp4");
  EXPECT_NE(problems[0].msg.find("symbolic link"), std::string::npos) << problems[0].msg;
  EXPECT_TRUE(nothing_extracted(dir / "out"));
}

TEST(ExtractArchive, RefusesABombByCompressionRatioWithTheDefaultLimits) {
  TempDir dir;
  ZipBuilder()
      .file("a_start.mp4", "r")
      .file("a_end.mp4", std::string(11 << 20, '\0'))
      .write(dir / "clips.zip");
  const auto problems = rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip"); });
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].loc.back(), "a_end.mp4");
  EXPECT_NE(problems[0].msg.find("zip bomb"), std::string::npos) << problems[0].msg;
  EXPECT_NE(problems[0].msg.find("to 11.0 MiB"), std::string::npos) << problems[0].msg;
  EXPECT_TRUE(nothing_extracted(dir / "out"));
}

TEST(ExtractArchive, AcceptsHighlyCompressibleSmallFiles) {
  TempDir dir;
  ZipBuilder().file("a.txt", std::string(1 << 20, ' ')).write(dir / "clips.zip");
  EXPECT_EQ(extract_archive(dir / "clips.zip", dir / "out", "clips.zip").files.size(), 1u);
}

TEST(ExtractArchive, RefusesMoreThanTheTotalUncompressedSize) {
  TempDir dir;
  ZipBuilder()
      .file("a_start.mp4", std::string(600 << 10, 'r'), true)
      .file("a_end.mp4", std::string(600 << 10, 't'), true)
      .write(dir / "clips.zip");
  ArchiveLimits limits;
  limits.max_total_bytes = 1 << 20;
  const auto problems =
      rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip", limits); });
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].loc, (std::vector<std::string>{"body", "training_data_url"}));
  EXPECT_NE(problems[0].msg.find("1.2 MiB uncompressed, more than the limit of 1.0 MiB"), std::string::npos)
      << problems[0].msg;
  EXPECT_TRUE(nothing_extracted(dir / "out"));
}

TEST(ExtractArchive, RefusesTooManyEntries) {
  TempDir dir;
  ZipBuilder builder;
  for (int idx = 0; idx < 6; ++idx) builder.file("f" + std::to_string(idx) + ".txt", "x");
  builder.write(dir / "clips.zip");
  ArchiveLimits limits;
  limits.max_entries = 5;
  const auto problems =
      rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip", limits); });
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].msg.find("holds 6 entries, more than the limit of 5"), std::string::npos)
      << problems[0].msg;
}

TEST(ExtractArchive, ReportsEveryUnsafeEntryAtOnce) {
  TempDir dir;
  ZipBuilder()
      .file("../a_start.mp4", "x")
      .file("/b_start.mp4", "x")
      .symlink("c_start.mp4", "../../x")
      .file("d_end.mp4", std::string(11 << 20, '\0'))
      .write(dir / "clips.zip");
  EXPECT_EQ(rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip"); }).size(), 4u);
}

TEST(ExtractArchive, RefusesTheSamePathTwice) {
  TempDir dir;
  ZipBuilder().file("set/a_start.mp4", "1").file("set//a_start.mp4", "2").write(dir / "clips.zip");
  const auto problems = rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip"); });
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].msg.find("appears twice"), std::string::npos) << problems[0].msg;
}

TEST(ExtractArchive, RefusesAnEmptyZip) {
  TempDir dir;
  ZipBuilder().folder("empty/").write(dir / "folders_only.zip");
  std::ofstream(dir / "empty.zip", std::ios::binary) << std::string("PK\x05\x06", 4) << std::string(18, '\0');
  const auto problems = rejection([&] { extract_archive(dir / "empty.zip", dir / "out", "empty.zip"); });
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].msg.find("empty.zip is empty"), std::string::npos) << problems[0].msg;
  // Folders alone extract to nothing; pair matching then says there are no pairs.
  EXPECT_TRUE(extract_archive(dir / "folders_only.zip", dir / "out2", "folders_only.zip").files.empty());
}

TEST(ExtractArchive, RefusesAFileThatIsNotAZip) {
  TempDir dir;
  std::ofstream(dir / "clips.zip", std::ios::binary) << "this is a text file, not an archive";
  const auto problems = rejection([&] { extract_archive(dir / "clips.zip", dir / "out", "clips.zip"); });
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].loc, (std::vector<std::string>{"body", "training_data_url"}));
  EXPECT_NE(problems[0].msg.find("clips.zip is not a readable zip archive"), std::string::npos)
      << problems[0].msg;
}

TEST(ExtractArchive, RefusesATruncatedZip) {
  TempDir dir;
  ZipBuilder().file("a_start.mp4", std::string(4096, 'r')).write(dir / "full.zip");
  const auto bytes = read_bytes(dir / "full.zip");
  std::ofstream(dir / "cut.zip", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_EQ(rejection([&] { extract_archive(dir / "cut.zip", dir / "out", "cut.zip"); }).size(), 1u);
}

TEST(IsIgnoredEntry, CoversMacMetadataAndHiddenComponents) {
  EXPECT_TRUE(is_ignored_entry("__MACOSX/a_start.mp4"));
  EXPECT_TRUE(is_ignored_entry("set/._a_start.mp4"));
  EXPECT_TRUE(is_ignored_entry(".DS_Store"));
  EXPECT_TRUE(is_ignored_entry("set/.cache/a.txt"));
  EXPECT_FALSE(is_ignored_entry("./set/a_start.mp4"));
  EXPECT_FALSE(is_ignored_entry("set/a.b_start.mp4"));
}

}  // namespace
}  // namespace avtrain::dataset
