#pragma once
// Shared set-up of the video VAE tests: the tiny config of golden/README.md (latent 8, encoder base 8,
// decoder base 4, every LTX-2.3 flag) and a seeded random tiny model built from it.

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "models/layers/weight_source.h"
#include "models/video_vae/video_vae_config.h"
#include "models/video_vae/video_vae_decoder.h"
#include "models/video_vae/video_vae_encoder.h"

namespace avtrain::models::video_vae_testing {

inline nlohmann::json tiny_checkpoint_config() {
  return nlohmann::json::parse(R"({"vae": {
    "_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3, "latent_channels": 8,
    "encoder_blocks": [["res_x", {"num_layers": 2}], ["compress_space_res", {"multiplier": 2}],
                       ["res_x", {"num_layers": 1}], ["compress_time_res", {"multiplier": 2}],
                       ["res_x", {"num_layers": 1}], ["compress_all_res", {"multiplier": 2}],
                       ["res_x", {"num_layers": 1}], ["compress_all_res", {"multiplier": 1}],
                       ["res_x", {"num_layers": 1}]],
    "decoder_blocks": [["res_x", {"num_layers": 1}], ["compress_space", {"multiplier": 2}],
                       ["res_x", {"num_layers": 1}], ["compress_time", {"multiplier": 2}],
                       ["res_x", {"num_layers": 1}], ["compress_all", {"multiplier": 1}],
                       ["res_x", {"num_layers": 1}], ["compress_all", {"multiplier": 2}],
                       ["res_x", {"num_layers": 2}]],
    "scaling_factor": 1.0, "norm_layer": "pixel_norm", "patch_size": 4, "latent_log_var": "uniform",
    "use_quant_conv": false, "causal_decoder": false, "timestep_conditioning": false,
    "normalize_latent_channels": false, "encoder_base_channels": 8, "decoder_base_channels": 4,
    "spatial_padding_mode": "zeros"}})");
}

inline VideoVaeConfig tiny_config() { return VideoVaeConfig::from_checkpoint(tiny_checkpoint_config()); }

inline VideoVaeEncoder random_tiny_encoder(uint64_t seed = 7, VideoVaeConfig config = tiny_config()) {
  const auto root = WeightSource::random(seed, "vae.", torch::kFloat32);
  return VideoVaeEncoder(root.at("encoder"), root.at("per_channel_statistics"), config);
}

inline VideoVaeDecoder random_tiny_decoder(uint64_t seed = 7, VideoVaeConfig config = tiny_config()) {
  const auto root = WeightSource::random(seed, "vae.", torch::kFloat32);
  return VideoVaeDecoder(root.at("decoder"), root.at("per_channel_statistics"), config);
}

// A smooth clip in [-1, 1]: low-frequency waves in time and space, different per channel.
inline torch::Tensor smooth_video(int64_t frames, int64_t height, int64_t width) {
  const auto t = torch::linspace(0, 1, frames).view({1, 1, -1, 1, 1});
  const auto y = torch::linspace(0, 1, height).view({1, 1, 1, -1, 1});
  const auto x = torch::linspace(0, 1, width).view({1, 1, 1, 1, -1});
  const auto phase = torch::tensor({0.0f, 1.0f, 2.0f}).view({1, 3, 1, 1, 1});
  return 0.8 * torch::sin(2.0 * t + 3.0 * y + 2.0 * x + phase);
}

}  // namespace avtrain::models::video_vae_testing
