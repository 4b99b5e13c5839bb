#pragma once
// What a media file holds: container, video stream and audio stream (issue 4; DECISIONS.md §10-17).

#include <cstdint>
#include <filesystem>
#include <string>

namespace avtrain::media {

struct VideoStreamInfo {
  std::string codec;          // "h264", "vp9", "mpeg4", ...
  std::string pixel_format;   // "yuv420p", ...
  int width = 0, height = 0;  // coded size, before rotation
  int rotation = 0;           // clockwise degrees to turn the coded picture for display: 0, 90, 180, 270
  int display_width = 0, display_height = 0;  // size after rotation (DECISIONS.md §17)
  double fps = 0;                    // average frame rate (frame_count / duration for variable frame rate)
  int64_t frame_count = 0;           // from the header, or counted by demuxing when the header lacks it
  bool frame_count_counted = false;  // true when counted by demuxing
  double duration = 0;               // seconds
  double start_time = 0;             // seconds: the clip's time origin (video and audio windows start here)
};

struct AudioStreamInfo {
  bool present = false;
  std::string codec;
  int sample_rate = 0;
  int channels = 0;
  double duration = 0;    // seconds
  double start_time = 0;  // seconds
};

struct MediaInfo {
  std::string path;
  std::string container;  // FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"
  double duration = 0;    // of the whole file, seconds
  VideoStreamInfo video;
  AudioStreamInfo audio;
};

// Throws core::InvalidInput naming the file when it is not media, is empty or truncated so that it
// cannot be opened, or has no video stream.
MediaInfo probe(const std::filesystem::path& path);

// The probe as a JSON object (what `avtrain media probe` prints).
std::string to_json(const MediaInfo& info);

}  // namespace avtrain::media
