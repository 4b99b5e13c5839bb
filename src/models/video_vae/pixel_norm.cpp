#include "models/video_vae/pixel_norm.h"

#include <torch/torch.h>

#include <algorithm>

namespace avtrain::models {
namespace {

// Frames per step so that one step touches at most `chunk_elements` elements.
int64_t frames_per_step(const torch::Tensor& x, int64_t chunk_elements) {
  const int64_t per_frame = std::max<int64_t>(1, x.size(0) * x.size(1) * x.size(3) * x.size(4));
  return std::max<int64_t>(1, chunk_elements / per_frame);
}

// ltx-core's PixelNorm operation order: x / sqrt(mean(x**2, dim=1) + eps).
torch::Tensor rms(const torch::Tensor& x, double eps) {
  return torch::sqrt(torch::mean(x.square(), /*dim=*/1, /*keepdim=*/true) + eps);
}

}  // namespace

torch::Tensor pixel_norm_silu(const torch::Tensor& x, double eps, int64_t chunk_elements) {
  const int64_t frames = x.size(2);
  const int64_t step = frames_per_step(x, chunk_elements);
  if (step >= frames) return torch::silu(x / rms(x, eps));
  auto out = torch::empty_like(x);
  for (int64_t first = 0; first < frames; first += step) {
    const auto part = x.narrow(2, first, std::min(step, frames - first));
    out.narrow(2, first, part.size(2)).copy_(torch::silu(part / rms(part, eps)));
  }
  return out;
}

void pixel_norm_silu_in_place(torch::Tensor& x, double eps, int64_t chunk_elements) {
  const int64_t frames = x.size(2);
  const int64_t step = frames_per_step(x, chunk_elements);
  for (int64_t first = 0; first < frames; first += step) {
    auto part = x.narrow(2, first, std::min(step, frames - first));
    part.div_(rms(part, eps));
    torch::silu_(part);
  }
}

}  // namespace avtrain::models
