#pragma once
// BigVGAN-v2's anti-aliased SnakeBeta activation (vae_audio.md §9.1 "Activation1d"): upsample x2 with
// a 12-tap Kaiser-sinc filter, SnakeBeta, low-pass and downsample x2. The filters are persistent
// buffers of the checkpoint ("upsample.filter", "downsample.lowpass.filter", [1, 1, 12]) and are
// loaded, not recomputed: the reference uses the stored (possibly bf16-rounded) values.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/layers/weight_source.h"

namespace avtrain::models {

// BigVGAN's kaiser_sinc_filter1d(cutoff, half_width, kernel_size) -> [1, 1, kernel_size] float32: the
// values ltx-core computes for the buffers (cutoff 0.25, half-width 0.3, 12 taps), for writers of
// random checkpoints (a random draw would not be a low-pass filter).
torch::Tensor kaiser_sinc_filter(double cutoff, double half_width, int64_t kernel_size);

// y = x + sin^2(exp(alpha) x) / (exp(beta) + 1e-9), per channel; "alpha", "beta" [C] in log scale.
class SnakeBetaImpl : public torch::nn::Module {
 public:
  SnakeBetaImpl(const WeightSource& weights, int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, L]
  torch::Tensor alpha, beta;
};
TORCH_MODULE(SnakeBeta);

// A module holding one depthwise filter buffer "filter" [1, 1, taps].
class AntiAliasFilterImpl : public torch::nn::Module {
 public:
  explicit AntiAliasFilterImpl(const WeightSource& weights);
  torch::Tensor filter;
};
TORCH_MODULE(AntiAliasFilter);

// "downsample" holds its filter one level down ("downsample.lowpass.filter").
class AntiAliasDownsampleImpl : public torch::nn::Module {
 public:
  explicit AntiAliasDownsampleImpl(const WeightSource& weights);
  AntiAliasFilter lowpass{nullptr};
};
TORCH_MODULE(AntiAliasDownsample);

// Keys "act.{alpha,beta}", "upsample.filter", "downsample.lowpass.filter". [B, C, L] -> [B, C, L].
class AntiAliasedSnakeBetaImpl : public torch::nn::Module {
 public:
  AntiAliasedSnakeBetaImpl(const WeightSource& weights, int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

  SnakeBeta act{nullptr};
  AntiAliasFilter upsample{nullptr};
  AntiAliasDownsample downsample{nullptr};
};
TORCH_MODULE(AntiAliasedSnakeBeta);

}  // namespace avtrain::models
