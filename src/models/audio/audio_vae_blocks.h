#pragma once
// Building blocks shared by the audio VAE encoder and decoder (vae_audio.md §8.2, §8.3): the
// spectrogram is a 2-D image [B, C, T, F] ("height" = time, "width" = mel bins); convolutions are
// causal in time. Weights come by checkpoint name from a WeightSource.

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "models/layers/weight_source.h"

namespace avtrain::models {

// y = x / sqrt(mean_c(x^2) + eps) over the channel axis (the audio VAE's "pixel" norm, eps 1e-6).
torch::Tensor audio_pixel_norm(const torch::Tensor& x, double eps);

// A 2-D convolution by name: "<name>.weight" [out, in, k, k], "<name>.bias" [out]; no padding.
class AudioConv2dImpl : public torch::nn::Module {
 public:
  AudioConv2dImpl(const WeightSource& weights, int64_t in, int64_t out, int64_t kernel, int64_t stride = 1);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;
  int64_t stride;
};
TORCH_MODULE(AudioConv2d);

// ltx-core's CausalConv2d with causality_axis "height": zero-pads k-1 rows before in time and none
// after, (k-1)/2 columns on each side in frequency, then a plain conv (child "conv"). [B,C,T,F] ->
// [B,out,T,F].
class CausalConv2dImpl : public torch::nn::Module {
 public:
  CausalConv2dImpl(const WeightSource& weights, int64_t in, int64_t out, int64_t kernel);
  torch::Tensor forward(const torch::Tensor& x);

  AudioConv2d conv{nullptr};
  int64_t kernel;
};
TORCH_MODULE(CausalConv2d);

// ResnetBlock without timestep embedding: skip(x) + conv2(SiLU(norm(conv1(SiLU(norm(x)))))), skip =
// nin_shortcut (1x1 causal conv) when in != out.
class AudioResnetBlockImpl : public torch::nn::Module {
 public:
  AudioResnetBlockImpl(const WeightSource& weights, int64_t in, int64_t out, double norm_eps);
  torch::Tensor forward(const torch::Tensor& x);

  CausalConv2d conv1{nullptr}, conv2{nullptr}, nin_shortcut{nullptr};
  double norm_eps;
};
TORCH_MODULE(AudioResnetBlock);

// Encoder downsampling: zero-pad 2 rows before (time) and 1 column after (frequency), then a plain
// k3 stride-2 conv (key "conv", no extra ".conv" level). T -> ceil(T/2), F -> F/2.
class AudioDownsampleImpl : public torch::nn::Module {
 public:
  AudioDownsampleImpl(const WeightSource& weights, int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

  AudioConv2d conv{nullptr};
};
TORCH_MODULE(AudioDownsample);

// Decoder upsampling: nearest x2 in time and frequency, causal conv (key "conv.conv"), then the
// first time row dropped. T -> 2T-1, F -> 2F.
class AudioUpsampleImpl : public torch::nn::Module {
 public:
  AudioUpsampleImpl(const WeightSource& weights, int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);

  CausalConv2d conv{nullptr};
};
TORCH_MODULE(AudioUpsample);

// The shared latent statistics (`audio_vae.per_channel_statistics.{mean-of-means,std-of-means}`,
// [z_channels * latent_mel_bins] each), applied in the patchified layout [B, T, C*F] with feature
// index c*F + f (vae_audio.md §5, §12.7).
class AudioLatentStatisticsImpl : public torch::nn::Module {
 public:
  AudioLatentStatisticsImpl(const WeightSource& weights, int64_t features);
  // [B, C, T, F] -> (x - mean) / std, same layout.
  torch::Tensor normalize(const torch::Tensor& latent);
  // [B, C, T, F] -> z * std + mean, same layout.
  torch::Tensor un_normalize(const torch::Tensor& latent);

  torch::Tensor mean_of_means, std_of_means;  // buffers "mean-of-means", "std-of-means"
};
TORCH_MODULE(AudioLatentStatistics);

// WeightSource::finish for a VAE half and the shared statistics, with the problems of both in one
// core::InvalidInput (DECISIONS.md §8: every missing key in one error).
void finish_audio_vae_weights(const WeightSource& weights, const WeightSource& statistics,
                              std::string_view component);

}  // namespace avtrain::models
