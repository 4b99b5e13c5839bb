// Media that opens and probes but does not decode (DECISIONS.md §16): a clip whose compressed data was
// wiped, and audio whose format changes mid-stream (two MPEG-TS segments of different rates and channel
// counts joined byte for byte, as a careless concatenation makes). Each is refused naming the file.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "core/error.h"
#include "media/audio_fit.h"
#include "media/probe.h"
#include "media/test_media.h"
#include "media/video_fit.h"
#include "testing/temp_dir.h"

namespace avtrain::media {
namespace {

using avtrain::testing::TempDir;

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

template <typename Run>
std::string refusal(Run run) {
  try {
    run();
  } catch (const core::InvalidInput& error) {
    return error.what();
  }
  return "no refusal";
}

TEST(DamagedMedia, AClipWhoseDataWasWipedProbesButNoFrameDecodes) {
  const TempDir dir;
  TestClipOptions options;
  options.frames = 24;
  write_test_clip(dir / "clip.mp4", options);
  write_wiped_mp4(dir / "clip.mp4", dir / "wiped.mp4");

  const auto info = probe(dir / "wiped.mp4");  // the index still describes 24 frames
  EXPECT_EQ(info.video.frame_count, 24);
  const auto message = refusal([&] { fit_video(dir / "wiped.mp4", {64, 64, 9, 24.0}); });
  EXPECT_NE(message.find("wiped.mp4: no video frame could be decoded"), std::string::npos) << message;
}

TEST(DamagedMedia, AudioThatChangesFormatMidStreamIsRefusedNamingBothFormats) {
  const TempDir dir;
  TestClipOptions first;
  first.frames = 12;
  first.sample_rate = 44100;
  first.channels = 1;
  write_test_clip(dir / "a.ts", first);
  TestClipOptions second = first;
  second.sample_rate = 48000;
  second.channels = 2;
  write_test_clip(dir / "b.ts", second);
  std::ofstream(dir / "joined.ts", std::ios::binary) << read_bytes(dir / "a.ts") << read_bytes(dir / "b.ts");
  const auto message = refusal([&] { decode_audio(dir / "joined.ts"); });
  EXPECT_NE(
      message.find("joined.ts: its audio changes format mid-stream (1 ch 44100 Hz, then 2 ch 48000 Hz)"),
      std::string::npos)
      << message;
}

TEST(DamagedMedia, AnAudioTrackWhoseDataWasWipedDecodesNoSamples) {
  const TempDir dir;
  TestClipOptions options;
  options.frames = 24;
  write_test_audio(dir / "voice.m4a", options);
  write_wiped_mp4(dir / "voice.m4a", dir / "wiped.m4a");
  const auto message = refusal([&] { decode_audio(dir / "wiped.m4a"); });
  EXPECT_NE(message.find("wiped.m4a: its audio track holds no decodable samples"), std::string::npos)
      << message;
}

TEST(DamagedMedia, AStreamWithNoDecoderIsRefusedNamingTheFile) {
  const TempDir dir;
  TestClipOptions options;
  options.frames = 12;
  write_test_clip(dir / "clip.mkv", options);
  // Matroska names the codec by a string: one FFmpeg does not know leaves the stream without a decoder.
  std::string bytes = read_bytes(dir / "clip.mkv");
  const size_t codec = bytes.find("V_MPEG4/ISO/AVC");
  ASSERT_NE(codec, std::string::npos);
  bytes.replace(codec, 15, "V_XXXXX/ISO/AVC");
  std::ofstream(dir / "unknown.mkv", std::ios::binary) << bytes;
  const auto message = refusal([&] { fit_video(dir / "unknown.mkv", {64, 64, 9, 24.0}); });
  EXPECT_NE(message.find("unknown.mkv: no decoder for its unknown-codec video stream"), std::string::npos)
      << message;
}

}  // namespace
}  // namespace avtrain::media
