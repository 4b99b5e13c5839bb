#pragma once
// PixelNorm followed by SiLU (specs/vae_audio.md §2.2): y = silu(x / sqrt(mean_c(x^2) + eps)) per
// (b, t, h, w) location. Every use in the video VAE is followed by SiLU, so the two are one pass,
// computed a few frames at a time (at most `chunk_elements` elements per step) so that the squares
// and the statistics never span the whole clip.

#include <torch/types.h>

#include <cstdint>

namespace avtrain::models {

// x [B, C, T, H, W] -> a new tensor of the same shape.
torch::Tensor pixel_norm_silu(const torch::Tensor& x, double eps, int64_t chunk_elements);
// The same, overwriting `x` (which must not be needed afterwards, e.g. a conv output).
void pixel_norm_silu_in_place(torch::Tensor& x, double eps, int64_t chunk_elements);

}  // namespace avtrain::models
