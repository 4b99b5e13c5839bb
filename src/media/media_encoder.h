#pragma once
// Encoding and muxing RGB8 frames and float audio into a file with FFmpeg's encoders: H.264 (libx264),
// VP9 (libvpx-vp9) or MPEG-4 part 2 video; AAC, Vorbis, Opus or PCM audio; any container FFmpeg
// writes. write_mp4 and the reels (reel.h) use it with the output settings of DECISIONS.md §25; the
// test-media generator with the others.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "media/buffers.h"

namespace avtrain::media {

struct EncoderSettings {
  // Video: RGB8 frames of width x height are converted to yuv420p. Odd sizes are rounded down to even.
  std::string video_codec = "libx264";  // FFmpeg encoder name: libx264, libvpx-vp9, mpeg4; "": audio only
  int width = 0, height = 0;
  double fps = 24;
  int crf = 18;                   // libx264 / libvpx-vp9 quality; mpeg4 gets an equivalent bit rate
  std::string preset = "medium";  // libx264 preset
  // Frame timestamps count ticks of 1 / time_base_denominator seconds; 0: one tick per frame at fps.
  int time_base_denominator = 0;
  int rotation = 0;       // display matrix: clockwise degrees a player turns the coded frames
  bool faststart = true;  // mp4/mov: index (moov) at the front of the file
  // Audio (optional): planar float input, converted to the encoder's format and rate.
  bool audio = false;
  std::string audio_codec = "aac";  // aac, libvorbis, libopus, pcm_s16le, libmp3lame, flac
  int sample_rate = kDefaultSampleRate;
  int channels = 2;

  static constexpr int kDefaultSampleRate = 48000;
};

class MediaEncoder {
 public:
  // Opens `path` for writing (the container follows the extension). Throws core::InvalidInput naming
  // the file when it cannot be created, core::InternalError when an encoder refuses the settings.
  MediaEncoder(const std::filesystem::path& path, const EncoderSettings& settings);
  ~MediaEncoder();
  MediaEncoder(const MediaEncoder&) = delete;
  MediaEncoder& operator=(const MediaEncoder&) = delete;

  // One RGB8 frame of settings.width x settings.height; pts in ticks (see time_base_denominator), or
  // -1 for the frame after the previous one.
  void add_video_frame(const uint8_t* rgb, int64_t pts = -1);
  void add_video(const VideoFrames& frames);
  // Appends samples (any rate: resampled to settings.sample_rate; channels must equal settings.channels).
  void add_audio(const AudioBuffer& audio);
  // Flushes the encoders and writes the trailer; the file is complete only after finish().
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A video with its audio track as mp4: H.264 yuv420p crf 18 (libx264), AAC stereo 48 kHz
// (DECISIONS.md §25). `audio` may be null (video only); it is resampled to 48 kHz and made stereo.
void write_mp4(const std::filesystem::path& path, const VideoFrames& video, const AudioBuffer* audio);

}  // namespace avtrain::media
