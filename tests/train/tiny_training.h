#pragma once
// Shared by the trainer tests: the golden tiny transformer config (golden/README.md "Tiny config") built
// with random weights, and synthetic cached latents for it.

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "models/layers/weight_source.h"
#include "models/transformer/transformer_config.h"
#include "models/transformer/transformer_model.h"
#include "train/training_data.h"

namespace avtrain::train::tiny {

inline models::TransformerConfig tiny_config() {
  return models::TransformerConfig::from_checkpoint(nlohmann::json::parse(R"({
    "activation_fn": "gelu-approximate", "attention_bias": true, "attention_head_dim": 16,
    "caption_channels": 24, "cross_attention_dim": 32, "double_self_attention": false, "dropout": 0.0,
    "in_channels": 8, "norm_elementwise_affine": false, "norm_eps": 1e-06, "num_attention_heads": 2,
    "num_embeds_ada_norm": 1000, "num_layers": 2, "num_vector_embeds": null, "only_cross_attention": false,
    "cross_attention_norm": true, "out_channels": 8, "upcast_attention": false,
    "use_linear_projection": false,
    "qk_norm": "rms_norm", "standardization_norm": "rms_norm", "positional_embedding_type": "rope",
    "positional_embedding_theta": 10000.0, "positional_embedding_max_pos": [20, 2048, 2048],
    "timestep_scale_multiplier": 1000, "av_ca_timestep_scale_multiplier": 1000.0,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 8, "use_audio_video_cross_attention": true, "share_ff": false,
    "audio_out_channels": 32, "audio_cross_attention_dim": 16, "audio_positional_embedding_max_pos": [20],
    "av_cross_ada_norm": true, "use_middle_indices_grid": true, "apply_gated_attention": true,
    "caption_proj_before_connector": true, "cross_attention_adaln": true, "rope_type": "split",
    "frequencies_precision": "float64", "audio_in_channels": 32})"));
}

// The same random weights every call (float32 on the CPU).
inline models::TransformerModel tiny_model() {
  return models::TransformerModel(models::WeightSource::random(7), tiny_config());
}

// A synthetic pair for the tiny model: target video [8, F', H', W'], its reference at d and S, target and
// reference audio [2, T, 16], 5 text tokens. `seed` picks the values.
inline TrainingSample tiny_sample(uint64_t seed, int64_t frames = 2, int64_t height = 2, int64_t width = 2,
                                  int64_t d = 1, int64_t s = 1, int64_t audio_tokens = 6,
                                  int64_t reference_audio_tokens = 6, double fps = 24.0) {
  auto g = at::detail::createCPUGenerator(seed);
  const auto randn = [&](std::vector<int64_t> shape) { return at::normal(0.0, 1.0, shape, g); };
  TrainingSample sample;
  sample.video_latent = randn({8, frames, height, width});
  sample.reference_video_latent = randn({8, (frames - 1) / s + 1, height / d, width / d});
  sample.audio_latent = randn({2, audio_tokens, 16});
  sample.reference_audio_latent = randn({2, reference_audio_tokens, 16});
  sample.video_context = randn({5, 32});
  sample.audio_context = randn({5, 16});
  sample.fps = fps;
  return sample;
}

}  // namespace avtrain::train::tiny
