#pragma once
// The video VAE's pixel rearrangements (specs/vae_audio.md §2.5-2.6), all on [B, C, T, H, W].

#include <torch/types.h>

#include <cstdint>

namespace avtrain::models {

// Patchify: (B, C, T, p*h, p*w) -> (B, C*p*p, T, h, w); pixel (y = p*h + q, x = p*w + r) goes to
// channel c*p*p + p*r + q (width sub-index major, einops "(c p r q)" with p_t = 1).
torch::Tensor patchify(const torch::Tensor& x, int64_t patch_size);
// The exact inverse of patchify.
torch::Tensor unpatchify(const torch::Tensor& x, int64_t patch_size);

// Space-to-depth with stride (s_t, s_h, s_w): source (c, t*s_t + i, h*s_h + j, w*s_w + k) goes to
// channel ((c*s_t + i)*s_h + j)*s_w + k (height sub-index major).
torch::Tensor space_to_depth(const torch::Tensor& x, int64_t s_t, int64_t s_h, int64_t s_w);
// The exact inverse of space_to_depth.
torch::Tensor depth_to_space(const torch::Tensor& x, int64_t s_t, int64_t s_h, int64_t s_w);

}  // namespace avtrain::models
