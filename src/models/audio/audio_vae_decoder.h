#pragma once
// The LTX-2.3 audio VAE decoder (`audio_vae.decoder.*`, vae_audio.md §8.3): normalized latent
// [B, 8, T', 16] -> log-mel [B, 2, 4T'-3, 64] (natural log, floor ln 1e-5). Module keys are ltx-core's
// (checkpoint keys without "audio_vae.decoder."), plus the shared "per_channel_statistics".

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <memory>

#include "core/safetensors.h"
#include "models/audio/audio_config.h"
#include "models/audio/audio_vae_blocks.h"
#include "models/audio/audio_vae_encoder.h"
#include "models/layers/weight_source.h"

namespace avtrain::models {

// One level "up.{i}": "block.{j}" (num_res_blocks + 1 of them), then "upsample" on every level but 0.
class AudioDecoderLevelImpl : public torch::nn::Module {
 public:
  AudioDecoderLevelImpl(const WeightSource& weights, int64_t in, int64_t out, int64_t blocks, bool upsamples,
                        double norm_eps);
  torch::nn::ModuleList block{nullptr};
  AudioUpsample upsample{nullptr};  // null on level 0
};
TORCH_MODULE(AudioDecoderLevel);

class AudioVaeDecoderImpl : public torch::nn::Module {
 public:
  // `weights` at "audio_vae.decoder.", `statistics` at "audio_vae.per_channel_statistics.".
  AudioVaeDecoderImpl(const WeightSource& weights, const WeightSource& statistics,
                      const AudioVaeConfig& config);
  // latent [B, z, T', mel_bins/4] (normalized) -> log-mel [B, 2, max(1, 4T'-3), mel_bins].
  torch::Tensor forward(const torch::Tensor& latent);
  // The network alone on an un-normalized latent: conv_in ... conv_out, before the crop/pad.
  torch::Tensor forward_network(const torch::Tensor& latent);

  // Mel frames the decoder gives for `latent_frames` latent frames: max(1, 4T' - 3).
  int64_t mel_frames(int64_t latent_frames) const;

  const AudioVaeConfig config;
  CausalConv2d conv_in{nullptr}, conv_out{nullptr};
  AudioMidBlock mid{nullptr};
  torch::nn::ModuleList up{nullptr};  // indexed by level: execution runs up.{L-1} ... up.0
  AudioLatentStatistics per_channel_statistics{nullptr};
};
TORCH_MODULE(AudioVaeDecoder);

// Builds the decoder from the unified checkpoint `set` (config from its metadata); strict as
// load_audio_vae_encoder.
AudioVaeDecoder load_audio_vae_decoder(std::shared_ptr<const core::SafetensorsSet> set,
                                       torch::TensorOptions options);

}  // namespace avtrain::models
