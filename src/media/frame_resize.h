#pragma once
// Resizing RGB8 frames with swscale's bicubic filter (DECISIONS.md §12: it widens its support when
// shrinking, i.e. antialiases, like the reference's antialiased bicubic).

#include "media/buffers.h"

namespace avtrain::media {

// Every frame resized to width x height; fps is kept.
VideoFrames resize_frames(const VideoFrames& frames, int width, int height);

}  // namespace avtrain::media
