#pragma once
// The Gemma 3 text tower's configuration, read from a Hugging Face config.json (text_encoder.md §2.1):
// `model_type` "gemma3" (text_config nested, as google/gemma-3-12b-it) or "gemma3_text" (flat).
// Both spellings of the layer pattern and RoPE are read: the legacy keys (`sliding_window_pattern`,
// `rope_theta`, `rope_local_base_freq`, `rope_scaling`) and transformers 5's `layer_types` and
// `rope_parameters`. Missing keys take Gemma3TextConfig's defaults, as the reference does.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace avtrain::models::text {

// RoPE of one layer type: inv_freq = 1 / theta^(2j/head_dim) / factor (factor 1 = "default").
struct GemmaRope {
  double theta = 10000.0;
  double factor = 1.0;  // rope_type "linear" divides the frequencies by it
};

struct GemmaConfig {
  int64_t vocab_size = 262208;
  int64_t hidden_size = 2304;
  int64_t intermediate_size = 9216;
  int64_t num_hidden_layers = 26;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 4;
  int64_t head_dim = 256;
  double query_pre_attn_scalar = 256;  // attention scale = query_pre_attn_scalar^-0.5
  double rms_norm_eps = 1e-6;
  int64_t sliding_window = 4096;
  std::vector<bool> sliding;  // per layer: true = "sliding_attention", false = "full_attention"
  GemmaRope full_rope{1e6, 1.0};
  GemmaRope sliding_rope{1e4, 1.0};

  // `source` names the file in messages. Throws core::InvalidInput naming the key and value for a
  // model type or feature the encoder does not implement (soft-capped attention logits, attention
  // bias, bidirectional attention, activations other than gelu_pytorch_tanh, RoPE types other than
  // default and linear) or for inconsistent sizes.
  static GemmaConfig from_json(const nlohmann::json& config, const std::string& source);
  static GemmaConfig from_file(const std::string& path);
  // A config.json in google/gemma-3-12b-it's layout (model_type gemma3, legacy keys when they can
  // express the config, else layer_types and rope_parameters).
  nlohmann::json to_json() const;

  // One line for the log: "Gemma 3 text tower: 48 layers (8 global), 3840 wide, 16x256 heads (8 KV)".
  std::string summary() const;
};

}  // namespace avtrain::models::text
