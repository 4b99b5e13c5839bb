#include "models/audio/audio_vae_decoder.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/log.h"

namespace avtrain::models {

AudioDecoderLevelImpl::AudioDecoderLevelImpl(const WeightSource& w, int64_t in, int64_t out, int64_t blocks,
                                             bool upsamples, double eps) {
  block = register_module("block", torch::nn::ModuleList());
  for (int64_t j = 0; j < blocks; ++j) {
    block->push_back(AudioResnetBlock(w.at("block").at(std::to_string(j)), j == 0 ? in : out, out, eps));
  }
  if (upsamples) upsample = register_module("upsample", AudioUpsample(w.at("upsample"), out));
}

AudioVaeDecoderImpl::AudioVaeDecoderImpl(const WeightSource& w, const WeightSource& statistics,
                                         const AudioVaeConfig& c)
    : config(c) {
  const auto eps = c.norm_eps;
  int64_t channels = c.ch * c.ch_mult.back();
  conv_in = register_module("conv_in", CausalConv2d(w.at("conv_in"), c.z_channels, channels, 3));
  mid = register_module("mid", AudioMidBlock(w.at("mid"), channels, eps));
  // Levels are built in execution order (top level first) but registered by level index, so the
  // module list "up" holds level 0 first, as ltx-core's insert(0, ...) does.
  std::vector<AudioDecoderLevel> levels(static_cast<size_t>(c.num_levels()), AudioDecoderLevel(nullptr));
  for (int64_t level = c.num_levels() - 1; level >= 0; --level) {
    const int64_t out = c.ch * c.ch_mult[level];
    levels[level] = AudioDecoderLevel(w.at("up").at(std::to_string(level)), channels, out,
                                      c.num_res_blocks + 1, level != 0, eps);
    channels = out;
  }
  up = register_module("up", torch::nn::ModuleList());
  for (auto& level : levels) up->push_back(level);
  conv_out = register_module("conv_out", CausalConv2d(w.at("conv_out"), channels, c.out_ch, 3));
  per_channel_statistics =
      register_module("per_channel_statistics", AudioLatentStatistics(statistics, c.latent_features()));
}

int64_t AudioVaeDecoderImpl::mel_frames(int64_t latent_frames) const {
  return std::max<int64_t>(1, latent_frames * config.downsample_factor() - (config.downsample_factor() - 1));
}

torch::Tensor AudioVaeDecoderImpl::forward_network(const torch::Tensor& z) {
  auto h = mid(conv_in(z));
  for (int64_t level = config.num_levels() - 1; level >= 0; --level) {
    const auto module = up[level]->as<AudioDecoderLevelImpl>();
    for (const auto& block : *module->block) h = block->as<AudioResnetBlockImpl>()->forward(h);
    if (module->upsample) h = module->upsample(h);
  }
  return conv_out(torch::silu(audio_pixel_norm(h, config.norm_eps)));
}

torch::Tensor AudioVaeDecoderImpl::forward(const torch::Tensor& latent) {
  TORCH_CHECK(
      latent.dim() == 4 && latent.size(1) == config.z_channels && latent.size(3) == config.latent_mel_bins(),
      "audio VAE decoder: expected a latent [B, ", config.z_channels, ", T', ", config.latent_mel_bins(),
      "], got ", latent.sizes());
  auto mel = forward_network(per_channel_statistics->un_normalize(latent));
  // Crop or zero-pad to the target (causal) length and the mel bins; the network gives exactly this.
  const int64_t frames = mel_frames(latent.size(2));
  namespace F = torch::nn::functional;
  mel = mel.slice(2, 0, frames).slice(3, 0, config.mel_bins);
  if (mel.size(2) < frames || mel.size(3) < config.mel_bins) {
    mel = F::pad(mel, F::PadFuncOptions({0, config.mel_bins - mel.size(3), 0, frames - mel.size(2)}));
  }
  return mel;
}

AudioVaeDecoder load_audio_vae_decoder(std::shared_ptr<const core::SafetensorsSet> set,
                                       torch::TensorOptions options) {
  const auto config = AudioVaeConfig::from_checkpoint(checkpoint_config_section(*set, "audio_vae"));
  const auto weights = WeightSource::from_checkpoint(set, "audio_vae.decoder.", options);
  const auto statistics = WeightSource::from_checkpoint(set, "audio_vae.per_channel_statistics.", options);
  AudioVaeDecoder decoder(weights, statistics, config);
  finish_audio_vae_weights(weights, statistics, "audio VAE decoder");
  decoder->eval();
  core::logger("models").info("audio VAE decoder: ch {}, {} levels, z {} -> {} mel bins", config.ch,
                              config.num_levels(), config.z_channels, config.mel_bins);
  return decoder;
}

}  // namespace avtrain::models
