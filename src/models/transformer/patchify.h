#pragma once
// Latent <-> token layout of the transformer (transformer.md §4.1), patch size 1.

#include <torch/types.h>

#include <cstdint>

namespace avtrain::models {

// [B, C, F, H, W] -> [B, F*H*W, C], token n = (f*H + h)*W + w. Also for denoise masks [B, 1, F, H, W].
torch::Tensor patchify_video(const torch::Tensor& latent);
// The exact inverse: [B, F*H*W, C] -> [B, C, F, H, W].
torch::Tensor unpatchify_video(const torch::Tensor& tokens, int64_t frames, int64_t height, int64_t width);

// [B, C, T, M] -> [B, T, C*M], feature c*M + m (channel-major, mel bin minor).
torch::Tensor patchify_audio(const torch::Tensor& latent);
// The exact inverse: [B, T, C*M] -> [B, C, T, M].
torch::Tensor unpatchify_audio(const torch::Tensor& tokens, int64_t channels, int64_t mel_bins);

}  // namespace avtrain::models
