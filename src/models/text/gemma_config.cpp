#include "models/text/gemma_config.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace avtrain::models::text {
namespace {

using nlohmann::json;

[[noreturn]] void refuse(const std::string& source, const std::string& key, const std::string& value,
                         const std::string& why) {
  throw core::InvalidInput(fmt::format("{}: {} is {}; {}", source, key, value, why));
}

GemmaRope parse_rope(const json& node, const std::string& source, const std::string& key) {
  GemmaRope rope;
  rope.theta = node.value("rope_theta", rope.theta);
  const std::string type = node.contains("rope_type") ? node.at("rope_type").get<std::string>()
                                                      : node.value("type", std::string("default"));
  if (type == "linear") {
    rope.factor = node.at("factor").get<double>();
  } else if (type != "default") {
    refuse(source, key + ".rope_type", "'" + type + "'",
           "avtrain's Gemma 3 implements the 'default' and 'linear' RoPE types (those of Gemma 3 12B).");
  }
  return rope;
}

}  // namespace

GemmaConfig GemmaConfig::from_json(const json& root, const std::string& source) {
  const std::string model_type = root.value("model_type", std::string());
  if (model_type != "gemma3" && model_type != "gemma3_text") {
    refuse(source, "model_type", "'" + model_type + "'",
           "the text encoder needs a Gemma 3 directory (model_type gemma3 or gemma3_text), such as "
           "google/gemma-3-12b-it.");
  }
  const json& c = model_type == "gemma3" ? root.at("text_config") : root;
  const std::string prefix = model_type == "gemma3" ? "text_config." : "";
  GemmaConfig config;
  try {
    config.vocab_size = c.value("vocab_size", config.vocab_size);
    config.hidden_size = c.value("hidden_size", config.hidden_size);
    config.intermediate_size = c.value("intermediate_size", config.intermediate_size);
    config.num_hidden_layers = c.value("num_hidden_layers", config.num_hidden_layers);
    config.num_attention_heads = c.value("num_attention_heads", config.num_attention_heads);
    config.num_key_value_heads = c.value("num_key_value_heads", config.num_key_value_heads);
    config.head_dim = c.value("head_dim", config.head_dim);
    config.query_pre_attn_scalar = c.value("query_pre_attn_scalar", config.query_pre_attn_scalar);
    config.rms_norm_eps = c.value("rms_norm_eps", config.rms_norm_eps);
    if (c.contains("sliding_window") && !c.at("sliding_window").is_null()) {
      config.sliding_window = c.at("sliding_window").get<int64_t>();
    }

    const std::string activation = c.value("hidden_activation", std::string("gelu_pytorch_tanh"));
    if (activation != "gelu_pytorch_tanh") {
      refuse(source, prefix + "hidden_activation", "'" + activation + "'", "Gemma 3 uses gelu_pytorch_tanh.");
    }
    if (c.contains("attn_logit_softcapping") && !c.at("attn_logit_softcapping").is_null()) {
      refuse(source, prefix + "attn_logit_softcapping", c.at("attn_logit_softcapping").dump(),
             "Gemma 3 has no attention soft-capping and avtrain does not implement it.");
    }
    if (c.value("attention_bias", false)) {
      refuse(source, prefix + "attention_bias", "true",
             "Gemma 3 has no attention biases and avtrain loads none.");
    }
    if (c.value("use_bidirectional_attention", false)) {
      refuse(source, prefix + "use_bidirectional_attention", "true",
             "the LTX text path runs Gemma 3 causally (text_encoder.md §2.1).");
    }

    if (c.contains("layer_types") && !c.at("layer_types").is_null()) {
      for (const auto& type : c.at("layer_types")) {
        const auto name = type.get<std::string>();
        if (name != "sliding_attention" && name != "full_attention") {
          refuse(source, prefix + "layer_types", "'" + name + "'",
                 "Gemma 3 layers are 'sliding_attention' or 'full_attention'.");
        }
        config.sliding.push_back(name == "sliding_attention");
      }
    } else {
      // Gemma3TextConfig: layer i is global when (i + 1) % sliding_window_pattern == 0.
      const int64_t pattern = c.value("sliding_window_pattern", int64_t{6});
      for (int64_t i = 0; i < config.num_hidden_layers; ++i) config.sliding.push_back((i + 1) % pattern != 0);
    }

    if (c.contains("rope_parameters") && !c.at("rope_parameters").is_null()) {
      const auto& parameters = c.at("rope_parameters");
      config.full_rope =
          parse_rope(parameters.at("full_attention"), source, prefix + "rope_parameters.full_attention");
      config.sliding_rope = parse_rope(parameters.at("sliding_attention"), source,
                                       prefix + "rope_parameters.sliding_attention");
    } else {
      config.full_rope.theta = c.value("rope_theta", 1e6);
      if (c.contains("rope_scaling") && !c.at("rope_scaling").is_null()) {
        auto scaling = c.at("rope_scaling");
        scaling["rope_theta"] = config.full_rope.theta;
        config.full_rope = parse_rope(scaling, source, prefix + "rope_scaling");
      }
      config.sliding_rope = {c.value("rope_local_base_freq", 1e4), 1.0};
    }
  } catch (const json::exception& e) {
    throw core::InvalidInput(
        fmt::format("{}: unexpected config.json layout ({}); use the config.json of a Gemma 3 "
                    "directory.",
                    source, e.what()));
  }

  const auto check = [&](bool ok, const std::string& what) {
    if (!ok) throw core::InvalidInput(fmt::format("{}: inconsistent Gemma 3 sizes: {}.", source, what));
  };
  check(config.num_hidden_layers > 0 && config.hidden_size > 0 && config.vocab_size > 0,
        "sizes must be positive");
  check(static_cast<int64_t>(config.sliding.size()) == config.num_hidden_layers,
        fmt::format("layer_types has {} entries for {} layers", config.sliding.size(),
                    config.num_hidden_layers));
  check(config.num_key_value_heads > 0 && config.num_attention_heads % config.num_key_value_heads == 0,
        fmt::format("num_attention_heads {} is not a multiple of num_key_value_heads {}",
                    config.num_attention_heads, config.num_key_value_heads));
  check(config.head_dim > 0 && config.head_dim % 2 == 0,
        fmt::format("head_dim {} must be even", config.head_dim));
  return config;
}

GemmaConfig GemmaConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw core::InvalidInput(
        fmt::format("{}: cannot open; a Gemma 3 directory holds config.json beside its "
                    "safetensors.",
                    path));
  }
  json root;
  try {
    root = json::parse(in);
  } catch (const json::exception& e) {
    throw core::InvalidInput(fmt::format("{}: not valid JSON ({}).", path, e.what()));
  }
  return from_json(root, path);
}

json GemmaConfig::to_json() const {
  json layer_types = json::array();
  for (const bool is_sliding : sliding)
    layer_types.push_back(is_sliding ? "sliding_attention" : "full_attention");
  json text = {
      {"model_type", "gemma3_text"},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      // An integer in Hugging Face's files (transformers' strict config refuses 48.0).
      {"query_pre_attn_scalar", query_pre_attn_scalar == std::floor(query_pre_attn_scalar)
                                    ? json(static_cast<int64_t>(query_pre_attn_scalar))
                                    : json(query_pre_attn_scalar)},
      {"rms_norm_eps", rms_norm_eps},
      {"sliding_window", sliding_window},
      {"layer_types", layer_types},
      {"rope_theta", full_rope.theta},
      {"rope_local_base_freq", sliding_rope.theta},
      {"rope_scaling",
       full_rope.factor == 1.0 ? json(nullptr) : json{{"rope_type", "linear"}, {"factor", full_rope.factor}}},
      {"hidden_activation", "gelu_pytorch_tanh"},
      {"attention_bias", false},
      {"attn_logit_softcapping", nullptr},
      {"final_logit_softcapping", nullptr},
      {"max_position_embeddings", 131072},
      {"torch_dtype", "bfloat16"},
  };
  return {{"architectures", {"Gemma3ForConditionalGeneration"}},
          {"model_type", "gemma3"},
          {"bos_token_id", 2},
          {"eos_token_id", {1, 106}},
          {"pad_token_id", 0},
          {"torch_dtype", "bfloat16"},
          {"text_config", text}};
}

std::string GemmaConfig::summary() const {
  int64_t global = 0;
  for (const bool is_sliding : sliding) global += is_sliding ? 0 : 1;
  return fmt::format(
      "Gemma 3 text tower: {} layers ({} global, window {}), {} wide, {}x{} heads ({} KV), vocab {}",
      num_hidden_layers, global, sliding_window, hidden_size, num_attention_heads, head_dim,
      num_key_value_heads, vocab_size);
}

}  // namespace avtrain::models::text
