#include "media/probe.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "media/test_media.h"
#include "media/video_fit.h"
#include "testing/temp_dir.h"

namespace avtrain::media {
namespace {

using avtrain::testing::TempDir;

struct ContainerCase {
  std::string extension;
  std::string codec;
};

class ProbeContainers : public ::testing::TestWithParam<ContainerCase> {};

TEST_P(ProbeContainers, ReadsStreamsAndFramesOfEveryContainer) {
  const TempDir dir;
  const auto path = dir / ("clip" + GetParam().extension);
  TestClipOptions options;
  options.width = 48;
  options.height = 32;
  options.fps = 24;
  options.frames = 24;
  options.channels = 2;
  write_test_clip(path, options);

  const MediaInfo info = probe(path);
  EXPECT_EQ(info.video.codec, GetParam().codec);
  EXPECT_EQ(info.video.width, 48);
  EXPECT_EQ(info.video.height, 32);
  EXPECT_EQ(info.video.rotation, 0);
  EXPECT_NEAR(info.video.fps, 24.0, 1e-6);
  EXPECT_EQ(info.video.frame_count, 24);
  EXPECT_NEAR(info.video.duration, 1.0, 0.01);
  EXPECT_TRUE(info.audio.present);
  EXPECT_EQ(info.audio.sample_rate, 44100);
  EXPECT_EQ(info.audio.channels, 2);
  EXPECT_NEAR(info.audio.duration, 1.0, 0.05);

  const VideoFrames frames = fit_video(path, {32, 32, 24, 24.0});
  ASSERT_EQ(frames.frame_count(), 24);
  for (int frame_idx = 0; frame_idx < 24; ++frame_idx) {
    EXPECT_EQ(read_frame_index(frames.frame(frame_idx), 32, 32), frame_idx) << GetParam().extension;
  }
}

INSTANTIATE_TEST_SUITE_P(AllFive, ProbeContainers,
                         ::testing::Values(ContainerCase{".mp4", "h264"}, ContainerCase{".mov", "h264"},
                                           ContainerCase{".webm", "vp9"}, ContainerCase{".mkv", "h264"},
                                           ContainerCase{".avi", "mpeg4"}),
                         [](const auto& info) { return info.param.extension.substr(1); });

TEST(Probe, CountsFramesByDemuxingWhenTheHeaderLacksThem) {
  const TempDir dir;
  const auto path = dir / "clip.mkv";  // Matroska stores no frame count
  TestClipOptions options;
  options.frames = 30;
  options.fps = 30;
  write_test_clip(path, options);
  const MediaInfo info = probe(path);
  EXPECT_TRUE(info.video.frame_count_counted);
  EXPECT_EQ(info.video.frame_count, 30);
  EXPECT_NEAR(info.video.duration, 1.0, 0.01);
}

TEST(Probe, ReportsDisplayRotationAndTheTurnedSize) {
  const TempDir dir;
  const auto path = dir / "phone.mp4";
  TestClipOptions options;
  options.width = 64;
  options.height = 32;
  options.frames = 4;
  options.rotation = 90;
  write_test_clip(path, options);
  const MediaInfo info = probe(path);
  EXPECT_EQ(info.video.rotation, 90);
  EXPECT_EQ(info.video.width, 32);
  EXPECT_EQ(info.video.height, 64);
  EXPECT_EQ(info.video.display_width, 64);
  EXPECT_EQ(info.video.display_height, 32);
}

TEST(Probe, ReportsAClipWithoutAudio) {
  const TempDir dir;
  const auto path = dir / "silent.mp4";
  TestClipOptions options;
  options.audio = false;
  options.frames = 4;
  write_test_clip(path, options);
  EXPECT_FALSE(probe(path).audio.present);
  EXPECT_NE(to_json(probe(path)).find("\"present\": false"), std::string::npos);
}

// The error names the file and says what is wrong.
void expect_invalid(const std::filesystem::path& path, const std::string& says) {
  try {
    probe(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const core::InvalidInput& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(says), std::string::npos) << message;
  }
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(Probe, RefusesAnEmptyFile) {
  const TempDir dir;
  write_bytes(dir / "empty.mp4", "");
  expect_invalid(dir / "empty.mp4", "empty");
}

TEST(Probe, RefusesAFileThatIsNotMedia) {
  const TempDir dir;
  write_bytes(dir / "notes.mp4", "These are my notes, not a video.\n");
  expect_invalid(dir / "notes.mp4", "not a readable media file");
}

TEST(Probe, RefusesCorruptBytes) {
  const TempDir dir;
  std::string noise(4096, '\0');
  uint32_t state = 12345;
  for (auto& byte : noise) byte = static_cast<char>((state = state * 1664525u + 1013904223u) >> 24);
  write_bytes(dir / "noise.mov", noise);
  expect_invalid(dir / "noise.mov", "not a readable media file");
}

TEST(Probe, RefusesATruncatedMp4) {
  const TempDir dir;
  const auto whole = dir / "whole.mp4";
  TestClipOptions options;
  options.frames = 24;
  write_test_clip(whole, options);  // index at the end: a truncated copy has none
  std::ifstream in(whole, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_bytes(dir / "cut.mp4", bytes.substr(0, bytes.size() / 2));
  expect_invalid(dir / "cut.mp4", "truncated");
}

TEST(Probe, RefusesAnAudioOnlyFile) {
  const TempDir dir;
  // A 0.1 s 16-bit mono WAV.
  const int rate = 8000, samples = 800;
  std::string wav = "RIFF";
  const auto put32 = [&](uint32_t v) {
    for (int b = 0; b < 4; ++b) wav.push_back(static_cast<char>(v >> (8 * b)));
  };
  const auto put16 = [&](uint16_t v) {
    for (int b = 0; b < 2; ++b) wav.push_back(static_cast<char>(v >> (8 * b)));
  };
  put32(36 + samples * 2);
  wav += "WAVEfmt ";
  put32(16);
  put16(1);
  put16(1);
  put32(rate);
  put32(rate * 2);
  put16(2);
  put16(16);
  wav += "data";
  put32(samples * 2);
  for (int n = 0; n < samples; ++n)
    put16(static_cast<uint16_t>(static_cast<int16_t>(8000 * ((n / 10) % 2 ? 1 : -1))));
  write_bytes(dir / "voice.wav", wav);
  expect_invalid(dir / "voice.wav", "has no video stream (it holds audio only)");
}

TEST(Probe, RefusesAMissingFile) {
  const TempDir dir;
  expect_invalid(dir / "absent.mp4", "no such file");
}

}  // namespace
}  // namespace avtrain::media
