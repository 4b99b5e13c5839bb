#include "models/audio/audio_vae_encoder.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/log.h"

namespace avtrain::models {

AudioEncoderLevelImpl::AudioEncoderLevelImpl(const WeightSource& w, int64_t in, int64_t out, int64_t blocks,
                                             bool downsamples, double eps) {
  block = register_module("block", torch::nn::ModuleList());
  for (int64_t j = 0; j < blocks; ++j) {
    block->push_back(AudioResnetBlock(w.at("block").at(std::to_string(j)), j == 0 ? in : out, out, eps));
  }
  if (downsamples) downsample = register_module("downsample", AudioDownsample(w.at("downsample"), out));
}

AudioMidBlockImpl::AudioMidBlockImpl(const WeightSource& w, int64_t channels, double eps) {
  block_1 = register_module("block_1", AudioResnetBlock(w.at("block_1"), channels, channels, eps));
  block_2 = register_module("block_2", AudioResnetBlock(w.at("block_2"), channels, channels, eps));
}

torch::Tensor AudioMidBlockImpl::forward(const torch::Tensor& x) { return block_2(block_1(x)); }

AudioVaeEncoderImpl::AudioVaeEncoderImpl(const WeightSource& w, const WeightSource& statistics,
                                         const AudioVaeConfig& c)
    : config(c) {
  const auto eps = c.norm_eps;
  conv_in = register_module("conv_in", CausalConv2d(w.at("conv_in"), c.in_channels, c.ch, 3));
  down = register_module("down", torch::nn::ModuleList());
  int64_t channels = c.ch;  // in_ch_mult = (1,) + ch_mult
  for (int64_t level = 0; level < c.num_levels(); ++level) {
    const int64_t out = c.ch * c.ch_mult[level];
    down->push_back(AudioEncoderLevel(w.at("down").at(std::to_string(level)), channels, out, c.num_res_blocks,
                                      level + 1 < c.num_levels(), eps));
    channels = out;
  }
  mid = register_module("mid", AudioMidBlock(w.at("mid"), channels, eps));
  conv_out = register_module(
      "conv_out", CausalConv2d(w.at("conv_out"), channels, c.double_z ? 2 * c.z_channels : c.z_channels, 3));
  per_channel_statistics =
      register_module("per_channel_statistics", AudioLatentStatistics(statistics, c.latent_features()));
}

torch::Tensor AudioVaeEncoderImpl::forward_network(const torch::Tensor& mel) {
  TORCH_CHECK(mel.dim() == 4 && mel.size(1) == config.in_channels && mel.size(3) == config.mel_bins,
              "audio VAE encoder: expected a log-mel [B, ", config.in_channels, ", T, ", config.mel_bins,
              "], got ", mel.sizes());
  auto h = conv_in(mel);
  for (const auto& module : *down) {
    const auto level = module->as<AudioEncoderLevelImpl>();
    for (const auto& block : *level->block) h = block->as<AudioResnetBlockImpl>()->forward(h);
    if (level->downsample) h = level->downsample(h);
  }
  h = mid(h);
  return conv_out(torch::silu(audio_pixel_norm(h, config.norm_eps)));
}

torch::Tensor AudioVaeEncoderImpl::forward(const torch::Tensor& mel) {
  // The means (first z channels); the log-variances are discarded and nothing is sampled.
  const auto means = forward_network(mel).slice(1, 0, config.z_channels);
  return per_channel_statistics->normalize(means);
}

AudioVaeEncoder load_audio_vae_encoder(std::shared_ptr<const core::SafetensorsSet> set,
                                       torch::TensorOptions options) {
  const auto config = AudioVaeConfig::from_checkpoint(checkpoint_config_section(*set, "audio_vae"));
  const auto weights = WeightSource::from_checkpoint(set, "audio_vae.encoder.", options);
  const auto statistics = WeightSource::from_checkpoint(set, "audio_vae.per_channel_statistics.", options);
  AudioVaeEncoder encoder(weights, statistics, config);
  finish_audio_vae_weights(weights, statistics, "audio VAE encoder");
  encoder->eval();
  core::logger("models").info("audio VAE encoder: ch {}, {} levels, z {}, {} mel bins -> {} latent bins",
                              config.ch, config.num_levels(), config.z_channels, config.mel_bins,
                              config.latent_mel_bins());
  return encoder;
}

}  // namespace avtrain::models
