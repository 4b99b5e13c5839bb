// Pair and caption matching (MISSION.md "Dataset"): every problem at once, other files warned about.
#include "dataset/pairs.h"

#include <gtest/gtest.h>

namespace avtrain::dataset {
namespace {

std::vector<ExtractedFile> files_named(std::initializer_list<const char*> names) {
  std::vector<ExtractedFile> files;
  for (const char* name : names) files.push_back({name, std::string("/x/") + name, 1});
  return files;
}

bool any_contains(const std::vector<std::string>& lines, const std::string& text) {
  for (const auto& line : lines) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

std::vector<std::string> messages(const std::vector<core::Problem>& problems) {
  std::vector<std::string> msgs;
  for (const auto& problem : problems) msgs.push_back(problem.msg);
  return msgs;
}

TEST(MatchPairs, PairsClipsAndCaptionsWithCaseInsensitiveExtensions) {
  const auto match = match_pairs(
      files_named({"b_end.MOV", "b_start.mp4", "set/a_start.webm", "set/a_end.MKV", "set/a.txt", "c_start.AVI",
                   "c_end.avi"}),
      "clips.zip");
  ASSERT_EQ(match.pairs.size(), 3u);
  EXPECT_EQ(match.pairs[0].name, "a");
  EXPECT_EQ(match.pairs[0].reference.archive_path, "set/a_start.webm");
  EXPECT_EQ(match.pairs[0].target.archive_path, "set/a_end.MKV");
  ASSERT_TRUE(match.pairs[0].caption.has_value());
  EXPECT_EQ(match.pairs[0].caption->archive_path, "set/a.txt");
  EXPECT_EQ(match.pairs[1].name, "b");
  EXPECT_FALSE(match.pairs[1].caption.has_value());
  EXPECT_EQ(match.pairs[2].name, "c");
  EXPECT_TRUE(match.warnings.empty());
}

TEST(MatchPairs, BaseNamesKeepInnerUnderscoresAndDots) {
  const auto match = match_pairs(files_named({"my_clip.v2_start.mp4", "my_clip.v2_end.mp4", "my_clip.v2.txt"}), "z");
  ASSERT_EQ(match.pairs.size(), 1u);
  EXPECT_EQ(match.pairs[0].name, "my_clip.v2");
  EXPECT_TRUE(match.pairs[0].caption.has_value());
}

TEST(MatchPairs, TargetWithoutReferenceIsNamed) {
  const auto match = inspect_pairs(files_named({"a_start.mp4", "a_end.mp4", "dance_07_end.mp4"}), "clips.zip");
  ASSERT_EQ(match.problems.size(), 1u);
  EXPECT_EQ(match.problems[0].loc, (std::vector<std::string>{"body", "training_data_url", "dance_07_end.mp4"}));
  EXPECT_NE(match.problems[0].msg.find("target dance_07_end.mp4 has no reference clip: add dance_07_start.mp4"),
            std::string::npos)
      << match.problems[0].msg;
  EXPECT_EQ(match.pairs.size(), 1u);
  EXPECT_THROW(match_pairs(files_named({"a_start.mp4", "a_end.mp4", "dance_07_end.mp4"}), "clips.zip"),
               core::DatasetRejected);
}

TEST(MatchPairs, ReferenceWithoutTargetIsNamed) {
  const auto match = inspect_pairs(files_named({"set/x_start.mov"}), "clips.zip");
  ASSERT_EQ(match.problems.size(), 1u);
  EXPECT_NE(match.problems[0].msg.find("reference set/x_start.mov has no target clip: add x_end.mov"),
            std::string::npos)
      << match.problems[0].msg;
}

TEST(MatchPairs, DuplicateBaseNamesAcrossFoldersAreRefused) {
  const auto match = inspect_pairs(
      files_named({"one/a_start.mp4", "one/a_end.mp4", "two/a_start.mp4", "two/a_end.mov", "b_start.mp4", "b_end.mp4"}),
      "clips.zip");
  ASSERT_EQ(match.problems.size(), 2u);
  EXPECT_TRUE(any_contains(messages(match.problems), "a_start is used 2 times (one/a_start.mp4 and two/a_start.mp4)"));
  EXPECT_TRUE(any_contains(messages(match.problems), "a_end is used 2 times"));
  ASSERT_EQ(match.pairs.size(), 1u);
  EXPECT_EQ(match.pairs[0].name, "b");
}

TEST(MatchPairs, DuplicateCaptionsAreRefused) {
  const auto match = inspect_pairs(files_named({"a_start.mp4", "a_end.mp4", "a.txt", "set/a.TXT"}), "clips.zip");
  ASSERT_EQ(match.problems.size(), 1u);
  EXPECT_NE(match.problems[0].msg.find("caption a.txt appears 2 times"), std::string::npos);
}

TEST(MatchPairs, ReportsEveryProblemAtOnce) {
  const auto match = inspect_pairs(
      files_named({"a_end.mp4", "b_start.mp4", "x/c_start.mp4", "y/c_start.mp4", "x/c_end.mp4", "_start.mp4"}),
      "clips.zip");
  EXPECT_EQ(match.problems.size(), 4u);
  EXPECT_TRUE(any_contains(messages(match.problems), "a_end.mp4 has no reference"));
  EXPECT_TRUE(any_contains(messages(match.problems), "b_start.mp4 has no target"));
  EXPECT_TRUE(any_contains(messages(match.problems), "c_start is used 2 times"));
  EXPECT_TRUE(any_contains(messages(match.problems), "_start.mp4 has no name before _start"));
}

TEST(MatchPairs, OtherFilesAreIgnoredWithAWarningNamingThem) {
  const auto match =
      match_pairs(files_named({"a_start.mp4", "a_end.mp4", "notes.pdf", "cover.png", "dance.mp4", "b.txt"}), "z");
  EXPECT_EQ(match.pairs.size(), 1u);
  ASSERT_EQ(match.warnings.size(), 4u);
  EXPECT_TRUE(any_contains(match.warnings, "ignored notes.pdf"));
  EXPECT_TRUE(any_contains(match.warnings, "ignored cover.png"));
  EXPECT_TRUE(any_contains(match.warnings, "ignored dance.mp4: a clip's name must end in _start"));
  EXPECT_TRUE(any_contains(match.warnings, "ignored the caption b.txt"));
}

TEST(MatchPairs, OnlyUnsupportedFilesMeansNoPairs) {
  const auto match = inspect_pairs(files_named({"a.gif", "b.wav", "c.jpg"}), "clips.zip");
  ASSERT_EQ(match.problems.size(), 1u);
  EXPECT_EQ(match.problems[0].loc, (std::vector<std::string>{"body", "training_data_url"}));
  EXPECT_NE(match.problems[0].msg.find("clips.zip has no clip pairs"), std::string::npos);
  EXPECT_NE(match.problems[0].msg.find("3 other files"), std::string::npos) << match.problems[0].msg;
}

TEST(MatchPairs, CaptionsWithoutClipsMeanNoPairs) {
  const auto match = inspect_pairs(files_named({"a.txt", "b.txt"}), "clips.zip");
  ASSERT_EQ(match.problems.size(), 1u);
  EXPECT_NE(match.problems[0].msg.find("2 captions without clips"), std::string::npos) << match.problems[0].msg;
}

TEST(MatchPairs, NoFilesMeansNoPairs) {
  const auto match = inspect_pairs({}, "clips.zip");
  ASSERT_EQ(match.problems.size(), 1u);
  EXPECT_NE(match.problems[0].msg.find("holds no files"), std::string::npos);
}

TEST(IsVideoExtension, AcceptsTheFiveContainersInAnyCase) {
  for (const char* extension : {".mp4", ".MOV", ".WebM", ".mkv", ".Avi"}) EXPECT_TRUE(is_video_extension(extension));
  for (const char* extension : {".gif", ".mp3", "", ".mp4.bak", ".m4v"}) EXPECT_FALSE(is_video_extension(extension));
}

}  // namespace
}  // namespace avtrain::dataset
