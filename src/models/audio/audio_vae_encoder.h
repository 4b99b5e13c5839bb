#pragma once
// The LTX-2.3 audio VAE encoder (`audio_vae.encoder.*`, vae_audio.md §8.2): log-mel [B, 2, T, 64] ->
// normalized latent means [B, 8, ceil(T/4), 16]. Keys of the module tree are ltx-core's module keys
// (the checkpoint keys without "audio_vae.encoder."), plus the shared "per_channel_statistics".

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <memory>

#include "core/safetensors.h"
#include "models/audio/audio_config.h"
#include "models/audio/audio_vae_blocks.h"
#include "models/layers/weight_source.h"

namespace avtrain::models {

// One resolution level: "block.{j}" resnet blocks, then "downsample" on every level but the last.
class AudioEncoderLevelImpl : public torch::nn::Module {
 public:
  AudioEncoderLevelImpl(const WeightSource& weights, int64_t in, int64_t out, int64_t blocks,
                        bool downsamples, double norm_eps);
  torch::nn::ModuleList block{nullptr};
  AudioDownsample downsample{nullptr};  // null on the last level
};
TORCH_MODULE(AudioEncoderLevel);

// "mid.block_1", "mid.block_2" (mid.attn_1 is an Identity in LTX-2.3: no keys).
class AudioMidBlockImpl : public torch::nn::Module {
 public:
  AudioMidBlockImpl(const WeightSource& weights, int64_t channels, double norm_eps);
  torch::Tensor forward(const torch::Tensor& x);
  AudioResnetBlock block_1{nullptr}, block_2{nullptr};
};
TORCH_MODULE(AudioMidBlock);

class AudioVaeEncoderImpl : public torch::nn::Module {
 public:
  // `weights` at "audio_vae.encoder.", `statistics` at "audio_vae.per_channel_statistics.".
  AudioVaeEncoderImpl(const WeightSource& weights, const WeightSource& statistics,
                      const AudioVaeConfig& config);
  // mel [B, 2, T, mel_bins] -> normalized means [B, z, ceil(T/4), mel_bins/4] (steps 1-10 of §8.2).
  torch::Tensor forward(const torch::Tensor& mel);
  // The network alone: [B, 2, T, mel_bins] -> conv_out [B, 2z, ceil(T/4), mel_bins/4] (means, then
  // log-variances).
  torch::Tensor forward_network(const torch::Tensor& mel);

  const AudioVaeConfig config;
  CausalConv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down{nullptr};
  AudioMidBlock mid{nullptr};
  AudioLatentStatistics per_channel_statistics{nullptr};
};
TORCH_MODULE(AudioVaeEncoder);

// Builds the encoder from the unified checkpoint `set` (config from its metadata) with tensors in
// `options` (dtype, device); every missing key and wrong shape is listed in one core::InvalidInput.
AudioVaeEncoder load_audio_vae_encoder(std::shared_ptr<const core::SafetensorsSet> set,
                                       torch::TensorOptions options);

}  // namespace avtrain::models
