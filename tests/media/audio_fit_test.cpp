#include "media/audio_fit.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "media/probe.h"
#include "media/test_media.h"
#include "media/video_fit.h"
#include "signal_analysis.h"
#include "testing/temp_dir.h"

namespace avtrain::media {
namespace {

using avtrain::testing::TempDir;
using testing::first_above;
using testing::tone_frequency;

// Frequency over the middle half of channel 0.
double middle_frequency(const AudioBuffer& audio) {
  return tone_frequency(audio.channel(0), audio.frames() / 4, audio.frames() * 3 / 4, audio.sample_rate);
}

TEST(AudioFit, WindowIsExactlyFramesOverFpsAtTheSourceRateOr48k) {
  const TempDir dir;
  const auto path = dir / "clip.mp4";
  TestClipOptions options;  // 48 frames at 24 fps, 44.1 kHz mono
  write_test_clip(path, options);
  AudioFitOptions fit{41, 24.0};
  const AudioBuffer model = fit_audio(path, fit);
  EXPECT_EQ(model.sample_rate, 44100);
  EXPECT_EQ(model.channels, 2);      // mono duplicated
  EXPECT_EQ(model.frames(), 75337);  // floor(41 * 44100 / 24)
  EXPECT_EQ(std::vector<float>(model.channel(0), model.channel(0) + model.frames()),
            std::vector<float>(model.channel(1), model.channel(1) + model.frames()));
  fit.output_rate = kOutputSampleRate;
  const AudioBuffer file = fit_audio(path, fit);
  EXPECT_EQ(file.sample_rate, 48000);
  EXPECT_EQ(file.frames(), 82000);
  EXPECT_NEAR(middle_frequency(file), 440.0, 440.0 * 0.005);
}

TEST(AudioFit, PadsAShortTrackWithSilence) {
  const TempDir dir;
  const auto path = dir / "short.mkv";
  TestClipOptions options;
  options.frames = 24;  // 1 s of audio
  write_test_clip(path, options);
  const AudioBuffer audio = fit_audio(path, {36, 24.0, false, true, /*normalize=*/false});
  ASSERT_EQ(audio.frames(), 66150);  // 1.5 s
  EXPECT_GT(peak({audio.sample_rate, 1, std::vector<float>(audio.channel(0), audio.channel(0) + 40000)}),
            0.2f);
  EXPECT_EQ(
      peak({audio.sample_rate, 1, std::vector<float>(audio.channel(0) + 46000, audio.channel(0) + 66150)}),
      0.0f);
}

TEST(AudioFit, AutoScaleKeepsThePitchWhenAsked) {
  const TempDir dir;
  const auto path = dir / "two_seconds.mp4";
  TestClipOptions options;  // 2 s, 440 Hz
  write_test_clip(path, options);
  const AudioBuffer audio = fit_audio(path, {89, 24.0, /*auto_scale=*/true, /*preserve_pitch=*/true});
  EXPECT_EQ(audio.frames(), window_samples(89, 24.0, 44100));
  EXPECT_NEAR(audio.duration(), 3.708, 0.001);
  EXPECT_NEAR(middle_frequency(audio), 440.0, 440.0 * 0.01);
}

// A separate reference audio is an audio-only file: auto-scaled, it is stretched as its reference
// video is (AudioFitOptions::video_duration), in every format a user may give.
TEST(AudioFit, AutoScaledSeparateAudioFollowsItsVideosTimingInEveryFormat) {
  const TempDir dir;
  TestClipOptions clip;  // 2 s of video at 24 fps
  const auto video = dir / "reference.mp4";
  write_test_clip(video, clip);
  const double video_duration = probe(video).video.duration;
  for (const std::string extension : {".wav", ".mp3", ".m4a", ".flac", ".ogg"}) {
    TestClipOptions sound;  // 2 s, 660 Hz, stereo at 48 kHz
    sound.tone_hz = 660;
    sound.channels = 2;
    sound.sample_rate = 48000;
    const auto audio_file = dir / ("reference_audio" + extension);
    write_test_audio(audio_file, sound);
    AudioFitOptions options{89, 24.0, /*auto_scale=*/true, /*preserve_pitch=*/false, /*normalize=*/false};
    options.video_duration = video_duration;
    const AudioBuffer audio = fit_audio(audio_file, options);
    EXPECT_EQ(audio.frames(), window_samples(89, 24.0, 48000)) << extension;
    // Played (89 / 24) / 2 times slower, as the video: the tone falls by that factor.
    const double expected = 660.0 * video_duration / (89 / 24.0);
    EXPECT_NEAR(middle_frequency(audio), expected, expected * 0.01) << extension;
  }
}

TEST(AudioFit, AutoScaleWithoutPitchPreservationShiftsTheTone) {
  const TempDir dir;
  const auto path = dir / "two_seconds.mp4";
  TestClipOptions options;
  write_test_clip(path, options);
  const AudioBuffer audio = fit_audio(path, {89, 24.0, true, /*preserve_pitch=*/false});
  EXPECT_NEAR(audio.duration(), 3.708, 0.001);
  const double expected = 440.0 * 2.0 / (89 / 24.0);  // played 1.854 times slower: 237 Hz
  EXPECT_NEAR(middle_frequency(audio), expected, expected * 0.01);
}

TEST(AudioFit, PeakNormalizationReachesMinusOneDbfs) {
  const TempDir dir;
  const auto path = dir / "quiet.webm";
  TestClipOptions options;
  options.tone_amplitude = 0.05;
  write_test_clip(path, options);
  const AudioBuffer audio = fit_audio(path, {41, 24.0});
  EXPECT_NEAR(peak(audio), 0.891, 0.01);
  const AudioBuffer raw = fit_audio(path, {41, 24.0, false, true, /*normalize=*/false});
  EXPECT_NEAR(peak(raw), 0.05, 0.01);
}

TEST(AudioFit, LeavesDigitalSilenceUnscaled) {
  AudioBuffer silence{48000, 2, std::vector<float>(9600, 0.0f)};
  EXPECT_FALSE(normalize_peak_in_place(silence));
  EXPECT_EQ(peak(silence), 0.0f);
}

TEST(AudioFit, DownmixesWithTheTrainersCoefficients) {
  // One sample per channel: 5.1 [L, R, C, LFE, Ls, Rs] with only the centre lit.
  const AudioBuffer centre{48000, 6, {0, 0, 1, 0, 0, 0}};
  const AudioBuffer stereo = to_stereo(centre);
  ASSERT_EQ(stereo.channels, 2);
  EXPECT_NEAR(stereo.channel(0)[0], 0.707 / 2.414, 1e-6);
  EXPECT_NEAR(stereo.channel(1)[0], 0.707 / 2.414, 1e-6);
  const AudioBuffer left_only{48000, 6, {1, 0, 0, 0, 0, 0}};
  EXPECT_NEAR(to_stereo(left_only).channel(0)[0], 1 / 2.414, 1e-6);
  EXPECT_NEAR(to_stereo(left_only).channel(1)[0], 0.0, 1e-6);
  // 7.1: the left back channel (index 6) feeds the left side only.
  const AudioBuffer back{48000, 8, {0, 0, 0, 0, 0, 0, 1, 0}};
  EXPECT_NEAR(to_stereo(back).channel(0)[0], 0.707 / 3.121, 1e-6);
  EXPECT_NEAR(to_stereo(back).channel(1)[0], 0.0, 1e-6);
  const AudioBuffer quad{48000, 4, {1, 0, 0, 1}};
  EXPECT_NEAR(to_stereo(quad).channel(0)[0], 0.5, 1e-6);
}

TEST(AudioFit, DecodesStereoSurroundFromFiles) {
  const TempDir dir;
  const auto path = dir / "stereo.mov";
  TestClipOptions options;
  options.channels = 2;
  options.frames = 12;
  write_test_clip(path, options);
  const AudioBuffer audio = decode_audio(path);
  EXPECT_EQ(audio.channels, 2);
  EXPECT_NEAR(audio.duration(), 0.5, 0.05);
}

TEST(AudioFit, RefusesAClipWithoutAnAudioTrack) {
  const TempDir dir;
  const auto path = dir / "mute.mp4";
  TestClipOptions options;
  options.audio = false;
  options.frames = 4;
  write_test_clip(path, options);
  try {
    decode_audio(path);
    FAIL() << "a clip without audio was decoded";
  } catch (const core::InvalidInput& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find("no audio track"), std::string::npos) << message;
  }
}

// Sync: the click starts with the flash; after fitting, the first frame showing the flash and the click's
// onset are less than one output frame apart.
struct SyncCase {
  std::string name;
  int source_fps;
  int source_frames;
  int click_frame;
  bool auto_scale;
  bool preserve_pitch = true;
};

class AudioVideoSync : public ::testing::TestWithParam<SyncCase> {};

TEST_P(AudioVideoSync, ClickLandsWithinOneFrameOfItsFlash) {
  const auto& c = GetParam();
  const TempDir dir;
  const auto path = dir / "sync.mp4";
  TestClipOptions options;
  options.fps = c.source_fps;
  options.frames = c.source_frames;
  options.click_frame = c.click_frame;
  options.flash_frames = std::max(3, c.source_fps / 8);
  write_test_clip(path, options);
  const int frames = 41;
  const double fps = 24;
  const VideoFrames video = fit_video(path, {64, 64, frames, fps, c.auto_scale});
  int flash_frame = -1;
  for (int frame_idx = 0; frame_idx < frames && flash_frame < 0; ++frame_idx) {
    if (flash_visible(video.frame(frame_idx), 64, 64)) flash_frame = frame_idx;
  }
  ASSERT_GE(flash_frame, 0) << "no output frame shows the flash";
  const AudioBuffer audio =
      fit_audio(path, {frames, fps, c.auto_scale, c.preserve_pitch, /*normalize=*/false});
  const auto click = first_above(audio.channel(0), audio.frames(), 0.5f);
  ASSERT_TRUE(click.has_value()) << "no click in the fitted audio";
  const double click_time = static_cast<double>(*click) / audio.sample_rate;
  const double flash_time = flash_frame / fps;
  EXPECT_LT(std::abs(click_time - flash_time), 1 / fps)
      << "click at " << click_time << " s, flash at frame " << flash_frame << " (" << flash_time << " s)";
}

INSTANTIATE_TEST_SUITE_P(
    Retiming, AudioVideoSync,
    ::testing::Values(SyncCase{"From25", 25, 50, 23, false}, SyncCase{"From30", 30, 60, 29, false},
                      SyncCase{"From60", 60, 120, 61, false}, SyncCase{"AutoScaleFrom30", 30, 30, 14, true},
                      SyncCase{"AutoScaleStretch2x", 24, 20, 9, true},
                      SyncCase{"AutoScaleCompress", 30, 90, 45, true},
                      SyncCase{"AutoScaleResampled", 30, 30, 14, true, /*preserve_pitch=*/false}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace avtrain::media
