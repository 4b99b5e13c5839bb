#pragma once
// Synthetic clips whose content can be checked after any processing (the media tests and the demo):
// every frame encodes its index in a 4x4 grid of black/white cells (robust to lossy codecs and
// resizing), the audio is a tone whose frequency identifies the clip, and a click at a known frame
// comes with a visual flash, for sync checks.
//
// Grid (in the centred largest square of the displayed frame, row-major cells): cells 0-11 hold the
// frame index (bit k in cell k, white = 1), cells 12-13 light up while the flash is on, cell 14 is
// always white and cell 15 always black (they prove the orientation). The rest of the frame is grey.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "media/buffers.h"

namespace avtrain::media {

struct TestClipOptions {
  int width = 64, height = 64;  // displayed size (after rotation)
  double fps = 24;
  int frames = 48;
  std::string video_codec;  // "h264", "vp9" or "mpeg4"; empty: vp9 for .webm, mpeg4 for .avi, h264 otherwise
  bool audio = true;
  int channels = 1;
  int sample_rate = 44100;
  double tone_hz = 440;
  double tone_amplitude = 0.25;
  int click_frame = -1;  // the click starts at this frame's time and the flash is on from it; -1: none
  int flash_frames = 3;
  int rotation =
      0;  // clockwise display rotation written as metadata (mp4 and mov); frames are stored turned back
  bool variable_frame_rate = false;  // frame durations alternate 0.6 and 1.4 times 1 / fps
  bool faststart = false;            // mp4/mov: index at the front (a truncated copy then still opens)
};

constexpr double kClickAmplitude = 0.7;
constexpr double kClickHz = 2000;
constexpr double kClickSeconds = 0.004;

// Presentation time of every frame, seconds.
std::vector<double> test_clip_frame_times(const TestClipOptions& options);
// Duration of the clip's video (the end of its last frame), seconds.
double test_clip_duration(const TestClipOptions& options);

// The displayed picture of frame `frame_idx` (RGB8, width x height).
std::vector<uint8_t> draw_test_frame(const TestClipOptions& options, int frame_idx);
// The clip's audio (planar float at sample_rate with `channels` channels).
AudioBuffer make_test_audio(const TestClipOptions& options);

// Writes the clip; the container follows the extension (.mp4 .mov .webm .mkv .avi).
void write_test_clip(const std::filesystem::path& path, const TestClipOptions& options);

// The clip's audio alone, as an audio-only file (a separate reference audio): the container and codec
// follow the extension: .wav (PCM), .mp3 (MP3), .m4a (AAC), .flac (FLAC), .ogg (Vorbis). Its length
// is the clip's video duration; `options.audio` is ignored.
void write_test_audio(const std::filesystem::path& path, const TestClipOptions& options);

// A copy of the mp4 `from` at `to` with every byte of its media data box ("mdat", after its header) set to
// 0: the index survives, so the copy opens and probes as the original, but nothing in it decodes.
void write_wiped_mp4(const std::filesystem::path& from, const std::filesystem::path& to);

// The displayed picture of frame `frame_idx`: RGB8 of options.width x options.height.
using TestFrameDrawer = std::function<std::vector<uint8_t>(int frame_idx)>;
// write_test_clip with pictures of the caller's (the demo dataset's moving scenes): frame times,
// rotation, audio (tone and click) and container follow `options` as above. Throws
// core::InternalError when `draw` returns a picture of another size.
void write_test_clip(const std::filesystem::path& path, const TestClipOptions& options,
                     const TestFrameDrawer& draw);

// The frame index a test frame shows; nullopt when the orientation cells are wrong (not a test frame,
// or turned).
std::optional<int> read_frame_index(const uint8_t* rgb, int width, int height);
// Whether the flash cells are lit.
bool flash_visible(const uint8_t* rgb, int width, int height);

}  // namespace avtrain::media
