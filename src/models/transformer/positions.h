#pragma once
// Token positions for RoPE (transformer.md §4.2, §10): per-token [start, end) bounds in float32,
// video axes (time s, y px, x px), audio axis (time s), tokens in patchify order (frame, row, column).
// Training and sampling build target and IC-LoRA reference positions with these.

#include <torch/types.h>

#include <cstdint>

namespace avtrain::models {

// The video VAE's latent-to-pixel factors (32x32x8 for LTX-2.3, transformer.md §1.2).
struct VideoScaleFactors {
  int64_t time = 8, height = 32, width = 32;
};

// The audio latent timeline (transformer.md §1.2): 16 kHz, hop 160, 4 mel frames per latent.
struct AudioTiming {
  int64_t sample_rate = 16000, hop_length = 160, latent_downsample = 4;
};

// Target video tokens of a latent [frames, height, width]: [1, 3, F*H*W, 2] float32. Latent frame 0 is
// causal ([0, 1) pixel frames), frame f >= 1 spans pixel frames [8f - 7, 8f + 1); time is divided by fps.
torch::Tensor video_positions(int64_t frames, int64_t height, int64_t width, double fps,
                              const VideoScaleFactors& factors = {});

// IC-LoRA reference tokens of a reference latent [frames, height, width] that was downscaled spatially by
// `spatial_factor` d and subsampled in time by `temporal_factor` S (keeping frame 0, then every S-th):
// spatial bounds times d, time divided by fps/S and shifted by -(S - 1)/fps, clamped at 0 (§10). With
// d = S = 1 equal to video_positions. The float32 operation order of golden/reference_positions
// (README "reference_positions") is followed, so values are bit-exact on the CPU.
torch::Tensor reference_video_positions(int64_t frames, int64_t height, int64_t width, double fps,
                                        int64_t spatial_factor, int64_t temporal_factor,
                                        const VideoScaleFactors& factors = {});

// Audio tokens 0..tokens-1: [1, 1, T, 2] float32, token i = [max(4i - 3, 0), 4i + 1) * 160 / 16000 s.
// An audio reference uses the same 0-based timeline (transformer.md §10).
torch::Tensor audio_positions(int64_t tokens, const AudioTiming& timing = {});

}  // namespace avtrain::models
