#pragma once
// The plain buffers the media layer hands out (DECISIONS.md §13): RGB8 frames and float PCM, never
// LibTorch tensors; `dataset` turns them into tensors.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace avtrain::media {

// F frames of H x W RGB8, frame-major then row-major: rgb[((f * H + y) * W + x) * 3 + c].
struct VideoFrames {
  int width = 0;
  int height = 0;
  double fps = 0;  // the rate the frames play at (frame_rate, or frame_rate / S for a subsampled reference)
  std::vector<uint8_t> rgb;

  size_t frame_bytes() const { return static_cast<size_t>(width) * height * 3; }
  int frame_count() const { return frame_bytes() == 0 ? 0 : static_cast<int>(rgb.size() / frame_bytes()); }
  const uint8_t* frame(int frame_idx) const { return rgb.data() + frame_idx * frame_bytes(); }
  uint8_t* frame(int frame_idx) { return rgb.data() + frame_idx * frame_bytes(); }
};

// Float PCM in [-1, 1], PLANAR (channel-major): samples[channel * frames() + n], so that it maps
// directly onto a [channels, N] tensor, the layout of the audio front end (trainer.md §1.7).
struct AudioBuffer {
  int sample_rate = 0;
  int channels = 0;
  std::vector<float> samples;

  int64_t frames() const { return channels == 0 ? 0 : static_cast<int64_t>(samples.size()) / channels; }
  double duration() const { return sample_rate == 0 ? 0.0 : static_cast<double>(frames()) / sample_rate; }
  const float* channel(int channel_idx) const { return samples.data() + channel_idx * frames(); }
  float* channel(int channel_idx) { return samples.data() + channel_idx * frames(); }
};

}  // namespace avtrain::media
