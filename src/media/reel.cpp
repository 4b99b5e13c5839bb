#include "media/reel.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "media/audio_fit.h"
#include "media/frame_resize.h"
#include "media/media_encoder.h"

namespace avtrain::media {
namespace {

VideoFrames resize_to_height(const VideoFrames& frames, int height) {
  const int width = std::max(
      2, static_cast<int>(std::lround(static_cast<double>(frames.width) * height / frames.height / 2.0)) * 2);
  return resize_frames(frames, width, height);
}

}  // namespace

int left_frame_index(int frame_idx, int output_frames, int left_frames, int left_temporal_scale) {
  if (left_frames >= output_frames) return frame_idx;
  int index = 0;
  if (left_temporal_scale > 1) {
    index = frame_idx == 0 ? 0 : 1 + (frame_idx - 1) / left_temporal_scale;
  } else if (output_frames > 1) {
    index = static_cast<int>(
        std::nearbyint(static_cast<double>(frame_idx) * (left_frames - 1) / (output_frames - 1)));
  }
  return std::clamp(index, 0, left_frames - 1);  // still short: the last frame repeats
}

VideoFrames side_by_side(const VideoFrames& left, const VideoFrames& right, int height,
                         int left_temporal_scale) {
  if (left.frame_count() == 0 || right.frame_count() == 0) {
    throw core::InternalError("side_by_side needs frames on both sides");
  }
  height = (height > 0 ? height : right.height) & ~1;
  const VideoFrames l = resize_to_height(left, height);
  const VideoFrames r = resize_to_height(right, height);
  VideoFrames out{l.width + r.width, height, right.fps, {}};
  const int frames = right.frame_count();
  out.rgb.resize(out.frame_bytes() * frames);
  for (int frame_idx = 0; frame_idx < frames; ++frame_idx) {
    const int left_idx = left_frame_index(frame_idx, frames, l.frame_count(), left_temporal_scale);
    for (int y = 0; y < height; ++y) {
      uint8_t* row = out.frame(frame_idx) + static_cast<size_t>(y) * out.width * 3;
      std::memcpy(row, l.frame(left_idx) + static_cast<size_t>(y) * l.width * 3, l.width * 3);
      std::memcpy(row + l.width * 3, r.frame(frame_idx) + static_cast<size_t>(y) * r.width * 3, r.width * 3);
    }
  }
  return out;
}

void write_reel(const std::filesystem::path& path, const std::vector<ReelClip>& clips) {
  if (clips.empty()) throw core::InternalError(path.string() + ": a reel needs at least one clip");
  const auto& first = clips.front().video;
  bool any_audio = false;
  for (size_t clip_idx = 0; clip_idx < clips.size(); ++clip_idx) {
    const auto& video = clips[clip_idx].video;
    if (video.width != first.width || video.height != first.height ||
        std::abs(video.fps - first.fps) > 1e-9) {
      throw core::InternalError(
          fmt::format("{}: reel clip {} is {}x{} at {} fps, clip 0 is {}x{} at {} fps; a reel's "
                      "clips must share size and fps",
                      path.string(), clip_idx, video.width, video.height, video.fps, first.width,
                      first.height, first.fps));
    }
    any_audio = any_audio || clips[clip_idx].audio.channels > 0;
  }
  EncoderSettings settings;
  settings.width = first.width;
  settings.height = first.height;
  settings.fps = first.fps;
  settings.audio = any_audio;
  settings.sample_rate = kOutputSampleRate;
  MediaEncoder encoder(path, settings);
  int64_t frames_so_far = 0, samples_so_far = 0;
  for (const auto& clip : clips) {
    encoder.add_video(clip.video);
    frames_so_far += clip.video.frame_count();
    if (!any_audio) continue;
    // Cumulative sample targets keep rounding from drifting across clips.
    const int64_t end =
        static_cast<int64_t>(std::floor(frames_so_far * kOutputSampleRate / first.fps + 1e-6));
    AudioBuffer audio{kOutputSampleRate, 2, {}};
    if (clip.audio.channels > 0) audio = resample_audio(to_stereo(clip.audio), kOutputSampleRate);
    encoder.add_audio(trim_or_pad(audio, end - samples_so_far));
    samples_so_far = end;
  }
  encoder.finish();
}

}  // namespace avtrain::media
