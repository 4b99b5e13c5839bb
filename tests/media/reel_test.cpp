#include "media/reel.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "media/audio_fit.h"
#include "media/media_encoder.h"
#include "media/probe.h"
#include "media/test_media.h"
#include "media/video_fit.h"
#include "signal_analysis.h"
#include "testing/temp_dir.h"

namespace avtrain::media {
namespace {

using avtrain::testing::TempDir;
using testing::tone_frequency;

// Test frames first_index.. as a clip of `count` frames, size x size.
VideoFrames test_frames(int size, int count, int first_index, double fps = 24) {
  TestClipOptions options;
  options.width = options.height = size;
  VideoFrames frames{size, size, fps, {}};
  for (int frame_idx = 0; frame_idx < count; ++frame_idx) {
    const auto rgb = draw_test_frame(options, first_index + frame_idx);
    frames.rgb.insert(frames.rgb.end(), rgb.begin(), rgb.end());
  }
  return frames;
}

AudioBuffer tone(double hz, double seconds, int rate = 44100) {
  TestClipOptions options;
  options.tone_hz = hz;
  options.sample_rate = rate;
  options.fps = 100;
  options.frames = static_cast<int>(seconds * 100);
  return make_test_audio(options);
}

TEST(WriteMp4, WritesH264Yuv420pWithAacStereo48k) {
  const TempDir dir;
  const auto path = dir / "out.mp4";
  const VideoFrames video = test_frames(64, 17, 0);
  const AudioBuffer audio = tone(440, 17 / 24.0);  // mono 44.1 kHz: made stereo 48 kHz
  write_mp4(path, video, &audio);
  const MediaInfo info = probe(path);
  EXPECT_EQ(info.video.codec, "h264");
  EXPECT_EQ(info.video.pixel_format, "yuv420p");
  EXPECT_EQ(info.video.frame_count, 17);
  EXPECT_NEAR(info.video.fps, 24, 1e-6);
  ASSERT_TRUE(info.audio.present);
  EXPECT_EQ(info.audio.codec, "aac");
  EXPECT_EQ(info.audio.sample_rate, 48000);
  EXPECT_EQ(info.audio.channels, 2);

  const VideoFrames back = fit_video(path, {64, 64, 17, 24.0});
  for (int frame_idx = 0; frame_idx < 17; ++frame_idx) {
    EXPECT_EQ(read_frame_index(back.frame(frame_idx), 64, 64), frame_idx);
  }
  const AudioBuffer sound = fit_audio(path, {17, 24.0, false, true, false});
  EXPECT_NEAR(tone_frequency(sound.channel(1), 2000, sound.frames() - 2000, sound.sample_rate), 440, 2);
}

// Columns [x0, x0 + width) of every frame.
VideoFrames columns(const VideoFrames& frames, int x0, int width) {
  VideoFrames out{width, frames.height, frames.fps, {}};
  for (int frame_idx = 0; frame_idx < frames.frame_count(); ++frame_idx) {
    for (int y = 0; y < frames.height; ++y) {
      const uint8_t* row = frames.frame(frame_idx) + (static_cast<size_t>(y) * frames.width + x0) * 3;
      out.rgb.insert(out.rgb.end(), row, row + width * 3);
    }
  }
  return out;
}

TEST(SideBySide, ScalesBothClipsToACommonHeight) {
  const VideoFrames reference = test_frames(32, 9, 0);  // e.g. a reference downscaled by 2
  const VideoFrames generated = test_frames(64, 9, 100);
  const VideoFrames both = side_by_side(reference, generated);
  ASSERT_EQ(both.height, 64);
  ASSERT_EQ(both.width, 128);
  ASSERT_EQ(both.frame_count(), 9);
  const VideoFrames left = columns(both, 0, 64), right = columns(both, 64, 64);
  for (int frame_idx = 0; frame_idx < 9; ++frame_idx) {
    EXPECT_EQ(read_frame_index(left.frame(frame_idx), 64, 64), frame_idx);
    EXPECT_EQ(read_frame_index(right.frame(frame_idx), 64, 64), 100 + frame_idx);
  }
}

TEST(SideBySide, StretchesASubsampledReferenceLikeTheTrainer) {
  // A reference subsampled with S = 2 from 17 frames holds source frames [0, 1, 3, ..., 15].
  const VideoFrames reference = subsample_frames(test_frames(32, 17, 0), 2);
  const VideoFrames generated = test_frames(48, 17, 200);
  const VideoFrames both = side_by_side(reference, generated, 48, /*left_temporal_scale=*/2);
  ASSERT_EQ(both.width, 96);
  const VideoFrames left = columns(both, 0, 48);
  const std::vector<int> shown = {0, 1, 1,  3,  3,  5,  5,  7, 7,
                                  9, 9, 11, 11, 13, 13, 15, 15};  // [0] + [1 + (i-1)//2]
  for (int frame_idx = 0; frame_idx < 17; ++frame_idx) {
    EXPECT_EQ(read_frame_index(left.frame(frame_idx), 48, 48), shown[frame_idx])
        << "output frame " << frame_idx;
  }
}

TEST(Reel, ConcatenatesClipsWithTheirAudioInOrder) {
  const TempDir dir;
  const auto path = dir / "reel.mp4";
  std::vector<ReelClip> clips;
  clips.push_back({test_frames(64, 12, 0), tone(440, 0.5)});
  clips.push_back({test_frames(64, 12, 300), tone(880, 0.5, 48000)});
  write_reel(path, clips);
  const MediaInfo info = probe(path);
  EXPECT_EQ(info.video.frame_count, 24);
  EXPECT_EQ(info.audio.sample_rate, 48000);
  const VideoFrames back = fit_video(path, {64, 64, 24, 24.0});
  for (int frame_idx = 0; frame_idx < 24; ++frame_idx) {
    EXPECT_EQ(read_frame_index(back.frame(frame_idx), 64, 64), frame_idx < 12 ? frame_idx : 288 + frame_idx);
  }
  const AudioBuffer sound = fit_audio(path, {24, 24.0, false, true, false});
  ASSERT_EQ(sound.frames(), 48000);
  EXPECT_NEAR(tone_frequency(sound.channel(0), 3000, 21000, 48000), 440, 2);
  EXPECT_NEAR(tone_frequency(sound.channel(0), 27000, 45000, 48000), 880, 4);
}

TEST(Reel, RefusesClipsOfDifferentSizes) {
  const TempDir dir;
  std::vector<ReelClip> clips;
  clips.push_back({test_frames(64, 2, 0), {}});
  clips.push_back({test_frames(32, 2, 0), {}});
  EXPECT_THROW(write_reel(dir / "reel.mp4", clips), core::InternalError);
}

}  // namespace
}  // namespace avtrain::media
