#pragma once
// The diffusion transformer's configuration (transformer.md §1), read from the checkpoint's
// `__metadata__["config"]["transformer"]` with ltx-core's defaults and checks (LTXModelConfigurator).
// Modules receive the derived options; none of them reads metadata or hard-codes a size.

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace avtrain::models {

struct TransformerConfig {
  // Defaults are ltx-core's configurator defaults (transformer.md §1.1), not the LTX-2.3 values.
  int64_t num_layers = 48;
  int64_t video_heads = 32, video_head_dim = 128;  // num_attention_heads, attention_head_dim
  int64_t audio_heads = 32, audio_head_dim = 64;   // audio_num_attention_heads, audio_attention_head_dim
  int64_t in_channels = 128, out_channels = 128;
  int64_t audio_in_channels = 128, audio_out_channels = 128;
  int64_t cross_attention_dim = 4096, audio_cross_attention_dim = 2048;
  double norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::vector<double> video_max_pos{20, 2048, 2048};  // positional_embedding_max_pos
  std::vector<double> audio_max_pos{20};              // audio_positional_embedding_max_pos
  double timestep_scale = 1000.0;                     // timestep_scale_multiplier
  double av_gate_timestep_scale = 1.0;                // av_ca_timestep_scale_multiplier (2.3: 1000)
  bool double_precision_rope = false;                 // frequencies_precision == "float64"
  bool gated_attention = false;                       // apply_gated_attention
  bool cross_attention_adaln = false;
  bool prompt_adaln = false;  // cross_attention_adaln && use_prompt_adaln_single
  bool ff_bias = true, audio_ff_bias = true;

  int64_t video_dim() const { return video_heads * video_head_dim; }  // Dv
  int64_t audio_dim() const { return audio_heads * audio_head_dim; }  // Da
  int64_t av_dim() const { return audio_heads * audio_head_dim; }     // Dx: AV cross-attention inner dim
  int64_t table_rows() const { return cross_attention_adaln ? 9 : 6; }  // kv = ka (§1.3)

  // `transformer` = the `config.transformer` object. Throws core::InvalidInput naming `where`, the key
  // and the value for anything ltx-core refuses or avtrain does not implement (DECISIONS.md §1).
  static TransformerConfig from_checkpoint(const nlohmann::json& transformer,
                                           const std::string& where = "checkpoint");
  // From a safetensors `__metadata__` (its "config" JSON string).
  static TransformerConfig from_metadata(const core::Metadata& metadata, const std::string& where = "checkpoint");
  // The released LTX-2.3 22B values (transformer.md §1.1), for benchmarks and layouts without a file.
  static TransformerConfig ltx23();

  // One line for the log: "48 blocks, video 32x128, audio 32x64, gated, cross-attention AdaLN".
  std::string summary() const;
};

}  // namespace avtrain::models
