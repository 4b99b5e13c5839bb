#include "models/transformer/positions.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "core/error.h"

namespace avtrain::models {
namespace {

void check_grid(int64_t frames, int64_t height, int64_t width, double fps) {
  if (frames < 1 || height < 1 || width < 1 || !(fps > 0)) {
    throw core::InvalidInput(fmt::format("video positions need a latent of at least 1x1x1 and fps > 0, got "
                                         "{}x{}x{} at {} fps",
                                         frames, height, width, fps));
  }
}

// Bounds in float32 as the reference forms them: exact integer pixel bounds, one float32 division of
// the time axis by `time_divisor`, then the optional shift (README "reference_positions").
torch::Tensor build(int64_t frames, int64_t height, int64_t width, float time_divisor, float time_shift,
                    int64_t spatial_factor, const VideoScaleFactors& f) {
  const int64_t tokens = frames * height * width;
  std::vector<float> data(static_cast<size_t>(3 * tokens * 2));
  auto at = [&](int64_t axis, int64_t token, int64_t bound) -> float& {
    return data[static_cast<size_t>((axis * tokens + token) * 2 + bound)];
  };
  for (int64_t k = 0; k < frames; ++k) {
    // Causal fix (§4.2 step 3): t <- max(t + 1 - scale, 0) on both bounds.
    const auto p0 = static_cast<float>(std::max<int64_t>(k * f.time + 1 - f.time, 0));
    const auto p1 = static_cast<float>(std::max<int64_t>((k + 1) * f.time + 1 - f.time, 0));
    float t0 = p0 / time_divisor, t1 = p1 / time_divisor;
    if (time_shift != 0.0f) {
      t0 = std::max(t0 - time_shift, 0.0f);
      t1 = std::max(t1 - time_shift, 0.0f);
    }
    for (int64_t h = 0; h < height; ++h) {
      for (int64_t w = 0; w < width; ++w) {
        const int64_t n = (k * height + h) * width + w;
        at(0, n, 0) = t0;
        at(0, n, 1) = t1;
        at(1, n, 0) = static_cast<float>(h * f.height * spatial_factor);
        at(1, n, 1) = static_cast<float>((h + 1) * f.height * spatial_factor);
        at(2, n, 0) = static_cast<float>(w * f.width * spatial_factor);
        at(2, n, 1) = static_cast<float>((w + 1) * f.width * spatial_factor);
      }
    }
  }
  return torch::from_blob(data.data(), {1, 3, tokens, 2}, torch::kFloat32).clone();
}

}  // namespace

torch::Tensor video_positions(int64_t frames, int64_t height, int64_t width, double fps,
                              const VideoScaleFactors& factors) {
  check_grid(frames, height, width, fps);
  return build(frames, height, width, static_cast<float>(fps), 0.0f, 1, factors);
}

torch::Tensor reference_video_positions(int64_t frames, int64_t height, int64_t width, double fps,
                                        int64_t spatial_factor, int64_t temporal_factor,
                                        const VideoScaleFactors& factors) {
  check_grid(frames, height, width, fps);
  if (spatial_factor < 1 || temporal_factor < 1) {
    throw core::InvalidInput(fmt::format("reference positions need factors >= 1, got spatial {} and temporal {}",
                                         spatial_factor, temporal_factor));
  }
  // fps / S in double, rounded once to float32; the shift is (S - 1) times the target's first-token end
  // t1 = 1 / fps, a float32 multiply (README "reference_positions").
  const auto divisor = static_cast<float>(fps / static_cast<double>(temporal_factor));
  float shift = 0.0f;
  if (temporal_factor != 1) {
    const float t1 = 1.0f / static_cast<float>(fps);
    shift = static_cast<float>(temporal_factor - 1) * t1;
  }
  return build(frames, height, width, divisor, shift, spatial_factor, factors);
}

torch::Tensor audio_positions(int64_t tokens, const AudioTiming& timing) {
  if (tokens < 0) throw core::InvalidInput(fmt::format("audio positions need tokens >= 0, got {}", tokens));
  std::vector<float> data(static_cast<size_t>(tokens * 2));
  const auto rate = static_cast<float>(timing.sample_rate);
  const int64_t d = timing.latent_downsample;
  for (int64_t i = 0; i < tokens; ++i) {
    // (mel_frame * hop) / sample_rate in float32 (AudioPatchifier._compute_audio_timings, shift 0).
    const auto start_frame = static_cast<float>(std::max<int64_t>(d * i + 1 - d, 0));
    const auto end_frame = static_cast<float>(d * i + 1);
    data[static_cast<size_t>(2 * i)] = start_frame * static_cast<float>(timing.hop_length) / rate;
    data[static_cast<size_t>(2 * i + 1)] = end_frame * static_cast<float>(timing.hop_length) / rate;
  }
  return torch::from_blob(data.data(), {1, 1, tokens, 2}, torch::kFloat32).clone();
}

}  // namespace avtrain::models
