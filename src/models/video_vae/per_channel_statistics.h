#pragma once
// The video latent's per-channel statistics (specs/vae_audio.md §2.9), shared by encoder and decoder.
// Keys (hyphens are real): "vae.per_channel_statistics.mean-of-means" and "...std-of-means", [C].
//   normalize(x)    = (x - mean[c]) / std[c]
//   un_normalize(z) = z * std[c] + mean[c]
// Computed in the tensor's dtype, as ltx-core does.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/layers/weight_source.h"

namespace avtrain::models {

class PerChannelStatisticsImpl : public torch::nn::Module {
 public:
  PerChannelStatisticsImpl(const WeightSource& weights, int64_t channels);
  torch::Tensor normalize(const torch::Tensor& x) const;     // x [B, C, T, H, W]
  torch::Tensor un_normalize(const torch::Tensor& z) const;  // z [B, C, T, H, W]

  torch::Tensor mean_of_means, std_of_means;  // buffers "mean-of-means", "std-of-means"
};
TORCH_MODULE(PerChannelStatistics);

}  // namespace avtrain::models
