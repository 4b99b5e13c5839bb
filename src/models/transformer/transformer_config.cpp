#include "models/transformer/transformer_config.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace avtrain::models {
namespace {

using nlohmann::json;

// Reads `config.transformer` with the configurator's defaults; every refusal names the key and value.
class Section {
 public:
  Section(const json& object, std::string where) : object_(object), where_(std::move(where)) {}

  [[noreturn]] void refuse(const std::string& key, const std::string& why) const {
    const auto value = object_.contains(key) ? object_.at(key).dump() : std::string("(absent)");
    throw core::InvalidInput(
        fmt::format("{}: config.transformer.{} = {} is not supported: {}", where_, key, value, why));
  }

  // ltx-core's check_config_value: a present value must equal the expected one.
  void expect(const std::string& key, const json& expected) const {
    if (!object_.contains(key) || (object_.at(key).is_null() && expected.is_null())) return;
    const auto& value = object_.at(key);
    const bool same = (value.is_number() && expected.is_number()) ? value.get<double>() == expected.get<double>()
                                                                  : value == expected;
    if (!same) refuse(key, fmt::format("the LTX-2 transformer requires {}", expected.dump()));
  }

  template <typename T>
  T get(const std::string& key, T fallback) const {
    if (!object_.contains(key) || object_.at(key).is_null()) return fallback;
    try {
      return object_.at(key).get<T>();
    } catch (const json::exception&) {
      refuse(key, "the value has the wrong type");
    }
  }

  int64_t positive(const std::string& key, int64_t fallback) const {
    const auto value = get<int64_t>(key, fallback);
    if (value <= 0) refuse(key, "it must be a positive integer");
    return value;
  }

  std::vector<double> max_pos(const std::string& key, std::vector<double> fallback, size_t axes) const {
    const auto value = get<std::vector<double>>(key, std::move(fallback));
    if (value.size() != axes) refuse(key, fmt::format("it must list {} positive normalizer(s)", axes));
    for (const double v : value) {
      if (!(v > 0)) refuse(key, "every normalizer must be positive");
    }
    return value;
  }

 private:
  const json& object_;
  std::string where_;
};

}  // namespace

TransformerConfig TransformerConfig::from_checkpoint(const json& transformer, const std::string& where) {
  if (!transformer.is_object()) {
    throw core::InvalidInput(fmt::format("{}: config.transformer is missing or not an object; the file is not an "
                                         "LTX-2 checkpoint with its metadata",
                                         where));
  }
  const Section s(transformer, where);
  // The values LTXModelConfigurator only validates (transformer.md §1.1).
  s.expect("dropout", 0.0);
  s.expect("attention_bias", true);
  s.expect("num_vector_embeds", nullptr);
  s.expect("activation_fn", "gelu-approximate");
  s.expect("num_embeds_ada_norm", 1000);
  s.expect("use_linear_projection", false);
  s.expect("only_cross_attention", false);
  s.expect("cross_attention_norm", true);
  s.expect("double_self_attention", false);
  s.expect("upcast_attention", false);
  s.expect("standardization_norm", "rms_norm");
  s.expect("norm_elementwise_affine", false);
  s.expect("qk_norm", "rms_norm");
  s.expect("positional_embedding_type", "rope");
  s.expect("use_audio_video_cross_attention", true);
  s.expect("share_ff", false);
  s.expect("av_cross_ada_norm", true);
  s.expect("use_middle_indices_grid", true);

  TransformerConfig c;
  c.num_layers = s.positive("num_layers", c.num_layers);
  c.video_heads = s.positive("num_attention_heads", c.video_heads);
  c.video_head_dim = s.positive("attention_head_dim", c.video_head_dim);
  c.audio_heads = s.positive("audio_num_attention_heads", c.audio_heads);
  c.audio_head_dim = s.positive("audio_attention_head_dim", c.audio_head_dim);
  if (c.audio_heads != c.video_heads) {
    s.refuse("audio_num_attention_heads",
             fmt::format("it must equal num_attention_heads ({}), as ltx-core requires", c.video_heads));
  }
  c.in_channels = s.positive("in_channels", c.in_channels);
  c.out_channels = s.positive("out_channels", c.out_channels);
  c.audio_in_channels = s.positive("audio_in_channels", c.audio_in_channels);
  c.audio_out_channels = s.positive("audio_out_channels", c.audio_out_channels);
  c.cross_attention_dim = s.positive("cross_attention_dim", c.cross_attention_dim);
  c.audio_cross_attention_dim = s.positive("audio_cross_attention_dim", c.audio_cross_attention_dim);
  c.norm_eps = s.get<double>("norm_eps", c.norm_eps);
  if (!(c.norm_eps > 0)) s.refuse("norm_eps", "it must be positive");
  c.rope_theta = s.get<double>("positional_embedding_theta", c.rope_theta);
  if (!(c.rope_theta > 1)) s.refuse("positional_embedding_theta", "it must be greater than 1");
  c.video_max_pos = s.max_pos("positional_embedding_max_pos", c.video_max_pos, 3);
  c.audio_max_pos = s.max_pos("audio_positional_embedding_max_pos", c.audio_max_pos, 1);
  c.timestep_scale = s.get<double>("timestep_scale_multiplier", c.timestep_scale);
  c.av_gate_timestep_scale = s.get<double>("av_ca_timestep_scale_multiplier", c.av_gate_timestep_scale);

  if (s.get<std::string>("rope_type", "split") != "split") {
    s.refuse("rope_type", "avtrain implements the split RoPE of LTX-2.3 only");
  }
  const auto precision = s.get<std::string>("frequencies_precision", "float32");
  if (precision != "float64" && precision != "float32") s.refuse("frequencies_precision", "use float64 or float32");
  c.double_precision_rope = precision == "float64";
  c.gated_attention = s.get<bool>("apply_gated_attention", false);
  c.cross_attention_adaln = s.get<bool>("cross_attention_adaln", false);
  c.prompt_adaln = c.cross_attention_adaln && s.get<bool>("use_prompt_adaln_single", true);
  c.ff_bias = s.get<bool>("ff_bias", true);
  c.audio_ff_bias = s.get<bool>("audio_ff_bias", true);

  if (!s.get<bool>("caption_proj_before_connector", false)) {
    s.refuse("caption_proj_before_connector",
             "the caption projection inside the transformer belongs to LTX-2 19B; avtrain loads LTX-2.3");
  }
  if (s.get<bool>("use_keyframes_abs_pos_embedding", false)) {
    s.refuse("use_keyframes_abs_pos_embedding", "keyframe embeddings belong to LTX-2.5; avtrain loads LTX-2.3");
  }
  if (c.cross_attention_dim != c.video_dim()) {
    s.refuse("cross_attention_dim", fmt::format("without an in-transformer caption projection it must equal "
                                                "num_attention_heads x attention_head_dim = {}",
                                                c.video_dim()));
  }
  if (c.audio_cross_attention_dim != c.audio_dim()) {
    s.refuse("audio_cross_attention_dim",
             fmt::format("without an in-transformer caption projection it must equal audio_num_attention_heads x "
                         "audio_attention_head_dim = {}",
                         c.audio_dim()));
  }
  // Split RoPE puts dim/2 entries per token into [heads, head_dim/2] (transformer.md §4.3).
  if (c.video_head_dim % 2 != 0) s.refuse("attention_head_dim", "it must be even for the split RoPE");
  if (c.audio_head_dim % 2 != 0) s.refuse("audio_attention_head_dim", "it must be even for the split RoPE");
  if (c.video_dim() / 6 < 2) s.refuse("attention_head_dim", "the video RoPE needs at least 2 frequencies per axis");
  if (c.audio_dim() / 2 < 2) s.refuse("audio_attention_head_dim", "the audio RoPE needs at least 2 frequencies");
  return c;
}

TransformerConfig TransformerConfig::from_metadata(const core::Metadata& metadata, const std::string& where) {
  const auto it = metadata.find("config");
  if (it == metadata.end()) {
    throw core::InvalidInput(fmt::format("{}: the safetensors metadata has no \"config\" entry; avtrain builds the "
                                         "transformer from the checkpoint's own config (DECISIONS.md §1)",
                                         where));
  }
  json config;
  try {
    config = json::parse(it->second);
  } catch (const json::exception& e) {
    throw core::InvalidInput(fmt::format("{}: the metadata \"config\" is not valid JSON: {}", where, e.what()));
  }
  return from_checkpoint(config.contains("transformer") ? config.at("transformer") : json(), where);
}

TransformerConfig TransformerConfig::ltx23() {
  TransformerConfig c;
  c.av_gate_timestep_scale = 1000.0;
  c.double_precision_rope = true;
  c.gated_attention = true;
  c.cross_attention_adaln = true;
  c.prompt_adaln = true;
  return c;
}

std::string TransformerConfig::summary() const {
  return fmt::format("{} blocks, video {}x{}, audio {}x{}{}{}", num_layers, video_heads, video_head_dim, audio_heads,
                     audio_head_dim, gated_attention ? ", gated attention" : "",
                     cross_attention_adaln ? ", cross-attention AdaLN" : "");
}

}  // namespace avtrain::models
