// The dataset rules on real (generated) clips inside real archives: audio on both clips, minimum
// length with and without auto_scale_input, corrupt media, the small-dataset warning.
#include "dataset/dataset_check.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "media/test_media.h"
#include "testing/temp_dir.h"
#include "zip_builder.h"

namespace avtrain::dataset {
namespace {

namespace fs = std::filesystem;
using avtrain::testing::TempDir;
using testing::read_bytes;
using testing::ZipBuilder;

// Clips generated once for the suite: 32x32 at 24 fps, 2 s with a tone, 2 s silent-track-less,
// 0.5 s short.
class DatasetCheck : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    clips_ = std::make_unique<TempDir>("avtrain-dataset-clips");
    media::TestClipOptions clip;
    clip.width = 32;
    clip.height = 32;
    clip.frames = 48;
    media::write_test_clip(clips_->path() / "long.mp4", clip);
    clip.tone_hz = 660;
    media::write_test_clip(clips_->path() / "long_other.mov", clip);
    clip.audio = false;
    media::write_test_clip(clips_->path() / "mute.mp4", clip);
    clip.audio = true;
    clip.frames = 12;
    media::write_test_clip(clips_->path() / "short.mp4", clip);
    long_ = read_bytes(clips_->path() / "long.mp4");
    long_mov_ = read_bytes(clips_->path() / "long_other.mov");
    mute_ = read_bytes(clips_->path() / "mute.mp4");
    short_ = read_bytes(clips_->path() / "short.mp4");
  }
  static void TearDownTestSuite() { clips_.reset(); }

  DatasetReport check(const ZipBuilder& builder, const DatasetOptions& options) {
    builder.write(dir_ / "clips.zip");
    return check_dataset(dir_ / "clips.zip", dir_ / "extracted", "clips.zip", options);
  }
  static DatasetOptions options_for(int frames, bool auto_scale = false) {
    DatasetOptions options;
    options.width = 32;
    options.height = 32;
    options.frames = frames;
    options.frame_rate = 24;
    options.auto_scale_input = auto_scale;
    return options;
  }
  static bool any_contains(const std::vector<std::string>& lines, const std::string& text) {
    for (const auto& line : lines) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

  TempDir dir_;
  static inline std::unique_ptr<TempDir> clips_;
  static inline std::string long_, long_mov_, mute_, short_;
};

TEST_F(DatasetCheck, AGoodSetQualifiesAndWarnsThatItIsSmall) {
  const auto report = check(ZipBuilder()
                                .file("set/a_start.mp4", long_)
                                .file("set/a_end.mov", long_mov_)
                                .file("set/a.txt", "a dog barks")
                                .file("b_start.MP4", long_)
                                .file("b_end.mp4", long_)
                                .file("__MACOSX/._b_end.mp4", "meta")
                                .file("readme.md", "hello"),
                            options_for(41));
  EXPECT_FALSE(report.rejected()) << to_text(report);
  ASSERT_EQ(report.pairs.size(), 2u);
  EXPECT_EQ(report.qualifying_count(), 2);
  EXPECT_TRUE(report.pairs[0].target.audio.present);
  EXPECT_NEAR(report.pairs[0].target.video.duration, 2.0, 0.05);
  EXPECT_EQ(report.ignored_entries, (std::vector<std::string>{"__MACOSX/._b_end.mp4"}));
  EXPECT_TRUE(any_contains(report.warnings, "2 qualifying pairs; training works, but aim for at least 10"));
  EXPECT_TRUE(any_contains(report.warnings, "the pair b has no caption"));
  EXPECT_TRUE(any_contains(report.warnings, "ignored readme.md"));
}

TEST_F(DatasetCheck, TargetWithoutAudioIsRejectedNamingIt) {
  const auto report =
      check(ZipBuilder().file("a_start.mp4", long_).file("a_end.mp4", mute_), options_for(9));
  ASSERT_EQ(report.problems.size(), 1u) << to_text(report);
  EXPECT_EQ(report.problems[0].loc, (std::vector<std::string>{"body", "training_data_url", "a_end.mp4"}));
  EXPECT_NE(report.problems[0].msg.find("a_end.mp4 has no audio track; both clips of a pair need one (its reference "
                                        "is a_start.mp4)"),
            std::string::npos)
      << report.problems[0].msg;
  EXPECT_THROW(throw_if_rejected(report), core::DatasetRejected);
}

TEST_F(DatasetCheck, ReferenceWithoutAudioIsRejectedNamingIt) {
  const auto report =
      check(ZipBuilder().file("a_start.mp4", mute_).file("a_end.mp4", long_), options_for(9));
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].loc.back(), "a_start.mp4");
}

TEST_F(DatasetCheck, TooShortPairIsSkippedWithBothLengths) {
  const auto report = check(ZipBuilder()
                                .file("a_start.mp4", long_)
                                .file("a_end.mp4", long_)
                                .file("b_start.mp4", long_)
                                .file("b_end.mp4", short_),
                            options_for(41));
  EXPECT_FALSE(report.rejected()) << to_text(report);
  EXPECT_EQ(report.qualifying_count(), 1);
  ASSERT_EQ(report.pairs.size(), 2u);
  EXPECT_FALSE(report.pairs[1].qualifies);
  const auto& reason = report.pairs[1].skip_reason;
  EXPECT_NE(reason.find("target b_end.mp4 lasts 0.500 s"), std::string::npos) << reason;
  EXPECT_NE(reason.find("41 frames at 24 fps need 1.708 s, so the target is too short"), std::string::npos) << reason;
  EXPECT_NE(reason.find("reference b_start.mp4 lasts 2.000 s"), std::string::npos) << reason;
  EXPECT_TRUE(any_contains(report.warnings, "skipped the pair b"));
}

TEST_F(DatasetCheck, NoPairLongEnoughIsRejected) {
  const auto report = check(ZipBuilder().file("a_start.mp4", short_).file("a_end.mp4", long_), options_for(41));
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].msg.find("no pair is long enough for 41 frames at 24 fps"), std::string::npos)
      << report.problems[0].msg;
  EXPECT_TRUE(any_contains(report.warnings, "reference a_start.mp4 lasts 0.500 s"));
}

TEST_F(DatasetCheck, AutoScaleAcceptsShortClips) {
  const auto report = check(ZipBuilder().file("a_start.mp4", short_).file("a_end.mp4", long_), options_for(41, true));
  EXPECT_FALSE(report.rejected()) << to_text(report);
  EXPECT_EQ(report.qualifying_count(), 1);
}

TEST_F(DatasetCheck, CorruptMediaIsRejectedNamingTheFile) {
  const auto report = check(ZipBuilder()
                                .file("a_start.mp4", long_)
                                .file("a_end.mp4", std::string(5000, '\x17'))
                                .file("b_start.mp4", long_.substr(0, 300))
                                .file("b_end.mp4", long_),
                            options_for(9));
  ASSERT_EQ(report.problems.size(), 2u) << to_text(report);
  EXPECT_EQ(report.problems[0].loc.back(), "a_end.mp4");
  EXPECT_NE(report.problems[0].msg.find("a_end.mp4 cannot be read as a video"), std::string::npos);
  // The message names the entry, not the server's extraction folder.
  EXPECT_EQ(report.problems[0].msg.find((dir_ / "extracted").string()), std::string::npos) << report.problems[0].msg;
  EXPECT_EQ(report.problems[1].loc.back(), "b_start.mp4");
}

TEST_F(DatasetCheck, ArchiveProblemsComeThroughTheReport) {
  const auto report = check(ZipBuilder().file("../a_start.mp4", long_).file("a_end.mp4", long_), options_for(9));
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(report.pairs.empty());
  EXPECT_NE(to_text(report).find("errors: 1"), std::string::npos);
}

TEST_F(DatasetCheck, PairProblemsAndMediaProblemsAreReportedTogether) {
  const auto report = check(ZipBuilder()
                                .file("a_start.mp4", long_)
                                .file("a_end.mp4", mute_)
                                .file("b_end.mp4", long_)
                                .file("c_start.mp4", long_),
                            options_for(9));
  EXPECT_EQ(report.problems.size(), 3u) << to_text(report);
}

TEST_F(DatasetCheck, ReportAsJsonAndText) {
  const auto report = check(ZipBuilder()
                                .file("a_start.mp4", long_)
                                .file("a_end.mp4", long_)
                                .file("b_start.mp4", short_)
                                .file("b_end.mp4", long_),
                            options_for(41));
  const auto json = to_json(report);
  EXPECT_EQ(json["archive"], "clips.zip");
  EXPECT_EQ(json["qualifying_pairs"], 1);
  ASSERT_EQ(json["pairs"].size(), 2u);
  EXPECT_EQ(json["pairs"][0]["decision"], "used");
  EXPECT_EQ(json["pairs"][1]["decision"], "skipped");
  EXPECT_EQ(json["pairs"][1]["reference"]["file"], "b_start.mp4");
  EXPECT_EQ(json["pairs"][1]["target"]["audio"]["sample_rate"], 44100);
  EXPECT_FALSE(json["rejected"].get<bool>());
  const auto text = to_text(report);
  EXPECT_NE(text.find("pairs: 2 matched, 1 qualifying"), std::string::npos) << text;
  EXPECT_NE(text.find("skipped: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("errors: none"), std::string::npos) << text;
}

}  // namespace
}  // namespace avtrain::dataset
