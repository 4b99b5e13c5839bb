#include "media/video_fit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "media/frame_resize.h"
#include "media/probe.h"
#include "media/test_media.h"
#include "testing/temp_dir.h"

namespace avtrain::media {
namespace {

using avtrain::testing::TempDir;

std::vector<std::optional<int>> read_indices(const VideoFrames& frames) {
  std::vector<std::optional<int>> indices;
  for (int frame_idx = 0; frame_idx < frames.frame_count(); ++frame_idx) {
    indices.push_back(read_frame_index(frames.frame(frame_idx), frames.width, frames.height));
  }
  return indices;
}

// Index of the latest frame whose time is <= t (DECISIONS.md §10).
int frame_on_screen(const std::vector<double>& times, double t) {
  int shown = 0;
  for (int frame_idx = 0; frame_idx < static_cast<int>(times.size()); ++frame_idx) {
    if (times[frame_idx] <= t + 1e-9) shown = frame_idx;
  }
  return shown;
}

class RetimeTo24 : public ::testing::TestWithParam<int> {};

TEST_P(RetimeTo24, SelectsTheFrameOnScreenAtEachOutputInstant) {
  const int source_fps = GetParam();
  const TempDir dir;
  const auto path = dir / "clip.mp4";
  TestClipOptions options;
  options.fps = source_fps;
  options.frames = 2 * source_fps;
  write_test_clip(path, options);

  const int frames = 41;  // 1.708 s of the 2 s clip
  const VideoFrames fitted = fit_video(path, {64, 64, frames, 24.0});
  ASSERT_EQ(fitted.frame_count(), frames);
  EXPECT_EQ(fitted.fps, 24.0);
  const auto times = test_clip_frame_times(options);
  const auto indices = read_indices(fitted);
  for (int frame_idx = 0; frame_idx < frames; ++frame_idx) {
    EXPECT_EQ(indices[frame_idx], frame_on_screen(times, frame_idx / 24.0)) << "output frame " << frame_idx;
  }
}

INSTANTIATE_TEST_SUITE_P(SourceRates, RetimeTo24, ::testing::Values(24, 25, 30, 60));

TEST(VideoFit, VariableFrameRateShowsTheLatestFrameBeforeEachInstant) {
  const TempDir dir;
  const auto path = dir / "vfr.mkv";
  TestClipOptions options;
  options.fps = 30;
  options.frames = 60;
  options.variable_frame_rate = true;
  write_test_clip(path, options);
  const int frames = 33;
  const VideoFrames fitted = fit_video(path, {64, 64, frames, 24.0});
  const auto times = test_clip_frame_times(options);
  const auto indices = read_indices(fitted);
  for (int frame_idx = 0; frame_idx < frames; ++frame_idx) {
    EXPECT_EQ(indices[frame_idx], frame_on_screen(times, frame_idx / 24.0)) << "output frame " << frame_idx;
  }
}

TEST(VideoFit, AutoScaleSpreadsTheWholeClipOverTheFrames) {
  const TempDir dir;
  const auto path = dir / "short.mp4";
  TestClipOptions options;
  options.fps = 30;
  options.frames = 60;  // 2 s
  write_test_clip(path, options);
  VideoFitOptions fit{64, 64, 89, 24.0, /*auto_scale=*/true};
  const VideoFrames fitted = fit_video(path, fit);
  ASSERT_EQ(fitted.frame_count(), 89);
  const auto times = test_clip_frame_times(options);
  const auto indices = read_indices(fitted);
  for (int frame_idx = 0; frame_idx < 89; ++frame_idx) {
    EXPECT_EQ(indices[frame_idx], frame_on_screen(times, frame_idx * 2.0 / 89))
        << "output frame " << frame_idx;
  }
  EXPECT_EQ(indices.back(), 59);
}

TEST(VideoFit, RefusesAClipShorterThanTheWindowAndSaysWhatToDo) {
  const TempDir dir;
  const auto path = dir / "one_second.mp4";
  TestClipOptions options;
  options.frames = 24;
  write_test_clip(path, options);
  try {
    fit_video(path, {64, 64, 41, 24.0});
    FAIL() << "a 1 s clip filled a 1.708 s window";
  } catch (const core::InvalidInput& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find("1.708 s"), std::string::npos) << message;
    EXPECT_NE(message.find("auto_scale_input"), std::string::npos) << message;
  }
}

TEST(VideoFit, RefusesATruncatedClipWhoseIndexSurvived) {
  const TempDir dir;
  const auto whole = dir / "whole.mp4";
  TestClipOptions options;
  options.frames = 48;
  options.audio = false;     // every byte after the index is video
  options.faststart = true;  // index first: the cut copy still opens and claims 2 s
  write_test_clip(whole, options);
  std::ifstream in(whole, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto cut = dir / "cut.mp4";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  try {
    fit_video(cut, {64, 64, 41, 24.0});
    FAIL() << "a truncated clip was fitted";
  } catch (const core::InvalidInput& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(cut.string()), std::string::npos) << message;
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  }
}

class Rotation : public ::testing::TestWithParam<int> {};

TEST_P(Rotation, IsHonouredBeforeFitting) {
  const TempDir dir;
  const auto path = dir / "phone.mov";
  TestClipOptions options;
  options.width = 96;
  options.height = 64;
  options.frames = 12;
  options.rotation = GetParam();
  write_test_clip(path, options);
  const VideoFrames fitted = fit_video(path, {32, 32, 12, 24.0});
  const auto indices = read_indices(fitted);
  for (int frame_idx = 0; frame_idx < 12; ++frame_idx) {
    EXPECT_EQ(indices[frame_idx], frame_idx) << "rotation " << GetParam() << ", frame " << frame_idx;
  }
}

INSTANTIATE_TEST_SUITE_P(QuarterTurns, Rotation, ::testing::Values(0, 90, 180, 270));

TEST(VideoFit, CentreCropsAWideClip) {
  const TempDir dir;
  const auto path = dir / "wide.mp4";
  TestClipOptions options;
  options.width = 128;
  options.height = 64;  // the grid fills the centre 64x64 square, grey beside it
  options.frames = 8;
  write_test_clip(path, options);
  const VideoFrames fitted = fit_video(path, {32, 32, 8, 24.0});
  const auto indices = read_indices(fitted);
  for (int frame_idx = 0; frame_idx < 8; ++frame_idx) EXPECT_EQ(indices[frame_idx], frame_idx);
}

TEST(VideoFit, FillGeometryScalesTheShortSideAndCentresTheCrop) {
  const auto landscape = fill_geometry(1920, 1080, 768, 768);
  EXPECT_EQ(landscape.scaled_width, 1365);  // int(1920 * 768 / 1080), trainer.md §1.3
  EXPECT_EQ(landscape.scaled_height, 768);
  EXPECT_EQ(landscape.left, 298);
  EXPECT_EQ(landscape.top, 0);
  const auto portrait = fill_geometry(1080, 1920, 768, 448);
  EXPECT_EQ(portrait.scaled_width, 768);
  EXPECT_EQ(portrait.scaled_height, 1365);
  EXPECT_EQ(portrait.top, (1365 - 448) / 2);
}

TEST(VideoFit, ReferenceIndicesKeepFrameZeroThenEverySth) {
  EXPECT_EQ(reference_frame_indices(17, 2), (std::vector<int>{0, 1, 3, 5, 7, 9, 11, 13, 15}));
  EXPECT_EQ(reference_frame_indices(9, 1).size(), 9u);
  EXPECT_EQ(reference_frame_indices(25, 3), (std::vector<int>{0, 1, 4, 7, 10, 13, 16, 19, 22}));
}

TEST(VideoFit, ReferenceVariantDownscalesTheSameWindowThenSubsamples) {
  const TempDir dir;
  const auto path = dir / "reference.mp4";
  TestClipOptions options;
  options.width = 96;
  options.height = 64;
  options.frames = 24;
  write_test_clip(path, options);
  const VideoFitOptions fit{64, 64, 17, 24.0};
  const VideoFrames reference = fit_reference_video(path, fit, {/*downscale=*/2, /*temporal=*/2});
  EXPECT_EQ(reference.width, 32);
  EXPECT_EQ(reference.height, 32);
  EXPECT_DOUBLE_EQ(reference.fps, 12.0);
  const auto indices = read_indices(reference);
  EXPECT_EQ(indices, (std::vector<std::optional<int>>{0, 1, 3, 5, 7, 9, 11, 13, 15}));
  // Same crop window as the full-size fit, then downscaled: pixel for pixel the resized full fit.
  const VideoFrames full = fit_video(path, fit);
  const VideoFrames expected = resize_frames(subsample_frames(full, 2), 32, 32);
  EXPECT_EQ(reference.rgb, expected.rgb);
}

TEST(VideoFit, DownscaleRefusesAFactorThatDoesNotDivideTheSize) {
  const VideoFrames frames{48, 48, 24, std::vector<uint8_t>(48 * 48 * 3)};
  EXPECT_THROW(downscale_frames(frames, 5), core::InvalidInput);
}

}  // namespace
}  // namespace avtrain::media
