#pragma once
// Decode a clip and fit it to the training bucket (DECISIONS.md §10-12, §15, §17; trainer.md §1.2-1.5):
// retime to `fps` (strict window or auto-scale), honour the display rotation, resize to fill with
// swscale's bicubic filter and centre crop to width x height.

#include <filesystem>
#include <vector>

#include "media/buffers.h"

namespace avtrain::core {
class Progress;
}

namespace avtrain::media {

struct VideoFitOptions {
  int width = 0;   // bucket W
  int height = 0;  // bucket H
  int frames = 0;  // F
  double fps = 0;  // frame_rate
  // false: output frame i shows the source at i / fps, and the clip must last F / fps (§11).
  // true: the whole clip is played faster or slower: frame i shows the source at i * D / F.
  bool auto_scale = false;
};

// The reference clip's scaling (trainer.md §1.5; DECISIONS.md §12, §15).
struct ReferenceScaling {
  int downscale = 1;  // d: (W/d, H/d) from the same crop window
  int temporal = 1;   // S: frames [0, 1, 1+S, 1+2S, ...] < F at fps / S
};

// Resize-to-fill and centre-crop geometry (trainer.md §1.3): the source (after rotation) is scaled to
// scaled_width x scaled_height, then the crop window starts at (left, top).
struct FillGeometry {
  int scaled_width = 0, scaled_height = 0;
  int left = 0, top = 0;
};
FillGeometry fill_geometry(int source_width, int source_height, int width, int height);

// The source instant (seconds from the clip's start) that output frame `frame_idx` shows (§10, §11).
double source_time(int frame_idx, const VideoFitOptions& options, double clip_duration);

// Decodes `path` and returns options.frames RGB8 frames of width x height at options.fps.
// Throws core::InvalidInput naming the file when it cannot be read, has no video, or (without
// auto_scale) is shorter than frames / fps.
VideoFrames fit_video(const std::filesystem::path& path, const VideoFitOptions& options,
                      core::Progress* progress = nullptr);

// The reference variant: fit_video, then downscale by d, then temporal subsampling by S.
VideoFrames fit_reference_video(const std::filesystem::path& path, const VideoFitOptions& options,
                                const ReferenceScaling& scaling, core::Progress* progress = nullptr);

// Frames downscaled by `factor` to (W/factor, H/factor); throws core::InvalidInput when W or H is not
// divisible by it.
VideoFrames downscale_frames(const VideoFrames& frames, int factor);

// Indices [0, 1, 1+S, 1+2S, ...] < frame_count (DECISIONS.md §15).
std::vector<int> reference_frame_indices(int frame_count, int temporal);
// The frames at reference_frame_indices, at fps / S.
VideoFrames subsample_frames(const VideoFrames& frames, int temporal);

}  // namespace avtrain::media
