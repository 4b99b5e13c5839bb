#pragma once
// Validation reels (DECISIONS.md §25; trainer.md §5.7): [reference | generated] side by side at a
// common height, and samples one after another in a single mp4 that carries their audio.

#include <filesystem>
#include <vector>

#include "media/buffers.h"

namespace avtrain::media {

// One sample of a reel; audio with channels == 0 is silence.
struct ReelClip {
  VideoFrames video;
  AudioBuffer audio;
};

// The frame of a shorter `left` clip shown beside output frame `frame_idx` (trainer.md §5.7): with a
// temporally subsampled reference (S > 1) [0] + [1 + (i - 1) / S], otherwise linspace(0, n - 1, F)
// rounded; clamped to the frames that exist.
int left_frame_index(int frame_idx, int output_frames, int left_frames, int left_temporal_scale);

// [left | right] at `height` (0: right's height): each side scaled with bicubic swscale keeping its aspect
// ratio (widths rounded to even), right's frame count and fps; left follows left_frame_index.
VideoFrames side_by_side(const VideoFrames& left, const VideoFrames& right, int height = 0,
                         int left_temporal_scale = 1);

// The clips one after another in one mp4 (H.264 crf 18 yuv420p, AAC stereo 48 kHz when any clip has
// audio). Every clip must have the first one's size and fps; each clip's audio is trimmed or padded to
// its video's duration so that the clips stay in sync.
void write_reel(const std::filesystem::path& path, const std::vector<ReelClip>& clips);

}  // namespace avtrain::media
